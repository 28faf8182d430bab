// Tests of the training loop: determinism across thread counts, checkpoints, loss going down.
#include "lib/train/trainer.hpp"

#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "lib/train/params.hpp"
#include "tests/test_util.hpp"

namespace circuits::train {
namespace {

TrainOptions tiny_options() {
    TrainOptions o;
    o.n_layers = 2;
    o.n_heads = 2;
    o.d_model = 16;
    o.d_head = 4;
    o.steps = 12;
    o.batch = 10;
    o.chunk = 3;  // 4 chunks, the last one short
    o.log_every = 4;
    o.checkpoints = 4;
    o.probe_size = 4;
    o.seed = 5;
    o.optimiser.lr = 3e-3;
    return o;
}

std::vector<float> flat(const Model& m) { return params_from_model<float>(m).data(); }

TEST_CASE("train: a seed gives the same model bit for bit with 1, 2 and 3 threads") {
    TaskOptions to;
    const auto task = make_task("induction", to, 0);
    TrainOptions o = tiny_options();
    o.threads = 1;
    const TrainResult one = train(*task, o);
    o.threads = 2;
    const TrainResult two = train(*task, o);
    o.threads = 3;
    const TrainResult three = train(*task, o);
    CHECK(flat(one.model) == flat(two.model));
    CHECK(flat(one.model) == flat(three.model));
    CHECK(one.record.loss == three.record.loss);
    o.seed = 6;
    const TrainResult other = train(*task, o);
    CHECK(flat(other.model) != flat(one.model));
}

TEST_CASE("train: the model is a trained model with the task's vocabularies; checkpoints and dynamics at the right steps") {
    TaskOptions to;
    const auto task = make_task("induction", to, 0);
    const TrainOptions o = tiny_options();
    const TrainResult r = train(*task, o);
    const Model& m = r.model;
    CHECK(m.cfg.origin == Origin::trained);
    CHECK(m.cfg.bos_token == 0);
    CHECK(m.cfg.n_ctx == 9);  // BOS + max_len 8, the compiled induction program's
    CHECK(m.vocab == task->vocab());
    CHECK(m.vocab_out == task->vocab_out());
    m.validate();
    CHECK(r.record.loss.size() == 12);
    CHECK(r.record.learning_rate.size() == 12);
    REQUIRE(r.record.dynamics.size() == 4);  // steps 0, 4, 8, 12
    CHECK(r.record.dynamics[1].step == 4);
    CHECK(r.record.dynamics.back().step == 12);
    CHECK(r.record.checkpoint_steps == std::vector<int>{0, 1, 3, 12});
    REQUIRE(r.record.checkpoints.size() == 4);
    CHECK(flat(r.record.checkpoints.back()) == flat(m));
    CHECK(flat(r.record.checkpoints.front()) != flat(m));
    // The trained model runs through the reference forward pass.
    const ForwardResult f = forward(m, {0, 1, 2, 3});
    CHECK(f.logits.allFinite());
}

TEST_CASE("checkpoint_steps: 0, then log-spaced to the last step, without duplicates") {
    CHECK(checkpoint_steps(1000, 5) == std::vector<int>{0, 1, 10, 100, 1000});
    CHECK(checkpoint_steps(10, 8) == std::vector<int>{0, 1, 2, 3, 5, 7, 10});  // 10^(1/6) rounds to 1 again
    CHECK(checkpoint_steps(3, 8) == std::vector<int>{0, 1, 2, 3});
    CHECK(checkpoint_steps(50, 1) == std::vector<int>{50});
    CHECK(checkpoint_steps(50, 2) == std::vector<int>{0, 50});
    CHECK(checkpoint_steps(50, 0).empty());
}

TEST_CASE("train: bad options are usage errors") {
    TaskOptions to;
    const auto task = make_task("bigram", to, 0);
    TrainOptions o = tiny_options();
    o.steps = 0;
    CHECK_THROWS_AS(train(*task, o), UsageError);
    o = tiny_options();
    o.chunk = 0;
    CHECK_THROWS_AS(train(*task, o), UsageError);
    o = tiny_options();
    o.d_model = 0;
    CHECK_THROWS_AS(train(*task, o), UsageError);
}

TEST_CASE("train: a short induction run lowers the loss on the repeated half of the probe") {
    TaskOptions to;
    to.vocab = {"a", "b", "c", "d"};  // the compiled induction program's vocabulary and length
    to.max_len = 8;
    const auto task = make_task("induction", to, 0);
    TrainOptions o = tiny_options();
    o.d_model = 16;
    o.d_head = 8;
    o.steps = 800;
    o.batch = 32;
    o.chunk = 8;
    o.log_every = 200;
    o.probe_size = 32;
    o.optimiser.lr = 1e-2;
    const TrainResult r = train(*task, o);
    // At initialisation the second copy costs about ln 4 = 1.39 nats per token, like any other.
    constexpr double kMinDrop = 0.2;
    CHECK(r.record.dynamics.front().repeat_loss - r.record.dynamics.back().repeat_loss > kMinDrop);
    CHECK(r.record.dynamics.back().loss < r.record.dynamics.front().loss);
}

}  // namespace
}  // namespace circuits::train
