// Head-by-head comparison of two models (see compare.hpp).
#include "analyses/compare.hpp"

#include "analyses/composition.hpp"
#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"
#include "lib/forward.hpp"
#include "lib/weight_processing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>

namespace circuits::analyses {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kMaxCompareVocab = 8192;  // token-space circuits are formed densely: [n, n] per head

int total_heads(const Model& m) { return m.cfg.n_layers * m.cfg.n_heads; }
HeadRef head_ref(const Model& m, int i) { return {i / m.cfg.n_heads, i % m.cfg.n_heads}; }

std::string bos_string(const Model& m) {
    return m.cfg.bos_token >= 0 ? m.vocab[static_cast<size_t>(m.cfg.bos_token)] : std::string();
}

// Pearson correlation of two equally long vectors; NaN when either is (numerically) constant.
double correlation(const Eigen::VectorXd& x, const Eigen::VectorXd& y) {
    const Eigen::VectorXd xc = x.array() - x.mean();
    const Eigen::VectorXd yc = y.array() - y.mean();
    const double nx = xc.norm(), ny = yc.norm();
    const double scale = std::max(x.cwiseAbs().maxCoeff(), y.cwiseAbs().maxCoeff());
    if (nx <= 1e-9 * std::max(1.0, scale) * std::sqrt(double(x.size())) ||
        ny <= 1e-9 * std::max(1.0, scale) * std::sqrt(double(y.size())))
        return kNaN;
    return xc.dot(yc) / (nx * ny);
}

// A row-centred token-space circuit, flattened: softmax over keys (QK) and over outputs (OV) is
// unchanged by a constant per row, so only within-row differences are compared.
Eigen::VectorXd centred_flat(const Eigen::MatrixXd& m) {
    Eigen::MatrixXd c = m;
    c.colwise() -= m.rowwise().mean();
    return Eigen::Map<const Eigen::VectorXd>(c.data(), c.size());
}

struct TokenCircuits {
    std::vector<Eigen::VectorXd> qk;  // per head (flat index l * H + h)
    std::vector<Eigen::VectorXd> ov;
};

// QK = (E W_Q)(E W_K)ᵀ / attn_scale over `in_tokens` and OV = E W_V W_O W_U over `in_tokens` ×
// `out_tokens` (indices into the model's own vocabularies), row-centred.
TokenCircuits token_circuits(const Model& m, const std::vector<int>& in_tokens, const std::vector<int>& out_tokens) {
    Eigen::MatrixXd E(static_cast<Eigen::Index>(in_tokens.size()), m.cfg.d_model);  // [n, d_model]
    for (size_t i = 0; i < in_tokens.size(); ++i) E.row(static_cast<Eigen::Index>(i)) = m.W_E.row(in_tokens[i]).cast<double>();
    Eigen::MatrixXd U(m.cfg.d_model, static_cast<Eigen::Index>(out_tokens.size()));  // [d_model, n_out]
    for (size_t o = 0; o < out_tokens.size(); ++o) U.col(static_cast<Eigen::Index>(o)) = m.W_U.col(out_tokens[o]).cast<double>();
    TokenCircuits c;
    const double scale = m.cfg.effective_attn_scale();
    for (const auto& b : m.blocks)
        for (int h = 0; h < m.cfg.n_heads; ++h) {
            const auto uh = static_cast<size_t>(h);
            const Eigen::MatrixXd q = E * b.attn.W_Q[uh].cast<double>();  // [n, d_head]
            const Eigen::MatrixXd k = E * b.attn.W_K[uh].cast<double>();
            c.qk.push_back(centred_flat(q * k.transpose() / scale));
            const Eigen::MatrixXd v = E * b.attn.W_V[uh].cast<double>();  // [n, d_head]
            c.ov.push_back(centred_flat((v * b.attn.W_O[uh].cast<double>()) * U));
        }
    return c;
}

// Attention rows of every head on every probe sequence, restricted to the input positions as
// queries and aligned keys: with `keep_bos` the BOS key stays (both models have one), otherwise a
// BOS key is dropped and the row renormalised. rows[head][sequence] is [n_inputs, n_keys].
std::vector<std::vector<Eigen::MatrixXd>> aligned_patterns(const Model& m, const std::vector<ForwardResult>& runs,
                                                           bool keep_bos) {
    const bool has_bos = m.cfg.bos_token >= 0;
    const int H = total_heads(m);
    std::vector<std::vector<Eigen::MatrixXd>> rows(static_cast<size_t>(H));
    for (const auto& r : runs) {
        for (int i = 0; i < H; ++i) {
            const auto hr = head_ref(m, i);
            const Matrix& p = r.patterns[static_cast<size_t>(hr.layer)][static_cast<size_t>(hr.head)];  // [T, T]
            const Eigen::Index first = has_bos ? 1 : 0;
            const Eigen::Index key_first = has_bos && !keep_bos ? 1 : 0;
            Eigen::MatrixXd a = p.bottomRightCorner(p.rows() - first, p.cols() - key_first).cast<double>();
            if (key_first == 1)
                for (Eigen::Index q = 0; q < a.rows(); ++q) {
                    const double s = a.row(q).sum();
                    if (s > 1e-12) a.row(q) /= s;
                }
            rows[static_cast<size_t>(i)].push_back(std::move(a));
        }
    }
    return rows;
}

std::vector<CompositionEdge> composition_edges(const Model& m, const CompareOptions& o) {
    std::vector<CompositionEdge> edges;
    if (m.cfg.n_layers < 2) return edges;
    CompositionOptions co;
    co.baseline_samples = o.baseline_samples;
    co.seed = o.seed;
    co.threads = o.threads;
    const auto c = compute_composition(m, co);
    const int L = m.cfg.n_layers, H = m.cfg.n_heads;
    const auto at = [&](const Array<float>& z, int l1, int h1, int l2, int h2) {
        return z.data[static_cast<size_t>(((l1 * H + h1) * L + l2) * H + h2)];
    };
    for (int l1 = 0; l1 < L; ++l1)
        for (int h1 = 0; h1 < H; ++h1)
            for (int l2 = l1 + 1; l2 < L; ++l2)
                for (int h2 = 0; h2 < H; ++h2)
                    for (const auto& [kind, z] : {std::pair{'q', &c.q_z}, std::pair{'k', &c.k_z}, std::pair{'v', &c.v_z}}) {
                        const double value = at(*z, l1, h1, l2, h2);
                        if (value > o.edge_z) edges.push_back({kind, {l1, h1}, {l2, h2}, value});
                    }
    return edges;
}

Array<float> pair_array(const Model& a, const Model& b, const Eigen::MatrixXd& values) {
    Array<float> out{{static_cast<std::uint64_t>(a.cfg.n_layers), static_cast<std::uint64_t>(a.cfg.n_heads),
                      static_cast<std::uint64_t>(b.cfg.n_layers), static_cast<std::uint64_t>(b.cfg.n_heads)},
                     {}};
    out.data.resize(static_cast<size_t>(values.size()));
    for (Eigen::Index i = 0; i < values.rows(); ++i)
        for (Eigen::Index j = 0; j < values.cols(); ++j)
            out.data[static_cast<size_t>(i * values.cols() + j)] = static_cast<float>(values(i, j));
    return out;
}

}  // namespace

std::vector<int> match_vocabularies(const Model& a, const Model& b) {
    for (const auto& t : a.vocab)
        if (!b.vocab.contains(t))
            throw Error("compare: the input vocabularies differ: token '" + t + "' of model A is not in model B");
    std::vector<int> map;
    for (const auto& t : b.vocab) {
        const int i = a.vocab.index(t);
        if (i < 0)
            throw Error("compare: the input vocabularies differ: token '" + t + "' of model B is not in model A");
        map.push_back(i);
    }
    return map;
}

double jensen_shannon(const Eigen::Ref<const Eigen::VectorXd>& p, const Eigen::Ref<const Eigen::VectorXd>& q) {
    if (p.size() != q.size()) throw Error("jensen_shannon: distributions of lengths " + std::to_string(p.size()) +
                                          " and " + std::to_string(q.size()));
    double js = 0.0;
    for (Eigen::Index i = 0; i < p.size(); ++i) {
        const double m = 0.5 * (p(i) + q(i));
        if (p(i) > 0) js += 0.5 * p(i) * std::log2(p(i) / m);
        if (q(i) > 0) js += 0.5 * q(i) * std::log2(q(i) / m);
    }
    return std::clamp(js, 0.0, 1.0);
}

std::vector<int> optimal_assignment(const Eigen::MatrixXd& score) {
    // Hungarian algorithm (potentials, shortest augmenting paths) on the square cost matrix
    // cost = max(score) - score, padded with zeros-score rows/columns.
    const int rows = static_cast<int>(score.rows()), cols = static_cast<int>(score.cols());
    const int n = std::max(rows, cols);
    if (n == 0) return {};
    const double top = score.size() ? score.maxCoeff() : 0.0;
    Eigen::MatrixXd cost = Eigen::MatrixXd::Constant(n, n, top);  // padding: score 0 -> cost top
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) cost(r, c) = top - score(r, c);
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> u(static_cast<size_t>(n + 1), 0.0), v(static_cast<size_t>(n + 1), 0.0);
    std::vector<int> p(static_cast<size_t>(n + 1), 0), way(static_cast<size_t>(n + 1), 0);  // p[col] = row (1-based)
    for (int i = 1; i <= n; ++i) {
        p[0] = i;
        int j0 = 0;
        std::vector<double> minv(static_cast<size_t>(n + 1), inf);
        std::vector<char> used(static_cast<size_t>(n + 1), 0);
        do {
            used[static_cast<size_t>(j0)] = 1;
            const int i0 = p[static_cast<size_t>(j0)];
            double delta = inf;
            int j1 = 0;
            for (int j = 1; j <= n; ++j) {
                if (used[static_cast<size_t>(j)]) continue;
                const double cur = cost(i0 - 1, j - 1) - u[static_cast<size_t>(i0)] - v[static_cast<size_t>(j)];
                if (cur < minv[static_cast<size_t>(j)]) {
                    minv[static_cast<size_t>(j)] = cur;
                    way[static_cast<size_t>(j)] = j0;
                }
                if (minv[static_cast<size_t>(j)] < delta) {
                    delta = minv[static_cast<size_t>(j)];
                    j1 = j;
                }
            }
            for (int j = 0; j <= n; ++j) {
                if (used[static_cast<size_t>(j)]) {
                    u[static_cast<size_t>(p[static_cast<size_t>(j)])] += delta;
                    v[static_cast<size_t>(j)] -= delta;
                } else {
                    minv[static_cast<size_t>(j)] -= delta;
                }
            }
            j0 = j1;
        } while (p[static_cast<size_t>(j0)] != 0);
        do {
            const int j1 = way[static_cast<size_t>(j0)];
            p[static_cast<size_t>(j0)] = p[static_cast<size_t>(j1)];
            j0 = j1;
        } while (j0 != 0);
    }
    std::vector<int> result(static_cast<size_t>(rows), -1);
    for (int j = 1; j <= n; ++j) {
        const int r = p[static_cast<size_t>(j)] - 1;
        if (r < rows && j - 1 < cols) result[static_cast<size_t>(r)] = j - 1;
    }
    return result;
}

namespace {

// The probe: o.probe random inputs as token strings (in r.probe), and the same as token indices of A
// and of B (BOS prepended where a model has one).
std::pair<std::vector<std::vector<int>>, std::vector<std::vector<int>>> draw_probe(const Model& a, const Model& b,
                                                                                   const std::vector<int>& a_to_b,
                                                                                   const CompareOptions& o,
                                                                                   CompareResult& r) {
    const bool bos_a = a.cfg.bos_token >= 0, bos_b = b.cfg.bos_token >= 0;
    // Token strings drawn from the ordinary tokens of A (Vocabulary::ordinary) that are not
    // B's BOS either (or from the given probe vocabulary).
    std::vector<std::string> pool = o.probe_vocab;
    if (pool.empty())
        for (int t : a.vocab.ordinary(a.cfg.bos_token))
            if (a.vocab[static_cast<size_t>(t)] != bos_string(b)) pool.push_back(a.vocab[static_cast<size_t>(t)]);
    for (const auto& t : pool)
        if (a.token_index(t) < 0) throw Error("compare: probe token '" + t + "' is not in the vocabulary");
    if (pool.empty()) throw Error("compare: no tokens to draw the probe from");
    int max_len = std::min(a.cfg.n_ctx - (bos_a ? 1 : 0), b.cfg.n_ctx - (bos_b ? 1 : 0));
    if (o.max_len > 0) max_len = std::min(max_len, o.max_len);
    if (max_len < 1) throw Error("compare: the models accept no input (n_ctx too small)");
    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<int> pick(0, static_cast<int>(pool.size()) - 1);
    std::uniform_int_distribution<int> length(1, max_len);
    std::vector<std::vector<int>> seq_a, seq_b;
    for (int s = 0; s < o.probe; ++s) {
        const int n = o.reference ? length(rng) : max_len;
        std::vector<std::string> input;
        for (int t = 0; t < n; ++t) input.push_back(pool[static_cast<size_t>(pick(rng))]);
        std::vector<int> ta, tb;
        if (bos_a) ta.push_back(a.cfg.bos_token);
        if (bos_b) tb.push_back(b.cfg.bos_token);
        for (const auto& t : input) {
            const int ia = a.token_index(t);
            ta.push_back(ia);
            tb.push_back(a_to_b[static_cast<size_t>(ia)]);
        }
        seq_a.push_back(std::move(ta));
        seq_b.push_back(std::move(tb));
        r.probe.push_back(std::move(input));
    }
    return {std::move(seq_a), std::move(seq_b)};
}

// Behaviour: agreement of the two models' predictions and, with a reference, their accuracies.
void score_behaviour(const Model& a, const Model& b, const std::vector<ForwardResult>& runs_a,
                     const std::vector<ForwardResult>& runs_b, const CompareOptions& o, CompareResult& r) {
    const bool bos_a = a.cfg.bos_token >= 0, bos_b = b.cfg.bos_token >= 0;
    // Predictions decoded through each model's vocab_out, compared as strings.
    int agree = 0, correct_a = 0, correct_b = 0;
    for (size_t s = 0; s < r.probe.size(); ++s) {
        std::vector<std::optional<std::string>> expected;
        if (o.reference) expected = o.reference(r.probe[s]);
        for (size_t t = 0; t < r.probe[s].size(); ++t) {
            Eigen::Index best_a = 0, best_b = 0;
            runs_a[s].logits.row(static_cast<Eigen::Index>(t + (bos_a ? 1 : 0))).maxCoeff(&best_a);
            runs_b[s].logits.row(static_cast<Eigen::Index>(t + (bos_b ? 1 : 0))).maxCoeff(&best_b);
            const auto& pa = a.vocab_out[static_cast<size_t>(best_a)];
            const auto& pb = b.vocab_out[static_cast<size_t>(best_b)];
            agree += pa == pb;
            ++r.n_positions;
            if (t < expected.size() && expected[t]) {
                ++r.n_scored;
                correct_a += pa == *expected[t];
                correct_b += pb == *expected[t];
            }
        }
    }
    r.agreement = double(agree) / double(r.n_positions);
    if (r.n_scored > 0) {
        r.accuracy_a = double(correct_a) / double(r.n_scored);
        r.accuracy_b = double(correct_b) / double(r.n_scored);
    }
}

// [heads of A, heads of B]: mean over probe queries of 1 - JSD of the two heads' attention rows.
Eigen::MatrixXd attention_similarity(const Model& a, const Model& b, const std::vector<ForwardResult>& runs_a,
                                     const std::vector<ForwardResult>& runs_b, size_t n_probe) {
    const bool keep_bos = a.cfg.bos_token >= 0 && b.cfg.bos_token >= 0;
    const auto rows_a = aligned_patterns(a, runs_a, keep_bos);
    const auto rows_b = aligned_patterns(b, runs_b, keep_bos);
    const int na = total_heads(a), nb = total_heads(b);
    Eigen::MatrixXd attention(na, nb);
    for (int i = 0; i < na; ++i)
        for (int j = 0; j < nb; ++j) {
            double sum = 0.0;
            long count = 0;
            for (size_t s = 0; s < n_probe; ++s) {
                const auto& pa = rows_a[static_cast<size_t>(i)][s];
                const auto& pb = rows_b[static_cast<size_t>(j)][s];
                for (Eigen::Index q = 0; q < pa.rows(); ++q) {
                    sum += 1.0 - jensen_shannon(pa.row(q).transpose(), pb.row(q).transpose());
                    ++count;
                }
            }
            attention(i, j) = sum / double(count);
        }

    return attention;
}

// The QK and OV similarities (correlations of the token-space circuits over the shared vocabularies, in
// A's order) and the combined similarity, the mean of the available components; all into r.
Eigen::MatrixXd circuit_similarity(const Model& a, const Model& b, const std::vector<int>& a_to_b,
                                   const Eigen::MatrixXd& attention, Eigen::MatrixXd& qk, Eigen::MatrixXd& ov,
                                   CompareResult& r) {
    const int na = total_heads(a), nb = total_heads(b);
    qk.resize(na, nb);
    ov.resize(na, nb);
    Eigen::MatrixXd combined(na, nb);
    std::vector<int> in_a, in_b;
    for (int t = 0; t < a.cfg.d_vocab; ++t) {
        in_a.push_back(t);
        in_b.push_back(a_to_b[static_cast<size_t>(t)]);
    }
    const SharedTokens outputs = a.vocab_out.shared_with(b.vocab_out);
    const std::vector<int>& out_a = outputs.in;
    const std::vector<int>& out_b = outputs.out;
    const auto circuits_a = token_circuits(a, in_a, out_a);
    const auto circuits_b = token_circuits(b, in_b, out_b);
    for (int i = 0; i < na; ++i)
        for (int j = 0; j < nb; ++j) {
            qk(i, j) = correlation(circuits_a.qk[static_cast<size_t>(i)], circuits_b.qk[static_cast<size_t>(j)]);
            ov(i, j) = out_a.size() >= 2
                           ? correlation(circuits_a.ov[static_cast<size_t>(i)], circuits_b.ov[static_cast<size_t>(j)])
                           : kNaN;
            double s = attention(i, j);
            int n = 1;
            for (double x : {qk(i, j), ov(i, j)})
                if (!std::isnan(x)) {
                    s += x;
                    ++n;
                }
            combined(i, j) = s / n;
        }
    r.attention_similarity = pair_array(a, b, attention);
    r.qk_similarity = pair_array(a, b, qk);
    r.ov_similarity = pair_array(a, b, ov);
    r.similarity = pair_array(a, b, combined);

    return combined;
}

// One-to-one matching of heads maximising the combined similarity, by decreasing similarity.
void match_heads(const Model& a, const Model& b, const Eigen::MatrixXd& combined, const Eigen::MatrixXd& attention,
                 const Eigen::MatrixXd& qk, const Eigen::MatrixXd& ov, CompareResult& r) {
    const int na = total_heads(a), nb = total_heads(b);
    const auto assignment = optimal_assignment(combined);
    std::vector<char> b_used(static_cast<size_t>(nb), 0);
    for (int i = 0; i < na; ++i) {
        const int j = assignment[static_cast<size_t>(i)];
        if (j < 0) {
            r.unmatched_a.push_back(head_ref(a, i));
            continue;
        }
        b_used[static_cast<size_t>(j)] = 1;
        r.matching.push_back({head_ref(a, i), head_ref(b, j), combined(i, j), attention(i, j), qk(i, j), ov(i, j)});
    }
    for (int j = 0; j < nb; ++j)
        if (!b_used[static_cast<size_t>(j)]) r.unmatched_b.push_back(head_ref(b, j));
    std::stable_sort(r.matching.begin(), r.matching.end(),
                     [](const MatchedPair& x, const MatchedPair& y) { return x.similarity > y.similarity; });
}

// Composition edges in each model, and which correspond under the matching.
void match_edges(const Model& a, const Model& b, const CompareOptions& o, CompareResult& r) {
    r.edges_a = composition_edges(a, o);
    r.edges_b = composition_edges(b, o);
    std::map<std::pair<int, int>, std::pair<int, int>> a_to_b_head;
    for (const auto& m : r.matching) a_to_b_head[{m.a.layer, m.a.head}] = {m.b.layer, m.b.head};
    std::set<std::tuple<char, int, int, int, int>> in_b_set, matched_b;
    for (const auto& e : r.edges_b) in_b_set.insert({e.kind, e.from.layer, e.from.head, e.to.layer, e.to.head});
    for (const auto& e : r.edges_a) {
        const auto f = a_to_b_head.find({e.from.layer, e.from.head});
        const auto t = a_to_b_head.find({e.to.layer, e.to.head});
        if (f != a_to_b_head.end() && t != a_to_b_head.end()) {
            const std::tuple<char, int, int, int, int> key{e.kind, f->second.first, f->second.second, t->second.first,
                                                           t->second.second};
            if (in_b_set.count(key)) {
                r.edges_both.push_back(e);
                matched_b.insert(key);
                continue;
            }
        }
        r.edges_only_a.push_back(e);
    }
    for (const auto& e : r.edges_b)
        if (!matched_b.count({e.kind, e.from.layer, e.from.head, e.to.layer, e.to.head})) r.edges_only_b.push_back(e);
}

}  // namespace

CompareResult compute_compare(const Model& model_a, const Model& model_b, const CompareOptions& o) {
    if (o.probe < 1) throw Error("compare: --probe must be at least 1");
    const std::vector<int> b_to_a = match_vocabularies(model_a, model_b);
    std::vector<int> a_to_b(b_to_a.size());
    for (size_t i = 0; i < b_to_a.size(); ++i) a_to_b[static_cast<size_t>(b_to_a[i])] = static_cast<int>(i);
    if (model_a.cfg.d_vocab > kMaxCompareVocab)
        throw Error("compare: vocabularies over " + std::to_string(kMaxCompareVocab) +
                    " tokens are not supported (token-space circuits are compared densely)");
    // LayerNorm folded where exact, so token-space circuits read the weights the model uses.
    const Model a = process_for_analysis(model_a);
    const Model b = process_for_analysis(model_b);

    CompareResult r;
    r.options = o;
    const auto [seq_a, seq_b] = draw_probe(a, b, a_to_b, o, r);
    const auto runs_a = forward_batch(a, seq_a, o.threads);
    const auto runs_b = forward_batch(b, seq_b, o.threads);
    score_behaviour(a, b, runs_a, runs_b, o, r);
    const Eigen::MatrixXd attention = attention_similarity(a, b, runs_a, runs_b, r.probe.size());
    Eigen::MatrixXd qk, ov;
    const Eigen::MatrixXd combined = circuit_similarity(a, b, a_to_b, attention, qk, ov, r);
    match_heads(a, b, combined, attention, qk, ov, r);
    match_edges(a, b, o, r);
    return r;
}

namespace {

Array<std::int64_t> edge_array(const std::vector<CompositionEdge>& edges) {
    // rows (kind: 0 q, 1 k, 2 v; l1, h1, l2, h2)
    Array<std::int64_t> out{{edges.size(), 5}, {}};
    for (const auto& e : edges) {
        const std::int64_t kind = e.kind == 'q' ? 0 : e.kind == 'k' ? 1 : 2;
        for (std::int64_t v : {kind, std::int64_t(e.from.layer), std::int64_t(e.from.head), std::int64_t(e.to.layer),
                               std::int64_t(e.to.head)})
            out.data.push_back(v);
    }
    return out;
}

}  // namespace

void write(H5Writer& w, const CompareResult& r) {
    namespace s = schema::compare;
    const char* g = s::group;
    w.create_group(g);
    w.write(s::similarity, r.similarity);
    w.write(s::attention_similarity, r.attention_similarity);
    w.write(s::qk_similarity, r.qk_similarity);
    w.write(s::ov_similarity, r.ov_similarity);
    Array<double> matching{{r.matching.size(), 5}, {}};
    for (const auto& m : r.matching)
        for (double v : {double(m.a.layer), double(m.a.head), double(m.b.layer), double(m.b.head), m.similarity})
            matching.data.push_back(v);
    w.write(s::matching, matching);
    Array<std::int64_t> unmatched_a{{r.unmatched_a.size(), 2}, {}}, unmatched_b{{r.unmatched_b.size(), 2}, {}};
    for (const auto& h : r.unmatched_a) unmatched_a.data.insert(unmatched_a.data.end(), {h.layer, h.head});
    for (const auto& h : r.unmatched_b) unmatched_b.data.insert(unmatched_b.data.end(), {h.layer, h.head});
    w.write(s::unmatched_a, unmatched_a);
    w.write(s::unmatched_b, unmatched_b);
    w.attr(g, s::attr::agreement, r.agreement);
    w.attr(g, s::attr::accuracy_a, r.accuracy_a);
    w.attr(g, s::attr::accuracy_b, r.accuracy_b);
    w.write(s::edges_a, edge_array(r.edges_a));
    w.write(s::edges_b, edge_array(r.edges_b));
    w.write(s::edges_both, edge_array(r.edges_both));
    w.write(s::edges_only_a, edge_array(r.edges_only_a));
    w.write(s::edges_only_b, edge_array(r.edges_only_b));
    if (!r.probe.empty()) w.write_strings(s::probe_example, r.probe.front());
    w.attr(g, s::attr::probe_sequences, r.options.probe);
    w.attr(g, s::attr::probe_positions, r.n_positions);
    w.attr(g, s::attr::scored_positions, r.n_scored);
    w.attr(g, s::attr::seed, static_cast<std::int64_t>(r.options.seed));
    w.attr(g, s::attr::edge_z, r.options.edge_z);
    w.attr(g, s::attr::baseline_samples, r.options.baseline_samples);
    w.attr(g, s::attr::edge_columns, "kind (0 q, 1 k, 2 v), layer_from, head_from, layer_to, head_to");
    w.attr(g, s::attr::similarity_definition,
           "mean of the available components: attention (mean over probe queries of 1 - JSD, base 2), "
           "QK and OV (Pearson correlation of row-centred token-space circuits over the shared vocabularies)");
}

}  // namespace circuits::analyses
