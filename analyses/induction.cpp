// The induction-head pass: behavioural scores on repeated random sequences, weight-based evidence, and
// the classification of heads.
#include "analyses/induction.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "analyses/eigen.hpp"
#include "analyses/results.hpp"
#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "lib/hdf5.hpp"
#include "lib/head_scores.hpp"
#include "lib/parallel.hpp"
#include "lib/results_schema.hpp"

namespace circuits::analyses {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Vocabulary columns per block when the copying evaluator forms logit contributions.
constexpr Eigen::Index kVocabBlock = 1024;

// W_O as seen by the logits through the final normalisation, up to the positive per-position factor
// 1/scale: LN and LNPre subtract the mean over d_model (centre each row), LN then multiplies by w.
Matrix output_to_logit_space(const Model& m, const Matrix& W_O) {
    if (m.cfg.normalization_type == Normalization::none) return W_O;
    Matrix out = W_O.colwise() - W_O.rowwise().mean();  // [d_head, d_model]
    if (m.cfg.normalization_type == Normalization::LN) out.array().rowwise() *= m.ln_final.w.transpose().array();
    return out;
}

// Maps the share of positive logit mass on the attended token to [-1, 1] with chance (1/d_vocab_out)
// at 0: linear on [chance, 1] -> [0, 1] and on [0, chance] -> [-1, 0].
double rescale_share(double share, double chance) {
    if (!(chance < 1.0)) return kNaN;
    return share >= chance ? (share - chance) / (1.0 - chance) : share / chance - 1.0;
}

void check_options(const InductionOptions& o) {
    if (o.probe_length < 2) throw Error("induction: probe length must be >= 2, got " + std::to_string(o.probe_length));
    if (o.probe_repeats < 2)
        throw Error("induction: probe repeats must be >= 2, got " + std::to_string(o.probe_repeats));
    if (o.probe_sequences < 1)
        throw Error("induction: probe sequences must be >= 1, got " + std::to_string(o.probe_sequences));
}

// What one head did on the probe, at every scored position p (sequence-major): its z and the output
// index of the token it attended to most (the largest total attention over that token's positions).
struct HeadOnProbe {
    Matrix Z;                 // [positions, d_head]
    std::vector<int> target;  // [positions] output index, -1 when the token is not an output
};

HeadOnProbe head_on_probe(const Model& model, const RepeatedProbe& probe, const std::vector<ForwardResult>& runs,
                          const std::vector<int>& to_out, int l, int h) {
    const auto ul = static_cast<size_t>(l), uh = static_cast<size_t>(h);
    const auto& attn = model.blocks[ul].attn;
    const int first = probe.first_scored(), per_seq = probe.scored_per_sequence();
    const int S = static_cast<int>(probe.sequences.size());
    HeadOnProbe out;
    out.Z.resize(S * per_seq, model.cfg.d_head);
    out.target.assign(static_cast<size_t>(S * per_seq), -1);
    std::vector<double> weight(static_cast<size_t>(model.cfg.d_vocab), 0.0);  // attention per token, reset after use
    for (int s = 0; s < S; ++s) {
        const auto& seq = probe.sequences[static_cast<size_t>(s)];
        const Matrix& A = runs[static_cast<size_t>(s)].patterns[ul][uh];  // [T query, T key]
        for (int i = first; i < first + per_seq; ++i) {
            for (int j = 0; j <= i; ++j) weight[static_cast<size_t>(seq[static_cast<size_t>(j)])] += A(i, j);
            int best = -1;
            double best_w = -1.0;
            for (int j = 0; j <= i; ++j) {
                const auto t = static_cast<size_t>(seq[static_cast<size_t>(j)]);
                if (weight[t] > best_w) best_w = weight[t], best = static_cast<int>(t);
            }
            for (int j = 0; j <= i; ++j) weight[static_cast<size_t>(seq[static_cast<size_t>(j)])] = 0.0;
            out.target[static_cast<size_t>(s * per_seq + i - first)] = to_out[static_cast<size_t>(best)];
        }
        // z_i = sum_j A[i, j] (x_j W_V + b_V) = (A x)_i W_V + b_V, since rows of A sum to 1.
        const Matrix x = normalise(model, runs[static_cast<size_t>(s)].resid_pre[ul], model.blocks[ul].ln1);
        Matrix z = (A.middleRows(first, per_seq) * x) * attn.W_V[uh];  // [per_seq, d_head]
        z.rowwise() += attn.b_V[uh];
        out.Z.middleRows(s * per_seq, per_seq) = z;
    }
    return out;
}

// Copying evaluator. The head's direct logit contribution at position i is d_i = z_i W_O' W_U / scale_i
// (W_O' = W_O through the final normalisation, b_U and ln_final.b excluded as they are not the head's).
// With p_i = ReLU(d_i - mean(d_i)), the share of p_i on the attended token is averaged over positions
// where p_i != 0, and rescaled so that chance (1 / d_vocab_out) is 0, a perfect copier 1 and a head
// that never raises the attended token -1. Shares are invariant to the positive factor 1/scale_i, which
// is left out. Computed in vocabulary blocks: nothing of size positions x d_vocab is formed.
double copying_eval(const Model& model, const Matrix& W_O_head, const HeadOnProbe& on, const Vector& mean_unembed) {
    const auto& c = model.cfg;
    const auto P = static_cast<int>(on.Z.rows());
    const Matrix W_O = output_to_logit_space(model, W_O_head);  // [d_head, d_model]
    const Vector row_mean = on.Z * (W_O * mean_unembed);        // [positions]: mean_v d_i[v]
    Vector positive = Vector::Zero(P);                          // sum_v p_i[v]
    Vector on_target = Vector::Zero(P);                         // p_i[target_i]
    Matrix F, D;
    for (Eigen::Index v0 = 0; v0 < c.d_vocab_out; v0 += kVocabBlock) {
        const Eigen::Index nv = std::min<Eigen::Index>(kVocabBlock, c.d_vocab_out - v0);
        F.noalias() = W_O * model.W_U.middleCols(v0, nv);  // [d_head, nv]
        D.noalias() = on.Z * F;                            // [positions, nv]
        D.colwise() -= row_mean;
        positive += D.cwiseMax(0.0f).rowwise().sum();
        for (int p = 0; p < P; ++p) {
            const int t = on.target[static_cast<size_t>(p)];
            if (t >= v0 && t < v0 + nv) on_target(p) = std::max(0.0f, D(p, t - v0));
        }
    }
    double share = 0.0;
    int counted = 0;
    for (int p = 0; p < P; ++p)
        if (positive(p) > 0.0f && on.target[static_cast<size_t>(p)] >= 0) {
            share += double(on_target(p)) / double(positive(p));
            ++counted;
        }
    return counted > 0 ? rescale_share(share / counted, 1.0 / c.d_vocab_out) : kNaN;
}

// The behavioural scores of every head (lib/head_scores.hpp) and its copying evaluator on the probe.
void behavioural_scores(const Model& model, const RepeatedProbe& probe, int threads, InductionResult& r) {
    const auto& c = model.cfg;
    const int L = c.n_layers, H = c.n_heads;
    const std::vector<ForwardResult> runs = forward_batch(model, probe.sequences, threads);
    const std::vector<int> to_out = model.vocab.index_in(model.vocab_out);
    r.n_positions = static_cast<int>(probe.sequences.size()) * probe.scored_per_sequence();
    r.prev_token = Matrix::Zero(L, H);
    r.duplicate_token = Matrix::Zero(L, H);
    r.induction = Matrix::Zero(L, H);
    r.copying_eval = Matrix::Constant(L, H, static_cast<float>(kNaN));
    const Vector mean_unembed = model.W_U.rowwise().mean();  // [d_model]: W_U 1 / d_vocab_out
    parallel_for(L * H, threads, [&](int, std::int64_t task) {
        const auto lh = static_cast<int>(task);
        const int l = lh / H, h = lh % H;
        const auto ul = static_cast<size_t>(l), uh = static_cast<size_t>(h);
        const RepeatScores scores =
            repeat_scores(probe, [&](int s) -> const Matrix& { return runs[static_cast<size_t>(s)].patterns[ul][uh]; });
        r.prev_token(l, h) = static_cast<float>(scores.prev_token);
        r.duplicate_token(l, h) = static_cast<float>(scores.duplicate_token);
        r.induction(l, h) = static_cast<float>(scores.induction);
        const HeadOnProbe on = head_on_probe(model, probe, runs, to_out, l, h);
        const double eval = copying_eval(model, model.blocks[ul].attn.W_O[uh], on, mean_unembed);
        if (!std::isnan(eval)) r.copying_eval(l, h) = static_cast<float>(eval);
    });
}

// K-composition of every head with every earlier head, token embedding only: with
// M = W_E QK^h (W_E OV^p)^T, the cosine trace(M) / (sqrt(d_vocab) ||M||_F) between M and the identity,
// and the sum of these weighted by the earlier heads' previous-token scores (mechanistic).
void k_composition(const Model& model, const EmbeddingGrams& grams, int threads, InductionResult& r) {
    const auto& c = model.cfg;
    const int L = c.n_layers, H = c.n_heads;
    const auto uL = static_cast<std::uint64_t>(L), uH = static_cast<std::uint64_t>(H);
    r.mechanistic = Matrix::Zero(L, H);
    r.k_composition_trace = Array<float>::nan({uL, uH, uL, uH});
    std::vector<Matrix> value_gram(static_cast<size_t>(L * H));  // W_V^T G_E W_V [d_head, d_head]
    std::vector<Matrix> G_E_W_V(static_cast<size_t>(L * H));     // G_E W_V [d_model, d_head]
    parallel_for(L * H, threads, [&](int, std::int64_t task) {
        const auto lh = static_cast<int>(task);
        const auto& a = model.blocks[static_cast<size_t>(lh / H)].attn;
        const auto uh = static_cast<size_t>(lh % H);
        G_E_W_V[static_cast<size_t>(lh)] = grams.G_E * a.W_V[uh];
        value_gram[static_cast<size_t>(lh)] = a.W_V[uh].transpose() * G_E_W_V[static_cast<size_t>(lh)];
    });
    const double sqrt_vocab = std::sqrt(static_cast<double>(c.d_vocab));
    parallel_for(L * H, threads, [&](int, std::int64_t task) {
        const auto lh = static_cast<int>(task);
        const int l = lh / H, h = lh % H;
        const auto& a = model.blocks[static_cast<size_t>(l)].attn;
        const auto uh = static_cast<size_t>(h);
        const Matrix query_gram = a.W_Q[uh].transpose() * grams.G_E * a.W_Q[uh];  // (W_E W_Q)^T (W_E W_Q)
        double mech = 0.0;
        for (int lp = 0; lp < l; ++lp)
            for (int hp = 0; hp < H; ++hp) {
                const auto p = static_cast<size_t>(lp * H + hp);
                const auto& ap = model.blocks[static_cast<size_t>(lp)].attn;
                // M = (W_E W_Q)(W_E W_V^p N)^T with N = W_O^p W_K [d_head, d_head]:
                // trace(M) = trace(W_Q^T G_E W_V^p N), ||M||^2 = trace((W_Q^T G_E W_Q)(N^T value_gram_p N)).
                const Matrix N = ap.W_O[static_cast<size_t>(hp)] * a.W_K[uh];
                const Matrix QV = a.W_Q[uh].transpose() * G_E_W_V[p];  // [d_head, d_head]
                const double tr = trace_of_product(QV, N);
                const double norm = norm_from_square(trace_of_product(query_gram, N.transpose() * value_gram[p] * N));
                const double cosine = norm > 0.0 ? tr / (sqrt_vocab * norm) : kNaN;
                r.k_composition_trace.at({lp, hp, l, h}) = static_cast<float>(cosine);
                if (std::isfinite(cosine)) mech += double(r.prev_token(lp, hp)) * cosine;
            }
        r.mechanistic(l, h) = static_cast<float>(mech);
    });
}

// /eigen's OV copying scores as an [L, H] matrix: `given` when the eigen pass already computed them,
// else compute_ov_copying's, so the two groups hold the same numbers.
Matrix ov_copying(const Model& model, int threads, const EmbeddingGrams& grams, const Array<float>* given) {
    EigenPassOptions o;
    o.threads = threads;
    const Array<float> a = given ? *given : compute_ov_copying(model, o, grams);
    if (a.dims != std::vector<std::uint64_t>{static_cast<std::uint64_t>(model.cfg.n_layers),
                                             static_cast<std::uint64_t>(model.cfg.n_heads)})
        throw Error("induction: the OV copying scores given are not [n_layers, n_heads]");
    const int H = model.cfg.n_heads;
    Matrix out(model.cfg.n_layers, H);
    for (int l = 0; l < model.cfg.n_layers; ++l)
        for (int h = 0; h < H; ++h) out(l, h) = a.data[static_cast<size_t>(l * H + h)];
    return out;
}

void classify(const InductionOptions& options, InductionResult& r) {
    const auto uL = static_cast<std::uint64_t>(r.induction.rows()), uH = static_cast<std::uint64_t>(r.induction.cols());
    auto flags = [&] {
        Array<std::uint8_t> a;
        a.dims = {uL, uH};
        a.data.assign(a.size(), 0);
        return a;
    };
    r.is_induction_head = flags();
    r.is_prev_token_head = flags();
    r.is_copying_head = flags();
    for (int l = 0; l < r.induction.rows(); ++l)
        for (int h = 0; h < r.induction.cols(); ++h) {
            // Comparisons with NaN are false: an undefined score never classifies a head.
            const double ov = r.ov_copying(l, h);
            r.is_induction_head.at({l, h}) =
                r.induction(l, h) >= options.induction_threshold && ov > options.ov_copying_threshold;
            r.is_prev_token_head.at({l, h}) = r.prev_token(l, h) >= options.prev_token_threshold;
            r.is_copying_head.at({l, h}) = ov >= options.copying_threshold && r.copying_eval(l, h) > 0.0f;
        }
}

}  // namespace

InductionResult compute_induction(const Model& model, const InductionOptions& options) {
    return compute_induction(model, options, embedding_grams(model, options.threads));
}

InductionResult compute_induction(const Model& model, const InductionOptions& options, const EmbeddingGrams& grams,
                          const Array<float>* ov_copying_given) {
    check_options(options);
    check_grams(grams, model.cfg, "induction");
    const RepeatedProbe probe = make_repeated_probe(
        model, {options.probe_length, options.probe_repeats, options.probe_sequences}, options.seed);
    InductionResult r;
    r.options = options;
    r.options.probe_length = probe.length;
    r.options.probe_repeats = probe.repeats;
    r.probe_without_replacement = probe.without_replacement;
    behavioural_scores(model, probe, options.threads, r);
    r.ov_copying = ov_copying(model, options.threads, grams, ov_copying_given);
    k_composition(model, grams, options.threads, r);
    classify(options, r);
    return r;
}

void write(H5Writer& w, const InductionResult& r) {
    namespace s = schema::induction;
    const char* g = s::group;
    w.create_group(g);
    w.write_matrix(s::prev_token, r.prev_token);
    w.write_matrix(s::duplicate_token, r.duplicate_token);
    w.write_matrix(s::induction, r.induction);
    w.write_matrix(s::copying_eval, r.copying_eval);
    w.write_matrix(s::mechanistic, r.mechanistic);
    w.write_matrix(s::ov_copying, r.ov_copying);
    w.write(s::k_composition_trace, r.k_composition_trace);
    w.write(s::is_induction_head.dataset, r.is_induction_head);
    w.write(s::is_prev_token_head.dataset, r.is_prev_token_head);
    w.write(s::is_copying_head.dataset, r.is_copying_head);
    const auto& o = r.options;
    w.attr(g, s::attr::induction_threshold, o.induction_threshold);
    w.attr(g, s::attr::ov_copying_threshold, o.ov_copying_threshold);
    w.attr(g, s::attr::prev_token_threshold, o.prev_token_threshold);
    w.attr(g, s::attr::copying_threshold, o.copying_threshold);
    w.attr(g, s::attr::probe_length, o.probe_length);
    w.attr(g, s::attr::probe_repeats, o.probe_repeats);
    w.attr(g, s::attr::probe_sequences, o.probe_sequences);
    w.attr(g, s::attr::probe_seed, static_cast<std::int64_t>(o.seed));
    w.attr(g, s::attr::probe_without_replacement, r.probe_without_replacement ? 1 : 0);
    w.attr(g, s::attr::n_positions, r.n_positions);
    w.attr(g, s::is_induction_head.rule, "induction >= induction_threshold and ov_copying > ov_copying_threshold");
    w.attr(g, s::is_prev_token_head.rule, "prev_token >= prev_token_threshold");
    w.attr(g, s::is_copying_head.rule, "ov_copying >= copying_threshold and copying_eval > 0");
    w.attr(g, s::attr::copying_eval_definition,
           "mean over positions in repeats >= 2 of the share of ReLU(d - mean(d)) on the most-attended token, "
           "d = the head's direct logit contribution; rescaled so chance (1/d_vocab_out) = 0, all = 1, none = -1");
    w.attr(g, s::attr::mechanistic_definition,
           "sum over earlier heads p of prev_token[p] * k_composition_trace[p, h]; k_composition_trace = "
           "trace(M) / (sqrt(d_vocab) ||M||_F), M = W_E QK^h (W_E OV^p)^T (token embedding only)");
}

}  // namespace circuits::analyses
