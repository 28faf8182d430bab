// FactoredMatrix: a product A·B kept as its factors, with the linear algebra done on the small core.
#pragma once

#include "lib/model.hpp"

#include <Eigen/Dense>

#include <complex>
#include <string>

namespace circuits {

// How an eigenvalue computation ended. Not converging is a numerical outcome the caller reports,
// not an error.
enum class EigenStatus { ok, not_converged };
std::string to_string(EigenStatus s);

struct EigenOptions {
    // Cores up to this dimension get every eigenvalue from a dense solver; larger ones get the
    // `n_top` largest in magnitude from Spectra's Arnoldi solver on the implicit operator.
    Eigen::Index dense_max_dim = 512;
    Eigen::Index n_top = 64;
    Eigen::Index max_iterations = 1000;  // Spectra restarts
    double tolerance = 1e-10;            // Spectra relative tolerance
};

struct Eigenvalues {
    Eigen::VectorXcd values;  // by decreasing modulus (ties: larger real part first)
    EigenStatus status = EigenStatus::ok;
    bool iterative = false;        // true: only the top eigenvalues, from Spectra
    Eigen::Index requested = 0;    // how many were asked for (= values.size() unless not converged)
    Eigen::Index core_dim = 0;     // dimension of the matrix whose spectrum was computed
};

// Thin SVD of a factored product: A·B ≈ U diag(S) Vᵀ with r = min(m, n, k).
struct Svd {
    Matrix U;           // [m, r], orthonormal columns
    Eigen::VectorXd S;  // [r], decreasing, >= 0
    Matrix V;           // [n, r], orthonormal columns
};

// A·B with A [m, k] and B [k, n], never formed unless asked (dense()). Storage is float; Gram
// matrices and cores are accumulated in double (see accurate_product), eigenvalues, SVDs and norms
// computed in double.
class FactoredMatrix {
public:
    // Throws Error when A.cols() != B.rows() (quoting both shapes).
    FactoredMatrix(Matrix A, Matrix B);

    Eigen::Index rows() const { return m_A.rows(); }   // m
    Eigen::Index cols() const { return m_B.cols(); }   // n
    Eigen::Index inner() const { return m_A.cols(); }  // k
    const Matrix& left() const { return m_A; }         // A [m, k]
    const Matrix& right() const { return m_B; }        // B [k, n]

    Matrix dense() const;                                        // [m, n]
    Matrix dense_rows(Eigen::Index first, Eigen::Index count) const;  // rows [first, first+count) of A·B
    Vector diagonal() const;                                     // [min(m, n)] entries (i, i)
    FactoredMatrix transpose() const;                            // Bᵀ·Aᵀ [n, m]
    FactoredMatrix scaled(double s) const;                       // s·A·B (A scaled)

    // (A·B)·C = A·(B·C) for C [n, p]: inner dimension stays k.
    FactoredMatrix operator*(const Matrix& C) const;
    // (A1·B1)·(A2·B2): kept factored through the smaller of the two inner dimensions.
    FactoredMatrix operator*(const FactoredMatrix& other) const;

    Eigen::MatrixXd left_gram() const;   // AᵀA [k, k]
    Eigen::MatrixXd right_gram() const;  // B·Bᵀ [k, k]

    // ||A·B||_F = sqrt(trace((AᵀA)(B·Bᵀ))): two k×k Gram matrices, no SVD.
    double frobenius_norm() const;
    // trace(A·B) = trace(B·A); square only.
    double trace() const;

    // Every eigenvalue that can be nonzero, by a dense solver: eig(A·B) = eig(B·A) ∪ {0}, so the
    // min(m, k) eigenvalues of the smaller of A·B [m, m] and B·A [k, k]; the other m - min(m, k)
    // eigenvalues of A·B are exactly 0. Square (m == n) only: throws Error otherwise.
    Eigenvalues eigenvalues() const;
    // As eigenvalues() while min(m, k) <= options.dense_max_dim; above it the options.n_top
    // eigenvalues of largest modulus from Spectra's GenEigsSolver on the implicit operator
    // x -> B(Ax) (or x -> A(Bx) when m < k), never forming the core. Square only.
    Eigenvalues top_eigenvalues(const EigenOptions& options = {}) const;

    // Thin QR of A and of Bᵀ, SVD of the small core R_A R_Bᵀ.
    Svd svd() const;

private:
    Matrix m_A;  // [m, k]
    Matrix m_B;  // [k, n]
};

// L·(A·B) = (L·A)·B for L [p, m]: inner dimension stays k.
FactoredMatrix operator*(const Matrix& L, const FactoredMatrix& f);

// P·Q in double for float P [a, t] and Q [t, b] with a long inner dimension t: float GEMMs over
// chunks of the inner dimension, accumulated in double (an exact double GEMM is needlessly slow,
// a single float GEMM loses accuracy when t is in the tens of thousands).
// `threads` as in parallel_for (0 = hardware concurrency).
Eigen::MatrixXd accurate_product(const Matrix& P, const Matrix& Q, int threads = 0);
// PᵀP [t, t] for P [s, t], the same way (no transposed copy of P).
Eigen::MatrixXd accurate_gram(const Matrix& P, int threads = 0);

// A·B for A [m, k] and B [k, n] as float GEMMs on `threads` threads (0 = hardware concurrency),
// split over the rows of A or the columns of B, whichever is longer. For the large products
// (W_E W_V, W_O W_U) that feed factored circuits.
Matrix parallel_product(const Matrix& A, const Matrix& B, int threads = 0);

// Per-row (and optionally per-column) reductions of a full factored product, computed in tiles of
// [block_rows, block_cols] on `threads` threads; memory is bounded by threads × tile, never m × n.
struct RowReduceOptions {
    Eigen::Index top_k = 10;         // largest entries per row (clamped to n)
    Eigen::Index column_top_k = 0;   // largest entries per column (0 = none; clamped to m)
    bool diagonal = false;           // entry (i, i) and its rank in row i; square products only
    Eigen::Index block_rows = 256;   // rows per task
    Eigen::Index block_cols = 4096;  // columns per GEMM tile
    int threads = 0;                 // 0 = hardware concurrency
};

// Order within a row or column: larger value first, ties broken by smaller index, so every result
// is deterministic whatever the thread count.
struct RowReduction {
    Eigen::MatrixXi row_indices;     // [m, top_k] column of the top_k largest entries of each row
    Matrix row_values;               // [m, top_k]
    Eigen::MatrixXi column_indices;  // [n, column_top_k] row of the largest entries of each column
    Matrix column_values;            // [n, column_top_k]
    Vector diagonal;                 // [m] entry (i, i) (diagonal only)
    Eigen::VectorXi diagonal_rank;   // [m] position of column i in row i's order: 0 = its own top-1
};

RowReduction reduce_rows(const FactoredMatrix& f, const RowReduceOptions& options = {});

}  // namespace circuits
