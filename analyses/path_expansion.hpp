// Path expansion: the logits of an attention-only model as a sum of end-to-end paths (direct, single
// heads, virtual heads = chains of heads in increasing layers), each term's token-space circuit
// measured on its factors, the expanded QK terms of every head, and term importance by ablation.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "analyses/defaults.hpp"
#include "analyses/eigen.hpp"
#include "analyses/embedding_grams.hpp"
#include "analyses/results.hpp"
#include "lib/model.hpp"

namespace circuits::analyses {

struct PathExpansionOptions {
    int max_order = defaults::max_order;  // K: the longest chain of heads expanded
    int threads = 0;                      // 0 = hardware concurrency
    // Token sequences for the ablation (token indices, BOS included where wanted). Empty: the induction
    // probe drawn with the probe_* parameters below.
    std::vector<std::vector<int>> tokens;
    std::string tokens_source;  // recorded in the results: a file name, or empty for the probe
    int probe_length = defaults::probe_length;
    int probe_repeats = defaults::probe_repeats;
    int probe_sequences = defaults::probe_sequences;
    std::uint64_t seed = defaults::seed;
    // Called with "terms" when the weight-based terms are done and "ablation" when the ablation by
    // order is, so that a caller can time the two apart (only the ablation touches d_vocab-sized data).
    std::function<void(const std::string& step)> on_step;
};

// One path term of order >= 3: its chain of heads (earliest first) and its circuit's statistics.
struct PathChain {
    std::vector<std::pair<int, int>> heads;  // (layer, head), layers strictly increasing
    double norm = 0.0;                       // ||W_E OV^{h1} ... OV^{hk} W_U||_F
    double copying = 0.0;                    // copying score, NaN when undefined
};

struct PathExpansionResult {
    int max_order = 2;
    // Token-space OV-side terms T = W_E [OV chain] W_U [d_vocab, d_vocab_out]: Frobenius norms and copying
    // scores sum(λ)/sum(|λ|) (NaN unless the output vocabulary is the input one, or the term is zero).
    double direct_norm = 0.0;                    // ||W_E W_U||_F
    double direct_copying = 0.0;                 // /eigen's direct_copying (the same circuit)
    Matrix head_norm, head_copying;              // [L, H]: W_E OV^h W_U; head_copying is /eigen/ov_copying
    Array<float> virtual_norm, virtual_copying;  // [L, H, L, H]: W_E OV^{h1} OV^{h2} W_U, NaN unless l1 < l2
    std::vector<std::vector<PathChain>> chains;  // chains[k - 3]: every term of order k = 3..max_order
    // Expanded QK terms of head h [d_vocab, d_vocab], attention logits (divided by attn_scale), token
    // embedding only (positional terms excluded): query and key each direct or through an earlier head.
    Matrix qk_direct_norm, qk_direct_copying;  // [L, H]: W_E QK^h W_E^T; qk_direct_copying is /eigen/qk_copying
    Array<float> qk_q_norm, qk_q_copying;      // [Lq, Hq, L, H]: W_E OV^q QK^h W_E^T (Q-composition)
    Array<float> qk_k_norm, qk_k_copying;      // [Lk, Hk, L, H]: W_E QK^h (W_E OV^k)^T (K-composition)
    Array<float> qk_qk_norm;                   // [Lq, Hq, Lk, Hk, L, H]: W_E OV^q QK^h (W_E OV^k)^T
    // Ablation on a token set: order_loss[k] = L_k, mean next-token cross-entropy (nats) of run k (run 0:
    // every head's output removed; run k: value inputs from run k-1's residual stream, patterns frozen
    // to the real run's). order_loss_repeated: the same over the probe's positions whose next token is
    // in a repeat >= 2 (filled only for the probe). real_loss: the unmodified model. All empty (real_loss
    // NaN, loss_positions 0) when no next token of the token set is in the output vocabulary.
    std::vector<double> order_loss, order_loss_repeated;
    double real_loss = 0.0, real_loss_repeated = 0.0;
    int loss_positions = 0;
    std::string tokens_source;
};

// Computes every term. `grams` are the model's embedding Gram matrices (computed when not given);
// `eigen` the eigen pass's result for the model, whose copying scores of the direct path and of each
// head's OV and QK circuits are those terms' copying scores (computed by compute_eigen when nullptr),
// so each is computed once per run. The chains' and composed QK terms' copying scores go through the
// same scoring function, copying_score_of_eigenvalues. Throws Error when a token sequence is empty,
// too long or holds an index outside the vocabulary.
PathExpansionResult compute_path_expansion(const Model& model, const PathExpansionOptions& options);
PathExpansionResult compute_path_expansion(const Model& model, const PathExpansionOptions& options, const EmbeddingGrams& grams,
                                   const EigenResult* eigen = nullptr);

// Reads a token set: one sequence per line, token strings separated by white space, blank lines and
// lines starting with '#' skipped; the model's BOS token is prepended when it has one. Throws Error
// naming the file and line for an unknown token or a sequence longer than n_ctx.
std::vector<std::vector<int>> read_token_file(const Model& model, const std::string& path);

// Writes group /path: direct_norm, direct_copying (scalars), head_*, virtual_*, order{k}_* for k >= 3,
// qk_*, order_loss [K+1] and what the terms include, as attributes.
void write(H5Writer& w, const PathExpansionResult& r);

}  // namespace circuits::analyses
