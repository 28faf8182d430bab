// The eigen pass: per-head OV and QK spectra through d_head × d_head cores, copying scores.
#include "analyses/eigen.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"

#include <cmath>
#include <tuple>

namespace circuits::analyses {

namespace {

// Σλ / Σ|λ|: the numerator is real for a real matrix (conjugate pairs cancel); NaN for no weight.
float copying_score(const Eigen::VectorXcd& values) {
    double sum = 0.0, abs_sum = 0.0;
    for (Eigen::Index i = 0; i < values.size(); ++i) {
        sum += values[i].real();
        abs_sum += std::abs(values[i]);
    }
    return abs_sum > 0.0 ? static_cast<float>(sum / abs_sum) : kUndefined;
}

void put_values(Array<float>& re, Array<float>& im, int l, int h, const Eigen::VectorXcd& v) {
    const auto n = std::min<std::int64_t>(v.size(), static_cast<std::int64_t>(re.dims[2]));
    for (std::int64_t i = 0; i < n; ++i) {
        entry(re, {l, h, i}) = static_cast<float>(v[i].real());
        entry(im, {l, h, i}) = static_cast<float>(v[i].imag());
    }
}

}  // namespace

EigenResult compute_eigen(const Model& model, const EigenPassOptions& options) {
    model.validate();  // every shape below is then the config's
    const auto& c = model.cfg;
    const int L = c.n_layers, H = c.n_heads;
    EigenResult r;
    r.solver = options.solver;
    const SharedVocabulary shared = shared_vocabulary(model);
    r.ov_defined = shared.size() > 0;
    r.ov_shared_tokens = shared.size();
    r.ov_all_tokens = shared.identity;
    if (!r.ov_defined) r.ov_undefined_reason = "no output token has the string of an input token";
    // W_E's shared rows and W_U's matching columns (views of the model when every token is shared).
    Matrix shared_E, shared_U;
    if (r.ov_defined && !shared.identity) std::tie(shared_E, shared_U) = shared_embeddings(model, shared);
    const Matrix& W_E_ov = shared.identity ? model.W_E : shared_E;  // [shared, d_model]
    const Matrix& W_U_ov = shared.identity ? model.W_U : shared_U;  // [d_model, shared]
    using U = std::uint64_t;
    const U uL = static_cast<U>(L), uH = static_cast<U>(H), udh = static_cast<U>(c.d_head);
    for (auto* a : {&r.ov_eigenvalues_re, &r.ov_eigenvalues_im, &r.qk_eigenvalues_re, &r.qk_eigenvalues_im})
        *a = make_array<float>({uL, uH, udh}, kUndefined);
    r.ov_copying = make_array<float>({uL, uH}, kUndefined);
    r.qk_copying = make_array<float>({uL, uH}, kUndefined);
    r.ov_converged = make_array<std::uint8_t>({uL, uH}, 0);
    r.qk_converged = make_array<std::uint8_t>({uL, uH}, 0);
    r.head_cores_iterative = std::min(c.d_head, c.d_model) > options.solver.dense_max_dim;

    // The d_vocab-long sums, once for every head: W_U W_E and W_Eᵀ W_E [d_model, d_model].
    const Eigen::MatrixXd G_E = accurate_gram(model.W_E, options.threads);
    const Eigen::MatrixXd G_UE =
        r.ov_defined ? accurate_product(W_U_ov, W_E_ov, options.threads) : Eigen::MatrixXd();
    const double inv_scale = 1.0 / c.effective_attn_scale();

    for (int l = 0; l < L; ++l) {
        const auto& a = model.blocks[static_cast<size_t>(l)].attn;
        for (int h = 0; h < H; ++h) {
            const auto uh = static_cast<size_t>(h);
            if (r.ov_defined) {
                // OV core W_O (W_U W_E) W_V, kept as W_O · ((W_U W_E) W_V): [d_head, d_model][d_model, d_head].
                const Matrix right = (G_UE * a.W_V[uh].cast<double>()).cast<float>();
                const Eigenvalues e = FactoredMatrix(a.W_O[uh], right).top_eigenvalues(options.solver);
                put_values(r.ov_eigenvalues_re, r.ov_eigenvalues_im, l, h, e.values);
                entry(r.ov_copying, {l, h}) = copying_score(e.values);
                entry(r.ov_converged, {l, h}) = e.status == EigenStatus::ok ? 1 : 0;
            }
            {
                // QK core W_Kᵀ (W_Eᵀ W_E) W_Q / s.
                const Matrix right = (G_E * a.W_Q[uh].cast<double>() * inv_scale).cast<float>();
                const Eigenvalues e =
                    FactoredMatrix(a.W_K[uh].transpose(), right).top_eigenvalues(options.solver);
                put_values(r.qk_eigenvalues_re, r.qk_eigenvalues_im, l, h, e.values);
                entry(r.qk_copying, {l, h}) = copying_score(e.values);
                entry(r.qk_converged, {l, h}) = e.status == EigenStatus::ok ? 1 : 0;
            }
        }
    }

    if (r.ov_defined) {
        const Eigenvalues e = FactoredMatrix(W_E_ov, W_U_ov).top_eigenvalues(options.solver);
        r.direct_iterative = e.iterative;
        r.direct_status = e.status;
        r.direct_copying = copying_score(e.values);
        const auto n = static_cast<U>(e.values.size());
        r.direct_eigenvalues_re = make_array<float>({n}, kUndefined);
        r.direct_eigenvalues_im = make_array<float>({n}, kUndefined);
        for (Eigen::Index i = 0; i < e.values.size(); ++i) {
            r.direct_eigenvalues_re.data[static_cast<size_t>(i)] = static_cast<float>(e.values[i].real());
            r.direct_eigenvalues_im.data[static_cast<size_t>(i)] = static_cast<float>(e.values[i].imag());
        }
    } else {
        r.direct_eigenvalues_re = make_array<float>({0}, kUndefined);
        r.direct_eigenvalues_im = make_array<float>({0}, kUndefined);
    }
    return r;
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
