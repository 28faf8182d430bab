// Tests of the dynamics probes: on the planted induction model the scores find exactly the planted heads.
#include "lib/train/dynamics.hpp"

#include "analyses/induction.hpp"
#include "lib/error.hpp"
#include "lib/planted.hpp"
#include "lib/train/rng.hpp"
#include "lib/train/scan_snap_task.hpp"
#include "tests/test_util.hpp"

#include <cmath>

namespace circuits::train {
namespace {

// The planted model's vocabulary as a next-token task (vocab_out = vocab, BOS included), so the
// probe's targets index the planted model's logits.
class PlantedTask : public Task {
public:
    explicit PlantedTask(const Model& m) {
        m_spec = "planted";
        m_vocab = m.vocab;
        m_vocab_out = m.vocab_out;
        m_bos = m.cfg.bos_token;
        m_n_ctx = m.cfg.n_ctx;
        index_outputs();
    }
    std::string name() const override { return "planted"; }
    Example sample(Rng& rng) const override {
        Example e;
        e.tokens.push_back(m_bos);
        for (int t = 0; t < 10; ++t) e.tokens.push_back(1 + rng.uniform_int(static_cast<int>(m_vocab.size()) - 1));
        for (size_t t = 0; t < e.tokens.size(); ++t) e.targets.push_back(t + 1 < e.tokens.size() ? e.tokens[t + 1] : -1);
        return e;
    }
    bool next_token_task() const override { return true; }
    void write_description(H5Writer&, const std::string&) const override {}
};

constexpr double kPlantedScore = 0.9;  // the planted heads attend almost entirely where planted
constexpr double kOtherScore = 0.3;    // unplanted heads stay far below

TEST_CASE("dynamics: the planted previous-token and induction heads, and only they, score high") {
    PlantedInductionOptions po;
    po.n_tokens = 30;  // at least n = 25, so r has distinct tokens
    po.n_ctx = 64;
    const Model m = planted_induction_model(po);
    const PlantedTask task(m);
    Rng rng(1);
    const DynamicsProbe probe = make_dynamics_probe(task, 6, rng);
    CHECK(probe.repeated.length == 25);  // MATH.md's default n
    CHECK(probe.repeated.offset == 1);
    Backprop<float> work;
    const DynamicsPoint d = measure_dynamics(params_from_model<float>(m), task, probe, work, 7);
    CHECK(d.step == 7);
    CHECK(d.prev_token(0, 0) > kPlantedScore);
    CHECK(d.induction(1, 0) > kPlantedScore);
    CHECK(d.prev_token(0, 1) < kOtherScore);
    CHECK(d.prev_token(1, 0) < kOtherScore);
    CHECK(d.induction(0, 0) < kOtherScore);
    CHECK(d.induction(1, 1) < kOtherScore);
    // The planted model copies: the second copy is predicted, the loss there is small.
    constexpr double kRepeatLoss = 0.1;
    CHECK(d.repeat_loss < kRepeatLoss);
    // Entropy is within [0, ln(keys)].
    CHECK(d.entropy.minCoeff() >= 0.0);
    CHECK(d.entropy.maxCoeff() <= std::log(double(m.cfg.n_ctx)));
    CHECK(d.distinct_mass.size() == 0);  // no token kinds in this task
    // A task whose vocabularies are not the model's is refused.
    TaskOptions o;
    const auto other = make_task("induction", o, 0);
    CHECK_THROWS_AS(measure_dynamics(params_from_model<float>(m), *other, probe, work, 0), Error);
}

TEST_CASE("dynamics: a uniform-attention head splits its mass between distinct and common keys by count") {
    TaskOptions o;
    o.max_len = 9;
    const auto task = make_task("scan-snap", o, 0);
    ModelConfig c;
    c.n_layers = 1;
    c.n_heads = 1;
    c.d_model = 4;
    c.d_head = 2;
    c.d_vocab = c.d_vocab_out = static_cast<int>(task->vocab().size());
    c.n_ctx = task->n_ctx();
    c.positional_embedding_type = PositionalEmbedding::none;
    Params<float> p(c);  // all zeros: every query attends uniformly to the keys it sees
    Rng rng(2);
    const DynamicsProbe probe = make_dynamics_probe(*task, 20, rng);
    Backprop<float> work;
    const DynamicsPoint d = measure_dynamics(p, *task, probe, work, 0);
    // 9 keys at the scored (last) position: the query token plus 8 context tokens.
    constexpr double kTol = 1e-5;
    CHECK(d.entropy(0, 0) == doctest::Approx(std::log(9.0)).epsilon(kTol));
    CHECK(d.distinct_mass(0, 0) + d.common_mass(0, 0) == doctest::Approx(8.0 / 9.0).epsilon(kTol));
    CHECK(d.distinct_per_key(0, 0) == doctest::Approx(1.0 / 9.0).epsilon(kTol));
    CHECK(d.common_per_key(0, 0) == doctest::Approx(1.0 / 9.0).epsilon(kTol));
    REQUIRE(d.qk_query.rows() == 1);
    CHECK(d.qk_query.cols() == c.d_vocab);
    CHECK(std::isnan(d.repeat_loss));
}

// The induction pass and the dynamics read attention from two forward implementations (lib/forward and
// Backprop<float>): float rounding apart, the scores are the same sums.
constexpr double kSameScoreTol = 1e-5;

TEST_CASE(
    "regression: training dynamics' previous-token and induction scores equal the induction pass's on the same "
    "model and probe (earlier repeats only, drawn with replacement)") {
    // 6 ordinary tokens and blocks of 12: every block repeats tokens within itself, where the two
    // definitions used to disagree (dynamics also counted the query's own repeat).
    const Model m = planted_induction_model({.n_tokens = 6, .n_ctx = 40});
    const PlantedTask task(m);
    analyses::InductionOptions o;
    o.probe_length = 12;
    o.probe_repeats = 3;
    o.probe_sequences = 4;
    o.seed = 9;
    const analyses::InductionResult r = analyses::compute_induction(m, o);
    RepeatedProbe repeated = make_repeated_probe(m, {o.probe_length, o.probe_repeats, o.probe_sequences}, o.seed);
    REQUIRE_FALSE(repeated.without_replacement);
    Rng rng(4);
    const DynamicsProbe probe = make_dynamics_probe(task, 2, rng, std::move(repeated));
    Backprop<float> work;
    const DynamicsPoint d = measure_dynamics(params_from_model<float>(m), task, probe, work, 0);
    for (int l = 0; l < m.cfg.n_layers; ++l)
        for (int h = 0; h < m.cfg.n_heads; ++h) {
            CAPTURE(l);
            CAPTURE(h);
            CHECK(std::abs(d.prev_token(l, h) - r.prev_token(l, h)) < kSameScoreTol);
            CHECK(std::abs(d.induction(l, h) - r.induction(l, h)) < kSameScoreTol);
        }
    CHECK(d.induction(1, 0) == d.induction.maxCoeff());  // still the planted induction head
}

TEST_CASE("dynamics: the probe is the induction pass's kind: BOS, then a block repeated up to 4 times within n_ctx") {
    const Model m = planted_induction_model({.n_tokens = 30, .n_ctx = 120});
    const PlantedTask task(m);
    Rng rng(1);
    const DynamicsProbe probe = make_dynamics_probe(task, 3, rng);
    CHECK(probe.batch.size() == 3);
    REQUIRE(probe.repeated.sequences.size() == 3);
    CHECK(probe.repeated.length == 25);
    CHECK(probe.repeated.repeats == 4);
    CHECK(probe.repeated.without_replacement);
    REQUIRE(probe.repeated_examples.size() == 3);
    const auto& e = probe.repeated_examples[0];
    CHECK(e.tokens == probe.repeated.sequences[0]);
    // Next-token targets on repeats >= 2, the last position excluded.
    for (size_t i = 0; i < e.targets.size(); ++i) CHECK((e.targets[i] >= 0) == (i >= 26 && i + 1 < e.targets.size()));
}

}  // namespace
}  // namespace circuits::train
