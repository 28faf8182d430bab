// SIGKILL `train` at random moments, rerun it with --resume each time: the final model file holds
// the same weights and training record as an uninterrupted run's.
#include <filesystem>
#include <random>

#include "lib/model_io.hpp"
#include "lib/train/params.hpp"
#include "lib/train/resume_state.hpp"
#include "lib/train/training_file.hpp"
#include "tests/fault/child_process.hpp"
#include "tests/test_util.hpp"

namespace fs = std::filesystem;
using namespace circuits;
using namespace circuits::test;

namespace {

constexpr int kKills = 8;
constexpr int kSteps = 300;

std::vector<std::string> train_args(const std::string& target) {
    return {"train", "induction", "-o", target, "--layers", "2", "--heads", "2", "--d-model", "16",
            "--d-head", "4", "--steps", std::to_string(kSteps), "--batch", "8", "--threads", "1",
            "--log-every", "20", "--save-every", "7", "--probe-size", "8", "--resume"};
}

std::vector<float> weights(const Model& m) { return train::params_from_model<float>(m).data(); }

}  // namespace

TEST_CASE("fault: train killed at random moments and rerun with --resume ends with an uninterrupted run's file") {
    TempDir tmp;
    const std::string want = tmp.file("whole.h5"), got = tmp.file("resumed.h5");
    const ChildResult whole = run_child(train_args(want));
    REQUIRE(whole.exit_status == 0);

    std::mt19937 rng(1616);
    std::uniform_real_distribution<double> moment(0.0, whole.seconds);
    int killed = 0, resumed_mid_way = 0;
    for (int i = 0; i < kKills; ++i) {
        const auto delay = std::chrono::microseconds(static_cast<long>(1e6 * moment(rng)));
        const bool had_state = fs::exists(train::resume_state_path(got));
        const ChildResult r = kill_child_after(train_args(got), delay);
        INFO("kill " << i << " after " << delay.count() << " us (killed: " << r.killed << ")");
        if (!r.killed) {
            CHECK(r.exit_status == 0);
            break;
        }
        ++killed;
        resumed_mid_way += had_state;
    }
    const ChildResult last = run_child(train_args(got));
    REQUIRE(last.exit_status == 0);
    CHECK_FALSE(fs::exists(train::resume_state_path(got)));

    CHECK(weights(read_model_h5(got)) == weights(read_model_h5(want)));
    const auto a = train::read_training(got), b = train::read_training(want);
    CHECK(a.loss.size() == static_cast<size_t>(kSteps));
    CHECK(a.loss == b.loss);
    CHECK(a.steps == b.steps);
    CHECK(a.probe_loss == b.probe_loss);
    CHECK(a.checkpoint_steps == b.checkpoint_steps);
    for (size_t k = 0; k < a.induction.size(); ++k) CHECK(a.induction[k] == b.induction[k]);
    for (size_t i = 0; i < b.checkpoint_steps.size(); ++i)
        CHECK(weights(train::read_checkpoint(got, static_cast<int>(i))) ==
              weights(train::read_checkpoint(want, static_cast<int>(i))));
    MESSAGE("resume kills: " << killed << " runs killed, " << resumed_mid_way << " resumed from a saved state");
    CHECK(killed >= kKills / 3);
}
