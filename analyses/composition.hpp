// The composition pass: Q-, K- and V-composition scores of every head pair across layers, with the
// random-matrix baseline for this model's shapes.
#pragma once

#include <cstdint>

#include "analyses/defaults.hpp"
#include "analyses/results.hpp"
#include "lib/model.hpp"

namespace circuits::analyses {

struct CompositionOptions {
    int baseline_samples = defaults::baseline_samples;  // random factor draws for the baseline (>= 2)
    std::uint64_t seed = defaults::seed;  // the baseline draws are a function of (seed, sample index) only
    int threads = 0;                      // 0 = hardware concurrency
};

// Mean and standard deviation of a score over random factors.
struct Baseline {
    double mean = 0.0;
    double std = 0.0;
};

// For the earlier head h1 (layer l1) and the later head h2 (layer l2 > l1), with OV = W_V W_O and
// QK = W_Q W_Kᵀ (both [d_model, d_model]):
//   score(X, Y) = ||X Y||_F / (||X||_F ||Y||_F)
//   q: X = OV¹, Y = QK²      k: X = OV¹, Y = (QK²)ᵀ      v: X = OV¹, Y = OV²
// computed on the factors through d_head × d_head Gram matrices, e.g.
//   ||W_V¹ W_O¹ W_Q² W_K²ᵀ||² = trace(Mᵀ (W_V¹ᵀ W_V¹) M (W_K²ᵀ W_K²)),  M = W_O¹ W_Q².
// Pairs with l1 >= l2 are NaN. The baseline draws every factor i.i.d. N(0, 1) with this model's
// shapes; z = (score - mean) / std.
struct CompositionResult {
    int baseline_samples = 0;
    std::uint64_t seed = 0;
    Array<float> q, k, v;        // [L, H, L, H] raw scores, [l1, h1, l2, h2]
    Array<float> q_z, k_z, v_z;  // [L, H, L, H]
    Baseline q_baseline, k_baseline, v_baseline;
};

// Throws Error for baseline_samples < 2 or an inconsistent model (Model::validate).
CompositionResult compute_composition(const Model& model, const CompositionOptions& options = {});

// The three baselines alone: d_model × d_head factors, `samples` draws from `seed`.
struct CompositionBaselines {
    Baseline q, k, v;
};
CompositionBaselines composition_baselines(int d_model, int d_head, int samples, std::uint64_t seed, int threads = 0);

// Writes /composition/{q,k,v} and /composition/{q,k,v}_z, with the attributes
// {q,k,v}_baseline_mean, {q,k,v}_baseline_std, baseline_samples, baseline_seed, definition.
void write(H5Writer& w, const CompositionResult& r);

}  // namespace circuits::analyses
