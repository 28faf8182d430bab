// The circuits pass: full-vocabulary QK and OV circuits per head, reduced tile by tile.
#include "analyses/circuits.hpp"

#include <algorithm>

#include "lib/error.hpp"
#include "lib/factored_matrix.hpp"
#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"
#include "lib/topk_engine.hpp"

namespace circuits::analyses {

namespace {

// Copies a [rows, k] reduction into arr[l, h, :, :].
void put_top(Array<std::int64_t>& tokens, Array<float>& values, int l, int h, const Eigen::MatrixXi& idx,
             const Matrix& val) {
    for (Eigen::Index i = 0; i < idx.rows(); ++i)
        for (Eigen::Index q = 0; q < idx.cols(); ++q) {
            tokens.at({l, h, i, q}) = idx(i, q);
            values.at({l, h, i, q}) = val(i, q);
        }
}

// Share of rows whose diagonal entry is their top-1, and the mean position of the diagonal entry.
std::pair<float, float> diagonal_stats(const Eigen::VectorXi& rank) {
    if (rank.size() == 0) return {kUndefined, kUndefined};
    const double top1 = static_cast<double>((rank.array() == 0).count()) / static_cast<double>(rank.size());
    const double mean = rank.cast<double>().mean();
    return {static_cast<float>(top1), static_cast<float>(mean)};
}

// The result with every array at its shape for `model`, entries undefined (-1 tokens, NaN values).
CircuitsResult empty_result(const Model& model, const CircuitsOptions& options, int P) {
    const auto& c = model.cfg;
    const int k_ov = std::min(options.top_k, c.d_vocab_out), k_qk = std::min(options.top_k, c.d_vocab);
    CircuitsResult r;
    r.top_k = options.top_k;
    r.n_positions = P;
    r.attn_scale = c.effective_attn_scale();
    r.diagonal_defined = same_vocabulary(model);
    r.has_positions = c.has_positions();
    using U = std::uint64_t;
    const U uL = static_cast<U>(c.n_layers), uH = static_cast<U>(c.n_heads), uV = static_cast<U>(c.d_vocab),
            uP = static_cast<U>(P);
    r.ov_top_tokens = Array<std::int64_t>::filled({uL, uH, uV, static_cast<U>(k_ov)}, -1);
    r.ov_top_values = Array<float>::nan({uL, uH, uV, static_cast<U>(k_ov)});
    r.qk_top_tokens = Array<std::int64_t>::filled({uL, uH, uV, static_cast<U>(k_qk)}, -1);
    r.qk_top_values = Array<float>::nan({uL, uH, uV, static_cast<U>(k_qk)});
    r.skip_trigram_dest_tokens = Array<std::int64_t>::filled({uL, uH, uV, static_cast<U>(k_qk)}, -1);
    r.skip_trigram_dest_values = Array<float>::nan({uL, uH, uV, static_cast<U>(k_qk)});
    for (auto* x : {&r.ov_diag_top1, &r.ov_diag_rank_mean, &r.qk_diag_top1, &r.qk_diag_rank_mean})
        *x = Array<float>::nan({uL, uH});
    r.qk_pos = Array<float>::nan({uL, uH, uP, uP});
    return r;
}

// Adds one circuit's engine statistics to the result's.
void count(const TopKStats& s, CircuitsResult& r) {
    r.entries += s.entries;
    r.exact_entries += s.exact_entries;
    r.bounded_circuits += s.bounded ? 1 : 0;
}

// Head (l, h)'s OV, QK and positional QK circuits, reduced into r. W_pos: the first P positions.
void head_circuits(const Model& model, const Matrix& W_pos, const TopKOptions& ro, int l, int h,
                   CircuitsResult& r) {
    const auto& a = model.blocks[static_cast<size_t>(l)].attn;
    const auto uh = static_cast<size_t>(h);
    const float inv_scale = static_cast<float>(1.0 / r.attn_scale);
    // OV = (W_E W_V)(W_O W_U): inner dimension d_head.
    {
        FactoredMatrix ov(parallel_product(model.W_E, a.W_V[uh], ro.threads),   // [V, d_head]
                          parallel_product(a.W_O[uh], model.W_U, ro.threads));  // [d_head, V_out]
        TopKOptions o = ro;
        o.diagonal = r.diagonal_defined;
        const TopKReduction red = reduce_top_k(ov, o);
        count(red.stats, r);
        put_top(r.ov_top_tokens, r.ov_top_values, l, h, red.row_indices, red.row_values);
        if (r.diagonal_defined) {
            const auto [top1, mean] = diagonal_stats(red.diagonal_rank);
            r.ov_diag_top1.at({l, h}) = top1;
            r.ov_diag_rank_mean.at({l, h}) = mean;
        }
    }
    // QK = (W_E W_Q / s)(W_E W_K)ᵀ: rows are queries; columns (keys) give the skip-trigram destinations.
    {
        Matrix EQ = parallel_product(model.W_E, a.W_Q[uh], ro.threads);  // [V, d_head]
        EQ *= inv_scale;
        const Matrix EK = parallel_product(model.W_E, a.W_K[uh], ro.threads);  // [V, d_head]
        FactoredMatrix qk(std::move(EQ), EK.transpose());
        TopKOptions o = ro;
        o.column_top_k = ro.top_k;
        o.diagonal = true;
        const TopKReduction red = reduce_top_k(qk, o);
        count(red.stats, r);
        put_top(r.qk_top_tokens, r.qk_top_values, l, h, red.row_indices, red.row_values);
        put_top(r.skip_trigram_dest_tokens, r.skip_trigram_dest_values, l, h, red.column_indices, red.column_values);
        const auto [top1, mean] = diagonal_stats(red.diagonal_rank);
        r.qk_diag_top1.at({l, h}) = top1;
        r.qk_diag_rank_mean.at({l, h}) = mean;
    }
    if (r.has_positions) {
        // Standard and shortformer alike: W_pos enters the query and key inputs.
        const Matrix qp = (W_pos * a.W_Q[uh]) * inv_scale;  // [P, d_head]
        const Matrix kp = W_pos * a.W_K[uh];                // [P, d_head]
        const Matrix pos = qp * kp.transpose();             // [P query, P key]
        const auto P = static_cast<int>(W_pos.rows());
        for (int i = 0; i < P; ++i)
            for (int j = 0; j < P; ++j) r.qk_pos.at({l, h, i, j}) = pos(i, j);
    }
}

}  // namespace

CircuitsResult compute_circuits(const Model& model, const CircuitsOptions& options) {
    model.validate();  // every shape below is then the config's
    const auto& c = model.cfg;
    if (options.top_k < 1) throw Error("circuits: top_k must be >= 1, got " + std::to_string(options.top_k));
    if (options.n_positions < 0 || options.n_positions > c.n_ctx)
        throw Error("circuits: n_positions must be in [0, n_ctx = " + std::to_string(c.n_ctx) + "], got " +
                    std::to_string(options.n_positions));
    const int P = options.n_positions > 0 ? options.n_positions : std::min(c.n_ctx, 32);
    CircuitsResult r = empty_result(model, options, P);
    TopKOptions ro;
    ro.top_k = options.top_k;
    ro.threads = options.threads;
    ro.mode = options.mode;
    const Matrix W_pos = r.has_positions ? Matrix(model.W_pos.topRows(P)) : Matrix();  // [P, d_model]
    for (int l = 0; l < c.n_layers; ++l)
        for (int h = 0; h < c.n_heads; ++h) head_circuits(model, W_pos, ro, l, h, r);
    return r;
}

void write(H5Writer& w, const CircuitsResult& r) {
    namespace s = schema::circuits;
    const char* g = s::group;
    w.create_group(g);
    w.attr(g, s::attr::top_k, r.top_k);
    w.attr(g, s::attr::n_positions, r.n_positions);
    w.attr(g, s::attr::attn_scale, r.attn_scale);
    w.attr(g, s::attr::ov_terms, "(W_E W_V)(W_O W_U): token path only; no b_V, b_O, no positional term");
    w.attr(g, s::attr::qk_terms,
           "(W_E W_Q)(W_E W_K)^T / attn_scale: token-token only; no b_Q, b_K, no token-position cross terms");
    w.attr(g, s::attr::qk_pos_terms,
           r.has_positions ? "(W_pos W_Q)(W_pos W_K)^T / attn_scale: position-position only; no token cross "
                             "terms, no biases; causal masking not applied"
                           : "none: the model has no positional embedding (NaN)");
    w.attr(g, s::attr::skip_trigram,
           "source token s: destinations skip_trigram_dest_tokens[l, h, s] (top queries of QK column s), "
           "outputs ov_top_tokens[l, h, s] (top of OV row s)");
    w.attr(g, s::attr::diagonal,
           r.diagonal_defined ? "defined; rank 0 = the token is its own top-1"
                              : "OV diagonal undefined (NaN): output vocabulary differs from the input vocabulary");
    w.attr(g, s::attr::exact_share, r.entries > 0 ? r.exact_entries / r.entries : 0.0);
    w.attr(g, s::attr::bounded_circuits, r.bounded_circuits);
    w.write(s::ov_top_tokens, r.ov_top_tokens);
    w.write(s::ov_top_values, r.ov_top_values);
    w.write(s::qk_top_tokens, r.qk_top_tokens);
    w.write(s::qk_top_values, r.qk_top_values);
    w.write(s::skip_trigram_dest_tokens, r.skip_trigram_dest_tokens);
    w.write(s::skip_trigram_dest_values, r.skip_trigram_dest_values);
    w.write(s::ov_diag_top1, r.ov_diag_top1);
    w.write(s::ov_diag_rank_mean, r.ov_diag_rank_mean);
    w.write(s::qk_diag_top1, r.qk_diag_top1);
    w.write(s::qk_diag_rank_mean, r.qk_diag_rank_mean);
    w.write(s::qk_pos, r.qk_pos);
}

}  // namespace circuits::analyses
