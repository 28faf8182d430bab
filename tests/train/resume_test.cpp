// Tests of resuming a training run: a stopped and resumed run equals an uninterrupted one bit for
// bit; a state from other options or a damaged state file is refused with a clear message.
#include "lib/train/resume_state.hpp"

#include "lib/error.hpp"
#include "lib/model_io.hpp"
#include "lib/train/params.hpp"
#include "lib/train/trainer.hpp"
#include "lib/train/training_file.hpp"
#include "tests/test_util.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace circuits::train {
namespace {

using circuits::test::TempDir;

TrainOptions tiny_options() {
    TrainOptions o;
    o.n_layers = 2;
    o.n_heads = 2;
    o.d_model = 16;
    o.d_head = 4;
    o.steps = 30;
    o.batch = 6;
    o.chunk = 4;
    o.log_every = 4;
    o.checkpoints = 5;
    o.probe_size = 4;
    o.seed = 11;
    o.optimiser.lr = 3e-3;
    o.threads = 1;
    return o;
}

std::vector<float> flat(const Model& m) { return params_from_model<float>(m).data(); }

// Bitwise equality of float vectors (NaN equal to itself, -0 distinct from +0).
template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

bool same_bits(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() &&
           (a.size() == 0 || std::memcmp(a.data(), b.data(), static_cast<size_t>(a.size()) * sizeof(double)) == 0);
}

void check_same_run(const TrainResult& got, const TrainResult& want) {
    CHECK(same_bits(flat(got.model), flat(want.model)));
    CHECK(same_bits(got.record.loss, want.record.loss));
    CHECK(same_bits(got.record.grad_norm, want.record.grad_norm));
    CHECK(same_bits(got.record.learning_rate, want.record.learning_rate));
    REQUIRE(got.record.dynamics.size() == want.record.dynamics.size());
    for (size_t k = 0; k < want.record.dynamics.size(); ++k) {
        const auto& g = got.record.dynamics[k];
        const auto& w = want.record.dynamics[k];
        INFO("dynamics point " << k);
        CHECK(g.step == w.step);
        CHECK(std::memcmp(&g.loss, &w.loss, sizeof(double)) == 0);
        CHECK(std::memcmp(&g.repeat_loss, &w.repeat_loss, sizeof(double)) == 0);
        CHECK(same_bits(g.entropy, w.entropy));
        CHECK(same_bits(g.prev_token, w.prev_token));
        CHECK(same_bits(g.induction, w.induction));
    }
    CHECK(got.record.checkpoint_steps == want.record.checkpoint_steps);
    REQUIRE(got.record.checkpoints.size() == want.record.checkpoints.size());
    for (size_t i = 0; i < want.record.checkpoints.size(); ++i) {
        INFO("checkpoint " << i);
        CHECK(same_bits(flat(got.record.checkpoints[i]), flat(want.record.checkpoints[i])));
    }
}

TEST_CASE("resume: stopped at step k and resumed, a run equals the uninterrupted one bit for bit") {
    TempDir tmp;
    TaskOptions to;
    const auto task = make_task("induction", to, 0);
    const TrainResult whole = train(*task, tiny_options());

    for (int stop : {1, 7, 13, 29}) {
        INFO("stopped after step " << stop);
        TrainOptions o = tiny_options();
        o.resume_path = tmp.file("state-" + std::to_string(stop));
        o.save_every = 5;
        o.stop_after = stop;
        const TrainResult first = train(*task, o);
        CHECK_FALSE(first.complete);
        REQUIRE(std::filesystem::exists(o.resume_path));
        CHECK(read_resume_state(o.resume_path).step == stop);

        o.stop_after = 0;
        o.resume = true;
        o.threads = 2;  // the thread count may change between the parts
        const TrainResult rest = train(*task, o);
        CHECK(rest.complete);
        CHECK(rest.resumed_from == stop);
        check_same_run(rest, whole);
    }
}

TEST_CASE("resume: a run that dies between two saves continues from the last save") {
    TempDir tmp;
    TaskOptions to;
    const auto task = make_task("scan-snap", to, 3);
    TrainOptions o = tiny_options();
    o.n_layers = 1;
    o.n_heads = 1;
    o.positions = PositionalEmbedding::none;
    const TrainResult whole = train(*task, o);

    o.resume_path = tmp.file("state");
    o.save_every = 5;
    // The progress callback runs after the step's save; throwing from it stands in for a crash.
    const auto crash = [](const TrainProgress& p) {
        if (p.step == 13) throw std::runtime_error("crash");
    };
    CHECK_THROWS_AS(train(*task, o, crash), std::runtime_error);
    CHECK(read_resume_state(o.resume_path).step == 10);
    o.resume = true;
    const TrainResult rest = train(*task, o);
    CHECK(rest.resumed_from == 10);
    check_same_run(rest, whole);
}

TEST_CASE("resume: --resume without a state trains from step 0") {
    TempDir tmp;
    TaskOptions to;
    const auto task = make_task("induction", to, 0);
    TrainOptions o = tiny_options();
    const TrainResult whole = train(*task, o);
    o.resume_path = tmp.file("absent");
    o.resume = true;
    const TrainResult r = train(*task, o);
    CHECK(r.resumed_from == 0);
    check_same_run(r, whole);
}

TEST_CASE("resume: a state written with other options is refused, naming the option") {
    TempDir tmp;
    TaskOptions to;
    const auto task = make_task("induction", to, 0);
    TrainOptions o = tiny_options();
    o.resume_path = tmp.file("state");
    o.stop_after = 5;
    train(*task, o);
    o.stop_after = 0;
    o.resume = true;
    o.optimiser.lr = 1e-2;
    CHECK_THROWS_WITH_AS(train(*task, o), doctest::Contains("lr="), UsageError);
    o.optimiser.lr = 3e-3;
    o.seed = 12;
    CHECK_THROWS_WITH_AS(train(*task, o), doctest::Contains("seed=11, now seed=12"), UsageError);
}

TEST_CASE("resume: a truncated or corrupt state file is an error naming the file") {
    TempDir tmp;
    TaskOptions to;
    const auto task = make_task("induction", to, 0);
    TrainOptions o = tiny_options();
    o.resume_path = tmp.file("state");
    o.stop_after = 9;
    train(*task, o);
    const auto size = std::filesystem::file_size(o.resume_path);
    o.stop_after = 0;
    o.resume = true;
    for (auto keep : {size / 2, std::uintmax_t{10}, std::uintmax_t{0}, size - 1}) {
        INFO("kept " << keep << " of " << size << " bytes");
        const std::string cut = tmp.file("cut");
        std::filesystem::copy_file(o.resume_path, cut, std::filesystem::copy_options::overwrite_existing);
        std::filesystem::resize_file(cut, keep);
        TrainOptions c = o;
        c.resume_path = cut;
        CHECK_THROWS_WITH_AS(train(*task, c), doctest::Contains((cut + ": corrupt resume state").c_str()), Error);
    }
    // One flipped byte in the middle: the checksum catches it.
    {
        std::fstream f(o.resume_path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(static_cast<std::streamoff>(size / 2));
        const char c = static_cast<char>(f.get() ^ 0x5a);
        f.seekp(static_cast<std::streamoff>(size / 2));
        f.put(c);
    }
    CHECK_THROWS_WITH_AS(train(*task, o), doctest::Contains("corrupt resume state"), Error);
}

TEST_CASE("resume: the command keeps MODEL.resume while training and removes it after writing MODEL") {
    TempDir tmp;
    const std::string out = tmp.file("m.h5"), again = tmp.file("n.h5");
    const std::vector<std::string> base{"train", "induction", "--layers", "1", "--heads", "2", "--d-model", "16",
                                        "--d-head", "4", "--steps", "20", "--threads", "1", "--log-every", "5",
                                        "--batch", "4", "--probe-size", "4"};
    auto with = [&](const std::string& target, std::vector<std::string> extra) {
        std::vector<std::string> a = base;
        a.push_back("-o");
        a.push_back(target);
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    };
    const auto r = test::cli(with(out, {}));
    REQUIRE(r.status == 0);
    CHECK_FALSE(std::filesystem::exists(resume_state_path(out)));

    const auto fresh = test::cli(with(again, {"--resume"}));
    REQUIRE(fresh.status == 0);
    CHECK(fresh.err.find("no resume state at " + resume_state_path(again)) != std::string::npos);
    CHECK(flat(read_model_h5(again)) == flat(read_model_h5(out)));
    CHECK(read_training(again).loss == read_training(out).loss);

    // A state left by a run with other options: exit 2; a damaged one: exit 1; both name the file.
    {
        TrainOptions o;
        TaskOptions to;
        const auto task = make_task("induction", to, 0);
        o.n_layers = 1;
        o.n_heads = 2;
        o.d_model = 16;
        o.d_head = 4;
        o.steps = 20;
        o.resume_path = resume_state_path(again);
        o.stop_after = 3;
        train(*task, o);
    }
    const auto refused = test::cli(with(again, {"--resume"}));
    CHECK(refused.status == 2);
    CHECK(refused.err.find(resume_state_path(again)) != std::string::npos);
    std::filesystem::resize_file(resume_state_path(again), 40);
    const auto damaged = test::cli(with(again, {"--resume"}));
    CHECK(damaged.status == 1);
    CHECK(damaged.err.find(resume_state_path(again) + ": corrupt resume state") != std::string::npos);
}

}  // namespace
}  // namespace circuits::train
