// The top-k engine: exact per-row and per-column top-k and diagonal ranks of a full factored product
// A·B, most entries decided from a low-rank score plus a rigorous bound on the rest.
#pragma once

#include "lib/factored_matrix.hpp"

#include <Eigen/Core>

namespace circuits {

// dense: every entry computed at full inner depth. bounded: entries scored on the leading r
// components of the product's SVD basis, only those the bound cannot decide computed exactly.
// automatic: bounded when a sample of rows says it is cheaper, else dense.
enum class TopKMode { automatic, dense, bounded };

struct TopKOptions {
    Eigen::Index top_k = 10;         // largest entries per row (clamped to n; 0 = none)
    Eigen::Index column_top_k = 0;   // largest entries per column (0 = none; clamped to m)
    bool diagonal = false;           // entry (i, i) and its rank in row i; square products only
    TopKMode mode = TopKMode::automatic;
    Eigen::Index approx_rank = 0;    // r of the bounded score; 0 = chosen from a sample of rows
    int threads = 0;                 // 0 = hardware concurrency
};

// How the work was done (the results never depend on it).
struct TopKStats {
    bool bounded = false;          // false: the dense path
    Eigen::Index approx_rank = 0;  // r of the bounded score (0 on the dense path)
    double entries = 0;            // m × n
    double exact_entries = 0;      // entries computed at full inner depth (padding columns included)
    double scored_entries = 0;     // entries scored at depth r (bounded path)
};

// Every entry (i, j) is product_entry(A, B, i, j), whichever path computed it. Order within a row or
// column: larger value first, ties broken by smaller index, whatever the path and thread count.
// diagonal_rank[i] = #{j < i: v_ij >= v_ii} + #{j > i: v_ij > v_ii}: the position of column i in row
// i's order (0 = its own top-1).
struct TopKReduction {
    Eigen::MatrixXi row_indices;     // [m, top_k] column of the top_k largest entries of each row
    Matrix row_values;               // [m, top_k]
    Eigen::MatrixXi column_indices;  // [n, column_top_k] row of the largest entries of each column
    Matrix column_values;            // [n, column_top_k]
    Vector diagonal;                 // [m] entry (i, i) (diagonal only)
    Eigen::VectorXi diagonal_rank;   // [m]
    TopKStats stats;
};

// The reduction of f = A·B, A [m, k], B [k, n]. Throws Error for negative k's, diagonal statistics of
// a non-square product, or more than INT_MAX rows or columns.
TopKReduction reduce_top_k(const FactoredMatrix& f, const TopKOptions& options = {});

// The arithmetic that defines entry (i, j) of A·B for every path: a float accumulator starting at
// 0, then acc = fma(A(i, p), B(p, j), acc) for p = 0 .. k-1 in order (acc + A(i, p)·B(p, j), two
// roundings, in builds without FMA instructions).
float product_entry(const Matrix& A, const Matrix& B, Eigen::Index i, Eigen::Index j);

}  // namespace circuits
