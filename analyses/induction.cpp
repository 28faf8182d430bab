// The induction-head pass: behavioural scores on repeated random sequences, weight-based evidence, and
// the classification of heads.
#include "analyses/induction.hpp"

#include "analyses/head_arrays.hpp"
#include "analyses/parallel.hpp"
#include "analyses/results.hpp"
#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"
#include "lib/forward.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <random>

namespace circuits::analyses {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Vocabulary columns per block when the copying evaluator forms logit contributions.
constexpr Eigen::Index kVocabBlock = 1024;

bool is_special_token(const Model& m, int t) {
    if (t == m.cfg.bos_token) return true;
    const std::string& s = m.vocab[static_cast<size_t>(t)];
    if (s == "compiler_bos" || s == "compiler_pad") return true;
    if (s.size() >= 3 && s.front() == '<' && s.back() == '>') return true;
    if (s.size() >= 3 && s.front() == '[' && s.back() == ']')
        return std::all_of(s.begin() + 1, s.end() - 1,
                           [](char ch) { return std::isupper(static_cast<unsigned char>(ch)) || ch == '_'; });
    return false;
}

// The input a layer's value projection reads: its residual stream after the model's normalisation.
Matrix value_input(const Model& m, const Matrix& resid, const LayerNormWeights& ln) {
    switch (m.cfg.normalization_type) {
        case Normalization::none: return resid;
        case Normalization::LNPre: return layer_norm_rows(resid, m.cfg.ln_eps);
        case Normalization::LN: {
            Matrix y = layer_norm_rows(resid, m.cfg.ln_eps);
            y.array().rowwise() *= ln.w.transpose().array();
            y.rowwise() += ln.b.transpose();
            return y;
        }
    }
    return resid;
}

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

}  // namespace

std::vector<int> probe_tokens(const Model& model) {
    std::vector<int> out;
    for (int t = 0; t < model.cfg.d_vocab; ++t)
        if (!is_special_token(model, t)) out.push_back(t);
    return out;
}

std::vector<int> output_index_of_inputs(const Model& model) {
    std::vector<int> to_out(static_cast<size_t>(model.cfg.d_vocab), -1);
    const SharedVocabulary shared = shared_vocabulary(model);
    for (int k = 0; k < shared.size(); ++k)
        to_out[static_cast<size_t>(shared.in[static_cast<size_t>(k)])] = shared.out[static_cast<size_t>(k)];
    return to_out;
}

InductionProbe make_induction_probe(const Model& model, int length, int repeats, int sequences, std::uint64_t seed) {
    if (length < 2 || repeats < 2 || sequences < 1)
        throw Error("induction probe: needs length >= 2, repeats >= 2, sequences >= 1; got " + std::to_string(length) +
                    ", " + std::to_string(repeats) + ", " + std::to_string(sequences));
    InductionProbe p;
    p.offset = model.cfg.bos_token >= 0 ? 1 : 0;
    // Too long for n_ctx: fewer repeats first (not below 2), then a shorter block. Short blocks make
    // the scores ambiguous (with blocks of 2 the previous token is also the induction target).
    const int room = model.cfg.n_ctx - p.offset;
    p.repeats = repeats;
    p.length = length;
    if (p.length * p.repeats > room) p.repeats = std::max(2, room / p.length);
    if (p.length * p.repeats > room) p.length = room / p.repeats;
    if (p.length < 2)
        throw Error("induction probe: n_ctx = " + std::to_string(model.cfg.n_ctx) + " cannot hold " +
                    "2 repeats of 2 tokens" + (p.offset ? " after BOS" : ""));
    const std::vector<int> usable = probe_tokens(model);
    if (usable.empty()) throw Error("induction probe: the vocabulary has no token other than special ones");
    p.without_replacement = static_cast<int>(usable.size()) >= p.length;

    std::mt19937_64 rng(seed);
    for (int s = 0; s < sequences; ++s) {
        std::vector<int> block;
        std::vector<int> pool;
        while (static_cast<int>(block.size()) < p.length) {
            if (pool.empty()) pool = usable;
            // One step of a Fisher-Yates shuffle: draw uniformly from what is left of this copy.
            std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
            const size_t k = pick(rng);
            block.push_back(pool[k]);
            pool[k] = pool.back();
            pool.pop_back();
        }
        std::vector<int> seq;
        if (p.offset) seq.push_back(model.cfg.bos_token);
        for (int r = 0; r < p.repeats; ++r) seq.insert(seq.end(), block.begin(), block.end());
        p.sequences.push_back(std::move(seq));
    }
    return p;
}

InductionResult induction(const Model& model, const InductionOptions& options) {
    return induction(model, options, embedding_grams(model, options.threads));
}

InductionResult induction(const Model& model, const InductionOptions& options, const EmbeddingGrams& grams) {
    check_options(options);
    const auto& c = model.cfg;
    const int L = c.n_layers, H = c.n_heads, dh = c.d_head;
    const auto uL = static_cast<std::uint64_t>(L), uH = static_cast<std::uint64_t>(H);
    if (grams.G_E.rows() != c.d_model || grams.G_E.cols() != c.d_model)
        throw Error("induction: embedding Gram matrix is [" + std::to_string(grams.G_E.rows()) + ", " +
                    std::to_string(grams.G_E.cols()) + "], expected [" + std::to_string(c.d_model) + ", " +
                    std::to_string(c.d_model) + "]");

    const InductionProbe probe =
        make_induction_probe(model, options.probe_length, options.probe_repeats, options.probe_sequences, options.seed);
    InductionResult r;
    r.options = options;
    r.options.probe_length = probe.length;
    r.options.probe_repeats = probe.repeats;
    r.probe_without_replacement = probe.without_replacement;
    const std::vector<ForwardResult> runs = forward_batch(model, probe.sequences, options.threads);

    // Scored positions: every position of repeats >= 2, in every sequence.
    const int n = probe.length, first = probe.offset + n;
    const int per_seq = n * (probe.repeats - 1);
    const int S = static_cast<int>(probe.sequences.size());
    r.n_positions = S * per_seq;

    const std::vector<int> to_out = output_index_of_inputs(model);

    r.prev_token = Matrix::Zero(L, H);
    r.duplicate_token = Matrix::Zero(L, H);
    r.induction = Matrix::Zero(L, H);
    r.copying_eval = Matrix::Constant(L, H, static_cast<float>(kNaN));
    const Vector mean_unembed = model.W_U.rowwise().mean();  // [d_model]: W_U 1 / d_vocab_out

    detail::parallel_for(L * H, options.threads, [&](int lh) {
        const int l = lh / H, h = lh % H;
        const auto ul = static_cast<size_t>(l), uh = static_cast<size_t>(h);
        const auto& attn = model.blocks[ul].attn;
        double prev = 0.0, dup = 0.0, ind = 0.0;
        Matrix Z(r.n_positions, dh);                 // [positions, d_head]: the head's z at each position
        std::vector<int> target(static_cast<size_t>(r.n_positions), -1);  // attended token, output index
        std::vector<double> weight(static_cast<size_t>(c.d_vocab), 0.0);  // attention per token, reset after use
        for (int s = 0; s < S; ++s) {
            const auto& seq = probe.sequences[static_cast<size_t>(s)];
            const Matrix& A = runs[static_cast<size_t>(s)].patterns[ul][uh];  // [T query, T key]
            for (int i = first; i < first + per_seq; ++i) {
                prev += A(i, i - 1);
                for (int j = probe.offset; j < (i - probe.offset) / n * n + probe.offset; ++j)
                    if (seq[static_cast<size_t>(j)] == seq[static_cast<size_t>(i)]) {
                        dup += A(i, j);
                        ind += A(i, j + 1);
                    }
                // The attended token: the one with the largest total attention over its positions.
                for (int j = 0; j <= i; ++j) weight[static_cast<size_t>(seq[static_cast<size_t>(j)])] += A(i, j);
                int best = -1;
                double best_w = -1.0;
                for (int j = 0; j <= i; ++j) {
                    const auto t = static_cast<size_t>(seq[static_cast<size_t>(j)]);
                    if (weight[t] > best_w) best_w = weight[t], best = static_cast<int>(t);
                }
                for (int j = 0; j <= i; ++j) weight[static_cast<size_t>(seq[static_cast<size_t>(j)])] = 0.0;
                target[static_cast<size_t>(s * per_seq + i - first)] = to_out[static_cast<size_t>(best)];
            }
            // z_i = sum_j A[i, j] (x_j W_V + b_V) = (A x)_i W_V + b_V, since rows of A sum to 1.
            const Matrix x = value_input(model, runs[static_cast<size_t>(s)].resid_pre[ul], model.blocks[ul].ln1);
            Matrix z = (A.middleRows(first, per_seq) * x) * attn.W_V[uh];  // [per_seq, d_head]
            z.rowwise() += attn.b_V[uh];
            Z.middleRows(s * per_seq, per_seq) = z;
        }
        r.prev_token(l, h) = static_cast<float>(prev / r.n_positions);
        r.duplicate_token(l, h) = static_cast<float>(dup / r.n_positions);
        r.induction(l, h) = static_cast<float>(ind / r.n_positions);

        // Copying evaluator. The head's direct logit contribution at position i is
        // d_i = z_i W_O' W_U / scale_i (W_O' = W_O through the final normalisation, b_U and ln_final.b
        // excluded as they are not the head's). With p_i = ReLU(d_i - mean(d_i)), the share of p_i on
        // the attended token (largest total attention) is averaged over positions where p_i != 0, and
        // rescaled so that chance (1 / d_vocab_out) is 0, a perfect copier 1 and a head that never
        // raises the attended token -1. Shares are invariant to the positive factor 1/scale_i, which
        // is left out. Computed in vocabulary blocks: nothing of size positions x d_vocab is formed.
        const Matrix W_O = output_to_logit_space(model, attn.W_O[uh]);  // [d_head, d_model]
        const Vector row_mean = Z * (W_O * mean_unembed);               // [positions]: mean_v d_i[v]
        Vector positive = Vector::Zero(r.n_positions);                  // sum_v p_i[v]
        Vector on_target = Vector::Zero(r.n_positions);                 // p_i[target_i]
        Matrix F, D;
        for (Eigen::Index v0 = 0; v0 < c.d_vocab_out; v0 += kVocabBlock) {
            const Eigen::Index nv = std::min<Eigen::Index>(kVocabBlock, c.d_vocab_out - v0);
            F.noalias() = W_O * model.W_U.middleCols(v0, nv);  // [d_head, nv]
            D.noalias() = Z * F;                               // [positions, nv]
            D.colwise() -= row_mean;
            positive += D.cwiseMax(0.0f).rowwise().sum();
            for (int p = 0; p < r.n_positions; ++p) {
                const int t = target[static_cast<size_t>(p)];
                if (t >= v0 && t < v0 + nv) on_target(p) = std::max(0.0f, D(p, t - v0));
            }
        }
        double share = 0.0;
        int counted = 0;
        for (int p = 0; p < r.n_positions; ++p)
            if (positive(p) > 0.0f && target[static_cast<size_t>(p)] >= 0) {
                share += double(on_target(p)) / double(positive(p));
                ++counted;
            }
        if (counted > 0)
            r.copying_eval(l, h) = static_cast<float>(rescale_share(share / counted, 1.0 / c.d_vocab_out));
    });

    // Weight-based evidence: OV copying through the [d_head, d_head] core W_O (W_U W_E) W_V, and the
    // K-composition trace with every earlier head.
    r.ov_copying = Matrix::Constant(L, H, static_cast<float>(kNaN));
    r.mechanistic = Matrix::Zero(L, H);
    r.k_composition_trace = detail::nan_array({uL, uH, uL, uH});
    std::vector<Matrix> value_gram(static_cast<size_t>(L * H));  // W_V^T G_E W_V [d_head, d_head]
    std::vector<Matrix> G_E_W_V(static_cast<size_t>(L * H));     // G_E W_V [d_model, d_head]
    detail::parallel_for(L * H, options.threads, [&](int lh) {
        const auto& a = model.blocks[static_cast<size_t>(lh / H)].attn;
        const auto uh = static_cast<size_t>(lh % H);
        G_E_W_V[static_cast<size_t>(lh)] = grams.G_E * a.W_V[uh];
        value_gram[static_cast<size_t>(lh)] = a.W_V[uh].transpose() * G_E_W_V[static_cast<size_t>(lh)];
        if (grams.copying_defined) {
            const Matrix core = a.W_O[uh] * (grams.C * a.W_V[uh]);  // [d_head, d_head]
            r.ov_copying(lh / H, lh % H) = static_cast<float>(copying_score(core));
        }
    });
    const double sqrt_vocab = std::sqrt(static_cast<double>(c.d_vocab));
    detail::parallel_for(L * H, options.threads, [&](int lh) {
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
                detail::at(r.k_composition_trace, {lp, hp, l, h}) = static_cast<float>(cosine);
                if (std::isfinite(cosine)) mech += double(r.prev_token(lp, hp)) * cosine;
            }
        r.mechanistic(l, h) = static_cast<float>(mech);
    });

    auto flags = [&] {
        Array<std::uint8_t> a;
        a.dims = {uL, uH};
        a.data.assign(a.size(), 0);
        return a;
    };
    r.is_induction_head = flags();
    r.is_prev_token_head = flags();
    r.is_copying_head = flags();
    for (int l = 0; l < L; ++l)
        for (int h = 0; h < H; ++h) {
            // Comparisons with NaN are false: an undefined score never classifies a head.
            const double ov = r.ov_copying(l, h);
            detail::at(r.is_induction_head, {l, h}) =
                r.induction(l, h) >= options.induction_threshold && ov > options.ov_copying_threshold;
            detail::at(r.is_prev_token_head, {l, h}) = r.prev_token(l, h) >= options.prev_token_threshold;
            detail::at(r.is_copying_head, {l, h}) = ov >= options.copying_threshold && r.copying_eval(l, h) > 0.0f;
        }
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
