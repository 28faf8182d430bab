// The path-expansion pass: factored norms and copying scores of every path term up to order K, the
// expanded QK terms, and the ablation that measures how much each order of terms lowers the loss.
#include "analyses/path_expansion.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "lib/error.hpp"
#include "lib/factored_matrix.hpp"
#include "lib/forward.hpp"
#include "lib/hdf5.hpp"
#include "lib/parallel.hpp"
#include "lib/probe.hpp"
#include "lib/results_schema.hpp"

namespace circuits::analyses {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Per-head [d_head, d_head] Gram matrices (and [d_model, d_head] products) every term is built from.
struct HeadFactors {
    Matrix value_gram;   // W_V^T G_E W_V: (W_E W_V)^T (W_E W_V)
    Matrix output_gram;  // W_O G_U W_O^T: (W_O W_U)(W_O W_U)^T
    Matrix query_gram;   // W_Q^T G_E W_Q
    Matrix key_gram;     // W_K^T G_E W_K
    Matrix G_E_W_V;      // [d_model, d_head]
    Matrix C_W_V;        // [d_model, d_head] (W_U W_E) W_V, empty unless copying_defined
};

// Mean next-token cross-entropy (nats) of `logits` [T, d_vocab_out] on `tokens`, summed into `sum` and
// `count` for every position t (predicting t + 1), and into the `_rep` pair when t + 1 >= first_rep.
void add_loss(const Eigen::Ref<const Matrix>& logits, const std::vector<int>& tokens, const std::vector<int>& to_out,
              int first_rep, double& sum, int& count, double& sum_rep, int& count_rep) {
    // log-sum-exp per row with the row maximum taken out (every term <= 1), column by column: each step
    // reads one contiguous column of the column-major [T, d_vocab_out] logits and updates all T rows.
    const Eigen::Index T = logits.rows(), V = logits.cols();
    Vector mx = logits.col(0);  // [T]
    for (Eigen::Index v = 1; v < V; ++v) mx = mx.cwiseMax(logits.col(v));
    Vector z = Vector::Zero(T);  // [T]
    for (Eigen::Index v = 0; v < V; ++v) z.array() += (logits.col(v) - mx).array().exp();
    for (size_t t = 0; t + 1 < tokens.size(); ++t) {
        const int target = to_out[static_cast<size_t>(tokens[t + 1])];
        if (target < 0) continue;
        const auto i = static_cast<Eigen::Index>(t);
        const double loss = double(mx(i)) + std::log(double(z(i))) - double(logits(i, target));
        sum += loss;
        ++count;
        if (static_cast<int>(t) + 1 >= first_rep) {
            sum_rep += loss;
            ++count_rep;
        }
    }
}

void check_tokens(const Model& model, const std::vector<std::vector<int>>& tokens) {
    for (size_t s = 0; s < tokens.size(); ++s) {
        const auto& seq = tokens[s];
        if (seq.empty()) throw Error("path expansion: token sequence " + std::to_string(s) + " is empty");
        if (static_cast<int>(seq.size()) > model.cfg.n_ctx)
            throw Error("path expansion: token sequence " + std::to_string(s) + " has " + std::to_string(seq.size()) +
                        " tokens, longer than n_ctx = " + std::to_string(model.cfg.n_ctx));
        for (int t : seq)
            if (t < 0 || t >= model.cfg.d_vocab)
                throw Error("path expansion: token " + std::to_string(t) + " in sequence " + std::to_string(s) +
                            " outside [0, " + std::to_string(model.cfg.d_vocab) + ")");
    }
}

// The model's heads by flat index lh = l * H + h.
struct Heads {
    const Model& model;
    int H = 0, LH = 0;
    const AttentionWeights& attn(int lh) const { return model.blocks[static_cast<size_t>(lh / H)].attn; }
    size_t head(int lh) const { return static_cast<size_t>(lh % H); }
};

std::vector<HeadFactors> head_factors(const Heads& hs, const EmbeddingGrams& grams, int threads) {
    const int LH = hs.LH;
    std::vector<HeadFactors> f(static_cast<size_t>(LH));
    parallel_for(LH, threads, [&](int, std::int64_t task) {
        const auto lh = static_cast<int>(task);
        const auto& a = hs.attn(lh);
        const auto h = hs.head(lh);
        auto& x = f[static_cast<size_t>(lh)];
        x.G_E_W_V = grams.G_E * a.W_V[h];
        x.value_gram = a.W_V[h].transpose() * x.G_E_W_V;
        x.output_gram = a.W_O[h] * grams.G_U * a.W_O[h].transpose();
        x.query_gram = a.W_Q[h].transpose() * grams.G_E * a.W_Q[h];
        x.key_gram = a.W_K[h].transpose() * grams.G_E * a.W_K[h];
        if (grams.copying_defined) x.C_W_V = grams.C * a.W_V[h];
    });
    return f;
}

// The direct path and every OV-side chain of heads up to max_order.
void ov_terms(const Heads& hs, const EmbeddingGrams& grams, const EigenResult& eigen, const std::vector<HeadFactors>& f,
              int max_order, int threads, PathExpansionResult& r) {
    const int H = hs.H, LH = hs.LH;
    const int L = hs.model.cfg.n_layers, dh = hs.model.cfg.d_head;
    const auto uL = static_cast<std::uint64_t>(L), uH = static_cast<std::uint64_t>(H);
    // Direct path W_E W_U: ||.||^2 = trace(G_E G_U); eigenvalues those of C = W_U W_E (dense, d_model).
    r.direct_norm = norm_from_square(trace_of_product(grams.G_E, grams.G_U));
    r.direct_copying = eigen.direct_copying;

    // OV-side chains h1 -> ... -> hk in strictly increasing layers. With P = prod_i (W_O^{h_i} W_V^{h_i+1})
    // [d_head, d_head] (identity for k = 1) the term is (W_E W_V^{h1}) P (W_O^{hk} W_U), so
    //   ||term||^2 = trace((P^T value_gram_1 P) output_gram_k),  eig(term) = eig(W_O^{hk} C W_V^{h1} P) ∪ {0}.
    r.head_norm = Matrix::Constant(L, H, static_cast<float>(kNaN));
    r.head_copying = Matrix::Constant(L, H, static_cast<float>(kNaN));
    r.virtual_norm = Array<float>::nan({uL, uH, uL, uH});
    r.virtual_copying = Array<float>::nan({uL, uH, uL, uH});
    r.chains.resize(static_cast<size_t>(std::max(0, max_order - 2)));
    std::vector<std::vector<std::vector<PathChain>>> chains_from(static_cast<size_t>(LH));  // [first][order-3]
    parallel_for(LH, threads, [&](int, std::int64_t task) {
        const auto first = static_cast<int>(task);
        auto& mine = chains_from[static_cast<size_t>(first)];
        mine.resize(r.chains.size());
        std::vector<std::pair<int, int>> chain;
        // Depth-first over extensions of the chain ending in `last` with product P.
        auto visit = [&](auto&& self, int last, const Matrix& P) -> void {
            const auto& fi = f[static_cast<size_t>(first)];
            const double norm = norm_from_square(
                trace_of_product(P.transpose() * fi.value_gram * P, f[static_cast<size_t>(last)].output_gram));
            const int k = static_cast<int>(chain.size());
            // A single head's term is its OV circuit, whose copying score /eigen owns.
            const double copying = k == 1 ? eigen.ov_copying.at({first / H, first % H})
                                   : grams.copying_defined
                                       ? copying_score(hs.attn(last).W_O[hs.head(last)] * fi.C_W_V * P)
                                       : kNaN;
            if (k == 1) {
                r.head_norm(first / H, first % H) = static_cast<float>(norm);
                r.head_copying(first / H, first % H) = static_cast<float>(copying);
            } else if (k == 2) {
                r.virtual_norm.at({first / H, first % H, last / H, last % H}) = static_cast<float>(norm);
                r.virtual_copying.at({first / H, first % H, last / H, last % H}) = static_cast<float>(copying);
            } else {
                mine[static_cast<size_t>(k - 3)].push_back({chain, norm, copying});
            }
            if (k == max_order) return;
            for (int next = (last / H + 1) * H; next < LH; ++next) {
                chain.emplace_back(next / H, next % H);
                self(self, next, P * (hs.attn(last).W_O[hs.head(last)] * hs.attn(next).W_V[hs.head(next)]));
                chain.pop_back();
            }
        };
        chain.emplace_back(first / H, first % H);
        visit(visit, first, Matrix::Identity(dh, dh));
    });
    for (auto& per_first : chains_from)
        for (size_t k = 0; k < per_first.size(); ++k)
            for (auto& ch : per_first[k]) r.chains[k].push_back(std::move(ch));
}

// The expanded QK terms of every head: direct, and through an earlier head on the query or key side.
void qk_terms(const Heads& hs, const EigenResult& eigen, const std::vector<HeadFactors>& f, int threads,
              PathExpansionResult& r) {
    const int H = hs.H, LH = hs.LH;
    const auto& c = hs.model.cfg;
    const int L = c.n_layers;
    const auto uL = static_cast<std::uint64_t>(L), uH = static_cast<std::uint64_t>(H);
    // QK terms of head h, A B^T with A the query side and B the key side [d_vocab, d_head]:
    // ||A B^T||^2 = trace((A^T A)(B^T B)), eig(A B^T) = eig(B^T A) ∪ {0}. Through an earlier head q the
    // query side is W_E W_V^q N_q with N_q = W_O^q W_Q^h, so A^T A = N_q^T value_gram_q N_q.
    const double inv_scale = 1.0 / c.effective_attn_scale();
    r.qk_direct_norm = Matrix::Constant(L, H, static_cast<float>(kNaN));
    r.qk_direct_copying = Matrix::Constant(L, H, static_cast<float>(kNaN));
    r.qk_q_norm = Array<float>::nan({uL, uH, uL, uH});
    r.qk_q_copying = Array<float>::nan({uL, uH, uL, uH});
    r.qk_k_norm = Array<float>::nan({uL, uH, uL, uH});
    r.qk_k_copying = Array<float>::nan({uL, uH, uL, uH});
    r.qk_qk_norm = Array<float>::nan({uL, uH, uL, uH, uL, uH});
    parallel_for(LH, threads, [&](int, std::int64_t task) {
        const auto lh = static_cast<int>(task);
        const int l = lh / H, h = lh % H;
        const auto& a = hs.attn(lh);
        const auto uh = hs.head(lh);
        const auto& fh = f[static_cast<size_t>(lh)];
        r.qk_direct_norm(l, h) =
            static_cast<float>(inv_scale * norm_from_square(trace_of_product(fh.query_gram, fh.key_gram)));
        r.qk_direct_copying(l, h) = eigen.qk_copying.at({l, h});  // the head's QK circuit: /eigen's
        const int earlier = l * H;
        std::vector<Matrix> query_side(static_cast<size_t>(earlier)), key_side(static_cast<size_t>(earlier));
        for (int p = 0; p < earlier; ++p) {
            const auto& ap = hs.attn(p);
            const auto hp = hs.head(p);
            const auto& fp = f[static_cast<size_t>(p)];
            const Matrix N_q = ap.W_O[hp] * a.W_Q[uh];  // [d_head, d_head]
            const Matrix N_k = ap.W_O[hp] * a.W_K[uh];
            query_side[static_cast<size_t>(p)] = N_q.transpose() * fp.value_gram * N_q;
            key_side[static_cast<size_t>(p)] = N_k.transpose() * fp.value_gram * N_k;
            r.qk_q_norm.at({p / H, p % H, l, h}) = static_cast<float>(
                inv_scale * norm_from_square(trace_of_product(query_side[static_cast<size_t>(p)], fh.key_gram)));
            r.qk_q_copying.at({p / H, p % H, l, h}) =
                static_cast<float>(copying_score((a.W_K[uh].transpose() * fp.G_E_W_V) * N_q));
            r.qk_k_norm.at({p / H, p % H, l, h}) = static_cast<float>(
                inv_scale * norm_from_square(trace_of_product(fh.query_gram, key_side[static_cast<size_t>(p)])));
            r.qk_k_copying.at({p / H, p % H, l, h}) =
                static_cast<float>(copying_score(N_k.transpose() * (fp.G_E_W_V.transpose() * a.W_Q[uh])));
        }
        for (int q = 0; q < earlier; ++q)
            for (int k = 0; k < earlier; ++k)
                r.qk_qk_norm.at({q / H, q % H, k / H, k % H, l, h}) = static_cast<float>(
                    inv_scale * norm_from_square(trace_of_product(query_side[static_cast<size_t>(q)],
                                                                  key_side[static_cast<size_t>(k)])));
    });
}

// The ablation's token set: the given sequences, or the repeated probe (then positions from its
// second repeat on are the `_rep` ones).
struct TokenSet {
    std::vector<std::vector<int>> tokens;
    int first_rep = std::numeric_limits<int>::max();
};

TokenSet ablation_tokens(const Model& model, const PathExpansionOptions& options, PathExpansionResult& r) {
    TokenSet t;
    t.tokens = options.tokens;
    if (t.tokens.empty()) {
        const RepeatedProbe probe = make_repeated_probe(
            model, {options.probe_length, options.probe_repeats, options.probe_sequences}, options.seed);
        t.tokens = probe.sequences;
        t.first_rep = probe.first_scored();
        r.tokens_source = "induction probe";
    } else {
        r.tokens_source = options.tokens_source.empty() ? "given token sequences" : options.tokens_source;
    }
    check_tokens(model, t.tokens);
    return t;
}

// The forward passes per sequence, without their logits: finals[s][k] is the final residual stream
// [T_s, d_model] of run k = 0..K, and finals[s][K + 1] the real run's.
std::vector<std::vector<Matrix>> final_streams(const Model& model, const std::vector<std::vector<int>>& tokens, int K,
                                               int threads) {
    const int L = model.cfg.n_layers, H = model.cfg.n_heads, S = static_cast<int>(tokens.size());
    std::vector<std::vector<Matrix>> finals(static_cast<size_t>(S), std::vector<Matrix>(static_cast<size_t>(K + 2)));
    ForwardOptions no_logits;
    no_logits.logits = false;
    parallel_for(S, threads, [&](int, std::int64_t task) {
        const auto s = static_cast<int>(task);
        const auto& seq = tokens[static_cast<size_t>(s)];
        auto& fin = finals[static_cast<size_t>(s)];
        ForwardResult real = forward(model, seq, {}, no_logits);
        ForwardHooks all_ablated;
        for (int l = 0; l < L; ++l)
            for (int h = 0; h < H; ++h) all_ablated.ablated_heads.emplace_back(l, h);
        ForwardResult prev = forward(model, seq, all_ablated, no_logits);
        fin[0] = prev.resid_pre.back();
        for (int k = 1; k <= K; ++k) {
            ForwardHooks hooks;
            hooks.frozen_patterns = real.patterns;
            hooks.value_inputs.assign(prev.resid_pre.begin(), prev.resid_pre.begin() + L);
            ForwardResult run = forward(model, seq, hooks, no_logits);
            fin[static_cast<size_t>(k)] = run.resid_pre.back();
            prev = std::move(run);
        }
        fin[static_cast<size_t>(K + 1)] = std::move(real.resid_pre.back());
    });
    return finals;
}

// Loss sums of every sequence under every run k = 0..K + 1.
struct Sums {
    std::vector<double> loss, loss_rep;
    int count = 0, count_rep = 0;
};

std::vector<Sums> sequence_losses(const Model& model, const TokenSet& set, std::vector<std::vector<Matrix>>& finals,
                                  int K, int threads) {
    const auto& c = model.cfg;
    const auto& tokens = set.tokens;
    const int first_rep = set.first_rep, S = static_cast<int>(tokens.size());
    const std::vector<int> to_out = model.vocab.index_in(model.vocab_out);
    // Each run's logits for every sequence at once: one [sum of T, d_model] x [d_model, d_vocab_out]
    // product (the unembedding is read once per run, not once per sequence), then the loss per sequence.
    std::vector<Eigen::Index> offset(static_cast<size_t>(S) + 1, 0);
    for (int s = 0; s < S; ++s)
        offset[static_cast<size_t>(s) + 1] =
            offset[static_cast<size_t>(s)] + static_cast<Eigen::Index>(tokens[static_cast<size_t>(s)].size());
    std::vector<Sums> per_seq(static_cast<size_t>(S));
    for (auto& out : per_seq) {
        out.loss.assign(static_cast<size_t>(K + 2), 0.0);
        out.loss_rep.assign(static_cast<size_t>(K + 2), 0.0);
    }
    Matrix stacked(offset.back(), c.d_model);  // [sum of T, d_model]
    for (int k = 0; k < K + 2; ++k) {
        const auto uk = static_cast<size_t>(k);
        for (int s = 0; s < S; ++s) {
            const auto us = static_cast<size_t>(s);
            stacked.middleRows(offset[us], offset[us + 1] - offset[us]) = finals[us][uk];
            finals[us][uk] = Matrix();
        }
        Matrix logits = parallel_product(final_normalised(model, stacked), model.W_U, threads);
        logits.rowwise() += model.b_U;  // [sum of T, d_vocab_out]
        parallel_for(S, threads, [&](int, std::int64_t task) {
            const auto s = static_cast<int>(task);
            const auto us = static_cast<size_t>(s);
            auto& out = per_seq[us];
            int n = 0, n_rep = 0;
            add_loss(logits.middleRows(offset[us], offset[us + 1] - offset[us]), tokens[us], to_out, first_rep,
                     out.loss[uk], n, out.loss_rep[uk], n_rep);
            if (k == 0) {
                out.count = n;
                out.count_rep = n_rep;
            }
        });
    }
    return per_seq;
}

// Mean losses by order over every sequence; left empty (real_loss NaN) when no position is scored.
void order_losses(const std::vector<Sums>& per_seq, int K, PathExpansionResult& r) {
    std::vector<double> total(static_cast<size_t>(K + 2), 0.0), total_rep(static_cast<size_t>(K + 2), 0.0);
    int count = 0, count_rep = 0;
    for (const auto& s : per_seq) {
        for (int k = 0; k < K + 2; ++k) {
            total[static_cast<size_t>(k)] += s.loss[static_cast<size_t>(k)];
            total_rep[static_cast<size_t>(k)] += s.loss_rep[static_cast<size_t>(k)];
        }
        count += s.count;
        count_rep += s.count_rep;
    }
    r.loss_positions = count;
    if (count == 0) {
        // No next token is in the output vocabulary (a model whose outputs are not its input tokens):
        // the weight-based terms stand, the loss by order is not measured.
        r.real_loss = kNaN;
        return;
    }
    for (int k = 0; k <= K; ++k) r.order_loss.push_back(total[static_cast<size_t>(k)] / count);
    r.real_loss = total[static_cast<size_t>(K + 1)] / count;
    if (count_rep > 0) {
        for (int k = 0; k <= K; ++k) r.order_loss_repeated.push_back(total_rep[static_cast<size_t>(k)] / count_rep);
        r.real_loss_repeated = total_rep[static_cast<size_t>(K + 1)] / count_rep;
    }
}

}  // namespace

// At most this many tokens (BOS included) in a token file: the ablation's time grows with each, and
// about 3e4 tokens already take half a minute on two cores (README "Reliability").
constexpr long kMaxTokenFileTokens = 65536;

std::vector<std::vector<int>> read_token_file(const Model& model, const std::string& path) {
    std::ifstream in(path);
    if (!in) throw Error(path + ": cannot read token file");
    std::vector<std::vector<int>> out;
    std::string line;
    long total = 0;
    for (int line_no = 1; std::getline(in, line); ++line_no) {
        std::istringstream words(line);
        std::vector<int> seq;
        if (model.cfg.bos_token >= 0) seq.push_back(model.cfg.bos_token);
        std::string w;
        bool any = false;
        while (words >> w) {
            if (!any && w[0] == '#') break;
            any = true;
            const int t = model.token_index(w);
            if (t < 0)
                throw Error(path + ":" + std::to_string(line_no) + ": token '" + w +
                            "' is not in the model's vocabulary");
            seq.push_back(t);
        }
        if (!any) continue;
        if (static_cast<int>(seq.size()) > model.cfg.n_ctx)
            throw Error(path + ":" + std::to_string(line_no) + ": " + std::to_string(seq.size()) +
                        " tokens (BOS included) exceed n_ctx = " + std::to_string(model.cfg.n_ctx));
        // The ablation runs the model once per sequence and order: its time grows with the tokens.
        total += static_cast<long>(seq.size());
        if (total > kMaxTokenFileTokens)
            throw Error(path + ":" + std::to_string(line_no) + ": more than " + std::to_string(kMaxTokenFileTokens) +
                        " tokens in all, the limit of a path-expansion token set (use a sample)");
        out.push_back(std::move(seq));
    }
    if (out.empty()) throw Error(path + ": no token sequences");
    return out;
}

PathExpansionResult compute_path_expansion(const Model& model, const PathExpansionOptions& options) {
    return compute_path_expansion(model, options, embedding_grams(model, options.threads));
}

PathExpansionResult compute_path_expansion(const Model& model, const PathExpansionOptions& options, const EmbeddingGrams& grams,
                                   const EigenResult* eigen) {
    const auto& c = model.cfg;
    if (options.max_order < 1)
        throw Error("path expansion: max order must be >= 1, got " + std::to_string(options.max_order));
    check_grams(grams, c, "path expansion");
    PathExpansionResult r;
    r.max_order = options.max_order;
    const Heads hs{model, c.n_heads, c.n_layers * c.n_heads};
    EigenResult own;
    if (!eigen) {
        EigenPassOptions eo;
        eo.threads = options.threads;
        own = compute_eigen(model, eo, grams);
        eigen = &own;
    }
    const std::vector<HeadFactors> f = head_factors(hs, grams, options.threads);
    ov_terms(hs, grams, *eigen, f, options.max_order, options.threads, r);
    qk_terms(hs, *eigen, f, options.threads, r);
    if (options.on_step) options.on_step("terms");

    // Ablation. Run 0 removes every head's output (direct path only); run k feeds every layer's value
    // input from run k-1's residual stream with the attention patterns frozen to the real run's, so
    // run k contains exactly the path terms of order <= k and L_{k-1} - L_k is the effect of order k.
    const TokenSet set = ablation_tokens(model, options, r);
    std::vector<std::vector<Matrix>> finals = final_streams(model, set.tokens, options.max_order, options.threads);
    order_losses(sequence_losses(model, set, finals, options.max_order, options.threads), options.max_order, r);
    if (options.on_step) options.on_step("ablation");
    return r;
}

namespace {

// The chains of `order` >= 3 heads: heads [n, order, 2] as (layer, head), norm [n], copying [n].
void write_chains(H5Writer& w, int order, const std::vector<PathChain>& chains) {
    namespace s = schema::path;
    Array<std::int64_t> heads{{chains.size(), static_cast<std::uint64_t>(order), 2}, {}};
    Array<double> norm{{chains.size()}, {}}, copying{{chains.size()}, {}};
    for (const auto& ch : chains) {
        for (const auto& [l, h] : ch.heads) heads.data.insert(heads.data.end(), {l, h});
        norm.data.push_back(ch.norm);
        copying.data.push_back(ch.copying);
    }
    w.write(s::order_heads(order), heads);
    w.write(s::order_norm(order), norm);
    w.write(s::order_copying(order), copying);
}

Array<double> vector_array(const std::vector<double>& v) {
    return {{v.size()}, v};
}

// order_loss [K + 1] and order_effect [K] (effect[k-1] = L_{k-1} - L_k), or why they are missing;
// order_loss_repeated when the probe measured it.
void write_order_losses(H5Writer& w, const PathExpansionResult& r) {
    namespace s = schema::path;
    if (r.loss_positions > 0) {
        w.write(s::order_loss, vector_array(r.order_loss));
        std::vector<double> effect;
        for (size_t k = 1; k < r.order_loss.size(); ++k) effect.push_back(r.order_loss[k - 1] - r.order_loss[k]);
        w.write(s::order_effect, vector_array(effect));
    } else {
        w.attr(s::group, s::attr::order_loss_not_measured,
               "no position of the token set has its next token in the output vocabulary");
    }
    if (!r.order_loss_repeated.empty()) {
        w.write(s::order_loss_repeated, vector_array(r.order_loss_repeated));
        w.attr(s::group, s::attr::real_loss_repeated, r.real_loss_repeated);
    }
}

}  // namespace

void write(H5Writer& w, const PathExpansionResult& r) {
    namespace s = schema::path;
    const char* g = s::group;
    w.create_group(g);
    w.attr(g, s::attr::direct_norm, r.direct_norm);
    w.attr(g, s::attr::direct_copying, r.direct_copying);
    w.write_matrix(s::head_norm, r.head_norm);
    w.write_matrix(s::head_copying, r.head_copying);
    w.write(s::virtual_norm, r.virtual_norm);
    w.write(s::virtual_copying, r.virtual_copying);
    for (size_t k = 0; k < r.chains.size(); ++k) write_chains(w, static_cast<int>(k + 3), r.chains[k]);
    w.write_matrix(s::qk_direct_norm, r.qk_direct_norm);
    w.write_matrix(s::qk_direct_copying, r.qk_direct_copying);
    w.write(s::qk_q_norm, r.qk_q_norm);
    w.write(s::qk_q_copying, r.qk_q_copying);
    w.write(s::qk_k_norm, r.qk_k_norm);
    w.write(s::qk_k_copying, r.qk_k_copying);
    w.write(s::qk_qk_norm, r.qk_qk_norm);
    write_order_losses(w, r);
    w.attr(g, s::attr::max_order, r.max_order);
    w.attr(g, s::attr::real_loss, r.real_loss);
    w.attr(g, s::attr::loss_positions, r.loss_positions);
    w.attr(g, s::attr::tokens, r.tokens_source);
    w.attr(g, s::attr::terms,
           "token embedding only: W_E [chain of OV] W_U and W_E [OV] QK [OV]^T W_E^T; positional terms, biases and "
           "MLPs excluded; QK norms are of attention logits (divided by attn_scale)");
    w.attr(g, s::attr::order_loss_definition,
           "mean next-token cross-entropy (nats); run 0: every head output removed; run k: value inputs from run "
           "k-1's residual stream, attention patterns frozen to the real run's; order_effect[k-1] = L_{k-1} - L_k");
}

}  // namespace circuits::analyses
