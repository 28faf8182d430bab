// Hand-built weights for a previous-token + induction head pair (see planted.hpp).
#include "lib/planted.hpp"

#include <cmath>
#include <random>
#include <string>

#include "lib/error.hpp"

namespace circuits {

namespace {

// Where each named subspace of the residual stream starts:
// [one | tok (V) | pos (n_ctx) | prev (V) | out (V)], and the head width that fits every match.
struct Layout {
    int V, n_ctx, one, tok, pos, prev, out, D, dh;

    explicit Layout(const PlantedInductionOptions& o)
        : V(o.n_tokens + 1),  // with BOS
          n_ctx(o.n_ctx),
          one(0),
          tok(1),
          pos(tok + V),
          prev(pos + n_ctx),
          out(prev + V),
          D(out + V),
          dh(std::max(n_ctx, V + 1)) {}
};

ModelConfig planted_config(const Layout& L) {
    ModelConfig c;
    c.n_layers = 2;
    c.n_heads = 2;
    c.d_model = L.D;
    c.d_head = L.dh;
    c.d_vocab = L.V;
    c.d_vocab_out = L.V;
    c.n_ctx = L.n_ctx;
    c.positional_embedding_type = PositionalEmbedding::standard;
    c.normalization_type = Normalization::none;
    c.causal = true;
    c.origin = Origin::imported;
    c.bos_token = 0;
    return c;
}

// Tokens "a".."z" (or "aa".."zz" past 26) after BOS, and a label for every residual dimension.
void name_tokens_and_residual(Model& m, const Layout& L, int n_tokens) {
    m.vocab.assign(1, "<BOS>");
    for (int t = 0; t < n_tokens; ++t) {
        std::string s;
        if (n_tokens <= 26)
            s = std::string(1, static_cast<char>('a' + t));
        else
            s = std::string(1, static_cast<char>('a' + t / 26)) + static_cast<char>('a' + t % 26);
        m.vocab.push_back(s);
    }
    m.vocab_out = m.vocab;
    m.residual_labels.assign(static_cast<size_t>(L.D), "");
    m.residual_labels[static_cast<size_t>(L.one)] = "one";
    for (int t = 0; t < L.V; ++t) {
        m.residual_labels[static_cast<size_t>(L.tok + t)] = "tok:" + m.vocab[static_cast<size_t>(t)];
        m.residual_labels[static_cast<size_t>(L.prev + t)] = "prev:" + m.vocab[static_cast<size_t>(t)];
        m.residual_labels[static_cast<size_t>(L.out + t)] = "out:" + m.vocab[static_cast<size_t>(t)];
    }
    for (int p = 0; p < L.n_ctx; ++p) m.residual_labels[static_cast<size_t>(L.pos + p)] = "pos:" + std::to_string(p);
}

// One-hot token and position embeddings, plus the constant "one" direction.
void plant_embeddings(Model& m, const Layout& L) {
    for (int t = 0; t < L.V; ++t) {
        m.W_E(t, L.one) = 1.0f;
        m.W_E(t, L.tok + t) = 1.0f;
    }
    for (int p = 0; p < L.n_ctx; ++p) m.W_pos(p, L.pos + p) = 1.0f;
}

// L0H0, previous-token head: q_i . k_j = c [j == i - 1]; OV: tok:t -> prev:t.
void plant_previous_token_head(AttentionWeights& h, const Layout& L, float c_match) {
    for (int p = 0; p < L.n_ctx; ++p) {
        h.W_Q[0](L.pos + p, p) = c_match;
        if (p + 1 < L.dh) h.W_K[0](L.pos + p, p + 1) = 1.0f;
    }
    for (int t = 1; t < L.V; ++t) {
        h.W_V[0](L.tok + t, t) = 1.0f;
        h.W_O[0](t, L.prev + t) = 1.0f;
    }
}

// L1H0, induction head: query tok:t matches key prev:t; every query gives BOS half a match so
// that a token with no earlier occurrence attends to BOS. OV: tok:t -> out:t (BOS writes nothing).
void plant_induction_head(AttentionWeights& h, const Layout& L, float c_match) {
    const int bos_slot = L.V;  // d_head index for the BOS default
    for (int t = 1; t < L.V; ++t) {
        h.W_Q[0](L.tok + t, t) = c_match;
        h.W_K[0](L.prev + t, t) = 1.0f;
    }
    h.W_Q[0](L.one, bos_slot) = c_match / 2.0f;
    h.W_K[0](L.tok + 0, bos_slot) = 1.0f;
    for (int t = 1; t < L.V; ++t) {
        h.W_V[0](L.tok + t, t) = 1.0f;
        h.W_O[0](t, L.out + t) = 1.0f;
    }
}

// The unplanted heads (head 1 of each layer): Gaussian weights, fixed seed, small writes. The draw
// order (layer, then W_Q, W_K, W_V, W_O) fixes the bytes of data/models/planted-2l.h5.
void add_noise_heads(Model& m, const PlantedInductionOptions& o) {
    std::mt19937_64 rng(o.seed);
    std::normal_distribution<float> qkv(0.0f, static_cast<float>(o.noise_heads_std));
    std::normal_distribution<float> w_o(0.0f, static_cast<float>(o.noise_heads_std / 10.0));
    for (int l = 0; l < 2; ++l) {
        auto& a = m.blocks[static_cast<size_t>(l)].attn;
        for (auto* w : {&a.W_Q[1], &a.W_K[1], &a.W_V[1]})
            for (Eigen::Index i = 0; i < w->size(); ++i) w->data()[i] = qkv(rng);
        for (Eigen::Index i = 0; i < a.W_O[1].size(); ++i) a.W_O[1].data()[i] = w_o(rng);
    }
}

}  // namespace

Model planted_induction_model(const PlantedInductionOptions& o) {
    if (o.n_tokens < 2 || o.n_tokens > 26 * 26) throw Error("planted: n_tokens must be in [2, 676]");
    if (o.n_ctx < 4) throw Error("planted: n_ctx must be at least 4");
    const Layout L(o);
    Model m = Model::zeros(planted_config(L));
    name_tokens_and_residual(m, L, o.n_tokens);
    plant_embeddings(m, L);
    // A match scores `sharpness` after the model's own 1/sqrt(d_head) scaling.
    const float c_match = static_cast<float>(o.sharpness * std::sqrt(static_cast<double>(L.dh)));
    plant_previous_token_head(m.blocks[0].attn, L, c_match);
    plant_induction_head(m.blocks[1].attn, L, c_match);
    // Unembedding reads out:t into token t.
    for (int t = 0; t < L.V; ++t) m.W_U(L.out + t, t) = static_cast<float>(o.unembed_scale);
    add_noise_heads(m, o);
    m.validate();
    return m;
}

}  // namespace circuits
