// The circuits pass: per-head token QK and OV circuits over the full vocabulary (top entries, skip-
// trigrams, diagonal statistics) and the positional QK circuit.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <string>

#include "analyses/defaults.hpp"
#include "analyses/results.hpp"
#include "lib/model.hpp"
#include "lib/topk_engine.hpp"

namespace circuits::analyses {

struct CircuitsOptions {
    int top_k = defaults::top_k;
    int n_positions = 0;             // P of qk_pos; 0 = min(n_ctx, 32)
    int threads = 0;                 // 0 = hardware concurrency
    TopKMode mode = TopKMode::automatic;  // how the engine computes each circuit (never changes a result)
};

// Per head h of layer l, with s = attn_scale:
//   OV [d_vocab, d_vocab_out] = (W_E W_V)(W_O W_U): [source token, output token]
//   QK [d_vocab, d_vocab]     = (W_E W_Q)(W_E W_K)ᵀ / s: [query token, key token]
// Token terms only: no biases, no positional terms (for standard positions, the OV circuit's
// W_pos term and QK's token-position cross terms are left out). Each circuit is computed in tiles
// of its factored form and reduced on the fly by the top-k engine (lib/topk_engine.hpp), which
// computes exactly only the entries its bounds cannot decide; d_vocab² is never held.
//
// Skip-trigrams "[source] ... [destination] -> [output]": for source (key) token s the destinations
// are the top query tokens of column s of QK (skip_trigram_dest_*), the outputs are row s of OV
// (ov_top_*).
struct CircuitsResult {
    int top_k = 0;                                 // as requested; a dimension of fewer tokens keeps all of them
    int n_positions = 0;                           // P
    double attn_scale = 0;                         // s
    bool diagonal_defined = false;                 // OV diagonal statistics need the output vocabulary = input one
    bool has_positions = false;                    // false: qk_pos is NaN (positional_embedding_type none)
    Array<std::int64_t> ov_top_tokens;             // [L, H, d_vocab, k_ov] top output tokens per source token
    Array<float> ov_top_values;                    // [L, H, d_vocab, k_ov], k_ov = min(top_k, d_vocab_out)
    Array<std::int64_t> qk_top_tokens;             // [L, H, d_vocab, k_qk] top key tokens per query token
    Array<float> qk_top_values;                    // [L, H, d_vocab, k_qk], k_qk = min(top_k, d_vocab)
    Array<std::int64_t> skip_trigram_dest_tokens;  // [L, H, d_vocab, k_qk] top query tokens per key token
    Array<float> skip_trigram_dest_values;         // [L, H, d_vocab, k_qk]
    Array<float> ov_diag_top1;                     // [L, H] share of source tokens whose top OV output is themselves
    Array<float> ov_diag_rank_mean;                // [L, H] mean position of the token itself in its OV row (0 = top)
    Array<float> qk_diag_top1;                     // [L, H] share of query tokens whose top key is themselves
    Array<float> qk_diag_rank_mean;                // [L, H] mean position of the token itself in its QK row (0 = top)
    Array<float> qk_pos;                           // [L, H, P, P] (W_pos W_Q)(W_pos W_K)ᵀ / s, first P positions
    double entries = 0;                            // entries of every OV and QK circuit together
    double exact_entries = 0;                      // of which the engine computed at full inner depth
    int bounded_circuits = 0;                      // circuits the engine took on its bounded path
};

// Throws Error for top_k < 1, n_positions outside [0, n_ctx], or an inconsistent model
// (Model::validate).
CircuitsResult compute_circuits(const Model& model, const CircuitsOptions& options = {});

// Writes /circuits/<every array above> and the group attributes top_k, n_positions, attn_scale,
// ov_terms, qk_terms, qk_pos_terms, diagonal (why OV diagonal statistics are NaN, when they are),
// exact_share (entries computed exactly / entries) and bounded_circuits.
void write(H5Writer& w, const CircuitsResult& r);

}  // namespace circuits::analyses
