// The outcomes the papers predict, checked on the bundled trained models and on short runs.
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/train/bigram_task.hpp"
#include "lib/train/dynamics.hpp"
#include "lib/train/rng.hpp"
#include "lib/train/trainer.hpp"
#include "lib/train/training_file.hpp"
#include "tests/test_util.hpp"

#include <Eigen/Eigenvalues>

#include <cmath>

namespace circuits::train {
namespace {

constexpr double kInductionThreshold = 0.4;  // MATH.md: induction score >= 0.4 flags an induction head
constexpr double kPrevTokenThreshold = 0.4;  // same convention for a previous-token head
constexpr double kLowRepeatLoss = 0.5;       // nats; ln 8 = 2.08 is guessing among the 8 tokens
constexpr double kRepeatLossGap = 0.5;       // induction-1l must be at least this much worse
constexpr double kBigramCorrelation = 0.95;

std::string trained(const std::string& name) { return test::source_dir() + "/data/models/trained/" + name; }

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
    const Probe probe = make_probe(task, 64, rng);
    Backprop<float> work;
    return measure_dynamics(params_from_model<float>(m), task, probe, work, 0);
}

// MATH.md copying score of a head's OV circuit: sum(eig) / sum(|eig|) of (W_O W_U)(W_E' W_V), where
// W_E' holds the embeddings of the output tokens in vocab_out's order (BOS is not an output).
double ov_copying(const Model& m, int l, int h) {
    const auto& a = m.blocks[static_cast<size_t>(l)].attn;
    Matrix E(m.cfg.d_vocab_out, m.cfg.d_model);  // [d_vocab_out, d_model]
    for (int j = 0; j < m.cfg.d_vocab_out; ++j) {
        const int t = m.token_index(m.vocab_out[static_cast<size_t>(j)]);
        REQUIRE(t >= 0);
        E.row(j) = m.W_E.row(t);
    }
    const Matrix core = (a.W_O[static_cast<size_t>(h)] * m.W_U) * (E * a.W_V[static_cast<size_t>(h)]);  // [d_head, d_head]
    const Eigen::EigenSolver<Eigen::MatrixXd> es(core.cast<double>());
    const auto ev = es.eigenvalues();
    return ev.real().sum() / ev.cwiseAbs().sum();
}

// MATH.md K-composition: ||OV^{h1} (QK^{h2})^T||_F / (||OV^{h1}||_F ||QK^{h2}||_F).
double k_composition(const Model& m, int l1, int h1, int l2, int h2) {
    const auto& a1 = m.blocks[static_cast<size_t>(l1)].attn;
    const auto& a2 = m.blocks[static_cast<size_t>(l2)].attn;
    const Matrix OV = a1.W_V[static_cast<size_t>(h1)] * a1.W_O[static_cast<size_t>(h1)];  // [d_model, d_model]
    const Matrix QK = a2.W_Q[static_cast<size_t>(h2)] * a2.W_K[static_cast<size_t>(h2)].transpose();
    return (OV * QK.transpose()).norm() / (OV.norm() * QK.norm());
}

double row_centred_correlation(Eigen::MatrixXd a, Eigen::MatrixXd b) {
    a = a.colwise() - a.rowwise().mean();
    b = b.colwise() - b.rowwise().mean();
    const double ma = a.mean(), mb = b.mean();
    a.array() -= ma;
    b.array() -= mb;
    return (a.array() * b.array()).sum() / std::sqrt(a.squaredNorm() * b.squaredNorm());
}

TEST_CASE("induction-2l: low loss on the repeated half, an induction head in layer 1 K-composing with a previous-token head") {
    const Model m = read_model_h5(trained("induction-2l.h5"));
    REQUIRE(m.cfg.n_layers == 2);
    const auto task = induction_task_of(m);
    const DynamicsPoint d = probe_model(m, *task);
    CHECK(d.repeat_loss < kLowRepeatLoss);

    // Flagged as in MATH.md: induction score >= 0.4 and positive OV copying.
    std::vector<int> flagged;
    for (int h = 0; h < m.cfg.n_heads; ++h) {
        CHECK(d.induction(0, h) < kInductionThreshold);  // layer 0 cannot do it
        if (d.induction(1, h) >= kInductionThreshold && ov_copying(m, 1, h) > 0.0) flagged.push_back(h);
    }
    REQUIRE_FALSE(flagged.empty());

    // The strongest K-composition pair joins the best previous-token head of layer 0 to a flagged head.
    double best = -1.0;
    int best_h1 = -1, best_h2 = -1;
    for (int h1 = 0; h1 < m.cfg.n_heads; ++h1)
        for (int h2 = 0; h2 < m.cfg.n_heads; ++h2) {
            const double k = k_composition(m, 0, h1, 1, h2);
            if (k > best) {
                best = k;
                best_h1 = h1;
                best_h2 = h2;
            }
        }
    Eigen::Index prev_head = 0;
    d.prev_token.row(0).maxCoeff(&prev_head);
    CAPTURE(best_h1);
    CAPTURE(best_h2);
    CHECK(best_h1 == prev_head);
    CHECK(d.prev_token(0, best_h1) >= kPrevTokenThreshold);
    CHECK(std::find(flagged.begin(), flagged.end(), best_h2) != flagged.end());
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
    CHECK(d1.repeat_loss > d2.repeat_loss + kRepeatLossGap);
}

TEST_CASE("bigram-0l: the direct path W_E W_U matches the true log-probabilities up to a per-row constant") {
    const auto path = trained("bigram-0l.h5");
    const Model m = read_model_h5(path);
    REQUIRE(m.cfg.n_layers == 0);
    const H5Reader h(path);
    const auto P = h.read_double("training/task/transition");
    REQUIRE(P.dims == std::vector<std::uint64_t>{static_cast<std::uint64_t>(m.cfg.d_vocab), static_cast<std::uint64_t>(m.cfg.d_vocab)});
    Eigen::MatrixXd log_p(m.cfg.d_vocab, m.cfg.d_vocab);
    for (int i = 0; i < m.cfg.d_vocab; ++i)
        for (int j = 0; j < m.cfg.d_vocab; ++j) log_p(i, j) = std::log(P.data[static_cast<size_t>(i * m.cfg.d_vocab + j)]);
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
