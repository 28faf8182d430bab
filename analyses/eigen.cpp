// The eigen pass: per-head OV and QK spectra through d_head × d_head cores, copying scores.
#include "analyses/eigen.hpp"

#include <cmath>
#include <tuple>

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"

namespace circuits::analyses {

namespace {

float copying_score(const Eigen::VectorXcd& values) {
    return static_cast<float>(copying_score_of_eigenvalues(values));
}

// One circuit kind's per-head arrays in EigenResult (OV or QK).
struct HeadSpectra {
    Array<float>& re;                // [L, H, d_head]
    Array<float>& im;                // [L, H, d_head]
    Array<float>& copying;           // [L, H]
    Array<std::uint8_t>& converged;  // [L, H]

    void init(const ModelConfig& c) {
        using U = std::uint64_t;
        const U uL = static_cast<U>(c.n_layers), uH = static_cast<U>(c.n_heads), udh = static_cast<U>(c.d_head);
        re = Array<float>::filled({uL, uH, udh}, kUndefined);
        im = Array<float>::filled({uL, uH, udh}, kUndefined);
        copying = Array<float>::filled({uL, uH}, kUndefined);
        converged = Array<std::uint8_t>::filled({uL, uH}, 0);
    }
    // Head (l, h)'s eigenvalues (as many as fit, by decreasing modulus), copying score and status.
    void put(int l, int h, const Eigenvalues& e) {
        const auto n = std::min<std::int64_t>(e.values.size(), static_cast<std::int64_t>(re.dims[2]));
        for (std::int64_t i = 0; i < n; ++i) {
            re.at({l, h, i}) = static_cast<float>(e.values[i].real());
            im.at({l, h, i}) = static_cast<float>(e.values[i].imag());
        }
        copying.at({l, h}) = copying_score(e.values);
        converged.at({l, h}) = e.status == EigenStatus::ok ? 1 : 0;
    }
};

// W_E's rows of the shared tokens and W_U's matching columns: copies of the model's when a strict
// subset of the tokens is shared, left empty when every token is (then read model.W_E / W_U).
struct SharedEmbeddings {
    Matrix E, U;  // [shared, d_model], [d_model, shared]
    const Matrix& W_E(const Model& m, const SharedTokens& s) const { return s.identity ? m.W_E : E; }
    const Matrix& W_U(const Model& m, const SharedTokens& s) const { return s.identity ? m.W_U : U; }
};

// Every head's OV spectrum through its core W_O (W_U W_E) W_V, and its copying score: the one place
// OV copying scores are computed. Fills the ov_* members of r.
void fill_ov(const Model& model, const EigenPassOptions& options, const EmbeddingGrams& grams, EigenResult& r) {
    const auto& c = model.cfg;
    const SharedTokens shared = shared_vocabulary(model);
    r.ov_defined = shared.size() > 0;
    r.ov_shared_tokens = shared.size();
    r.ov_all_tokens = shared.identity;
    if (!r.ov_defined) r.ov_undefined_reason = "no output token has the string of an input token";
    HeadSpectra ov{r.ov_eigenvalues_re, r.ov_eigenvalues_im, r.ov_copying, r.ov_converged};
    ov.init(c);
    if (!r.ov_defined) return;
    // The d_vocab-long sum, once for every head: W_U W_E [d_model, d_model] over the shared tokens.
    const Eigen::MatrixXd& G_UE = grams.C_exact;
    for (int l = 0; l < c.n_layers; ++l) {
        const auto& a = model.blocks[static_cast<size_t>(l)].attn;
        for (int h = 0; h < c.n_heads; ++h) {
            const auto uh = static_cast<size_t>(h);
            // Kept as W_O · ((W_U W_E) W_V): [d_head, d_model][d_model, d_head].
            const Matrix right = (G_UE * a.W_V[uh].cast<double>()).cast<float>();
            ov.put(l, h, FactoredMatrix(a.W_O[uh], right).top_eigenvalues(options.solver));
        }
    }
}

// Every head's QK spectrum through its core W_Kᵀ (W_Eᵀ W_E) W_Q / s. Fills the qk_* members of r.
void fill_qk(const Model& model, const EigenPassOptions& options, const EmbeddingGrams& grams, EigenResult& r) {
    const auto& c = model.cfg;
    HeadSpectra qk{r.qk_eigenvalues_re, r.qk_eigenvalues_im, r.qk_copying, r.qk_converged};
    qk.init(c);
    const Eigen::MatrixXd& G_E = grams.G_E_exact;  // W_Eᵀ W_E, once for every head
    const double inv_scale = 1.0 / c.effective_attn_scale();
    for (int l = 0; l < c.n_layers; ++l) {
        const auto& a = model.blocks[static_cast<size_t>(l)].attn;
        for (int h = 0; h < c.n_heads; ++h) {
            const auto uh = static_cast<size_t>(h);
            const Matrix right = (G_E * a.W_Q[uh].cast<double>() * inv_scale).cast<float>();
            qk.put(l, h, FactoredMatrix(a.W_K[uh].transpose(), right).top_eigenvalues(options.solver));
        }
    }
}

// The direct path's spectrum, eig(W_E' W_U') over the shared tokens. Fills the direct_* members of r.
void fill_direct(const Model& model, const EigenPassOptions& options, EigenResult& r) {
    const SharedTokens shared = shared_vocabulary(model);
    if (!r.ov_defined) {
        r.direct_eigenvalues_re = Array<float>::filled({0}, kUndefined);
        r.direct_eigenvalues_im = Array<float>::filled({0}, kUndefined);
        return;
    }
    SharedEmbeddings e;
    if (!shared.identity) std::tie(e.E, e.U) = shared_embeddings(model, shared);
    const Eigenvalues ev = FactoredMatrix(e.W_E(model, shared), e.W_U(model, shared)).top_eigenvalues(options.solver);
    r.direct_iterative = ev.iterative;
    r.direct_status = ev.status;
    r.direct_copying = copying_score(ev.values);
    const auto n = static_cast<std::uint64_t>(ev.values.size());
    r.direct_eigenvalues_re = Array<float>::filled({n}, kUndefined);
    r.direct_eigenvalues_im = Array<float>::filled({n}, kUndefined);
    for (Eigen::Index i = 0; i < ev.values.size(); ++i) {
        r.direct_eigenvalues_re.data[static_cast<size_t>(i)] = static_cast<float>(ev.values[i].real());
        r.direct_eigenvalues_im.data[static_cast<size_t>(i)] = static_cast<float>(ev.values[i].imag());
    }
}

}  // namespace

EigenResult compute_eigen(const Model& model, const EigenPassOptions& options) {
    model.validate();  // every shape below is then the config's
    return compute_eigen(model, options, embedding_grams(model, options.threads));
}

EigenResult compute_eigen(const Model& model, const EigenPassOptions& options, const EmbeddingGrams& grams) {
    model.validate();
    check_grams(grams, model.cfg, "eigen");
    EigenResult r;
    r.solver = options.solver;
    r.head_cores_iterative = std::min(model.cfg.d_head, model.cfg.d_model) > options.solver.dense_max_dim;
    fill_ov(model, options, grams, r);
    fill_qk(model, options, grams, r);
    fill_direct(model, options, r);
    return r;
}

Array<float> compute_ov_copying(const Model& model, const EigenPassOptions& options, const EmbeddingGrams& grams) {
    check_grams(grams, model.cfg, "eigen");
    EigenResult r;
    fill_ov(model, options, grams, r);
    return r.ov_copying;
}

void write(H5Writer& w, const EigenResult& r) {
    namespace s = schema::eigen;
    const char* g = s::group;
    w.create_group(g);
    const std::string dense = "dense: every eigenvalue of the core";
    const std::string top = "spectra: the " + std::to_string(r.solver.n_top) + " eigenvalues of largest modulus";
    w.attr(g, s::attr::dense_max_dim, static_cast<std::int64_t>(r.solver.dense_max_dim));
    w.attr(g, s::attr::n_top, static_cast<std::int64_t>(r.solver.n_top));
    w.attr(g, s::attr::head_solver, r.head_cores_iterative ? top : dense);
    w.attr(g, s::attr::copying, "sum(lambda) / sum(|lambda|) over the eigenvalues computed");
    w.attr(g, s::attr::ov_defined, r.ov_defined ? 1 : 0);
    if (!r.ov_defined) w.attr(g, s::attr::ov_undefined_reason, r.ov_undefined_reason);
    w.attr(g, s::attr::ov_vocabulary,
           r.ov_all_tokens ? std::string("every token (the output vocabulary is the input one)")
                           : std::to_string(r.ov_shared_tokens) +
                                 " tokens in both vocabularies, matched by string (W_E rows, W_U columns)");
    w.attr(g, s::attr::direct_copying, static_cast<double>(r.direct_copying));
    w.attr(g, s::attr::direct_solver, r.ov_defined ? (r.direct_iterative ? top : dense) : std::string("undefined"));
    w.attr(g, s::attr::direct_status, to_string(r.direct_status));
    w.write(s::ov_eigenvalues.re, r.ov_eigenvalues_re);
    w.write(s::ov_eigenvalues.im, r.ov_eigenvalues_im);
    w.write(s::qk_eigenvalues.re, r.qk_eigenvalues_re);
    w.write(s::qk_eigenvalues.im, r.qk_eigenvalues_im);
    w.write(s::ov_copying, r.ov_copying);
    w.write(s::qk_copying, r.qk_copying);
    w.write(s::ov_converged, r.ov_converged);
    w.write(s::qk_converged, r.qk_converged);
    w.write(s::direct_eigenvalues.re, r.direct_eigenvalues_re);
    w.write(s::direct_eigenvalues.im, r.direct_eigenvalues_im);
}

}  // namespace circuits::analyses
