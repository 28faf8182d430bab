// The bigram pass: the direct path W_E W_U (+ b_U) reduced to top tokens per row, in tiles.
#include "analyses/bigram.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"
#include "lib/factored_matrix.hpp"
#include "lib/topk_engine.hpp"

namespace circuits::analyses {

BigramResult compute_bigram(const Model& model, const BigramOptions& options) {
    model.validate();  // every shape below is then the config's
    if (options.top_k < 1) throw Error("bigram: top_k must be >= 1, got " + std::to_string(options.top_k));
    const auto& c = model.cfg;
    const Eigen::Index V = c.d_vocab, D = c.d_model;
    // W_E W_U + 1 b_U = [W_E | 1] [W_U ; b_U]: the bias joins the factors as one more inner column.
    Matrix A = model.W_E, B = model.W_U;  // [V, D], [D, V_out]
    if (options.include_b_U) {
        A.conservativeResize(V, D + 1);
        A.col(D).setOnes();
        B.conservativeResize(D + 1, c.d_vocab_out);
        B.row(D) = model.b_U;
    }
    TopKOptions ro;
    ro.top_k = options.top_k;
    ro.threads = options.threads;
    ro.mode = options.mode;
    const TopKReduction red = reduce_top_k(FactoredMatrix(std::move(A), std::move(B)), ro);

    BigramResult r;
    r.top_k = static_cast<int>(red.row_indices.cols());
    r.include_b_U = options.include_b_U;
    r.stats = red.stats;
    const auto uV = static_cast<std::uint64_t>(V), uk = static_cast<std::uint64_t>(r.top_k);
    r.top_tokens = Array<std::int64_t>::filled({uV, uk}, -1);
    r.top_logits = Array<float>::nan({uV, uk});
    for (Eigen::Index t = 0; t < V; ++t)
        for (int q = 0; q < r.top_k; ++q) {
            r.top_tokens.at({t, q}) = red.row_indices(t, q);
            r.top_logits.at({t, q}) = red.row_values(t, q);
        }
    return r;
}

void write(H5Writer& w, const BigramResult& r) {
    namespace s = schema::bigram;
    w.create_group(s::group);
    w.attr(s::group, s::attr::top_k, r.top_k);
    w.attr(s::group, s::attr::includes_b_U, r.include_b_U ? 1 : 0);
    w.attr(s::group, s::attr::terms,
           std::string(r.include_b_U ? "W_E W_U + b_U" : "W_E W_U") +
               ": token embedding only; no positional embedding, no attention heads");
    w.write(s::top_tokens, r.top_tokens);
    w.write(s::top_logits, r.top_logits);
}

}  // namespace circuits::analyses
