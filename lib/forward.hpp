// The forward pass: a token sequence -> logits, attention patterns and the residual stream, with hooks.
#pragma once

#include "lib/model.hpp"

#include <utility>
#include <vector>

namespace circuits {

// Interventions on one forward pass. Empty members mean "no intervention".
struct ForwardHooks {
    // (layer, head) pairs whose output is removed (contributes nothing to the residual stream).
    std::vector<std::pair<int, int>> ablated_heads;
    // [layer][head] -> [T, T] attention pattern used instead of the computed one. A layer with an
    // empty vector, or a head with an empty matrix, is computed as usual.
    std::vector<std::vector<Matrix>> frozen_patterns;
    // [layer] -> [T, d_model] residual stream read by that layer's value input (before ln1) instead
    // of the real one. An empty matrix leaves the layer as it is.
    std::vector<Matrix> value_inputs;
};

struct ForwardResult {
    Matrix logits;                              // [T, d_vocab_out]
    std::vector<std::vector<Matrix>> patterns;  // [layer][head] -> [T query, T key], rows sum to 1
    // resid_pre[l]: the input of layer l, l = 0..n_layers; resid_pre[n_layers] is the final stream.
    std::vector<Matrix> resid_pre;  // each [T, d_model]
    // resid_mid[l]: after layer l's attention, before its MLP (equal to resid_pre[l+1] without MLPs).
    std::vector<Matrix> resid_mid;  // each [T, d_model]
    // head_out[l][h]: head h's contribution z W_O[h] to the residual stream, [T, d_model]
    // (bias b_O not included); filled only when asked for.
    std::vector<std::vector<Matrix>> head_out;
};

struct ForwardOptions {
    bool keep_head_outputs = false;
    // false: ForwardResult::logits is left empty, for callers that unembed many runs at once
    // (final_normalised(model, resid_pre.back()) * W_U + b_U).
    bool logits = true;
};

// The final residual stream [T, d_model] as W_U reads it: through ln_final (LN: scaled and shifted;
// LNPre: normalised only; none: as it is).
Matrix final_normalised(const Model& model, const Matrix& resid);

// Runs `tokens` (indices into the vocabulary, length <= n_ctx) through `model`.
// Throws Error for an empty or too long sequence, an out-of-range token, or hooks of the wrong shape.
ForwardResult forward(const Model& model, const std::vector<int>& tokens, const ForwardHooks& hooks = {},
                      const ForwardOptions& options = {});

// Runs several sequences, spread over `threads` threads (0 = hardware concurrency).
std::vector<ForwardResult> forward_batch(const Model& model, const std::vector<std::vector<int>>& batch,
                                         int threads = 0, const ForwardOptions& options = {});

// The input a sub-layer reads from the residual stream x [T, d_model] through its LayerNorm `ln`
// (LN: ln(x) * w + b; LNPre: ln(x); none: x). The one LayerNorm application: the forward pass and the
// passes that re-read a layer's input use it.
Matrix normalise(const Model& model, const Matrix& x, const LayerNormWeights& ln);

// Layer normalisation of each row of x [T, d_model]: (x - mean) / sqrt(var + eps), var biased.
Matrix layer_norm_rows(const Matrix& x, double eps);

}  // namespace circuits
