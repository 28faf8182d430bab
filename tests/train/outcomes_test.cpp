// The outcomes the papers predict, checked on the bundled trained models and on short runs.
#include <Eigen/Eigenvalues>
#include <cmath>

#include "analyses/composition.hpp"
#include "analyses/induction.hpp"
#include "lib/forward.hpp"
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/evaluator.hpp"
#include "lib/train/bigram_task.hpp"
#include "lib/train/dynamics.hpp"
#include "lib/train/program_task.hpp"
#include "lib/train/rng.hpp"
#include "lib/train/trainer.hpp"
#include "lib/train/training_file.hpp"
#include "tests/test_util.hpp"

namespace circuits::train {
namespace {

constexpr double kInductionThreshold = 0.4;  // MATH.md: induction score >= 0.4 flags an induction head
constexpr double kLowRepeatLoss = 0.5;       // nats; ln 4 = 1.39 is guessing among the 4 tokens
constexpr double kRepeatLossGap = 0.5;       // induction-1l must be at least this much worse
constexpr double kBigramCorrelation = 0.95;
constexpr double kProgramAccuracy = 0.95;  // trained program counterpart vs the evaluator
constexpr int kCompositionSamples = 20;    // baseline draws: the z-score is monotone in the raw score

std::string trained(const std::string& name) {
    return test::source_dir() + "/data/models/trained/" + name;
}

// The induction task a bundled model was trained on, rebuilt from the model's vocabulary.
std::unique_ptr<Task> induction_task_of(const Model& m) {
    TaskOptions o;
    const bool bos = m.cfg.bos_token >= 0;
    o.bos = bos ? m.vocab[static_cast<size_t>(m.cfg.bos_token)] : "";
    o.vocab.assign(m.vocab.begin() + (bos ? 1 : 0), m.vocab.end());
    o.max_len = m.cfg.n_ctx - (bos ? 1 : 0);
    return make_task("induction", o, 0);
}

DynamicsPoint probe_model(const Model& m, const Task& task) {
    Rng rng(2024);
    const DynamicsProbe probe = make_dynamics_probe(task, 64, rng);
    Backprop<float> work;
    return measure_dynamics(params_from_model<float>(m), task, probe, work, 0);
}

// MATH.md copying score of a head's OV circuit, computed here independently of the pass:
// sum(eig) / sum(|eig|) of (W_O W_U)(W_E' W_V), where W_E' holds the embeddings of the output tokens in
// vocab_out's order (BOS is not an output; the pass matches the shared tokens by string).
double ov_copying(const Model& m, int l, int h) {
    const auto& a = m.blocks[static_cast<size_t>(l)].attn;
    Matrix E(m.cfg.d_vocab_out, m.cfg.d_model);  // [d_vocab_out, d_model]
    for (int j = 0; j < m.cfg.d_vocab_out; ++j) {
        const int t = m.token_index(m.vocab_out[static_cast<size_t>(j)]);
        REQUIRE(t >= 0);
        E.row(j) = m.W_E.row(t);
    }
    const Matrix core =
        (a.W_O[static_cast<size_t>(h)] * m.W_U) * (E * a.W_V[static_cast<size_t>(h)]);  // [d_head, d_head]
    const Eigen::EigenSolver<Eigen::MatrixXd> es(core.cast<double>());
    const auto ev = es.eigenvalues();
    return ev.real().sum() / ev.cwiseAbs().sum();
}

// The induction pass with its defaults, as `circuits analyze` runs it (for n_ctx = 9 the probe is
// BOS, a permutation of a b c d, the same again), averaged over more sequences.
analyses::InductionOptions induction_probe() {
    analyses::InductionOptions o;
    o.probe_sequences = 50;
    return o;
}

double row_centred_correlation(Eigen::MatrixXd a, Eigen::MatrixXd b) {
    a = a.colwise() - a.rowwise().mean();
    b = b.colwise() - b.rowwise().mean();
    const double ma = a.mean(), mb = b.mean();
    a.array() -= ma;
    b.array() -= mb;
    return (a.array() * b.array()).sum() / std::sqrt(a.squaredNorm() * b.squaredNorm());
}

TEST_CASE(
    "induction-2l: low loss on the repeated half, an induction head in layer 1 K-composing with a previous-token "
    "head") {
    const Model m = read_model_h5(trained("induction-2l.h5"));
    REQUIRE(m.cfg.n_layers == 2);
    const auto task = induction_task_of(m);
    const DynamicsPoint d = probe_model(m, *task);
    CHECK(d.repeat_loss < kLowRepeatLoss);

    // The induction pass flags a layer-1 head (induction score >= 0.4 and positive OV copying), and
    // its strongest K-composition partner (the composition pass's score, as `circuits analyze` reads
    // it) is a layer-0 head the same pass calls a previous-token head.
    const auto ind = analyses::compute_induction(m, induction_probe());
    REQUIRE(ind.options.probe_length == 4);
    REQUIRE(ind.options.probe_repeats == 2);
    analyses::CompositionOptions co;
    co.baseline_samples = kCompositionSamples;
    const auto comp = analyses::compute_composition(m, co);
    const int H = m.cfg.n_heads, L = m.cfg.n_layers;
    const auto flag = [&](const Array<std::uint8_t>& a, int l, int h) {
        return a.data[static_cast<size_t>(l * H + h)] != 0;
    };
    int found = 0;
    for (int h = 0; h < H; ++h) {
        CHECK(ind.ov_copying(1, h) == doctest::Approx(ov_copying(m, 1, h)).epsilon(1e-4));
        if (!flag(ind.is_induction_head, 1, h)) continue;
        int partner = 0;
        for (int h1 = 1; h1 < H; ++h1)
            if (comp.k.data[static_cast<size_t>(((0 * H + h1) * L + 1) * H + h)] >
                comp.k.data[static_cast<size_t>(((0 * H + partner) * L + 1) * H + h)])
                partner = h1;
        CAPTURE(h);
        CAPTURE(partner);
        if (flag(ind.is_prev_token_head, 0, partner)) ++found;
    }
    CHECK(found >= 1);
}

TEST_CASE("induction-1l: no induction head and a clearly higher loss on the repeated half than induction-2l") {
    const Model one = read_model_h5(trained("induction-1l.h5"));
    const Model two = read_model_h5(trained("induction-2l.h5"));
    REQUIRE(one.cfg.n_layers == 1);
    CHECK(one.vocab == two.vocab);
    CHECK(one.cfg.n_ctx == two.cfg.n_ctx);
    const auto task = induction_task_of(one);
    const DynamicsPoint d1 = probe_model(one, *task), d2 = probe_model(two, *task);
    CHECK(d1.induction.maxCoeff() < kInductionThreshold);
    const auto ind = analyses::compute_induction(one, induction_probe());
    for (int h = 0; h < one.cfg.n_heads; ++h) CHECK(ind.induction(0, h) < kInductionThreshold);
    CHECK(d1.repeat_loss > d2.repeat_loss + kRepeatLossGap);
}

TEST_CASE("bigram-0l: the direct path W_E W_U matches the true log-probabilities up to a per-row constant") {
    const auto path = trained("bigram-0l.h5");
    const Model m = read_model_h5(path);
    REQUIRE(m.cfg.n_layers == 0);
    const H5Reader h(path);
    const auto P = h.read_double("training/task/transition");
    REQUIRE(P.dims == std::vector<std::uint64_t>{static_cast<std::uint64_t>(m.cfg.d_vocab),
                                                 static_cast<std::uint64_t>(m.cfg.d_vocab)});
    Eigen::MatrixXd log_p(m.cfg.d_vocab, m.cfg.d_vocab);
    for (int i = 0; i < m.cfg.d_vocab; ++i)
        for (int j = 0; j < m.cfg.d_vocab; ++j)
            log_p(i, j) = std::log(P.data[static_cast<size_t>(i * m.cfg.d_vocab + j)]);
    const Eigen::MatrixXd table = (m.W_E * m.W_U).cast<double>();
    CHECK(row_centred_correlation(table, log_p) > kBigramCorrelation);
    const Eigen::MatrixXd with_bias = table.rowwise() + m.b_U.cast<double>();
    CHECK(row_centred_correlation(with_bias, log_p) > kBigramCorrelation);
}

// Entropy falls (by more than half a nat) during the first half of the logged points and changes
// little (under a tenth of the fall) during the second half.
void check_scan_then_snap(const std::vector<double>& entropy) {
    REQUIRE(entropy.size() >= 4);
    const double first = entropy.front(), mid = entropy[entropy.size() / 2], last = entropy.back();
    const double fall = first - last;
    CHECK(fall > 0.5);
    CHECK(first - mid > 0.8 * fall);
    CHECK(std::abs(last - mid) < 0.1 * fall);
}

TEST_CASE("scan-snap-1l: attention entropy falls then flattens; distinct tokens get more attention than common ones") {
    const TrainingCurves t = read_training(trained("scan-snap-1l.h5"));
    CHECK(t.task == "scan-snap");
    REQUIRE(t.layers == 1);
    REQUIRE(t.heads == 1);
    std::vector<double> entropy;
    for (const auto& e : t.entropy) entropy.push_back(e(0, 0));
    check_scan_then_snap(entropy);
    CHECK(t.distinct_per_key.back()(0, 0) > 10 * t.common_per_key.back()(0, 0));
    CHECK(t.distinct_mass.back()(0, 0) > t.common_mass.back()(0, 0));
    // At initialisation attention is close to uniform: no preference yet.
    CHECK(std::abs(t.distinct_per_key.front()(0, 0) - t.common_per_key.front()(0, 0)) < 0.02);
}

// Fraction of the evaluator's non-none outputs that the model's argmax reproduces, over every input up
// to length 3 and `random_inputs` random ones.
double program_accuracy(const Model& m, const ProgramTask& task, int random_inputs) {
    const auto& p = task.program();
    const int V = static_cast<int>(p.vocab.size());
    std::vector<std::vector<int>> inputs;
    for (int len = 1; len <= 3; ++len) {
        int count = 1;
        for (int i = 0; i < len; ++i) count *= V;
        for (int code = 0; code < count; ++code) {
            std::vector<int> in;
            for (int i = 0, c = code; i < len; ++i, c /= V) in.push_back(c % V);
            inputs.push_back(in);
        }
    }
    Rng rng(77);
    for (int s = 0; s < random_inputs; ++s) {
        const Example e = task.sample(rng);
        std::vector<int> in;
        for (size_t i = 1; i < e.tokens.size(); ++i) in.push_back(e.tokens[i] - 1);
        inputs.push_back(in);
    }
    long right = 0, scored = 0;
    for (const auto& in : inputs) {
        const auto targets = task.targets_of(in);
        std::vector<int> tokens{task.bos_token()};
        for (int t : in) tokens.push_back(t + 1);
        const ForwardResult f = forward(m, tokens);
        for (size_t i = 0; i < in.size(); ++i) {
            if (targets[i] < 0) continue;
            Eigen::Index best = 0;
            f.logits.row(static_cast<Eigen::Index>(i + 1)).maxCoeff(&best);
            right += best == targets[i];
            ++scored;
        }
    }
    return static_cast<double>(right) / static_cast<double>(scored);
}

TEST_CASE("shift_by-1l, program-induction-2l: the trained program counterparts agree with the evaluator") {
    const std::vector<std::pair<std::string, std::string>> files{{"shift_by-1l.h5", "shift_by"},
                                                                 {"program-induction-2l.h5", "induction"}};
    for (const auto& entry : files) {  // no structured binding: doctest's CAPTURE is a lambda (clang 14)
        const auto& file = entry.first;
        const auto& program = entry.second;
        CAPTURE(file);
        const Model m = read_model_h5(trained(file));
        const ProgramTask task("program:" + program + ".rasp",
                               test::source_dir() + "/data/programs/" + program + ".rasp");
        const Model compiled = read_model_h5(test::source_dir() + "/data/models/compiled/" + program + ".h5");
        CHECK(m.program_source == compiled.program_source);  // `circuits compare` finds the program
        CHECK(m.vocab == compiled.vocab);
        CHECK(m.vocab_out == compiled.vocab_out);
        CHECK(m.cfg.n_ctx == compiled.cfg.n_ctx);
        CHECK(m.cfg.causal == compiled.cfg.causal);
        CHECK(program_accuracy(m, task, 500) > kProgramAccuracy);
    }
}

TEST_CASE("short program run: a one-layer model learns shift_by from the evaluator's targets") {
    const ProgramTask task("program:shift_by.rasp", test::source_dir() + "/data/programs/shift_by.rasp");
    TrainOptions o;
    o.n_layers = 1;
    o.n_heads = 1;
    o.d_model = 16;
    o.d_head = 8;
    o.steps = 300;
    o.batch = 16;
    o.optimiser.lr = 1e-2;
    o.log_every = 100;
    o.checkpoints = 0;
    const TrainResult r = train(task, o);
    constexpr double kShortRunAccuracy = 0.9;
    CHECK(program_accuracy(r.model, task, 200) > kShortRunAccuracy);
}

TEST_CASE("short scan-snap run: entropy falls then flattens, attention moves onto distinct tokens") {
    TaskOptions to;
    to.max_len = 10;
    const auto task = make_task("scan-snap", to, 0);
    TrainOptions o;
    o.n_layers = 1;
    o.n_heads = 1;
    o.d_model = 16;
    o.d_head = 8;
    o.positions = PositionalEmbedding::none;
    o.steps = 400;
    o.batch = 16;
    o.optimiser.lr = 2e-3;
    o.optimiser.min_lr_ratio = 1.0;
    o.log_every = 20;
    o.checkpoints = 0;
    const TrainResult r = train(*task, o);
    std::vector<double> entropy;
    for (const auto& p : r.record.dynamics) entropy.push_back(p.entropy(0, 0));
    check_scan_then_snap(entropy);
    const auto& end = r.record.dynamics.back();
    CHECK(end.distinct_per_key(0, 0) > 10 * end.common_per_key(0, 0));
}

TEST_CASE("short bigram run: a zero-layer model learns the chain's log-probabilities") {
    TaskOptions to;
    const auto task = make_task("bigram", to, 0);
    TrainOptions o;
    o.n_layers = 0;
    o.d_model = 32;
    o.positions = PositionalEmbedding::none;
    o.steps = 300;
    o.batch = 32;
    o.optimiser.lr = 3e-2;
    o.log_every = 100;
    o.checkpoints = 0;
    const TrainResult r = train(*task, o);
    const Eigen::MatrixXd P = dynamic_cast<const BigramTask&>(*task).transition();
    const Eigen::MatrixXd table = (r.model.W_E * r.model.W_U).cast<double>().rowwise() + r.model.b_U.cast<double>();
    constexpr double kShortRunCorrelation = 0.9;
    CHECK(row_centred_correlation(table, P.array().log().matrix()) > kShortRunCorrelation);
}

}  // namespace
}  // namespace circuits::train
