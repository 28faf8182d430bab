// FactoredMatrix: products, norms, spectra and SVDs of A·B through small cores; tiled row reductions.
// GCC 12 reports a false -Wuse-after-free inside Eigen's aligned_free when inlined from Spectra's
// UpperHessenbergEigen; the location is an Eigen header included before any push/pop could scope it.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

#include "lib/factored_matrix.hpp"

#include <Spectra/GenEigsSolver.h>

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "lib/error.hpp"
#include "lib/parallel.hpp"

namespace circuits {

using Eigen::Index;

namespace {

std::string shape(Index r, Index c) {
    return "[" + std::to_string(r) + ", " + std::to_string(c) + "]";
}

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Inner-dimension chunk of accurate_product: float GEMMs of this depth keep ~1e-7 relative error.
constexpr Index kAccurateChunk = 1024;

template <typename PT, typename QT>
Eigen::MatrixXd accurate_product_impl(const PT& P, const QT& Q, int threads) {
    const Index t = P.cols();
    if (t <= kAccurateChunk) return (P * Q).template cast<double>();
    const Index n_chunks = (t + kAccurateChunk - 1) / kAccurateChunk;
    const int workers = parallel_workers(n_chunks, threads);
    std::vector<Eigen::MatrixXd> partial(static_cast<size_t>(workers), Eigen::MatrixXd::Zero(P.rows(), Q.cols()));
    parallel_for(n_chunks, workers, [&](int w, std::int64_t c) {
        const Index first = c * kAccurateChunk, len = std::min(kAccurateChunk, t - first);
        const Matrix part = P.middleCols(first, len) * Q.middleRows(first, len);  // [a, b]
        partial[static_cast<size_t>(w)] += part.cast<double>();
    });
    for (size_t w = 1; w < partial.size(); ++w) partial[0] += partial[w];
    return partial[0];
}

// Sorts eigenvalues by decreasing modulus, then decreasing real part, then decreasing imaginary part.
void sort_by_modulus(Eigen::VectorXcd& v) {
    std::vector<std::complex<double>> s(v.data(), v.data() + v.size());
    std::sort(s.begin(), s.end(), [](const std::complex<double>& a, const std::complex<double>& b) {
        const double ma = std::abs(a), mb = std::abs(b);
        if (ma != mb) return ma > mb;
        if (a.real() != b.real()) return a.real() > b.real();
        return a.imag() > b.imag();
    });
    for (Index i = 0; i < v.size(); ++i) v[i] = s[static_cast<size_t>(i)];
}

// x -> P(Qx) for P [s, t], Q [t, s]: the core of a factored product as a Spectra operator.
class ProductOp {
public:
    using Scalar = double;
    ProductOp(Eigen::MatrixXd P, Eigen::MatrixXd Q) : m_P(std::move(P)), m_Q(std::move(Q)), m_tmp(m_Q.rows()) {}
    Index rows() const { return m_P.rows(); }
    Index cols() const { return m_Q.cols(); }
    void perform_op(const double* x_in, double* y_out) const {
        Eigen::Map<const Eigen::VectorXd> x(x_in, m_Q.cols());
        Eigen::Map<Eigen::VectorXd> y(y_out, m_P.rows());
        m_tmp.noalias() = m_Q * x;  // [t]
        y.noalias() = m_P * m_tmp;  // [s]
    }

private:
    Eigen::MatrixXd m_P;  // [s, t]
    Eigen::MatrixXd m_Q;  // [t, s]
    mutable Eigen::VectorXd m_tmp;
};

}  // namespace

std::string to_string(EigenStatus s) {
    return s == EigenStatus::ok ? "ok" : "not_converged";
}

Eigen::MatrixXd accurate_product(const Matrix& P, const Matrix& Q, int threads) {
    if (P.cols() != Q.rows())
        throw Error("accurate_product: inner dimensions differ: " + shape(P.rows(), P.cols()) + " x " +
                    shape(Q.rows(), Q.cols()));
    return accurate_product_impl(P, Q, threads);
}

Eigen::MatrixXd accurate_gram(const Matrix& P, int threads) {
    return accurate_product_impl(P.transpose(), P, threads);
}

Matrix parallel_product(const Matrix& A, const Matrix& B, int threads) {
    if (A.cols() != B.rows())
        throw Error("parallel_product: inner dimensions differ: " + shape(A.rows(), A.cols()) + " x " +
                    shape(B.rows(), B.cols()));
    constexpr Index kMinSlice = 512;  // rows (or columns) per task: enough work to amortise a thread
    const bool by_rows = A.rows() >= B.cols();
    const Index len = by_rows ? A.rows() : B.cols();
    const Index n_tasks = std::max<Index>(1, std::min<Index>(4 * resolve_threads(threads), len / kMinSlice));
    Matrix out(A.rows(), B.cols());
    if (n_tasks == 1 || A.size() == 0 || B.size() == 0) {
        out.noalias() = A * B;
        return out;
    }
    const Index slice = (len + n_tasks - 1) / n_tasks;
    parallel_for(n_tasks, threads, [&](int, std::int64_t t) {
        const Index first = t * slice, count = std::min(slice, len - first);
        if (count <= 0) return;
        if (by_rows)
            out.middleRows(first, count).noalias() = A.middleRows(first, count) * B;
        else
            out.middleCols(first, count).noalias() = A * B.middleCols(first, count);
    });
    return out;
}

FactoredMatrix::FactoredMatrix(Matrix A, Matrix B) : m_A(std::move(A)), m_B(std::move(B)) {
    if (m_A.cols() != m_B.rows())
        throw Error("FactoredMatrix: A " + shape(m_A.rows(), m_A.cols()) + " and B " + shape(m_B.rows(), m_B.cols()) +
                    ": A.cols must equal B.rows");
}

Matrix FactoredMatrix::dense() const {
    return m_A * m_B;
}

Matrix FactoredMatrix::dense_rows(Index first, Index count) const {
    if (first < 0 || count < 0 || first + count > rows())
        throw Error("FactoredMatrix::dense_rows: rows [" + std::to_string(first) + ", " +
                    std::to_string(first + count) + ") outside [0, " + std::to_string(rows()) + ")");
    return m_A.middleRows(first, count) * m_B;
}

Vector FactoredMatrix::diagonal() const {
    const Index d = std::min(rows(), cols());
    Vector out(d);
    for (Index i = 0; i < d; ++i) out[i] = m_A.row(i).dot(m_B.col(i));
    return out;
}

FactoredMatrix FactoredMatrix::transpose() const {
    return FactoredMatrix(m_B.transpose(), m_A.transpose());
}

FactoredMatrix FactoredMatrix::scaled(double s) const {
    return FactoredMatrix(m_A * static_cast<float>(s), m_B);
}

FactoredMatrix FactoredMatrix::operator*(const Matrix& C) const {
    if (C.rows() != cols())
        throw Error("FactoredMatrix * Matrix: " + shape(rows(), cols()) + " x " + shape(C.rows(), C.cols()) +
                    ": inner dimensions differ");
    return FactoredMatrix(m_A, m_B * C);
}

FactoredMatrix operator*(const Matrix& L, const FactoredMatrix& f) {
    if (L.cols() != f.rows())
        throw Error("Matrix * FactoredMatrix: " + shape(L.rows(), L.cols()) + " x " + shape(f.rows(), f.cols()) +
                    ": inner dimensions differ");
    return FactoredMatrix(L * f.left(), f.right());
}

FactoredMatrix FactoredMatrix::operator*(const FactoredMatrix& other) const {
    if (other.rows() != cols())
        throw Error("FactoredMatrix * FactoredMatrix: " + shape(rows(), cols()) + " x " +
                    shape(other.rows(), other.cols()) + ": inner dimensions differ");
    const Matrix middle = m_B * other.left();  // [k1, k2]
    // (A1 B1)(A2 B2) = A1 · (B1 A2 B2) with inner k1, or (A1 B1 A2) · B2 with inner k2.
    if (inner() <= other.inner()) return FactoredMatrix(m_A, middle * other.right());
    return FactoredMatrix(m_A * middle, other.right());
}

Eigen::MatrixXd FactoredMatrix::left_gram() const {
    return accurate_gram(m_A);
}

Eigen::MatrixXd FactoredMatrix::right_gram() const {
    return accurate_product_impl(m_B, m_B.transpose(), 0);
}

double FactoredMatrix::frobenius_norm() const {
    // ||AB||² = trace(Bᵀ AᵀA B) = trace((AᵀA)(B Bᵀ)) = Σ_ij (AᵀA)_ij (B Bᵀ)_ij, both Grams symmetric.
    const double sq = left_gram().cwiseProduct(right_gram()).sum();
    return std::sqrt(std::max(0.0, sq));
}

double FactoredMatrix::trace() const {
    if (rows() != cols()) throw Error("FactoredMatrix::trace: product " + shape(rows(), cols()) + " is not square");
    // trace(AB) = Σ_i Σ_j A_ij B_ji
    return m_A.cast<double>().cwiseProduct(m_B.transpose().cast<double>()).sum();
}

Eigenvalues FactoredMatrix::eigenvalues() const {
    if (rows() != cols())
        throw Error("FactoredMatrix::eigenvalues: product " + shape(rows(), cols()) + " is not square");
    // eig(AB) = eig(BA) ∪ {0}: take the smaller of AB [m, m] and BA [k, k].
    const Eigen::MatrixXd core =
        inner() <= rows() ? accurate_product_impl(m_B, m_A, 0) : accurate_product_impl(m_A, m_B, 0);
    Eigenvalues out;
    out.core_dim = core.rows();
    out.requested = core.rows();
    if (core.rows() > 0) {
        Eigen::EigenSolver<Eigen::MatrixXd> solver(core, /*computeEigenvectors=*/false);
        if (solver.info() != Eigen::Success) {
            out.status = EigenStatus::not_converged;
            return out;
        }
        out.values = solver.eigenvalues();
        sort_by_modulus(out.values);
    }
    return out;
}

Eigenvalues FactoredMatrix::top_eigenvalues(const EigenOptions& options) const {
    if (rows() != cols())
        throw Error("FactoredMatrix::top_eigenvalues: product " + shape(rows(), cols()) + " is not square");
    const Index s = std::min(rows(), inner());
    // Spectra needs 1 <= nev <= s - 2; outside that (or for small cores) the dense solver is exact.
    const Index nev = std::min(options.n_top, s - 2);
    if (s <= options.dense_max_dim || nev < 1) return eigenvalues();
    const Index ncv = std::min(s, std::max(2 * nev + 1, nev + 2));
    // x -> B(Ax) on [k] when k <= m, else x -> A(Bx) on [m].
    ProductOp op = inner() <= rows() ? ProductOp(m_B.cast<double>(), m_A.cast<double>())
                                     : ProductOp(m_A.cast<double>(), m_B.cast<double>());
    Spectra::GenEigsSolver<ProductOp> solver(op, nev, ncv);
    solver.init();
    solver.compute(Spectra::SortRule::LargestMagn, options.max_iterations, options.tolerance,
                   Spectra::SortRule::LargestMagn);
    Eigenvalues out;
    out.iterative = true;
    out.requested = nev;
    out.core_dim = s;
    out.status = solver.info() == Spectra::CompInfo::Successful ? EigenStatus::ok : EigenStatus::not_converged;
    out.values = solver.eigenvalues();  // the converged ones
    sort_by_modulus(out.values);
    return out;
}

Svd FactoredMatrix::svd() const {
    const Index m = rows(), n = cols(), k = inner();
    // A = Qa Ra, Bᵀ = Qb Rb  =>  AB = Qa (Ra Rbᵀ) Qbᵀ, with a core of at most k × k.
    auto thin_qr = [](const Eigen::MatrixXd& X, Eigen::MatrixXd& Q, Eigen::MatrixXd& R) {
        const Index r = std::min(X.rows(), X.cols());
        Eigen::HouseholderQR<Eigen::MatrixXd> qr(X);
        Q = qr.householderQ() * Eigen::MatrixXd::Identity(X.rows(), r);  // [rows, r]
        R = qr.matrixQR().topRows(r).triangularView<Eigen::Upper>();     // [r, cols]
    };
    Eigen::MatrixXd Qa, Ra, Qb, Rb;
    thin_qr(m_A.cast<double>(), Qa, Ra);
    thin_qr(m_B.transpose().cast<double>(), Qb, Rb);
    const Eigen::MatrixXd core = Ra * Rb.transpose();  // [min(m,k), min(n,k)]
    Eigen::BDCSVD<Eigen::MatrixXd> svd(core, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const Index r = std::min({m, n, k});
    Svd out;
    out.S = svd.singularValues().head(r);
    out.U = (Qa * svd.matrixU().leftCols(r)).cast<float>();
    out.V = (Qb * svd.matrixV().leftCols(r)).cast<float>();
    return out;
}

// ---------------------------------------------------------------------------------------------
// Tiled row reduction.

namespace detail {

struct Entry {
    float value;
    int index;
};

// Larger value first, ties by smaller index.
struct Better {
    bool operator()(const Entry& a, const Entry& b) const {
        return a.value > b.value || (a.value == b.value && a.index < b.index);
    }
};
constexpr Better better{};

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr Entry kWorst{-kInf, INT_MAX};

// The largest float below x: "v > below(x)" is "v >= x" for finite v.
inline float below(float x) {
    return std::nextafter(x, -kInf);
}

// The k best entries of one row seen so far: a candidate buffer pruned to k with nth_element when
// full; m_kth is the k-th best after the last prune, so most entries fail one comparison.
class RowTopK {
public:
    explicit RowTopK(Index k) : m_k(std::max<Index>(k, 1)), m_cap(std::max<Index>(4 * m_k, 32)) {}
    // Entries with a value above this may enter; with `ties` (columns arriving out of order) entries
    // equal to it may too, because a smaller column index wins a tie.
    float threshold(bool ties) const { return ties ? below(m_kth.value) : m_kth.value; }
    void offer(float v, int j) {
        const Entry e{v, j};
        if (!better(e, m_kth)) return;
        if (m_cand.empty()) m_cand.reserve(static_cast<size_t>(m_cap));
        m_cand.push_back(e);
        if (static_cast<Index>(m_cand.size()) >= m_cap) prune();
    }
    // The best min(k, seen) entries, best first.
    void finish(std::vector<Entry>& out) {
        const auto keep = std::min<size_t>(static_cast<size_t>(m_k), m_cand.size());
        std::partial_sort(m_cand.begin(), m_cand.begin() + static_cast<std::ptrdiff_t>(keep), m_cand.end(), better);
        out.assign(m_cand.begin(), m_cand.begin() + static_cast<std::ptrdiff_t>(keep));
    }

private:
    void prune() {
        const auto kth = m_cand.begin() + static_cast<std::ptrdiff_t>(m_k - 1);
        std::nth_element(m_cand.begin(), kth, m_cand.end(), better);
        m_cand.resize(static_cast<size_t>(m_k));
        m_kth = m_cand.back();
    }
    Index m_k;
    Index m_cap;
    std::vector<Entry> m_cand;
    Entry m_kth = kWorst;
};

// The kc best entries of every column seen by one worker; a worker sees each column's rows in
// increasing order, so a strict "value > threshold" test is exact.
class ColumnTopK {
public:
    ColumnTopK(Index n, Index kc)
        : m_kc(kc),
          m_threshold(static_cast<size_t>(n), -kInf),
          m_slots(static_cast<size_t>(n * kc)),
          m_count(static_cast<size_t>(n), 0) {}
    const float* thresholds() const { return m_threshold.data(); }
    void offer(Index j, float v, int i) {
        Entry* s = &m_slots[static_cast<size_t>(j * m_kc)];
        int& count = m_count[static_cast<size_t>(j)];
        if (count < m_kc) {
            s[count++] = {v, i};
            if (count == m_kc) m_threshold[static_cast<size_t>(j)] = worst(s).value;
            return;
        }
        Entry& w = worst(s);
        if (!better({v, i}, w)) return;
        w = {v, i};
        m_threshold[static_cast<size_t>(j)] = worst(s).value;
    }
    void append(Index j, std::vector<Entry>& out) const {
        const Entry* s = &m_slots[static_cast<size_t>(j * m_kc)];
        out.insert(out.end(), s, s + m_count[static_cast<size_t>(j)]);
    }

private:
    Entry& worst(Entry* s) const {
        Entry* w = s;
        for (Index q = 1; q < m_kc; ++q)
            if (better(*w, s[q])) w = s + q;
        return *w;
    }
    Index m_kc;
    std::vector<float> m_threshold;  // [n] value of the kc-th best (-inf until kc seen)
    std::vector<Entry> m_slots;      // [n, kc]
    std::vector<int> m_count;        // [n]
};

// Vector lanes through the compiler's generic vectors: one register wide (SSE/NEON: 4, AVX: 8).
#if defined(__AVX__)
constexpr Index kLanes = 8;
#else
constexpr Index kLanes = 4;
#endif
constexpr Index kGroup = 2 * kLanes;  // entries per pre-test
typedef float Floats __attribute__((vector_size(kLanes * sizeof(float))));
typedef int Ints __attribute__((vector_size(kLanes * sizeof(int))));

inline Floats load(const float* p) {
    Floats v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline Floats broadcast(float x) {
    return Floats{} + x;
}
inline bool any(Ints m) {
    std::uint64_t w[kLanes / 2];
    std::memcpy(w, &m, sizeof w);
    std::uint64_t r = 0;
    for (auto x : w) r |= x;
    return r != 0;
}
inline Index lane_sum(Ints m) {
    int w[kLanes];
    std::memcpy(w, &m, sizeof w);
    Index r = 0;
    for (int x : w) r += x;
    return r;
}

// One pass over row i's entries p[0, len) at columns [c0, c0 + len): offers entries to the row's
// top-k and the worker's column top-k, and counts the entries that precede the diagonal value d in
// the row order (larger values, and equal values at columns < i). kGroup entries at a time: only a
// group holding an entry above a threshold takes the scalar path.
template <bool kRow, bool kCols, bool kDiag>
void scan_segment(const float* p, Index len, Index c0, int i, RowTopK* row, bool row_ties, ColumnTopK* cols, float d,
                  Index& rank) {
    const float* cthr = kCols ? cols->thresholds() + c0 : nullptr;
    float rt = kRow ? row->threshold(row_ties) : kInf;
    const Index split = std::clamp<Index>(i - c0, 0, len);  // columns < i are [0, split)
    const Floats dv = broadcast(d);
    Ints before_count{}, after_count{};  // lanes are -1 where a comparison holds
    Index scalar_count = 0;
    auto look = [&](Index q) {
        const float v = p[q];
        if (kRow && v > rt) {
            row->offer(v, static_cast<int>(c0 + q));
            rt = row->threshold(row_ties);
        }
        if (kCols && v > cthr[q]) cols->offer(c0 + q, v, i);
    };
    Index j = 0;
    for (; j + kGroup <= len; j += kGroup) {
        const Floats v0 = load(p + j), v1 = load(p + j + kLanes);
        const Floats r = broadcast(rt);
        Ints hit = (v0 > r) | (v1 > r);
        if (kCols) hit |= (v0 > load(cthr + j)) | (v1 > load(cthr + j + kLanes));
        if (kDiag) {
            if (j + kGroup <= split)
                before_count += (v0 >= dv) + (v1 >= dv);
            else if (j >= split)
                after_count += (v0 > dv) + (v1 > dv);
            else
                for (Index q = j; q < j + kGroup; ++q) scalar_count += q < split ? p[q] >= d : p[q] > d;
        }
        if (any(hit))
            for (Index q = j; q < j + kGroup; ++q) look(q);
    }
    for (; j < len; ++j) {
        look(j);
        if (kDiag) scalar_count += j < split ? p[j] >= d : p[j] > d;
    }
    if (kDiag) rank += scalar_count - lane_sum(before_count) - lane_sum(after_count);
}

using ScanFn = void (*)(const float*, Index, Index, int, RowTopK*, bool, ColumnTopK*, float, Index&);

template <bool kRow, bool kCols>
ScanFn pick_scan(bool diag) {
    return diag ? &scan_segment<kRow, kCols, true> : &scan_segment<kRow, kCols, false>;
}
template <bool kRow>
ScanFn pick_scan(bool cols, bool diag) {
    return cols ? pick_scan<kRow, true>(diag) : pick_scan<kRow, false>(diag);
}
inline ScanFn pick_scan(bool row, bool cols, bool diag) {
    return row ? pick_scan<true>(cols, diag) : pick_scan<false>(cols, diag);
}

void check_reduce_options(Index m, Index n, const RowReduceOptions& o) {
    if (o.top_k < 0 || o.column_top_k < 0) throw Error("reduce_rows: top_k and column_top_k must be >= 0");
    if (o.block_rows < 1 || o.block_cols < 1) throw Error("reduce_rows: block_rows and block_cols must be positive");
    if (o.diagonal && m != n) throw Error("reduce_rows: diagonal statistics need a square product, got " + shape(m, n));
    if (std::max(m, n) > static_cast<Index>(INT_MAX)) throw Error("reduce_rows: more than INT_MAX rows or columns");
}

// The result before any row is scanned: indices -1, values NaN, diagonal statistics zero.
RowReduction empty_reduction(Index m, Index n, Index k, Index kc, bool diagonal) {
    RowReduction out;
    out.row_indices.setConstant(m, k, -1);
    out.row_values.setConstant(m, k, std::numeric_limits<float>::quiet_NaN());
    out.column_indices.setConstant(n, kc, -1);
    out.column_values.setConstant(n, kc, std::numeric_limits<float>::quiet_NaN());
    if (diagonal) {
        out.diagonal.setZero(m);
        out.diagonal_rank.setZero(m);
    }
    return out;
}

// One row block [r0, r0 + nr) of A B, scanned tile by tile; writes its rows' top-k and diagonal
// statistics into `out` and feeds every entry to the worker's column state.
struct RowBlockScan {
    const Matrix& A;  // [m, inner]
    const Matrix& B;  // [inner, n]
    Index m, n, k, br, bc, n_tiles;
    bool diagonal;
    ScanFn scan;
    RowReduction& out;

    void operator()(std::int64_t b, ColumnTopK* cols, RowMajorMatrix& C) const {
        const Index r0 = b * br, nr = std::min(br, m - r0);
        std::vector<RowTopK> rows(static_cast<size_t>(nr), RowTopK(k));
        std::vector<float> diag(static_cast<size_t>(nr), 0.0f);
        std::vector<Index> rank(static_cast<size_t>(nr), 0);
        // The tile holding this block's diagonal goes first so that its values are known for the
        // ranks; tiles before it then arrive out of column order, where row ties need a look.
        const Index first_tile = diagonal ? r0 / bc : 0;
        for (Index t = 0; t < n_tiles; ++t) {
            const Index tile = (first_tile + t) % n_tiles;
            const Index c0 = tile * bc, nc = std::min(bc, n - c0);
            const bool ties = tile < first_tile;
            C.resize(nr, nc);
            C.noalias() = A.middleRows(r0, nr) * B.middleCols(c0, nc);  // [nr, nc]
            for (Index r = 0; r < nr; ++r) {
                const auto ur = static_cast<size_t>(r);
                const float* p = C.data() + r * nc;
                const Index i = r0 + r;
                if (diagonal && t == 0) diag[ur] = p[i - c0];
                scan(p, nc, c0, static_cast<int>(i), &rows[ur], ties, cols, diag[ur], rank[ur]);
            }
        }
        store(r0, rows, diag, rank);
    }

    void store(Index r0, std::vector<RowTopK>& rows, const std::vector<float>& diag,
               const std::vector<Index>& rank) const {
        std::vector<Entry> best;
        for (size_t ur = 0; ur < rows.size(); ++ur) {
            const Index i = r0 + static_cast<Index>(ur);
            if (k > 0) {
                rows[ur].finish(best);
                for (size_t q = 0; q < best.size(); ++q) {
                    out.row_indices(i, static_cast<Index>(q)) = best[q].index;
                    out.row_values(i, static_cast<Index>(q)) = best[q].value;
                }
            }
            if (diagonal) {
                out.diagonal[i] = diag[ur];
                out.diagonal_rank[i] = static_cast<int>(rank[ur]);
            }
        }
    }
};

// Each column's top kc over the workers' partial states.
void merge_column_tops(const std::vector<std::unique_ptr<ColumnTopK>>& column_state, Index n, Index kc,
                       RowReduction& out) {
    std::vector<Entry> merged;
    for (Index j = 0; j < n; ++j) {
        merged.clear();
        for (const auto& s : column_state)
            if (s) s->append(j, merged);
        const auto keep = std::min<size_t>(static_cast<size_t>(kc), merged.size());
        std::partial_sort(merged.begin(), merged.begin() + static_cast<std::ptrdiff_t>(keep), merged.end(), better);
        for (size_t q = 0; q < keep; ++q) {
            out.column_indices(j, static_cast<Index>(q)) = merged[q].index;
            out.column_values(j, static_cast<Index>(q)) = merged[q].value;
        }
    }
}

}  // namespace detail

RowReduction reduce_rows(const FactoredMatrix& f, const RowReduceOptions& o) {
    using namespace detail;
    const Index m = f.rows(), n = f.cols();
    check_reduce_options(m, n, o);
    const Index k = std::min(o.top_k, n), kc = std::min(o.column_top_k, m);
    RowReduction out = empty_reduction(m, n, k, kc, o.diagonal);
    if (m == 0 || n == 0) return out;

    const Index br = std::min(o.block_rows, m);
    Index bc = std::min(o.block_cols, n);
    if (o.diagonal) bc = (bc + br - 1) / br * br;  // a row block's diagonal then lies in one tile
    const Index n_blocks = (m + br - 1) / br, n_tiles = (n + bc - 1) / bc;
    const int workers = parallel_workers(n_blocks, o.threads);
    std::vector<std::unique_ptr<ColumnTopK>> column_state(static_cast<size_t>(workers));
    std::vector<RowMajorMatrix> tiles(static_cast<size_t>(workers));  // reused [br, bc] GEMM outputs
    const RowBlockScan scan_block{
        f.left(), f.right(), m, n, k, br, bc, n_tiles, o.diagonal, pick_scan(k > 0, kc > 0, o.diagonal), out};
    parallel_for(n_blocks, workers, [&](int w, std::int64_t b) {
        const auto uw = static_cast<size_t>(w);
        if (kc > 0 && !column_state[uw]) column_state[uw] = std::make_unique<ColumnTopK>(n, kc);
        scan_block(b, column_state[uw].get(), tiles[uw]);
    });
    if (kc > 0) merge_column_tops(column_state, n, kc, out);
    return out;
}

}  // namespace circuits
