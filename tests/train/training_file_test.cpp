// Tests of the trained model file: an ordinary model plus /training, read back intact.
#include "lib/train/training_file.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/train/bigram_task.hpp"
#include "lib/train/params.hpp"
#include "tests/test_util.hpp"

#include <filesystem>

namespace circuits::train {
namespace {

TrainOptions small_run() {
    TrainOptions o;
    o.n_layers = 1;
    o.n_heads = 2;
    o.d_model = 8;
    o.d_head = 4;
    o.steps = 20;
    o.batch = 8;
    o.log_every = 5;
    o.checkpoints = 4;
    o.probe_size = 4;
    return o;
}

TEST_CASE("trained model file: the model reads back as an ordinary model; /training holds curves and checkpoints") {
    test::TempDir dir;
    const auto path = dir.file("m.h5");
    TaskOptions to;
    to.max_len = 8;
    const auto task = make_task("scan-snap", to, 0);
    TrainOptions o = small_run();
    o.positions = PositionalEmbedding::none;
    TrainResult r = train(*task, o);
    r.record.command = "circuits train scan-snap -o m.h5";
    write_trained_model(path, r, *task);

    const Model back = read_model_h5(path);
    CHECK(back.cfg.origin == Origin::trained);
    CHECK(back.vocab == task->vocab());
    CHECK(params_from_model<float>(back).data() == params_from_model<float>(r.model).data());

    const TrainingCurves t = read_training(path);
    CHECK(t.task == "scan-snap");
    CHECK(t.loss == r.record.loss);
    CHECK(t.steps == std::vector<std::int64_t>{0, 5, 10, 15, 20});
    REQUIRE(t.entropy.size() == 5);
    CHECK(t.entropy[2].rows() == 1);
    CHECK(t.entropy[2].cols() == 2);
    CHECK(t.entropy[4](0, 1) == r.record.dynamics[4].entropy(0, 1));
    CHECK(t.distinct_per_key.size() == 5);
    CHECK(t.repeat_loss.empty());  // not a next-token task
    CHECK(t.checkpoint_steps == std::vector<std::int64_t>{0, 1, 4, 20});

    const Model first = read_checkpoint(path, 0), last = read_checkpoint(path, 3);
    CHECK(params_from_model<float>(first).data() == params_from_model<float>(r.record.checkpoints[0]).data());
    CHECK(params_from_model<float>(last).data() == params_from_model<float>(r.model).data());
    CHECK_THROWS_WITH_AS(read_checkpoint(path, 9), doctest::Contains("no such checkpoint"), Error);

    const H5Reader h(path);
    CHECK(h.attr_string("training", "command") == "circuits train scan-snap -o m.h5");
    CHECK(h.attr_int("training", "steps") == 20);
    CHECK(h.dims("training/dynamics/qk_query") == std::vector<std::uint64_t>{5, 1, 2, task->vocab().size()});
    CHECK(h.exists("training/task/token_kind"));
    CHECK(h.attr_string("training/checkpoints/2", "format") == "circuits-model");
}

TEST_CASE("trained model file: a zero-layer bigram model stores the transition matrix and no per-head curves") {
    test::TempDir dir;
    const auto path = dir.file("b.h5");
    TaskOptions to;
    to.vocab_size = 6;
    const auto task = make_task("bigram", to, 3);
    TrainOptions o = small_run();
    o.n_layers = 0;
    const TrainResult r = train(*task, o);
    write_trained_model(path, r, *task);
    const H5Reader h(path);
    const auto P = h.read_double("training/task/transition");
    REQUIRE(P.dims == std::vector<std::uint64_t>{6, 6});
    const auto& want = dynamic_cast<const BigramTask&>(*task).transition();
    CHECK(P.data[1 * 6 + 4] == want(1, 4));  // row-major [current, next]
    CHECK_FALSE(h.exists("training/dynamics/entropy"));
    CHECK(h.exists("training/dynamics/repeat_loss"));
    const TrainingCurves t = read_training(path);
    CHECK(t.entropy.empty());
    CHECK(t.loss.size() == 20);
}

TEST_CASE("read_training: a model without /training is an error naming the file") {
    test::TempDir dir;
    const auto path = dir.file("plain.h5");
    write_model_h5(test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::none), 1), path);
    CHECK_THROWS_WITH_AS(read_training(path), doctest::Contains("plain.h5"), Error);
}

TEST_CASE("write_model_h5 into a group: the checkpoint layout equals the root layout") {
    test::TempDir dir;
    const auto path = dir.file("g.h5");
    const Model m = test::random_model(test::small_config(PositionalEmbedding::shortformer, Normalization::LN, 3), 2);
    {
        AtomicOutput out(path);
        H5Writer w(out.temp_path());
        write_model_h5(m, w, "/");
        write_model_h5(m, w, "/copy/0");
        w.close();
        out.commit();
    }
    const H5Reader h(path);
    for (const auto& name : {"embed/W_E", "blocks/1/attn/W_O", "blocks/0/mlp/W_in", "ln_final/w", "unembed/b_U"})
        CHECK(h.read_float(std::string("copy/0/") + name).data == h.read_float(name).data);
    CHECK(h.attr_int("copy/0", "n_layers") == 2);
}

}  // namespace
}  // namespace circuits::train
