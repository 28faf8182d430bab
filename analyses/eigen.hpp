// The eigen pass: eigenvalues of each head's token OV and QK circuits through their small cores, and
// the copying scores Σλ / Σ|λ|; likewise for the direct path.
#pragma once

#include <string>

#include "analyses/embedding_grams.hpp"
#include "analyses/results.hpp"
#include "lib/factored_matrix.hpp"
#include "lib/model.hpp"

namespace circuits::analyses {

struct EigenPassOptions {
    // Cores of dimension <= solver.dense_max_dim get all their eigenvalues from a dense solver,
    // larger ones the solver.n_top largest in modulus from Spectra on the implicit operator.
    EigenOptions solver;
    int threads = 0;  // 0 = hardware concurrency (the d_vocab-long Gram products)
};

// Spectra of the full token circuits, each through a core of at most d_head × d_head:
//   OV = (W_E W_V)(W_O W_U): eig = eig(W_O (W_U W_E) W_V) ∪ {0}   (over the tokens the two
//        vocabularies share, matched by string: W_E's shared rows and W_U's matching columns, so
//        the circuit is square with token i in row i and column i; when no token is shared every OV
//        value is NaN and ov_undefined_reason says why)
//   QK = (W_E W_Q)(W_E W_K)ᵀ / s: eig = eig(W_Kᵀ (W_Eᵀ W_E) W_Q) / s ∪ {0}
//   direct = W_E W_U: eig = eig(W_U W_E) ∪ {0}, a d_model × d_model core
// Copying score Σλ / Σ|λ| in [-1, 1] over the eigenvalues computed (all of them, or the top ones
// when a core is above dense_max_dim); NaN for a zero circuit. Eigenvalues are sorted by decreasing
// modulus; entries past those computed are NaN.
struct EigenResult {
    EigenOptions solver;
    bool ov_defined = false;
    std::string ov_undefined_reason;  // empty when ov_defined
    int ov_shared_tokens = 0;    // tokens in the OV and direct circuits (all of them when the vocabularies are equal)
    bool ov_all_tokens = false;  // the output vocabulary is the input one
    Array<float> ov_eigenvalues_re;      // [L, H, d_head]
    Array<float> ov_eigenvalues_im;      // [L, H, d_head]
    Array<float> qk_eigenvalues_re;      // [L, H, d_head]
    Array<float> qk_eigenvalues_im;      // [L, H, d_head]
    Array<float> ov_copying;             // [L, H]
    Array<float> qk_copying;             // [L, H]
    Array<std::uint8_t> ov_converged;    // [L, H] 1 = every requested eigenvalue converged (0 when undefined)
    Array<std::uint8_t> qk_converged;    // [L, H]
    bool head_cores_iterative = false;   // d_head > dense_max_dim: head spectra are top-n_top only
    Array<float> direct_eigenvalues_re;  // [n] n = min(d_model, d_vocab), or n_top when iterative
    Array<float> direct_eigenvalues_im;  // [n]
    float direct_copying = kUndefined;
    bool direct_iterative = false;
    EigenStatus direct_status = EigenStatus::ok;
};

// Throws Error for an inconsistent model (Model::validate); solver non-convergence is a status.
EigenResult compute_eigen(const Model& model, const EigenPassOptions& options = {});
// The same with the run's embedding Gram matrices (PassContext::grams), computed once for every pass.
EigenResult compute_eigen(const Model& model, const EigenPassOptions& options, const EmbeddingGrams& grams);

// /eigen/ov_copying alone [L, H], by the same computation as compute_eigen's: the passes that report
// OV copying (induction) read it from here rather than computing it again.
Array<float> compute_ov_copying(const Model& model, const EigenPassOptions& options, const EmbeddingGrams& grams);

// Writes /eigen/{ov,qk}_eigenvalues_{re,im}, {ov,qk}_copying, {ov,qk}_converged,
// direct_eigenvalues_{re,im} and the attributes direct_copying, direct_solver, direct_status,
// head_solver, dense_max_dim, n_top, ov_defined, ov_vocabulary (and ov_undefined_reason).
void write(H5Writer& w, const EigenResult& r);

}  // namespace circuits::analyses
