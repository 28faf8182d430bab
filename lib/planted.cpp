// Hand-built weights for a previous-token + induction head pair (see planted.hpp).
#include "lib/planted.hpp"

#include "lib/error.hpp"

#include <cmath>
#include <random>
#include <string>

namespace circuits {

Model planted_induction_model(const PlantedInductionOptions& o) {
    if (o.n_tokens < 2 || o.n_tokens > 26 * 26) throw Error("planted: n_tokens must be in [2, 676]");
    if (o.n_ctx < 4) throw Error("planted: n_ctx must be at least 4");
    const int V = o.n_tokens + 1;  // with BOS
    // Residual layout: [one | tok (V) | pos (n_ctx) | prev (V) | out (V)]
    const int one = 0, tok = 1, pos = tok + V, prev = pos + o.n_ctx, out = prev + V, D = out + V;
    const int dh = std::max(o.n_ctx, V + 1);

    ModelConfig c;
    c.n_layers = 2;
    c.n_heads = 2;
    c.d_model = D;
    c.d_head = dh;
    c.d_vocab = V;
    c.d_vocab_out = V;
    c.n_ctx = o.n_ctx;
    c.positional_embedding_type = PositionalEmbedding::standard;
    c.normalization_type = Normalization::none;
    c.causal = true;
    c.origin = Origin::imported;
    c.bos_token = 0;
    Model m = Model::zeros(c);

    m.vocab.assign(1, "<BOS>");
    for (int t = 0; t < o.n_tokens; ++t) {
        std::string s;
        if (o.n_tokens <= 26) s = std::string(1, static_cast<char>('a' + t));
        else s = std::string(1, static_cast<char>('a' + t / 26)) + static_cast<char>('a' + t % 26);
        m.vocab.push_back(s);
    }
    m.vocab_out = m.vocab;
    m.residual_labels.assign(static_cast<size_t>(D), "");
    m.residual_labels[one] = "one";
    for (int t = 0; t < V; ++t) {
        m.residual_labels[static_cast<size_t>(tok + t)] = "tok:" + m.vocab[static_cast<size_t>(t)];
        m.residual_labels[static_cast<size_t>(prev + t)] = "prev:" + m.vocab[static_cast<size_t>(t)];
        m.residual_labels[static_cast<size_t>(out + t)] = "out:" + m.vocab[static_cast<size_t>(t)];
    }
    for (int p = 0; p < o.n_ctx; ++p) m.residual_labels[static_cast<size_t>(pos + p)] = "pos:" + std::to_string(p);

    for (int t = 0; t < V; ++t) {
        m.W_E(t, one) = 1.0f;
        m.W_E(t, tok + t) = 1.0f;
    }
    for (int p = 0; p < o.n_ctx; ++p) m.W_pos(p, pos + p) = 1.0f;
    // A match scores `sharpness` after the model's own 1/sqrt(d_head) scaling.
    const float c_match = static_cast<float>(o.sharpness * std::sqrt(static_cast<double>(dh)));

    // L0H0, previous-token head: q_i . k_j = c [j == i - 1]; OV: tok:t -> prev:t.
    auto& h00 = m.blocks[0].attn;
    for (int p = 0; p < o.n_ctx; ++p) {
        h00.W_Q[0](pos + p, p) = c_match;
        if (p + 1 < dh) h00.W_K[0](pos + p, p + 1) = 1.0f;
    }
    for (int t = 1; t < V; ++t) {
        h00.W_V[0](tok + t, t) = 1.0f;
        h00.W_O[0](t, prev + t) = 1.0f;
    }

    // L1H0, induction head: query tok:t matches key prev:t; every query gives BOS half a match so
    // that a token with no earlier occurrence attends to BOS. OV: tok:t -> out:t (BOS writes nothing).
    auto& h10 = m.blocks[1].attn;
    const int bos_slot = V;  // d_head index for the BOS default
    for (int t = 1; t < V; ++t) {
        h10.W_Q[0](tok + t, t) = c_match;
        h10.W_K[0](prev + t, t) = 1.0f;
    }
    h10.W_Q[0](one, bos_slot) = c_match / 2.0f;
    h10.W_K[0](tok + 0, bos_slot) = 1.0f;
    for (int t = 1; t < V; ++t) {
        h10.W_V[0](tok + t, t) = 1.0f;
        h10.W_O[0](t, out + t) = 1.0f;
    }

    // Unembedding reads out:t into token t.
    for (int t = 0; t < V; ++t) m.W_U(out + t, t) = static_cast<float>(o.unembed_scale);

    // The unplanted heads: Gaussian weights, fixed seed, small writes.
    std::mt19937_64 rng(o.seed);
    std::normal_distribution<float> qkv(0.0f, static_cast<float>(o.noise_heads_std));
    std::normal_distribution<float> w_o(0.0f, static_cast<float>(o.noise_heads_std / 10.0));
    for (int l = 0; l < 2; ++l) {
        auto& a = m.blocks[static_cast<size_t>(l)].attn;
        for (auto* w : {&a.W_Q[1], &a.W_K[1], &a.W_V[1]})
            for (Eigen::Index i = 0; i < w->size(); ++i) w->data()[i] = qkv(rng);
        for (Eigen::Index i = 0; i < a.W_O[1].size(); ++i) a.W_O[1].data()[i] = w_o(rng);
    }
    m.validate();
    return m;
}

}  // namespace circuits
