// Random models for numerics tests.
#include "tests/test_util.hpp"

namespace circuits::test {

ModelConfig small_config(PositionalEmbedding pos, Normalization norm, int d_mlp) {
    ModelConfig c;
    c.n_layers = 2;
    c.n_heads = 3;
    c.d_model = 12;
    c.d_head = 4;
    c.d_vocab = 11;
    c.d_vocab_out = 7;
    c.n_ctx = 9;
    c.d_mlp = d_mlp;
    c.positional_embedding_type = pos;
    c.normalization_type = norm;
    return c;
}

Model random_model(const ModelConfig& cfg, unsigned seed) {
    std::mt19937 rng(seed);
    Model m = Model::zeros(cfg);
    auto fill = [&](auto& t, float std) {
        std::normal_distribution<float> d(0.0f, std);
        for (Eigen::Index i = 0; i < t.size(); ++i) t.data()[i] = d(rng);
    };
    fill(m.W_E, 1.0f);
    if (cfg.has_positions()) fill(m.W_pos, 0.5f);
    for (auto& b : m.blocks) {
        if (cfg.has_ln_weights()) {
            fill(b.ln1.w, 0.3f);
            b.ln1.w.array() += 1.0f;
            fill(b.ln1.b, 0.1f);
        }
        for (int h = 0; h < cfg.n_heads; ++h) {
            const auto uh = static_cast<size_t>(h);
            fill(b.attn.W_Q[uh], 0.5f);
            fill(b.attn.W_K[uh], 0.5f);
            fill(b.attn.W_V[uh], 0.5f);
            fill(b.attn.W_O[uh], 0.5f);
            fill(b.attn.b_Q[uh], 0.1f);
            fill(b.attn.b_K[uh], 0.1f);
            fill(b.attn.b_V[uh], 0.1f);
        }
        fill(b.attn.b_O, 0.1f);
        if (cfg.has_mlp()) {
            if (cfg.has_ln_weights()) {
                fill(b.ln2.w, 0.3f);
                b.ln2.w.array() += 1.0f;
                fill(b.ln2.b, 0.1f);
            }
            fill(b.mlp.W_in, 0.5f);
            fill(b.mlp.b_in, 0.1f);
            fill(b.mlp.W_out, 0.5f);
            fill(b.mlp.b_out, 0.1f);
        }
    }
    if (cfg.has_ln_weights()) {
        fill(m.ln_final.w, 0.3f);
        m.ln_final.w.array() += 1.0f;
        fill(m.ln_final.b, 0.1f);
    }
    fill(m.W_U, 0.5f);
    fill(m.b_U, 0.1f);
    return m;
}

}  // namespace circuits::test
