// The top-k engine: a register-blocked product kernel with one fixed arithmetic per entry, a dense
// path that reduces its tiles on the fly, and a bounded path that computes exactly only the entries a
// low-rank score plus a rigorous Cauchy–Schwarz bound cannot decide.
// This file is compiled with -ffp-contract=off (lib/CMakeLists.txt): every fused multiply-add below
// is written out, so that the vector kernel and the scalar product_entry round identically.
#include "lib/topk_engine.hpp"

#include <Eigen/Eigenvalues>
#include <Eigen/SVD>
#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#if defined(__AVX512F__) || (defined(__AVX__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "lib/error.hpp"
#include "lib/parallel.hpp"

namespace circuits {

using Eigen::Index;

namespace {

// ---------------------------------------------------------------------------------------------
// Vector lanes (GCC generic vectors) and the one multiply-add.

#if defined(__AVX512F__)
constexpr Index kLanes = 16;
constexpr bool kFma = true;
#elif defined(__AVX__) && defined(__FMA__)
constexpr Index kLanes = 8;
constexpr bool kFma = true;
#else
constexpr Index kLanes = 4;
constexpr bool kFma = false;
#endif
constexpr Index kWidth = 2 * kLanes;  // columns of one panel: two vectors
constexpr int kRows = 6;              // rows of one kernel call: 12 accumulators
typedef float Floats __attribute__((vector_size(kLanes * sizeof(float))));
typedef int Ints __attribute__((vector_size(kLanes * sizeof(int))));

inline Floats load(const float* p) {
    Floats v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store(float* p, Floats v) {
    std::memcpy(p, &v, sizeof v);
}
inline Floats broadcast(float x) {
    return Floats{} + x;
}
// acc + x·b, rounded once where the machine has FMA (as std::fma), twice otherwise.
inline Floats madd(Floats x, Floats b, Floats acc) {
#if defined(__AVX512F__)
    return (Floats)_mm512_fmadd_ps((__m512)x, (__m512)b, (__m512)acc);
#elif defined(__AVX__) && defined(__FMA__)
    return (Floats)_mm256_fmadd_ps((__m256)x, (__m256)b, (__m256)acc);
#else
    return acc + x * b;
#endif
}
inline float madd(float x, float b, float acc) {
    if constexpr (kFma) return std::fma(x, b, acc);
    return acc + x * b;
}
inline bool any(Ints m) {
    int w[kLanes];
    std::memcpy(w, &m, sizeof w);
    int r = 0;
    for (int x : w) r |= x;
    return r != 0;
}
inline Index lane_sum(Ints m) {  // lanes are -1 where a comparison holds
    int w[kLanes];
    std::memcpy(w, &m, sizeof w);
    Index r = 0;
    for (int x : w) r -= x;
    return r;
}
inline Ints lane_index() {
    Ints v;
    for (int q = 0; q < kLanes; ++q) v[q] = q;
    return v;
}

// ---------------------------------------------------------------------------------------------
// Packed operands: rows of the left factor contiguous; the right factor in panels of kWidth columns,
// each [depth, kWidth] with its columns contiguous (zero beyond the last column).

struct RowPack {
    Index rows = 0, depth = 0;
    std::vector<float> data;  // [rows, depth]
    const float* row(Index i) const { return data.data() + i * depth; }
};

struct PanelPack {
    Index cols = 0, depth = 0, panels = 0;
    std::vector<float> data;  // [panels, depth, kWidth]
    const float* panel(Index t) const { return data.data() + t * depth * kWidth; }
    float at(Index p, Index j) const { return panel(j / kWidth)[p * kWidth + j % kWidth]; }
};

template <typename M>
RowPack pack_rows(const M& A) {  // A [rows, depth]
    RowPack out;
    out.rows = A.rows();
    out.depth = A.cols();
    out.data.resize(static_cast<size_t>(out.rows * out.depth));
    for (Index i = 0; i < out.rows; ++i)
        for (Index p = 0; p < out.depth; ++p) out.data[static_cast<size_t>(i * out.depth + p)] = A(i, p);
    return out;
}

template <typename M>
PanelPack pack_panels(const M& B) {  // B [depth, cols]
    PanelPack out;
    out.depth = B.rows();
    out.cols = B.cols();
    out.panels = (out.cols + kWidth - 1) / kWidth;
    out.data.assign(static_cast<size_t>(out.panels * out.depth * kWidth), 0.0f);
    for (Index j = 0; j < out.cols; ++j) {
        float* p = out.data.data() + (j / kWidth) * out.depth * kWidth + j % kWidth;
        for (Index d = 0; d < out.depth; ++d) p[d * kWidth] = B(d, j);
    }
    return out;
}

// out[r, 0 .. kWidth) = rows a[r] (first `depth` entries) times one panel, for r < R; row stride
// `stride`. Each entry is the chain acc = madd(a[r][p], b[p], acc) over p in order.
template <int R>
void kernel(const float* const* a, Index depth, const float* panel, float* out, Index stride) {
    Floats acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = Floats{};
    for (Index p = 0; p < depth; ++p) {
        const Floats b0 = load(panel + p * kWidth), b1 = load(panel + p * kWidth + kLanes);
        for (int r = 0; r < R; ++r) {
            const Floats x = broadcast(a[r][p]);
            acc[r][0] = madd(x, b0, acc[r][0]);
            acc[r][1] = madd(x, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < R; ++r) {
        store(out + r * stride, acc[r][0]);
        store(out + r * stride + kLanes, acc[r][1]);
    }
}

void run_kernel(int rows, const float* const* a, Index depth, const float* panel, float* out, Index stride) {
    switch (rows) {
        case 1: return kernel<1>(a, depth, panel, out, stride);
        case 2: return kernel<2>(a, depth, panel, out, stride);
        case 3: return kernel<3>(a, depth, panel, out, stride);
        case 4: return kernel<4>(a, depth, panel, out, stride);
        case 5: return kernel<5>(a, depth, panel, out, stride);
        case 6: return kernel<6>(a, depth, panel, out, stride);
        default: throw Error("topk kernel: bad row count " + std::to_string(rows));
    }
}

float chain_entry(const float* a, const PanelPack& B, Index j) {
    float acc = 0.0f;
    for (Index p = 0; p < B.depth; ++p) acc = madd(a[p], B.at(p, j), acc);
    return acc;
}

// ---------------------------------------------------------------------------------------------
// Top-k states. Entry order: larger value first, ties by smaller index.

struct Entry {
    float value;
    int index;
};
struct Better {
    bool operator()(const Entry& a, const Entry& b) const {
        return a.value > b.value || (a.value == b.value && a.index < b.index);
    }
};
constexpr Better better{};
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr Entry kWorst{-kInf, INT_MAX};

// The k best entries of one row, columns offered in increasing order (so an entry equal to the k-th
// best loses, and "value > threshold()" is the whole test): a candidate buffer pruned with
// nth_element when full.
class RowTopK {
public:
    explicit RowTopK(Index k) : m_k(std::max<Index>(k, 1)), m_cap(std::max<Index>(4 * m_k, 32)) {}
    float threshold() const { return m_kth.value; }
    void offer(float v, int j) {
        const Entry e{v, j};
        if (!better(e, m_kth)) return;
        if (m_cand.empty()) m_cand.reserve(static_cast<size_t>(m_cap));
        m_cand.push_back(e);
        if (static_cast<Index>(m_cand.size()) >= m_cap) prune();
    }
    void finish(std::vector<Entry>& out) {  // the best min(k, seen), best first
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
    Index m_k, m_cap;
    std::vector<Entry> m_cand;
    Entry m_kth = kWorst;
};

// The kc best entries of every column seen by one worker; a worker offers each column's rows in
// increasing order, so "value > thresholds()[j]" is the whole test.
class ColumnTopK {
public:
    ColumnTopK(Index n_padded, Index kc)
        : m_kc(kc),
          m_threshold(static_cast<size_t>(n_padded), -kInf),
          m_slots(static_cast<size_t>(n_padded * kc)),
          m_count(static_cast<size_t>(n_padded), 0) {}
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
    std::vector<float> m_threshold;  // [n_padded] value of the kc-th best (-inf until kc seen)
    std::vector<Entry> m_slots;      // [n_padded, kc]
    std::vector<int> m_count;        // [n_padded]
};

// The reductions of one row: its top-k (when wanted), its diagonal value and rank.
struct RowState {
    RowTopK top;
    float diag = 0;
    Index rank = 0;
};

// Exact values v[0, nv) of row i at columns [c0, c0 + nv): offers to the row and column states and
// counts the entries that precede the diagonal value. A full panel takes a vector pre-test.
void scan_exact(const float* v, Index nv, Index c0, int i, RowState& row, bool want_row, ColumnTopK* cols,
                bool diag) {
    const float* cthr = cols ? cols->thresholds() + c0 : nullptr;
    auto look = [&](Index q) {
        if (want_row && v[q] > row.top.threshold()) row.top.offer(v[q], static_cast<int>(c0 + q));
        if (cols && v[q] > cthr[q]) cols->offer(c0 + q, v[q], i);
    };
    auto count = [&](Index q) {
        const Index j = c0 + q;
        return j < i ? v[q] >= row.diag : (j > i && v[q] > row.diag);
    };
    if (nv < kWidth || (diag && c0 <= i && i < c0 + kWidth)) {
        for (Index q = 0; q < nv; ++q) {
            look(q);
            if (diag) row.rank += count(q);
        }
        return;
    }
    const Floats v0 = load(v), v1 = load(v + kLanes);
    const Floats rt = broadcast(want_row ? row.top.threshold() : kInf);
    Ints hit = (v0 > rt) | (v1 > rt);
    if (cols) hit |= (v0 > load(cthr)) | (v1 > load(cthr + kLanes));
    if (diag) {
        const Floats d = broadcast(row.diag);
        row.rank += c0 < i ? lane_sum(v0 >= d) + lane_sum(v1 >= d) : lane_sum(v0 > d) + lane_sum(v1 > d);
    }
    if (any(hit))
        for (Index q = 0; q < kWidth; ++q) look(q);
}

// ---------------------------------------------------------------------------------------------
// The bounded score. From Gram eigenbases and the SVD of the whitened core (svd_transform), k×k
// matrices T, T' with T T' = Π_A Π_B (projectors on the spans of Aᵀ and B, numerically), and the float
// factors P = fl(A T), Q = fl(T' B). For a = A(i, :), b = B(:, j), exactly:
//   a·b = (aT)(T'b) + a(Π_A Π_B - T T')b + (a - aΠ_A)·b + aΠ_A·(b - Π_B b)
// and (aT)(T'b) = P_i·Q_j up to the float rounding of P and Q. The score S_ij sums the first r
// columns of P_i times rows of Q_j in float; the rest is at most ||P_i,r:||·||Q_r:,j|| by
// Cauchy–Schwarz. With every rounding bounded by the standard γ_n = n u/(1 - n u) (u = 2^-24) for
// dot products in any order, the reference value lies in
//   S_ij ± (α_i β_j + λ_i σ_j + π_i ω_j + η)
// α = tail norms of P, β = tail norms of Q; λ_i = (γ_r + 10.01u)·||P_i|| + (γ_k + μ + δ)·||a|| + ||a - aΠ_A||,
// σ_j = max(||Q_j||, ||b||) (γ_r: the score's rounding, 2.01u: P and Q's rounding, 8u: evaluating S ± bound;
// γ_k: the reference's own rounding; μ = ||Π_A Π_B - T T'||_F plus the double-precision error of
// forming T's products; δ the double rounding of aΠ_A, see double_error); π_i = ||aΠ_A|| + δ||a||,
// ω_j = ||b - Π_B b|| + δ||b||; η = 1e-30 for underflow. Every norm is
// computed in double from the float values and, with every factor, inflated by 1e-5 (relative), which
// covers the float evaluation of the bound (a few u) with a hundredfold margin. The bound never
// needs to be tight to be right; a loose one only sends more entries to the exact path.

constexpr double kU = 1.0 / (1 << 24);
constexpr double kInflate = 1.0 + 1e-5;
constexpr float kEta = 1e-30f;
double gamma_n(Index n) {
    return static_cast<double>(n) * kU / (1.0 - static_cast<double>(n) * kU);
}
// Relative error of a length-k double-precision product with a k×k matrix of Frobenius norm <= √k
// (a projector), with a fourfold margin: 4 (k + 1) u_double (√k + 1).
double double_error(Index k) {
    return 4.0 * static_cast<double>(k + 1) * 1.2e-16 * (std::sqrt(static_cast<double>(k)) + 1.0);
}

struct Transform {
    Eigen::MatrixXd T, Tp, Pi_a, Pi_b;  // [k, k]
    double mu = 0;                      // ||Π_A Π_B - T T'||_F + the double rounding of the products
    double half_ratio = 1;              // s_{k/2} / s_0 of the product's singular values
    bool ok = false;
};

// Square roots (and inverse square roots) of a Gram matrix's eigenvalues above 1e-12 of the largest;
// zero for the numerically null directions (their weight goes to the residual terms).
void gram_half(const Eigen::VectorXd& lambda, Eigen::VectorXd& h, Eigen::VectorXd& h_inv, Eigen::VectorXd& keep) {
    const Index k = lambda.size();
    const double top = k > 0 ? lambda.maxCoeff() : 0.0;
    h.setZero(k), h_inv.setZero(k), keep.setZero(k);
    for (Index c = 0; c < k; ++c)
        if (top > 0 && lambda[c] > 1e-12 * top) {
            h[c] = std::sqrt(lambda[c]);
            h_inv[c] = 1.0 / h[c];
            keep[c] = 1.0;
        }
}

// A·B = (A T)(T' B) with the product's singular directions first: whiten both sides by their Gram
// eigenbases (AᵀA = W_a Λ_a W_aᵀ, B Bᵀ = W_b Λ_b W_bᵀ), take the SVD of the core
// C = Λ_a^½ W_aᵀ W_b Λ_b^½ = X S Yᵀ, and split S evenly: T = W_a Λ_a^-½ X S^½, T' = S^½ Yᵀ Λ_b^-½ W_bᵀ.
Transform svd_transform(const FactoredMatrix& f) {
    const Index k = f.inner();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> ea(f.left_gram()), eb(f.right_gram());
    Transform t;
    if (ea.info() != Eigen::Success || eb.info() != Eigen::Success) return t;
    Eigen::VectorXd ha, ha_inv, ka, hb, hb_inv, kb;
    gram_half(ea.eigenvalues(), ha, ha_inv, ka);
    gram_half(eb.eigenvalues(), hb, hb_inv, kb);
    const Eigen::MatrixXd& Wa = ea.eigenvectors();
    const Eigen::MatrixXd& Wb = eb.eigenvectors();
    const Eigen::MatrixXd C = ha.asDiagonal() * (Wa.transpose() * Wb) * hb.asDiagonal();  // [k, k]
    Eigen::BDCSVD<Eigen::MatrixXd> svd(C, Eigen::ComputeFullU | Eigen::ComputeFullV);
    const Eigen::VectorXd s = svd.singularValues().cwiseSqrt();
    if (k >= 2 && svd.singularValues()(0) > 0) t.half_ratio = svd.singularValues()(k / 2) / svd.singularValues()(0);
    t.T = Wa * ha_inv.asDiagonal() * svd.matrixU() * s.asDiagonal();
    t.Tp = s.asDiagonal() * svd.matrixV().transpose() * hb_inv.asDiagonal() * Wb.transpose();
    t.Pi_a = Wa * ka.asDiagonal() * Wa.transpose();
    t.Pi_b = Wb * kb.asDiagonal() * Wb.transpose();
    const double nT = t.T.norm(), nTp = t.Tp.norm();
    t.mu = (t.Pi_a * t.Pi_b - t.T * t.Tp).norm() + double_error(k) * (nT * nTp + static_cast<double>(k));
    t.ok = std::isfinite(t.mu) && std::isfinite(nT) && std::isfinite(nTp) && nT * nTp < 1e8 && ka.sum() > 0;
    return t;
}

struct BoundFactors {
    std::vector<Index> ranks;                     // candidate r's, increasing
    Index max_rank = 0;                           // columns of P kept
    RowPack P;                                    // [m, max_rank]
    PanelPack Q;                                  // [max_rank, n] in panels
    std::vector<std::vector<float>> alpha, beta;  // per candidate: [m], [n_padded] tail norms
    std::vector<float> lambda, pi;                // [m]
    std::vector<float> sigma, omega;              // [n_padded] (zero beyond n)
    // Per candidate, one product that bounds the three: for any t, s > 0,
    //   α β + λ σ + π ω <= (α + λ/t + π s)·(β + t σ + ω/s)
    // (the cross terms are >= 0); t = median(β/σ)/100 and s = median(α/π)/100 keep the added terms
    // α t σ and π s β near 1% of α β.
    std::vector<std::vector<float>> row_bound, col_bound;  // [m], [n_padded]
};

// The median of num[i] / den[i] over den[i] > 0, divided by 100 (1e-3 when there is none).
double hundredth_of_median_ratio(const std::vector<float>& num, const std::vector<float>& den, size_t len) {
    std::vector<double> ratio;
    for (size_t i = 0; i < len; ++i)
        if (den[i] > 0) ratio.push_back(double(num[i]) / den[i]);
    if (ratio.empty()) return 1e-3;
    std::nth_element(ratio.begin(), ratio.begin() + static_cast<std::ptrdiff_t>(ratio.size() / 2), ratio.end());
    return std::max(1e-2 * ratio[ratio.size() / 2], 1e-12);
}

// row_bound and col_bound of every candidate from the separate terms (inflated as they are).
void combine_bounds(BoundFactors& bf, Index n) {
    for (size_t ci = 0; ci < bf.ranks.size(); ++ci) {
        const double t = hundredth_of_median_ratio(bf.beta[ci], bf.sigma, static_cast<size_t>(n));
        const double s = hundredth_of_median_ratio(bf.alpha[ci], bf.pi, bf.pi.size());
        std::vector<float> rb(bf.alpha[ci].size()), cb(bf.beta[ci].size());
        for (size_t i = 0; i < rb.size(); ++i)
            rb[i] = static_cast<float>((double(bf.alpha[ci][i]) + double(bf.lambda[i]) / t + double(bf.pi[i]) * s) *
                                       kInflate);
        for (size_t j = 0; j < cb.size(); ++j)
            cb[j] = static_cast<float>((double(bf.beta[ci][j]) + t * double(bf.sigma[j]) + double(bf.omega[j]) / s) *
                                       kInflate);
        bf.row_bound.push_back(std::move(rb));
        bf.col_bound.push_back(std::move(cb));
    }
}

// Row statistics of one side: `x` [len, k] holds the factor's vectors as rows (A, or Bᵀ), `M` the
// transform applied on the right (T, or T'ᵀ), `Pi` the projector (Π_A, or Π_Bᵀ). Writes the float
// transformed rows' first max_rank entries to `packed` ([len, max_rank], row-major), the tail norms per
// candidate, and the norms ||x||, ||fl(xM)||, ||x - xΠ||, ||xΠ|| to the columns of `norms` [len, 4].
template <typename X>
void side_stats(const X& x, const Eigen::MatrixXd& M, const Eigen::MatrixXd& Pi, const std::vector<Index>& ranks,
                Index max_rank, std::vector<float>& packed, std::vector<std::vector<float>>& tails,
                Eigen::MatrixXd& norms) {
    const Index len = x.rows(), k = x.cols(), chunk = 2048;
    packed.assign(static_cast<size_t>(len * max_rank), 0.0f);
    tails.assign(ranks.size(), std::vector<float>(static_cast<size_t>(len), 0.0f));
    norms.resize(len, 4);
    for (Index i0 = 0; i0 < len; i0 += chunk) {
        const Index c = std::min(chunk, len - i0);
        const Eigen::MatrixXd xd = x.middleRows(i0, c).template cast<double>();                // [c, k]
        const Eigen::MatrixXd pf = (xd * M).template cast<float>().template cast<double>();  // fl(x M)
        const Eigen::MatrixXd xp = xd * Pi;                                                  // [c, k]
        for (Index r = 0; r < c; ++r) {
            const Index i = i0 + r;
            for (Index q = 0; q < max_rank; ++q)
                packed[static_cast<size_t>(i * max_rank + q)] = static_cast<float>(pf(r, q));
            for (size_t ci = 0; ci < ranks.size(); ++ci)
                tails[ci][static_cast<size_t>(i)] = static_cast<float>(pf.row(r).tail(k - ranks[ci]).norm() * kInflate);
            norms(i, 0) = xd.row(r).norm();
            norms(i, 1) = pf.row(r).norm();
            norms(i, 2) = (xd.row(r) - xp.row(r)).norm();
            norms(i, 3) = xp.row(r).norm();
        }
    }
}

// The bound factors for candidate ranks `ranks` (each < k), or nothing when the transform is
// unusable (non-finite, ill-conditioned, a zero factor) or the spectrum too flat: s_{k/2} / s_0 above
// `max_half_ratio` (a Gaussian product's is 0.3 to 0.5; the bounds then decide too little to pay).
std::unique_ptr<BoundFactors> make_bounds(const FactoredMatrix& f, std::vector<Index> ranks, double max_half_ratio) {
    if (ranks.empty()) return nullptr;
    const Transform t = svd_transform(f);
    if (!t.ok || t.half_ratio > max_half_ratio) return nullptr;
    auto bf = std::make_unique<BoundFactors>();
    const Index m = f.rows(), n = f.cols(), k = f.inner();
    bf->ranks = ranks;
    bf->max_rank = ranks.back();
    Eigen::MatrixXd na, nb;
    std::vector<float> qrows;
    side_stats(f.left(), t.T, t.Pi_a, ranks, bf->max_rank, bf->P.data, bf->alpha, na);
    side_stats(f.right().transpose(), t.Tp.transpose(), t.Pi_b.transpose(), ranks, bf->max_rank, qrows, bf->beta, nb);
    bf->P.rows = m;
    bf->P.depth = bf->max_rank;
    const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> qmap(
        qrows.data(), n, bf->max_rank);
    bf->Q = pack_panels(qmap.transpose());  // [max_rank, n]
    const Index n_pad = bf->Q.panels * kWidth;
    const double e_score = gamma_n(bf->max_rank) + 10.01 * kU, e_ref = gamma_n(k) + t.mu, e_dbl = double_error(k);
    bf->lambda.resize(static_cast<size_t>(m));
    bf->pi.resize(static_cast<size_t>(m));
    for (Index i = 0; i < m; ++i) {
        const double lam = e_score * na(i, 1) + (e_ref + e_dbl) * na(i, 0) + na(i, 2);
        bf->lambda[static_cast<size_t>(i)] = static_cast<float>(lam * kInflate);
        bf->pi[static_cast<size_t>(i)] = static_cast<float>((na(i, 3) + e_dbl * na(i, 0)) * kInflate);
    }
    bf->sigma.assign(static_cast<size_t>(n_pad), 0.0f);
    bf->omega.assign(static_cast<size_t>(n_pad), 0.0f);
    for (auto& b : bf->beta) b.resize(static_cast<size_t>(n_pad), 0.0f);
    for (Index j = 0; j < n; ++j) {
        bf->sigma[static_cast<size_t>(j)] = static_cast<float>(std::max(nb(j, 0), nb(j, 1)) * kInflate);
        bf->omega[static_cast<size_t>(j)] = static_cast<float>((nb(j, 2) + e_dbl * nb(j, 0)) * kInflate);
    }
    auto finite = [](const std::vector<float>& v) {
        return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
    };
    bool ok = finite(bf->P.data) && finite(bf->Q.data) && finite(bf->lambda) && finite(bf->pi) &&
              finite(bf->sigma) && finite(bf->omega);
    for (size_t c = 0; c < ranks.size(); ++c) ok = ok && finite(bf->alpha[c]) && finite(bf->beta[c]);
    if (!ok) return nullptr;
    combine_bounds(*bf, n);
    for (size_t c = 0; c < ranks.size(); ++c) ok = ok && finite(bf->row_bound[c]) && finite(bf->col_bound[c]);
    return ok ? std::move(bf) : nullptr;
}

// ---------------------------------------------------------------------------------------------
// Row blocks: the dense path and the bounded path over rows [i0, i0 + nr), in chunks of panels that
// stay in cache; within a chunk, groups of kRows rows in increasing order (so every column state
// sees its rows in increasing order).

struct Problem {
    Index m = 0, n = 0, k = 0, top_k = 0, kc = 0;
    bool diag = false;
    RowPack A;    // [m, k]
    PanelPack B;  // [k, n]
    Index n_pad() const { return B.panels * kWidth; }
};

struct Worker {
    std::unique_ptr<ColumnTopK> cols;
    std::array<float, kRows * kWidth> E{}, S{};
    double exact = 0, scored = 0;
};

constexpr Index kBlockRows = 16 * kRows;  // rows per task

// Panels per cache chunk: about 256 KiB of the right factor.
Index chunk_panels(Index depth) {
    return std::max<Index>(1, (256 * 1024) / (std::max<Index>(depth, 1) * kWidth * Index(sizeof(float))));
}

// Calls fn(g, gr, t) for every row group g (gr rows) and panel t, chunk by chunk.
template <typename Fn>
void for_groups_and_panels(Index nr, Index panels, Index depth, Fn&& fn) {
    const Index cp = chunk_panels(depth);
    for (Index t0 = 0; t0 < panels; t0 += cp)
        for (Index g = 0; g < nr; g += kRows)
            for (Index t = t0; t < std::min(panels, t0 + cp); ++t)
                fn(g, static_cast<int>(std::min<Index>(kRows, nr - g)), t);
}

void dense_block(const Problem& pr, Index i0, Index nr, std::vector<RowState>& rows, Worker& w) {
    const float* a[kRows] = {};
    for_groups_and_panels(nr, pr.B.panels, pr.k, [&](Index g, int gr, Index t) {
        for (int r = 0; r < gr; ++r) a[r] = pr.A.row(i0 + g + r);
        run_kernel(gr, a, pr.k, pr.B.panel(t), w.E.data(), kWidth);
        const Index c0 = t * kWidth, nv = std::min(kWidth, pr.n - c0);
        for (int r = 0; r < gr; ++r)
            scan_exact(w.E.data() + r * kWidth, nv, c0, static_cast<int>(i0 + g + r), rows[static_cast<size_t>(g + r)],
                       pr.top_k > 0, w.cols.get(), pr.diag);
    });
    w.exact += static_cast<double>(nr) * static_cast<double>(pr.n_pad());
}

// The interval [lo, hi] that holds the reference values of one row at a panel's columns.
struct Interval {
    Floats lo[2], hi[2];
};
Interval interval(const BoundFactors& bf, size_t ci, Index i, Index c0, const float* s) {
    const Floats a = broadcast(bf.row_bound[ci][static_cast<size_t>(i)]);
    Interval out;
    for (int h = 0; h < 2; ++h) {
        const Floats b = madd(a, load(bf.col_bound[ci].data() + c0 + h * kLanes), broadcast(kEta));
        const Floats v = load(s + h * kLanes);
        out.lo[h] = v - b;
        out.hi[h] = v + b;
    }
    return out;
}

// Lanes of a panel at columns < n.
inline void valid_lanes(Index c0, Index n, Ints valid[2]) {
    for (int h = 0; h < 2; ++h) valid[h] = (lane_index() + static_cast<int>(c0 + h * kLanes)) < static_cast<int>(n);
}

// Pass 1 of the bounded path: for each row, the k-th largest lower bound over its columns. At least
// top_k reference values reach it, so no entry whose upper bound is below it can be in the row's top-k.
std::vector<float> lower_thresholds(const Problem& pr, const BoundFactors& bf, size_t ci, Index i0, Index nr,
                                    Worker& w) {
    std::vector<float> t0(static_cast<size_t>(nr), -kInf);
    if (pr.top_k == 0) return t0;
    std::vector<RowTopK> low(static_cast<size_t>(nr), RowTopK(pr.top_k));
    const Index r_depth = bf.ranks[ci];
    const float* p[kRows] = {};
    for_groups_and_panels(nr, bf.Q.panels, r_depth, [&](Index g, int gr, Index t) {
        for (int r = 0; r < gr; ++r) p[r] = bf.P.row(i0 + g + r);
        run_kernel(gr, p, r_depth, bf.Q.panel(t), w.S.data(), kWidth);
        const Index c0 = t * kWidth;
        for (int r = 0; r < gr; ++r) {
            RowTopK& row = low[static_cast<size_t>(g + r)];
            const Interval iv = interval(bf, ci, i0 + g + r, c0, w.S.data() + r * kWidth);
            const Floats thr = broadcast(row.threshold());
            if (!any((iv.lo[0] > thr) | (iv.lo[1] > thr))) continue;
            float v[kWidth];
            store(v, iv.lo[0]);
            store(v + kLanes, iv.lo[1]);
            for (Index q = 0; q < kWidth && c0 + q < pr.n; ++q) row.offer(v[q], static_cast<int>(c0 + q));
        }
    });
    std::vector<Entry> best;
    for (Index r = 0; r < nr; ++r) {
        low[static_cast<size_t>(r)].finish(best);
        if (static_cast<Index>(best.size()) == pr.top_k) t0[static_cast<size_t>(r)] = best.back().value;
    }
    w.scored += static_cast<double>(nr) * static_cast<double>(pr.n_pad());
    return t0;
}

// Whether row `row` must be computed exactly at this panel; when not, adds its certain diagonal
// counts (lower bound above the diagonal value) to its rank.
bool needs_exact(const Interval& iv, const Ints valid[2], RowState& row, float t0, bool want_row, const float* cthr,
                 bool diag) {
    Ints need{}, need1{};  // lanes -1 where the entry needs its exact value
    if (want_row) {
        const Floats thr = broadcast(std::max(t0, std::nextafter(row.top.threshold(), kInf)));
        need |= iv.hi[0] >= thr;
        need1 |= iv.hi[1] >= thr;
    }
    if (cthr) {
        need |= iv.hi[0] > load(cthr);
        need1 |= iv.hi[1] > load(cthr + kLanes);
    }
    const Floats d = broadcast(row.diag);
    if (diag) {
        need |= (iv.lo[0] <= d) & (iv.hi[0] >= d);
        need1 |= (iv.lo[1] <= d) & (iv.hi[1] >= d);
    }
    if (any((need & valid[0]) | (need1 & valid[1]))) return true;
    if (diag) row.rank += lane_sum((iv.lo[0] > d) & valid[0]) + lane_sum((iv.lo[1] > d) & valid[1]);
    return false;
}

// Pass 2 of the bounded path: each row group's score at each panel, the rows the bounds cannot
// decide computed exactly and scanned as on the dense path.
void bounded_block(const Problem& pr, const BoundFactors& bf, size_t ci, Index i0, Index nr,
                   std::vector<RowState>& rows, Worker& w) {
    const std::vector<float> t0 = lower_thresholds(pr, bf, ci, i0, nr, w);
    const Index r_depth = bf.ranks[ci];
    const float* p[kRows] = {};
    const float* a[kRows] = {};
    int needy[kRows] = {};
    for_groups_and_panels(nr, bf.Q.panels, pr.k, [&](Index g, int gr, Index t) {
        for (int r = 0; r < gr; ++r) p[r] = bf.P.row(i0 + g + r);
        run_kernel(gr, p, r_depth, bf.Q.panel(t), w.S.data(), kWidth);
        const Index c0 = t * kWidth;
        Ints valid[2];
        valid_lanes(c0, pr.n, valid);
        const float* cthr = w.cols ? w.cols->thresholds() + c0 : nullptr;
        int cnt = 0;
        for (int r = 0; r < gr; ++r) {
            const Index i = i0 + g + r;
            const Interval iv = interval(bf, ci, i, c0, w.S.data() + r * kWidth);
            if (needs_exact(iv, valid, rows[static_cast<size_t>(g + r)], t0[static_cast<size_t>(g + r)],
                            pr.top_k > 0, cthr, pr.diag)) {
                needy[cnt] = r;
                a[cnt++] = pr.A.row(i);
            }
        }
        if (cnt == 0) return;
        run_kernel(cnt, a, pr.k, pr.B.panel(t), w.E.data(), kWidth);
        const Index nv = std::min(kWidth, pr.n - c0);
        for (int q = 0; q < cnt; ++q) {
            const Index r = g + needy[q];
            scan_exact(w.E.data() + q * kWidth, nv, c0, static_cast<int>(i0 + r), rows[static_cast<size_t>(r)],
                       pr.top_k > 0, w.cols.get(), pr.diag);
        }
        w.exact += static_cast<double>(cnt * kWidth);
    });
    w.scored += static_cast<double>(nr) * static_cast<double>(pr.n_pad());
}

// ---------------------------------------------------------------------------------------------
// Choosing the path, running the blocks, collecting the results.

struct Plan {
    std::unique_ptr<BoundFactors> bounds;  // null: dense
    size_t rank_index = 0;
};

// Cost per row and panel in units of one depth step of the kernel: the dense path's product and
// scan, the bounded path's two scoring passes and bound tests plus its exact share (a part-filled
// group costs about half again as much per row as a full one).
double dense_cost(Index k) {
    return static_cast<double>(k) + 4.0;
}
double bounded_cost(Index k, Index r, double exact_share) {
    return 2.0 * static_cast<double>(r) + 12.0 + exact_share * (1.5 * static_cast<double>(k) + 4.0);
}

// The share of entries the bounded path with candidate ci computes exactly on 16 groups of rows
// spread over the matrix (no column top-k, whose thresholds need every row before them).
double sample_exact_share(const Problem& pr, const BoundFactors& bf, size_t ci) {
    const Index groups = (pr.m + kRows - 1) / kRows, samples = std::min<Index>(groups, 16);
    Worker w;
    double seen = 0;
    for (Index s = 0; s < samples; ++s) {
        const Index i0 = (s * groups / samples) * kRows, nr = std::min<Index>(kRows, pr.m - i0);
        std::vector<RowState> rows(static_cast<size_t>(nr), RowState{RowTopK(pr.top_k)});
        for (Index r = 0; r < nr; ++r)
            if (pr.diag) rows[static_cast<size_t>(r)].diag = chain_entry(pr.A.row(i0 + r), pr.B, i0 + r);
        bounded_block(pr, bf, ci, i0, nr, rows, w);
        seen += static_cast<double>(nr) * static_cast<double>(pr.n_pad());
    }
    return seen > 0 ? w.exact / seen : 1.0;
}

Plan choose_plan(const FactoredMatrix& f, const Problem& pr, const TopKOptions& o) {
    Plan plan;
    if (o.mode == TopKMode::dense) return plan;
    std::vector<Index> ranks;
    if (o.approx_rank > 0)
        ranks.push_back(o.approx_rank);
    else
        for (Index r : {4, 8, 16, 32, 64})
            if (2 * r <= pr.k) ranks.push_back(r);
    // automatic: only spectra whose second half is below 5% of the first singular value are tried.
    plan.bounds = make_bounds(f, ranks, o.mode == TopKMode::bounded ? INFINITY : 0.05);
    if (!plan.bounds) return plan;
    double best = o.mode == TopKMode::bounded ? INFINITY : 0.85 * dense_cost(pr.k);
    bool any_better = false;
    for (size_t ci = 0; ci < ranks.size(); ++ci) {
        const double cost = ranks.size() == 1 && o.mode == TopKMode::bounded
                                ? 0.0
                                : bounded_cost(pr.k, ranks[ci], sample_exact_share(pr, *plan.bounds, ci));
        if (cost < best) best = cost, plan.rank_index = ci, any_better = true;
    }
    if (!any_better) plan.bounds.reset();
    return plan;
}

void check_options(Index m, Index n, const TopKOptions& o) {
    auto shape = [](Index r, Index c) { return "[" + std::to_string(r) + ", " + std::to_string(c) + "]"; };
    if (o.top_k < 0 || o.column_top_k < 0) throw Error("reduce_top_k: top_k and column_top_k must be >= 0");
    if (o.approx_rank < 0) throw Error("reduce_top_k: approx_rank must be >= 0");
    if (o.diagonal && m != n) throw Error("reduce_top_k: diagonal statistics need a square product, got " + shape(m, n));
    if (std::max(m, n) > static_cast<Index>(INT_MAX) / 2)
        throw Error("reduce_top_k: more than INT_MAX / 2 rows or columns: " + shape(m, n));
}

TopKReduction empty_reduction(Index m, Index n, Index k, Index kc, bool diagonal) {
    TopKReduction out;
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

void store_rows(Index i0, std::vector<RowState>& rows, Index k, bool diag, TopKReduction& out) {
    std::vector<Entry> best;
    for (size_t r = 0; r < rows.size(); ++r) {
        const Index i = i0 + static_cast<Index>(r);
        if (k > 0) {
            rows[r].top.finish(best);
            for (size_t q = 0; q < best.size(); ++q) {
                out.row_indices(i, static_cast<Index>(q)) = best[q].index;
                out.row_values(i, static_cast<Index>(q)) = best[q].value;
            }
        }
        if (diag) {
            out.diagonal[i] = rows[r].diag;
            out.diagonal_rank[i] = static_cast<int>(rows[r].rank);
        }
    }
}

// Each column's top kc over the workers' partial states.
void merge_columns(const std::vector<Worker>& workers, Index n, Index kc, TopKReduction& out) {
    std::vector<Entry> merged;
    for (Index j = 0; j < n; ++j) {
        merged.clear();
        for (const auto& w : workers)
            if (w.cols) w.cols->append(j, merged);
        const auto keep = std::min<size_t>(static_cast<size_t>(kc), merged.size());
        std::partial_sort(merged.begin(), merged.begin() + static_cast<std::ptrdiff_t>(keep), merged.end(), better);
        for (size_t q = 0; q < keep; ++q) {
            out.column_indices(j, static_cast<Index>(q)) = merged[q].index;
            out.column_values(j, static_cast<Index>(q)) = merged[q].value;
        }
    }
}

void run_blocks(const Problem& pr, const Plan& plan, int threads, TopKReduction& out) {
    const Index n_tasks = (pr.m + kBlockRows - 1) / kBlockRows;
    std::vector<Worker> workers(static_cast<size_t>(parallel_workers(n_tasks, threads)));
    parallel_for(n_tasks, static_cast<int>(workers.size()), [&](int wi, std::int64_t b) {
        Worker& w = workers[static_cast<size_t>(wi)];
        if (pr.kc > 0 && !w.cols) w.cols = std::make_unique<ColumnTopK>(pr.n_pad(), pr.kc);
        const Index i0 = b * kBlockRows, nr = std::min(kBlockRows, pr.m - i0);
        std::vector<RowState> rows(static_cast<size_t>(nr), RowState{RowTopK(pr.top_k)});
        if (pr.diag)
            for (Index r = 0; r < nr; ++r) rows[static_cast<size_t>(r)].diag = chain_entry(pr.A.row(i0 + r), pr.B, i0 + r);
        if (plan.bounds)
            bounded_block(pr, *plan.bounds, plan.rank_index, i0, nr, rows, w);
        else
            dense_block(pr, i0, nr, rows, w);
        store_rows(i0, rows, pr.top_k, pr.diag, out);
    });
    if (pr.kc > 0) merge_columns(workers, pr.n, pr.kc, out);
    out.stats.entries = static_cast<double>(pr.m) * static_cast<double>(pr.n);
    for (const auto& w : workers) {
        out.stats.exact_entries += w.exact;
        out.stats.scored_entries += w.scored;
    }
    out.stats.bounded = plan.bounds != nullptr;
    out.stats.approx_rank = plan.bounds ? plan.bounds->ranks[plan.rank_index] : 0;
}

}  // namespace

TopKReduction reduce_top_k(const FactoredMatrix& f, const TopKOptions& o) {
    const Index m = f.rows(), n = f.cols();
    check_options(m, n, o);
    if (o.approx_rank >= f.inner() && o.approx_rank > 0)
        throw Error("reduce_top_k: approx_rank " + std::to_string(o.approx_rank) + " must be below the inner dimension " +
                    std::to_string(f.inner()));
    Problem pr;
    pr.m = m, pr.n = n, pr.k = f.inner();
    pr.top_k = std::min(o.top_k, n), pr.kc = std::min(o.column_top_k, m), pr.diag = o.diagonal;
    TopKReduction out = empty_reduction(m, n, pr.top_k, pr.kc, pr.diag);
    if (m == 0 || n == 0) return out;
    pr.A = pack_rows(f.left());
    pr.B = pack_panels(f.right());
    const Plan plan = choose_plan(f, pr, o);
    run_blocks(pr, plan, o.threads, out);
    return out;
}

float product_entry(const Matrix& A, const Matrix& B, Index i, Index j) {
    if (A.cols() != B.rows() || i < 0 || i >= A.rows() || j < 0 || j >= B.cols())
        throw Error("product_entry: (" + std::to_string(i) + ", " + std::to_string(j) + ") outside A·B");
    float acc = 0.0f;
    for (Index p = 0; p < A.cols(); ++p) acc = madd(A(i, p), B(p, j), acc);
    return acc;
}

}  // namespace circuits
