// The bigram pass: the direct path W_E W_U (+ b_U), top output tokens per input token.
#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "analyses/defaults.hpp"
#include "analyses/results.hpp"
#include "lib/model.hpp"
#include "lib/topk_engine.hpp"

namespace circuits::analyses {

struct BigramOptions {
    int top_k = defaults::top_k;
    // Add the unembedding bias, so that a zero-layer model's table is its actual logits.
    bool include_b_U = true;
    int threads = 0;                      // 0 = hardware concurrency
    TopKMode mode = TopKMode::automatic;  // how the engine computes the product (never changes a result)
};

// The direct path [d_vocab, d_vocab_out] = W_E W_U (+ b_U) reduced to its top_k entries per row.
// Token embedding only: neither positional embeddings (standard or shortformer) nor any head.
struct BigramResult {
    int top_k = 0;  // entries per row actually kept: min(requested, d_vocab_out)
    bool include_b_U = true;
    Array<std::int64_t> top_tokens;  // [d_vocab, top_k] output token, largest logit first
    Array<float> top_logits;         // [d_vocab, top_k]
    TopKStats stats;                 // how the engine computed it
};

// Throws Error for top_k < 1 or an inconsistent model (Model::validate).
BigramResult compute_bigram(const Model& model, const BigramOptions& options = {});

// Writes /bigram/top_tokens, /bigram/top_logits and the group attributes top_k, includes_b_U, terms.
void write(H5Writer& w, const BigramResult& r);

}  // namespace circuits::analyses
