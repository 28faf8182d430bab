// Induction heads: the repeated-random-sequence probe (previous-token, duplicate-token, induction and
// copying scores per head), the weight-based evidence (K-composition with previous-token heads, OV
// copying) and the classification of induction, previous-token and copying heads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analyses/defaults.hpp"
#include "analyses/embedding_grams.hpp"
#include "analyses/results.hpp"
#include "lib/model.hpp"
#include "lib/probe.hpp"

namespace circuits::analyses {

struct InductionOptions {
    int probe_length =
        defaults::probe_length;  // n: distinct random tokens per repeat (shrunk to fit n_ctx after the repeats)
    int probe_repeats = defaults::probe_repeats;  // R: times the random block is repeated (reduced first to fit n_ctx)
    int probe_sequences = defaults::probe_sequences;               // sequences averaged over
    std::uint64_t seed = defaults::seed;                           // seed of the probe's random tokens
    double induction_threshold = defaults::induction_threshold;    // induction head: induction score >= this ...
    double ov_copying_threshold = 0.0;                             // ... and OV copying score > this
    double prev_token_threshold = defaults::prev_token_threshold;  // previous-token head: previous-token score >= this
    double copying_threshold = defaults::copying_threshold;  // copying head: OV copying >= this and copying_eval > 0
    int threads = 0;                                         // 0 = hardware concurrency
};

struct InductionResult {
    InductionOptions options;  // as used (probe_length is the n actually used)
    bool probe_without_replacement = true;
    int n_positions = 0;  // scored positions (repeats >= 2) over all sequences
    // Behavioural scores [L, H] on the repeated probe (lib/probe.hpp), as lib/head_scores.hpp defines
    // them: means over positions i in repeats >= 2 of every probe sequence.
    Matrix prev_token;       // A[i, i-1]
    Matrix duplicate_token;  // sum of A[i, j] over earlier-repeat positions j with the same token
    Matrix induction;        // sum of A[i, j+1] over the same j (prefix matching)
    Matrix copying_eval;     // see induction.cpp; NaN where the head has no direct effect on the logits
    // Weight-based evidence [L, H].
    Matrix ov_copying;   // /eigen/ov_copying (compute_ov_copying): W_E OV W_U over the shared tokens, NaN if none
    Matrix mechanistic;  // sum over earlier heads p of prev_token[p] * k_composition_trace[p, h]
    // [L, H, L, H] (earlier head p first, then h): trace(M) / (sqrt(d_vocab) ||M||_F) with
    // M = W_E QK^h (W_E OV^p)^T, the cosine between M and the identity; NaN unless l_p < l_h.
    Array<float> k_composition_trace;
    // Classification [L, H], 0/1.
    Array<std::uint8_t> is_induction_head;
    Array<std::uint8_t> is_prev_token_head;
    Array<std::uint8_t> is_copying_head;
};

// Runs the probe through the real forward pass of `model` and computes every score. `grams` are the
// model's embedding Gram matrices (computed when not given).
InductionResult compute_induction(const Model& model, const InductionOptions& options);
// `ov_copying` [L, H]: /eigen's OV copying scores of the same model when the eigen pass of the run
// already computed them (PassContext::ov_copying), so they are computed once per run; nullptr computes
// them here by the same function (compute_ov_copying).
InductionResult compute_induction(const Model& model, const InductionOptions& options, const EmbeddingGrams& grams,
                          const Array<float>* ov_copying = nullptr);

// Writes group /induction: the [L, H] scores, is_* (uint8), k_composition_trace, thresholds and probe
// parameters as attributes.
void write(H5Writer& w, const InductionResult& r);

}  // namespace circuits::analyses
