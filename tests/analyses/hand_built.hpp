// Hand-built one-layer models with known token circuits, shared by the analysis-pass tests.
#pragma once

#include "lib/model.hpp"

namespace circuits::test {

// One layer, three heads, d_vocab = d_vocab_out = d_model = d_head = n, no positions, W_E = W_U = I:
//   head 0: OV = I (copies its source token), QK = I / s (attends to the same token);
//   head 1: OV = -I (suppresses its source token), QK = -I / s;
//   head 2: OV = the cyclic shift t -> t + 1 (writes the next token; eigenvalues: the n-th roots of
//           unity, copying score 0), QK = 0.
inline Model copying_heads_model(int n = 8) {
    ModelConfig c;
    c.n_layers = 1;
    c.n_heads = 3;
    c.d_model = n;
    c.d_head = n;
    c.d_vocab = n;
    c.d_vocab_out = n;
    c.n_ctx = 8;
    c.positional_embedding_type = PositionalEmbedding::none;
    Model m = Model::zeros(c);
    const Matrix I = Matrix::Identity(n, n);
    m.W_E = I;
    m.W_U = I;
    auto& a = m.blocks[0].attn;
    a.W_V[0] = I;
    a.W_O[0] = I;
    a.W_Q[0] = I;
    a.W_K[0] = I;
    a.W_V[1] = I;
    a.W_O[1] = -I;
    a.W_Q[1] = I;
    a.W_K[1] = -I;
    for (int t = 0; t < n; ++t) a.W_V[2](t, (t + 1) % n) = 1.0f;
    a.W_O[2] = I;
    m.validate();
    return m;
}

}  // namespace circuits::test
