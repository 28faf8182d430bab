// The composition pass: factored composition scores of head pairs and their random baseline.
#include "analyses/composition.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"
#include "lib/parallel.hpp"

#include <cmath>
#include <random>

namespace circuits::analyses {

namespace {

using Eigen::MatrixXd;

// The d_head × d_head Grams of one head's factors and its two circuits' squared norms.
struct HeadGrams {
    MatrixXd W_O;  // [d_head, d_model]
    MatrixXd G_Q, G_K, G_V;  // W_Qᵀ W_Q etc. [d_head, d_head]
    MatrixXd H_O;            // W_O W_Oᵀ [d_head, d_head]
    double ov_sq = 0.0;      // ||W_V W_O||² = trace(G_V H_O)
    double qk_sq = 0.0;      // ||W_Q W_Kᵀ||² = trace(G_Q G_K)
};

HeadGrams head_grams(const Matrix& W_Q, const Matrix& W_K, const Matrix& W_V, const Matrix& W_O) {
    HeadGrams g;
    g.W_O = W_O.cast<double>();
    const MatrixXd Q = W_Q.cast<double>(), K = W_K.cast<double>(), V = W_V.cast<double>();
    g.G_Q = Q.transpose() * Q;
    g.G_K = K.transpose() * K;
    g.G_V = V.transpose() * V;
    g.H_O = g.W_O * g.W_O.transpose();
    // trace(S T) = Σ S ∘ T for symmetric S, T.
    g.ov_sq = g.G_V.cwiseProduct(g.H_O).sum();
    g.qk_sq = g.G_Q.cwiseProduct(g.G_K).sum();
    return g;
}

// ||X Y|| / (||X|| ||Y||) with X = A1 B1 (inner Gram G_A = A1ᵀA1), Y = A2 B2 (G_B = B2 B2ᵀ),
// M = B1 A2: ||X Y||² = trace(Mᵀ G_A M G_B) = Σ (G_A M) ∘ (M G_B).
double score(const MatrixXd& G_A, const MatrixXd& M, const MatrixXd& G_B, double x_sq, double y_sq) {
    const double xy_sq = (G_A * M).cwiseProduct(M * G_B).sum();
    if (!(x_sq > 0.0) || !(y_sq > 0.0)) return std::numeric_limits<double>::quiet_NaN();
    return std::sqrt(std::max(0.0, xy_sq)) / std::sqrt(x_sq * y_sq);
}

struct PairScores {
    double q, k, v;
};

// The three scores of h1 (earlier) composed into h2 (later).
PairScores pair_scores(const HeadGrams& h1, const HeadGrams& h2, const MatrixXd& W_Q2, const MatrixXd& W_K2,
                       const MatrixXd& W_V2) {
    PairScores s;
    s.q = score(h1.G_V, h1.W_O * W_Q2, h2.G_K, h1.ov_sq, h2.qk_sq);  // OV¹ · W_Q² W_K²ᵀ
    s.k = score(h1.G_V, h1.W_O * W_K2, h2.G_Q, h1.ov_sq, h2.qk_sq);  // OV¹ · W_K² W_Q²ᵀ
    s.v = score(h1.G_V, h1.W_O * W_V2, h2.H_O, h1.ov_sq, h2.ov_sq);  // OV¹ · W_V² W_O²
    return s;
}

// Fills m with i.i.d. N(0, 1) by the Box-Muller transform: one 64-bit draw gives two 24-bit
// uniforms, and Eigen's vectorised log/cos/sin turn them into normals (the draws dominate the
// baseline's cost otherwise).
void fill_normal(Matrix& m, std::mt19937_64& rng, Eigen::ArrayXf& u1, Eigen::ArrayXf& u2) {
    const Eigen::Index n = m.size(), half = (n + 1) / 2;
    u1.resize(half);
    u2.resize(half);
    constexpr float kUnit = 1.0f / 16777216.0f;  // 2^-24
    for (Eigen::Index i = 0; i < half; ++i) {
        const std::uint64_t x = rng();
        u1[i] = (static_cast<float>(x >> 40) + 0.5f) * kUnit;  // (0, 1): log is finite
        u2[i] = static_cast<float>((x >> 16) & 0xFFFFFF) * kUnit;
    }
    u1 = (-2.0f * u1.log()).sqrt();           // radius
    u2 *= static_cast<float>(2.0 * M_PI);     // angle
    Eigen::Map<Eigen::ArrayXf> out(m.data(), n);
    out.head(half) = u1 * u2.cos();
    out.tail(n - half) = (u1 * u2.sin()).head(n - half);
}

Baseline mean_std(const std::vector<double>& x) {
    Baseline b;
    double sum = 0.0;
    for (double v : x) sum += v;
    b.mean = sum / static_cast<double>(x.size());
    double ss = 0.0;
    for (double v : x) ss += (v - b.mean) * (v - b.mean);
    b.std = std::sqrt(ss / static_cast<double>(x.size() - 1));
    return b;
}

}  // namespace

CompositionBaselines composition_baselines(int d_model, int d_head, int samples, std::uint64_t seed, int threads) {
    if (samples < 2) throw Error("composition: baseline_samples must be >= 2, got " + std::to_string(samples));
    if (d_model < 1 || d_head < 1) throw Error("composition: d_model and d_head must be positive");
    const Eigen::Index D = d_model, d = d_head;
    // Per-worker buffers: the draws are the same shapes every time, so nothing is reallocated.
    struct Workspace {
        Matrix V1, O1, A2, O2;                         // [D, d], [d, D], [D, 3d] = [Q2 K2 V2], [d, D]
        Matrix G_V1, H_O1, G_Q2, G_K2, G_V2, H_O2;     // [d, d] Grams
        Matrix M;                                      // [d, 3d] = O1 [Q2 K2 V2]
        Matrix T1, T2;                                 // [d, d]
        Eigen::ArrayXf u1, u2;                         // uniforms for fill_normal
    };
    const int workers = parallel_workers(samples, threads);
    std::vector<Workspace> ws(static_cast<size_t>(workers));
    std::vector<double> q(static_cast<size_t>(samples)), k(q.size()), v(q.size());
    parallel_for(samples, workers, [&](int w, std::int64_t s) {
        Workspace& b = ws[static_cast<size_t>(w)];
        // Each draw depends on (seed, s) only, so the baseline is the same for any thread count.
        std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                          static_cast<std::uint32_t>(s)};
        std::mt19937_64 rng(seq);
        auto draw = [&](Matrix& m, Eigen::Index r, Eigen::Index c) {
            m.resize(r, c);
            fill_normal(m, rng, b.u1, b.u2);
        };
        draw(b.V1, D, d);
        draw(b.O1, d, D);
        draw(b.A2, D, 3 * d);
        draw(b.O2, d, D);
        const auto Q2 = b.A2.leftCols(d), K2 = b.A2.middleCols(d, d), V2 = b.A2.rightCols(d);
        // Float GEMMs: a baseline needs a few digits, not the model scores' double precision.
        b.G_V1.noalias() = b.V1.transpose() * b.V1;
        b.H_O1.noalias() = b.O1 * b.O1.transpose();
        b.G_Q2.noalias() = Q2.transpose() * Q2;
        b.G_K2.noalias() = K2.transpose() * K2;
        b.G_V2.noalias() = V2.transpose() * V2;
        b.H_O2.noalias() = b.O2 * b.O2.transpose();
        b.M.noalias() = b.O1 * b.A2;
        // Σ S ∘ T = trace(S T) for symmetric S, T.
        auto trace_sym = [](const Matrix& S, const Matrix& T) { return S.cwiseProduct(T).cast<double>().sum(); };
        const double x_sq = trace_sym(b.G_V1, b.H_O1);  // ||OV¹||²
        const double qk_sq = trace_sym(b.G_Q2, b.G_K2);  // ||QK²||²
        const double ov2_sq = trace_sym(b.G_V2, b.H_O2);  // ||OV²||²
        auto kind = [&](Eigen::Index block, const Matrix& G_B, double y_sq) {
            const auto M = b.M.middleCols(block * d, d);
            b.T1.noalias() = b.G_V1 * M;
            b.T2.noalias() = M * G_B;
            const double xy_sq = b.T1.cwiseProduct(b.T2).cast<double>().sum();
            return std::sqrt(std::max(0.0, xy_sq) / (x_sq * y_sq));
        };
        const auto us = static_cast<size_t>(s);
        q[us] = kind(0, b.G_K2, qk_sq);   // M = O1 Q2, read by K2
        k[us] = kind(1, b.G_Q2, qk_sq);   // M = O1 K2, read by Q2
        v[us] = kind(2, b.H_O2, ov2_sq);  // M = O1 V2, read by O2
    });
    return {mean_std(q), mean_std(k), mean_std(v)};
}

CompositionResult compute_composition(const Model& model, const CompositionOptions& options) {
    model.validate();  // every shape below is then the config's
    const auto& c = model.cfg;
    const int L = c.n_layers, H = c.n_heads;
    CompositionResult r;
    r.baseline_samples = options.baseline_samples;
    r.seed = options.seed;
    const CompositionBaselines b =
        composition_baselines(c.d_model, c.d_head, options.baseline_samples, options.seed, options.threads);
    r.q_baseline = b.q;
    r.k_baseline = b.k;
    r.v_baseline = b.v;
    using U = std::uint64_t;
    const std::vector<U> dims{static_cast<U>(L), static_cast<U>(H), static_cast<U>(L), static_cast<U>(H)};
    for (auto* a : {&r.q, &r.k, &r.v, &r.q_z, &r.k_z, &r.v_z}) *a = Array<float>::nan(dims);

    const int n_heads = L * H;
    std::vector<HeadGrams> grams(static_cast<size_t>(n_heads));
    std::vector<MatrixXd> W_Q(grams.size()), W_K(grams.size()), W_V(grams.size());
    parallel_for(n_heads, options.threads, [&](int, std::int64_t i) {
        const auto& a = model.blocks[static_cast<size_t>(i / H)].attn;
        const auto h = static_cast<size_t>(i % H), ui = static_cast<size_t>(i);
        grams[ui] = head_grams(a.W_Q[h], a.W_K[h], a.W_V[h], a.W_O[h]);
        W_Q[ui] = a.W_Q[h].cast<double>();
        W_K[ui] = a.W_K[h].cast<double>();
        W_V[ui] = a.W_V[h].cast<double>();
    });
    // One task per earlier head: every later head's three scores.
    parallel_for(n_heads, options.threads, [&](int, std::int64_t i1) {
        const int l1 = static_cast<int>(i1) / H, h1 = static_cast<int>(i1) % H;
        for (int i2 = (l1 + 1) * H; i2 < n_heads; ++i2) {
            const int l2 = i2 / H, h2 = i2 % H;
            const auto u2 = static_cast<size_t>(i2);
            const PairScores p = pair_scores(grams[static_cast<size_t>(i1)], grams[u2], W_Q[u2], W_K[u2], W_V[u2]);
            r.q.at({l1, h1, l2, h2}) = static_cast<float>(p.q);
            r.k.at({l1, h1, l2, h2}) = static_cast<float>(p.k);
            r.v.at({l1, h1, l2, h2}) = static_cast<float>(p.v);
            r.q_z.at({l1, h1, l2, h2}) = static_cast<float>((p.q - b.q.mean) / b.q.std);
            r.k_z.at({l1, h1, l2, h2}) = static_cast<float>((p.k - b.k.mean) / b.k.std);
            r.v_z.at({l1, h1, l2, h2}) = static_cast<float>((p.v - b.v.mean) / b.v.std);
        }
    });
    return r;
}

void write(H5Writer& w, const CompositionResult& r) {
    namespace s = schema::composition;
    const char* g = s::group;
    w.create_group(g);
    w.attr(g, s::attr::definition,
           "||X Y||_F / (||X||_F ||Y||_F), X = OV[l1,h1]; q: Y = QK[l2,h2], k: Y = QK[l2,h2]^T, v: Y = OV[l2,h2]; "
           "indexed [l1, h1, l2, h2], NaN unless l1 < l2");
    w.attr(g, s::attr::baseline,
           "i.i.d. N(0, 1) factors of this model's shapes; z = (score - baseline_mean) / baseline_std");
    w.attr(g, s::attr::baseline_samples, r.baseline_samples);
    w.attr(g, s::attr::baseline_seed, static_cast<std::int64_t>(r.seed));
    const std::pair<s::Kind, const Baseline*> kinds[] = {
        {s::q, &r.q_baseline}, {s::k, &r.k_baseline}, {s::v, &r.v_baseline}};
    for (const auto& [kind, b] : kinds) {
        w.attr(g, kind.baseline_mean, b->mean);
        w.attr(g, kind.baseline_std, b->std);
    }
    w.write(s::q.raw, r.q);
    w.write(s::k.raw, r.k);
    w.write(s::v.raw, r.v);
    w.write(s::q.z, r.q_z);
    w.write(s::k.z, r.k_z);
    w.write(s::v.z, r.v_z);
}

}  // namespace circuits::analyses
