// Tests of FactoredMatrix and reduce_rows against dense computations on random matrices.
#include "lib/factored_matrix.hpp"

#include "lib/error.hpp"
#include "tests/test_util.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/SVD>

#include <algorithm>
#include <numeric>
#include <random>

namespace circuits {
namespace {

using test::check_near;
using test::random_matrix;
using Eigen::Index;

constexpr double kRelTol = 1e-5;     // float storage, double cores
constexpr double kEigResidTol = 1e-5;  // σ_min(M - λI) / ||M||

// A [m, k] of rank r (< k when rank-deficient): a product of Gaussian [m, r] and [r, k].
Matrix low_rank(std::mt19937& rng, Index m, Index k, Index r) {
    return random_matrix(rng, m, r) * random_matrix(rng, r, k);
}

Eigen::MatrixXd dense_d(const FactoredMatrix& f) { return f.left().cast<double>() * f.right().cast<double>(); }

// Relative distance of λ from the spectrum of M: σ_min(M - λI) / ||M||_2. M - λI = X + iY is
// taken as the real [[X, -Y], [Y, X]], whose singular values are X + iY's, each twice (a real SVD:
// the complex one took a minute to compile under the sanitizers).
double eig_residual(const Eigen::MatrixXd& M, std::complex<double> lambda) {
    const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(M.rows(), M.cols());
    const Eigen::MatrixXd X = M - lambda.real() * I, Y = -lambda.imag() * I;
    Eigen::MatrixXd S(2 * M.rows(), 2 * M.cols());
    S << X, -Y, Y, X;
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(S);
    Eigen::JacobiSVD<Eigen::MatrixXd> norm(M);
    return svd.singularValues().minCoeff() / norm.singularValues()(0);
}

// The dense eigenvalues of M sorted by decreasing modulus.
std::vector<double> moduli(const Eigen::VectorXcd& v) {
    std::vector<double> out;
    for (Index i = 0; i < v.size(); ++i) out.push_back(std::abs(v[i]));
    std::sort(out.begin(), out.end(), std::greater<>());
    return out;
}

TEST_CASE("FactoredMatrix: shapes, dense, transpose and products agree with dense matrices") {
    std::mt19937 rng(11);
    const FactoredMatrix f(random_matrix(rng, 7, 3), random_matrix(rng, 3, 5));
    CHECK(f.rows() == 7);
    CHECK(f.cols() == 5);
    CHECK(f.inner() == 3);
    const Matrix d = f.left() * f.right();
    check_near(f.dense(), d, kRelTol, "dense");
    check_near(f.dense_rows(2, 3), d.middleRows(2, 3), kRelTol, "dense_rows");
    check_near(f.transpose().dense(), d.transpose(), kRelTol, "transpose");
    check_near(f.scaled(0.5).dense(), (0.5f * d).eval(), kRelTol, "scaled");
    check_near(f.diagonal(), d.diagonal().head(5), kRelTol, "diagonal");

    const Matrix C = random_matrix(rng, 5, 4), L = random_matrix(rng, 2, 7);
    const FactoredMatrix fc = f * C, lf = L * f;
    CHECK(fc.inner() == 3);
    CHECK(lf.inner() == 3);
    check_near(fc.dense(), (d * C).eval(), kRelTol, "f * C");
    check_near(lf.dense(), (L * d).eval(), kRelTol, "L * f");

    // Inner 3 against inner 6: the product keeps the smaller one, on either side.
    const FactoredMatrix g(random_matrix(rng, 5, 6), random_matrix(rng, 6, 8));
    const FactoredMatrix fg = f * g;
    CHECK(fg.inner() == 3);
    check_near(fg.dense(), (d * g.dense()).eval(), kRelTol, "f * g");
    const FactoredMatrix h(random_matrix(rng, 9, 6), random_matrix(rng, 6, 7));
    const FactoredMatrix hf = h * f;
    CHECK(hf.inner() == 3);
    check_near(hf.dense(), (h.dense() * d).eval(), kRelTol, "h * f");

    CHECK_THROWS_AS(FactoredMatrix(random_matrix(rng, 3, 4), random_matrix(rng, 5, 2)), Error);
    CHECK_THROWS_AS(f * g.transpose(), Error);
    CHECK_THROWS_AS(f.eigenvalues(), Error);  // 7 x 5 is not square
}

TEST_CASE("FactoredMatrix: Frobenius norm and trace from Gram matrices match the dense product") {
    std::mt19937 rng(12);
    struct Case {
        Index m, k, n, rank;
    };
    for (const Case c : {Case{40, 6, 30, 6}, Case{5, 12, 9, 12}, Case{50, 10, 50, 3}, Case{2000, 4, 3, 4}}) {
        CAPTURE(c.m);
        const FactoredMatrix f(low_rank(rng, c.m, c.k, c.rank), random_matrix(rng, c.k, c.n));
        const Eigen::MatrixXd d = dense_d(f);
        CHECK(f.frobenius_norm() == doctest::Approx(d.norm()).epsilon(kRelTol));
        check_near(f.left_gram(), (f.left().cast<double>().transpose() * f.left().cast<double>()).eval(), kRelTol,
                   "left_gram");
        check_near(f.right_gram(), (f.right().cast<double>() * f.right().cast<double>().transpose()).eval(),
                   kRelTol, "right_gram");
        if (c.m == c.n) CHECK(f.trace() == doctest::Approx(d.trace()).epsilon(kRelTol));
    }
    // A long inner dimension goes through the chunked double accumulation, in parallel.
    const Matrix W = random_matrix(rng, 3000, 6);
    check_near(accurate_gram(W, 3), (W.cast<double>().transpose() * W.cast<double>()).eval(), kRelTol, "accurate_gram");
    const Matrix P = random_matrix(rng, 3, 5000), Q = random_matrix(rng, 5000, 4);
    check_near(accurate_product(P, Q), (P.cast<double>() * Q.cast<double>()).eval(), kRelTol, "accurate_product");
}

TEST_CASE("parallel_product: row and column splits agree with a single GEMM") {
    std::mt19937 rng(19);
    const Matrix A = random_matrix(rng, 1500, 8), B = random_matrix(rng, 8, 20);  // split by rows
    check_near(parallel_product(A, B, 3), (A * B).eval(), kRelTol, "rows");
    const Matrix C = random_matrix(rng, 5, 8), D = random_matrix(rng, 8, 1300);  // split by columns
    check_near(parallel_product(C, D, 2), (C * D).eval(), kRelTol, "columns");
    CHECK_THROWS_AS(parallel_product(A, C, 2), Error);
}

TEST_CASE("FactoredMatrix: eigenvalues through the small core are the dense spectrum plus zeros") {
    std::mt19937 rng(13);
    struct Case {
        Index m, k, rank;
    };
    // m > k (core B·A), m < k (core A·B), and a rank-deficient core.
    for (const Case c : {Case{20, 5, 5}, Case{6, 15, 15}, Case{25, 8, 3}}) {
        CAPTURE(c.m);
        CAPTURE(c.k);
        const FactoredMatrix f(low_rank(rng, c.m, c.k, c.rank), random_matrix(rng, c.k, c.m));
        const Eigenvalues e = f.eigenvalues();
        REQUIRE(e.status == EigenStatus::ok);
        CHECK_FALSE(e.iterative);
        REQUIRE(e.values.size() == std::min(c.m, c.k));
        const Eigen::MatrixXd d = dense_d(f);
        const double scale = Eigen::JacobiSVD<Eigen::MatrixXd>(d).singularValues()(0);
        for (Index i = 0; i < e.values.size(); ++i) {
            CAPTURE(i);
            CHECK(eig_residual(d, e.values[i]) < kEigResidTol);
        }
        // Same moduli as the dense solver; the dense eigenvalues beyond min(m, k) are ~0.
        const auto want = moduli(Eigen::EigenSolver<Eigen::MatrixXd>(d).eigenvalues());
        const auto got = moduli(e.values);
        for (size_t i = 0; i < want.size(); ++i) {
            const double g = i < got.size() ? got[i] : 0.0;
            CHECK(std::abs(g - want[i]) <= 1e-4 * scale);  // eigenvalue conditioning costs digits
        }
        // Sorted by decreasing modulus.
        for (Index i = 1; i < e.values.size(); ++i) CHECK(std::abs(e.values[i - 1]) >= std::abs(e.values[i]));
        // Trace = sum of eigenvalues.
        CHECK(e.values.sum().real() == doctest::Approx(d.trace()).epsilon(1e-4).scale(scale));
    }
}

TEST_CASE("FactoredMatrix: Spectra top eigenvalues on the implicit operator match the dense ones") {
    std::mt19937 rng(14);
    const Index m = 300, k = 120;
    // A core B·A = M with a known, well-separated spectrum: M = P diag(λ) P⁻¹, B = M (AᵀA)⁻¹ Aᵀ.
    Eigen::VectorXd lambda(k);
    for (Index i = 0; i < k; ++i) lambda[i] = (i % 2 ? -1.0 : 1.0) * 10.0 * std::pow(0.9, double(i));
    const Eigen::MatrixXd P = random_matrix(rng, k, k).cast<double>() + 3.0 * Eigen::MatrixXd::Identity(k, k);
    const Eigen::MatrixXd M = P * lambda.asDiagonal() * P.inverse();
    const Matrix A = random_matrix(rng, m, k);
    const Eigen::MatrixXd Ad = A.cast<double>();
    const Matrix B = (M * (Ad.transpose() * Ad).inverse() * Ad.transpose()).cast<float>();
    const FactoredMatrix f(A, B);

    EigenOptions o;
    o.dense_max_dim = 50;
    o.n_top = 8;
    const Eigenvalues e = f.top_eigenvalues(o);
    CHECK(e.iterative);
    CHECK(e.core_dim == k);
    REQUIRE(e.status == EigenStatus::ok);
    REQUIRE(e.values.size() == 8);
    const Eigenvalues all = f.eigenvalues();
    REQUIRE(all.values.size() == k);
    for (Index i = 0; i < 8; ++i) {
        CAPTURE(i);
        CHECK(std::abs(e.values[i] - all.values[i]) <= 1e-4 * std::abs(all.values[0]));
        CHECK(std::abs(e.values[i] - lambda[i]) <= 1e-3 * std::abs(lambda[0]));  // float factors
    }
    // Below the threshold the dense path answers.
    o.dense_max_dim = 200;
    CHECK_FALSE(f.top_eigenvalues(o).iterative);

    // m < k: the operator is x -> A(Bx) on [m].
    const FactoredMatrix g(random_matrix(rng, 60, 200), random_matrix(rng, 200, 60));
    o.dense_max_dim = 20;
    o.n_top = 4;
    const Eigenvalues eg = g.top_eigenvalues(o);
    CHECK(eg.core_dim == 60);
    if (eg.status == EigenStatus::ok) {
        const Eigen::MatrixXd d = dense_d(g);
        for (Index i = 0; i < eg.values.size(); ++i) CHECK(eig_residual(d, eg.values[i]) < kEigResidTol);
    }
}

TEST_CASE("FactoredMatrix: Spectra non-convergence is a status, not an exception") {
    std::mt19937 rng(15);
    const FactoredMatrix f(random_matrix(rng, 200, 150), random_matrix(rng, 150, 200));
    EigenOptions o;
    o.dense_max_dim = 10;
    o.n_top = 20;
    o.max_iterations = 1;
    o.tolerance = 1e-15;
    Eigenvalues e;
    CHECK_NOTHROW(e = f.top_eigenvalues(o));
    CHECK(e.status == EigenStatus::not_converged);
    CHECK(e.values.size() < e.requested);
}

TEST_CASE("FactoredMatrix: SVD through the small core is orthonormal and reconstructs the product") {
    std::mt19937 rng(16);
    struct Case {
        Index m, k, n, rank;
    };
    for (const Case c : {Case{30, 5, 20, 5}, Case{8, 12, 15, 12}, Case{40, 10, 25, 4}, Case{6, 9, 4, 9}}) {
        CAPTURE(c.m);
        const FactoredMatrix f(low_rank(rng, c.m, c.k, c.rank), random_matrix(rng, c.k, c.n));
        const Svd s = f.svd();
        const Index r = std::min({c.m, c.n, c.k});
        REQUIRE(s.U.rows() == c.m);
        REQUIRE(s.U.cols() == r);
        REQUIRE(s.V.rows() == c.n);
        REQUIRE(s.V.cols() == r);
        REQUIRE(s.S.size() == r);
        check_near(s.U.transpose() * s.U, Matrix::Identity(r, r), kRelTol, "UᵀU");
        check_near(s.V.transpose() * s.V, Matrix::Identity(r, r), kRelTol, "VᵀV");
        const Eigen::MatrixXd d = dense_d(f);
        const Eigen::MatrixXd rec = s.U.cast<double>() * s.S.asDiagonal() * s.V.cast<double>().transpose();
        check_near(rec, d, kRelTol, "U S Vᵀ");
        const Eigen::VectorXd want = Eigen::JacobiSVD<Eigen::MatrixXd>(d).singularValues().head(r);
        check_near(s.S, want, kRelTol, "singular values");
        for (Index i = c.rank; i < r; ++i) CHECK(s.S[i] <= kRelTol * s.S[0]);  // rank-deficient tail
    }
}

// Brute-force order of a row: larger value first, ties by smaller index.
std::vector<int> sorted_order(const Eigen::RowVectorXf& row) {
    std::vector<int> idx(static_cast<size_t>(row.size()));
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return row[a] > row[b]; });
    return idx;
}

// Small integers: every product is exact in float, so ties are real and indices must match exactly.
Matrix small_ints(std::mt19937& rng, Index r, Index c) {
    std::uniform_int_distribution<int> d(-2, 2);
    Matrix m(r, c);
    for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(d(rng));
    return m;
}

TEST_CASE("reduce_rows: exact top-k, column top-k and diagonal ranks with ties, any tiling and thread count") {
    std::mt19937 rng(17);
    const Index n = 300;
    const FactoredMatrix f(small_ints(rng, n, 3), small_ints(rng, 3, n));
    const Matrix d = f.dense();
    for (const int threads : {1, 3}) {
        for (const Index bc : {Index(64), Index(100), Index(1000)}) {
            CAPTURE(threads);
            CAPTURE(bc);
            RowReduceOptions o;
            o.top_k = 6;
            o.column_top_k = 4;
            o.diagonal = true;
            o.block_rows = 32;
            o.block_cols = bc;
            o.threads = threads;
            const RowReduction r = reduce_rows(f, o);
            REQUIRE(r.row_indices.rows() == n);
            REQUIRE(r.row_indices.cols() == 6);
            REQUIRE(r.column_indices.rows() == n);
            REQUIRE(r.column_indices.cols() == 4);
            int mismatches = 0;
            for (Index i = 0; i < n; ++i) {
                const auto order = sorted_order(d.row(i));
                for (Index q = 0; q < 6; ++q) {
                    mismatches += r.row_indices(i, q) != order[static_cast<size_t>(q)];
                    mismatches += r.row_values(i, q) != d(i, order[static_cast<size_t>(q)]);
                }
                const auto corder = sorted_order(d.col(i).transpose());
                for (Index q = 0; q < 4; ++q) mismatches += r.column_indices(i, q) != corder[static_cast<size_t>(q)];
                const auto pos = std::find(order.begin(), order.end(), int(i)) - order.begin();
                mismatches += r.diagonal_rank[i] != pos;
                mismatches += r.diagonal[i] != d(i, i);
            }
            CHECK(mismatches == 0);
        }
    }
}

TEST_CASE("reduce_rows: random non-square product agrees with sorting the dense rows") {
    std::mt19937 rng(18);
    const FactoredMatrix f(random_matrix(rng, 301, 8), random_matrix(rng, 8, 257));
    const Matrix d = f.dense();
    RowReduceOptions o;
    o.top_k = 7;
    o.column_top_k = 5;
    o.block_rows = 40;
    o.block_cols = 96;
    o.threads = 2;
    const RowReduction r = reduce_rows(f, o);
    const double scale = d.cwiseAbs().maxCoeff();
    for (Index i = 0; i < d.rows(); ++i) {
        const auto order = sorted_order(d.row(i));
        for (Index q = 0; q < 7; ++q) {
            // Values by position (robust to float near-ties) and the value at the returned index.
            CHECK(std::abs(r.row_values(i, q) - d(i, order[static_cast<size_t>(q)])) <= kRelTol * scale);
            CHECK(std::abs(r.row_values(i, q) - d(i, r.row_indices(i, q))) <= kRelTol * scale);
        }
    }
    for (Index j = 0; j < d.cols(); ++j) {
        const auto order = sorted_order(d.col(j).transpose());
        for (Index q = 0; q < 5; ++q) {
            CHECK(std::abs(r.column_values(j, q) - d(order[static_cast<size_t>(q)], j)) <= kRelTol * scale);
            CHECK(std::abs(r.column_values(j, q) - d(r.column_indices(j, q), j)) <= kRelTol * scale);
        }
    }
    // k larger than the row clamps; diagonal statistics on a non-square product are refused.
    o.top_k = 1000;
    o.column_top_k = 0;
    CHECK(reduce_rows(f, o).row_indices.cols() == 257);
    o.diagonal = true;
    CHECK_THROWS_AS(reduce_rows(f, o), Error);
}

}  // namespace
}  // namespace circuits
