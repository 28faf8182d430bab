// Model construction, validation and bookkeeping.
#include "lib/model.hpp"

#include "lib/error.hpp"

#include <cmath>
#include <sstream>

namespace circuits {

std::string to_string(PositionalEmbedding p) {
    switch (p) {
        case PositionalEmbedding::standard: return "standard";
        case PositionalEmbedding::shortformer: return "shortformer";
        case PositionalEmbedding::none: return "none";
    }
    return "?";
}

std::string to_string(Normalization n) {
    switch (n) {
        case Normalization::none: return "none";
        case Normalization::LN: return "LN";
        case Normalization::LNPre: return "LNPre";
    }
    return "?";
}

PositionalEmbedding parse_positional_embedding(const std::string& s) {
    if (s == "standard") return PositionalEmbedding::standard;
    if (s == "shortformer") return PositionalEmbedding::shortformer;
    if (s == "none" || s == "rotary_none") return PositionalEmbedding::none;
    throw Error("unknown positional_embedding_type '" + s + "' (expected standard, shortformer or none)");
}

Normalization parse_normalization(const std::string& s) {
    if (s == "none" || s == "None" || s.empty()) return Normalization::none;
    if (s == "LN") return Normalization::LN;
    if (s == "LNPre") return Normalization::LNPre;
    throw Error("unknown normalization_type '" + s + "' (expected none, LN or LNPre)");
}

double ModelConfig::effective_attn_scale() const {
    return attn_scale > 0.0 ? attn_scale : std::sqrt(static_cast<double>(d_head));
}

void ModelConfig::validate() const {
    auto positive = [](const char* name, int v) {
        if (v <= 0) throw Error(std::string("config: ") + name + " must be positive, got " + std::to_string(v));
    };
    if (n_layers < 0) throw Error("config: n_layers must be >= 0, got " + std::to_string(n_layers));
    positive("n_heads", n_heads);
    positive("d_model", d_model);
    positive("d_head", d_head);
    positive("d_vocab", d_vocab);
    positive("d_vocab_out", d_vocab_out);
    positive("n_ctx", n_ctx);
    if (d_mlp < 0) throw Error("config: d_mlp must be >= 0, got " + std::to_string(d_mlp));
    if (!(attn_scale >= 0.0) || !std::isfinite(attn_scale))
        throw Error("config: attn_scale must be finite and >= 0");
    if (bos_token < -1 || bos_token >= d_vocab)
        throw Error("config: bos_token " + std::to_string(bos_token) + " outside [-1, d_vocab)");
    if (d_mlp > 0 && act_fn != "relu" && act_fn != "gelu")
        throw Error("config: unsupported act_fn '" + act_fn + "' (expected relu or gelu)");
    if (origin != "compiled" && origin != "trained" && origin != "imported")
        throw Error("config: origin must be compiled, trained or imported, got '" + origin + "'");
}

std::vector<std::string> numbered_vocab(int n) {
    std::vector<std::string> v;
    v.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) v.push_back(std::to_string(i));
    return v;
}

Model Model::zeros(const ModelConfig& cfg) {
    cfg.validate();
    Model m;
    m.cfg = cfg;
    const int D = cfg.d_model, H = cfg.n_heads, dh = cfg.d_head;
    m.W_E = Matrix::Zero(cfg.d_vocab, D);
    if (cfg.has_positions()) m.W_pos = Matrix::Zero(cfg.n_ctx, D);
    const auto ln = [&] { return LayerNormWeights{Vector::Ones(D), Vector::Zero(D)}; };
    m.blocks.resize(static_cast<size_t>(cfg.n_layers));
    for (auto& b : m.blocks) {
        if (cfg.has_ln_weights()) b.ln1 = ln();
        b.attn.W_Q.assign(H, Matrix::Zero(D, dh));
        b.attn.W_K.assign(H, Matrix::Zero(D, dh));
        b.attn.W_V.assign(H, Matrix::Zero(D, dh));
        b.attn.W_O.assign(H, Matrix::Zero(dh, D));
        b.attn.b_Q.assign(H, RowVector::Zero(dh));
        b.attn.b_K.assign(H, RowVector::Zero(dh));
        b.attn.b_V.assign(H, RowVector::Zero(dh));
        b.attn.b_O = RowVector::Zero(D);
        if (cfg.has_mlp()) {
            if (cfg.has_ln_weights()) b.ln2 = ln();
            b.mlp.W_in = Matrix::Zero(D, cfg.d_mlp);
            b.mlp.b_in = RowVector::Zero(cfg.d_mlp);
            b.mlp.W_out = Matrix::Zero(cfg.d_mlp, D);
            b.mlp.b_out = RowVector::Zero(D);
        }
    }
    if (cfg.has_ln_weights()) m.ln_final = ln();
    m.W_U = Matrix::Zero(D, cfg.d_vocab_out);
    m.b_U = RowVector::Zero(cfg.d_vocab_out);
    m.vocab = numbered_vocab(cfg.d_vocab);
    m.vocab_out = numbered_vocab(cfg.d_vocab_out);
    return m;
}

namespace {

template <typename M>
void check_tensor(const std::string& name, const M& t, Eigen::Index rows, Eigen::Index cols) {
    if (t.rows() != rows || t.cols() != cols) {
        std::ostringstream os;
        os << name << ": shape [" << t.rows() << ", " << t.cols() << "], expected [" << rows << ", " << cols << "]";
        throw Error(os.str());
    }
    if (!t.allFinite()) {
        for (Eigen::Index r = 0; r < t.rows(); ++r)
            for (Eigen::Index c = 0; c < t.cols(); ++c)
                if (!std::isfinite(t(r, c))) {
                    std::ostringstream os;
                    os << name << ": non-finite value " << t(r, c) << " at [" << r << ", " << c << "]";
                    throw Error(os.str());
                }
    }
}

void check_ln(const std::string& name, const LayerNormWeights& ln, int d) {
    check_tensor(name + "/w", ln.w, d, 1);
    check_tensor(name + "/b", ln.b, d, 1);
}

}  // namespace

void Model::validate() const {
    cfg.validate();
    const int D = cfg.d_model, H = cfg.n_heads, dh = cfg.d_head;
    check_tensor("embed/W_E", W_E, cfg.d_vocab, D);
    if (cfg.has_positions()) check_tensor("pos_embed/W_pos", W_pos, cfg.n_ctx, D);
    if (static_cast<int>(blocks.size()) != cfg.n_layers)
        throw Error("blocks: " + std::to_string(blocks.size()) + " blocks, expected n_layers = " +
                    std::to_string(cfg.n_layers));
    for (int l = 0; l < cfg.n_layers; ++l) {
        const Block& b = blocks[static_cast<size_t>(l)];
        const std::string p = "blocks/" + std::to_string(l) + "/";
        if (cfg.has_ln_weights()) check_ln(p + "ln1", b.ln1, D);
        const auto& a = b.attn;
        for (const auto* v : {&a.W_Q, &a.W_K, &a.W_V, &a.W_O})
            if (static_cast<int>(v->size()) != H)
                throw Error(p + "attn: " + std::to_string(v->size()) + " heads, expected n_heads = " +
                            std::to_string(H));
        for (const auto* v : {&a.b_Q, &a.b_K, &a.b_V})
            if (static_cast<int>(v->size()) != H)
                throw Error(p + "attn: bias for " + std::to_string(v->size()) + " heads, expected " +
                            std::to_string(H));
        for (int h = 0; h < H; ++h) {
            const auto hs = "[" + std::to_string(h) + "]";
            const auto uh = static_cast<size_t>(h);
            check_tensor(p + "attn/W_Q" + hs, a.W_Q[uh], D, dh);
            check_tensor(p + "attn/W_K" + hs, a.W_K[uh], D, dh);
            check_tensor(p + "attn/W_V" + hs, a.W_V[uh], D, dh);
            check_tensor(p + "attn/W_O" + hs, a.W_O[uh], dh, D);
            check_tensor(p + "attn/b_Q" + hs, a.b_Q[uh], 1, dh);
            check_tensor(p + "attn/b_K" + hs, a.b_K[uh], 1, dh);
            check_tensor(p + "attn/b_V" + hs, a.b_V[uh], 1, dh);
        }
        check_tensor(p + "attn/b_O", a.b_O, 1, D);
        if (cfg.has_mlp()) {
            if (cfg.has_ln_weights()) check_ln(p + "ln2", b.ln2, D);
            check_tensor(p + "mlp/W_in", b.mlp.W_in, D, cfg.d_mlp);
            check_tensor(p + "mlp/b_in", b.mlp.b_in, 1, cfg.d_mlp);
            check_tensor(p + "mlp/W_out", b.mlp.W_out, cfg.d_mlp, D);
            check_tensor(p + "mlp/b_out", b.mlp.b_out, 1, D);
        }
    }
    if (cfg.has_ln_weights()) check_ln("ln_final", ln_final, D);
    check_tensor("unembed/W_U", W_U, D, cfg.d_vocab_out);
    check_tensor("unembed/b_U", b_U, 1, cfg.d_vocab_out);
    if (static_cast<int>(vocab.size()) != cfg.d_vocab)
        throw Error("vocab: " + std::to_string(vocab.size()) + " strings, expected d_vocab = " +
                    std::to_string(cfg.d_vocab));
    if (static_cast<int>(vocab_out.size()) != cfg.d_vocab_out)
        throw Error("vocab_out: " + std::to_string(vocab_out.size()) + " strings, expected d_vocab_out = " +
                    std::to_string(cfg.d_vocab_out));
    if (!residual_labels.empty() && static_cast<int>(residual_labels.size()) != D)
        throw Error("residual_labels: " + std::to_string(residual_labels.size()) + " labels, expected d_model = " +
                    std::to_string(D));
}

std::int64_t Model::parameter_count() const {
    std::int64_t n = W_E.size() + W_pos.size() + W_U.size() + b_U.size() + ln_final.w.size() + ln_final.b.size();
    for (const auto& b : blocks) {
        n += b.ln1.w.size() + b.ln1.b.size() + b.ln2.w.size() + b.ln2.b.size() + b.attn.b_O.size();
        for (size_t h = 0; h < b.attn.W_Q.size(); ++h)
            n += b.attn.W_Q[h].size() + b.attn.W_K[h].size() + b.attn.W_V[h].size() + b.attn.W_O[h].size() +
                 b.attn.b_Q[h].size() + b.attn.b_K[h].size() + b.attn.b_V[h].size();
        n += b.mlp.W_in.size() + b.mlp.b_in.size() + b.mlp.W_out.size() + b.mlp.b_out.size();
    }
    return n;
}

std::vector<TensorInfo> tensor_list(const ModelConfig& c) {
    using S = std::vector<std::int64_t>;
    const std::int64_t D = c.d_model, H = c.n_heads, dh = c.d_head;
    std::vector<TensorInfo> t;
    t.push_back({"embed.W_E", S{c.d_vocab, D}});
    if (c.has_positions()) t.push_back({"pos_embed.W_pos", S{c.n_ctx, D}});
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "blocks." + std::to_string(l) + ".";
        if (c.has_ln_weights()) {
            t.push_back({p + "ln1.w", S{D}});
            t.push_back({p + "ln1.b", S{D}});
        }
        t.push_back({p + "attn.W_Q", S{H, D, dh}});
        t.push_back({p + "attn.W_K", S{H, D, dh}});
        t.push_back({p + "attn.W_V", S{H, D, dh}});
        t.push_back({p + "attn.W_O", S{H, dh, D}});
        t.push_back({p + "attn.b_Q", S{H, dh}});
        t.push_back({p + "attn.b_K", S{H, dh}});
        t.push_back({p + "attn.b_V", S{H, dh}});
        t.push_back({p + "attn.b_O", S{D}});
        if (c.has_mlp()) {
            if (c.has_ln_weights()) {
                t.push_back({p + "ln2.w", S{D}});
                t.push_back({p + "ln2.b", S{D}});
            }
            t.push_back({p + "mlp.W_in", S{D, c.d_mlp}});
            t.push_back({p + "mlp.b_in", S{c.d_mlp}});
            t.push_back({p + "mlp.W_out", S{c.d_mlp, D}});
            t.push_back({p + "mlp.b_out", S{D}});
        }
    }
    if (c.has_ln_weights()) {
        t.push_back({"ln_final.w", S{D}});
        t.push_back({"ln_final.b", S{D}});
    }
    t.push_back({"unembed.W_U", S{D, c.d_vocab_out}});
    t.push_back({"unembed.b_U", S{c.d_vocab_out}});
    return t;
}

int Model::token_index(const std::string& token) const {
    return vocab.index(token);
}

}  // namespace circuits
