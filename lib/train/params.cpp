// The flat parameter layout: slot bookkeeping, Model conversion, initialisation.
#include "lib/train/params.hpp"

#include "lib/error.hpp"
#include "lib/train/rng.hpp"

#include <cmath>

namespace circuits::train {

template <typename S>
int Params<S>::add(const std::string& name, Eigen::Index rows, Eigen::Index cols, bool decay) {
    Slot s;
    s.name = name;
    s.offset = m_slots.empty() ? 0 : m_slots.back().offset + m_slots.back().rows * m_slots.back().cols;
    s.rows = rows;
    s.cols = cols;
    s.decay = decay;
    m_slots.push_back(s);
    return static_cast<int>(m_slots.size()) - 1;
}

template <typename S>
Params<S>::Params(const ModelConfig& cfg) : m_cfg(cfg) {
    cfg.validate();
    const Eigen::Index D = cfg.d_model, HD = Eigen::Index{cfg.n_heads} * cfg.d_head;
    const bool ln = cfg.has_ln_weights();
    W_E = add("embed/W_E", cfg.d_vocab, D, true);
    if (cfg.has_positions()) W_pos = add("pos_embed/W_pos", cfg.n_ctx, D, true);
    for (int l = 0; l < cfg.n_layers; ++l) {
        const std::string p = "blocks/" + std::to_string(l) + "/";
        LayerSlots s;
        if (ln) {
            s.ln1_w = add(p + "ln1/w", 1, D, false);
            s.ln1_b = add(p + "ln1/b", 1, D, false);
        }
        s.W_Q = add(p + "attn/W_Q", D, HD, true);
        s.W_K = add(p + "attn/W_K", D, HD, true);
        s.W_V = add(p + "attn/W_V", D, HD, true);
        s.b_Q = add(p + "attn/b_Q", 1, HD, false);
        s.b_K = add(p + "attn/b_K", 1, HD, false);
        s.b_V = add(p + "attn/b_V", 1, HD, false);
        s.W_O = add(p + "attn/W_O", HD, D, true);
        s.b_O = add(p + "attn/b_O", 1, D, false);
        if (cfg.has_mlp()) {
            if (ln) {
                s.ln2_w = add(p + "ln2/w", 1, D, false);
                s.ln2_b = add(p + "ln2/b", 1, D, false);
            }
            s.W_in = add(p + "mlp/W_in", D, cfg.d_mlp, true);
            s.b_in = add(p + "mlp/b_in", 1, cfg.d_mlp, false);
            s.W_out = add(p + "mlp/W_out", cfg.d_mlp, D, true);
            s.b_out = add(p + "mlp/b_out", 1, D, false);
        }
        m_layers.push_back(s);
    }
    if (ln) {
        ln_final_w = add("ln_final/w", 1, D, false);
        ln_final_b = add("ln_final/b", 1, D, false);
    }
    W_U = add("unembed/W_U", D, cfg.d_vocab_out, true);
    b_U = add("unembed/b_U", 1, cfg.d_vocab_out, false);
    m_data.assign(static_cast<size_t>(m_slots.back().offset + m_slots.back().rows * m_slots.back().cols), S(0));
}

template class Params<float>;
template class Params<double>;

template <typename S>
Params<S> params_from_model(const Model& m) {
    m.validate();
    Params<S> p(m.cfg);
    const auto& c = m.cfg;
    const int dh = c.d_head;
    p.at(p.W_E) = m.W_E.cast<S>();
    if (c.has_positions()) p.at(p.W_pos) = m.W_pos.cast<S>();
    for (int l = 0; l < c.n_layers; ++l) {
        const auto& b = m.blocks[static_cast<size_t>(l)];
        const auto& s = p.layer(l);
        if (c.has_ln_weights()) {
            p.at(s.ln1_w) = b.ln1.w.transpose().cast<S>();
            p.at(s.ln1_b) = b.ln1.b.transpose().cast<S>();
        }
        for (int h = 0; h < c.n_heads; ++h) {
            const auto uh = static_cast<size_t>(h);
            p.at(s.W_Q).middleCols(h * dh, dh) = b.attn.W_Q[uh].cast<S>();
            p.at(s.W_K).middleCols(h * dh, dh) = b.attn.W_K[uh].cast<S>();
            p.at(s.W_V).middleCols(h * dh, dh) = b.attn.W_V[uh].cast<S>();
            p.at(s.b_Q).middleCols(h * dh, dh) = b.attn.b_Q[uh].cast<S>();
            p.at(s.b_K).middleCols(h * dh, dh) = b.attn.b_K[uh].cast<S>();
            p.at(s.b_V).middleCols(h * dh, dh) = b.attn.b_V[uh].cast<S>();
            p.at(s.W_O).middleRows(h * dh, dh) = b.attn.W_O[uh].cast<S>();
        }
        p.at(s.b_O) = b.attn.b_O.cast<S>();
        if (c.has_mlp()) {
            if (c.has_ln_weights()) {
                p.at(s.ln2_w) = b.ln2.w.transpose().cast<S>();
                p.at(s.ln2_b) = b.ln2.b.transpose().cast<S>();
            }
            p.at(s.W_in) = b.mlp.W_in.cast<S>();
            p.at(s.b_in) = b.mlp.b_in.cast<S>();
            p.at(s.W_out) = b.mlp.W_out.cast<S>();
            p.at(s.b_out) = b.mlp.b_out.cast<S>();
        }
    }
    if (c.has_ln_weights()) {
        p.at(p.ln_final_w) = m.ln_final.w.transpose().cast<S>();
        p.at(p.ln_final_b) = m.ln_final.b.transpose().cast<S>();
    }
    p.at(p.W_U) = m.W_U.cast<S>();
    p.at(p.b_U) = m.b_U.cast<S>();
    return p;
}

template <typename S>
void copy_to_model(const Params<S>& p, Model& m) {
    const auto& c = p.cfg();
    const auto& mc = m.cfg;
    if (mc.n_layers != c.n_layers || mc.n_heads != c.n_heads || mc.d_model != c.d_model || mc.d_head != c.d_head ||
        mc.d_vocab != c.d_vocab || mc.d_vocab_out != c.d_vocab_out || mc.n_ctx != c.n_ctx || mc.d_mlp != c.d_mlp ||
        mc.positional_embedding_type != c.positional_embedding_type || mc.normalization_type != c.normalization_type)
        throw Error("copy_to_model: the model's config does not match the parameters' config");
    const int dh = c.d_head;
    m.W_E = p.at(p.W_E).template cast<float>();
    if (c.has_positions()) m.W_pos = p.at(p.W_pos).template cast<float>();
    m.blocks.resize(static_cast<size_t>(c.n_layers));
    for (int l = 0; l < c.n_layers; ++l) {
        auto& b = m.blocks[static_cast<size_t>(l)];
        const auto& s = p.layer(l);
        if (c.has_ln_weights()) {
            b.ln1.w = p.at(s.ln1_w).transpose().template cast<float>();
            b.ln1.b = p.at(s.ln1_b).transpose().template cast<float>();
        }
        const auto H = static_cast<size_t>(c.n_heads);
        b.attn.W_Q.resize(H);
        b.attn.W_K.resize(H);
        b.attn.W_V.resize(H);
        b.attn.W_O.resize(H);
        b.attn.b_Q.resize(H);
        b.attn.b_K.resize(H);
        b.attn.b_V.resize(H);
        for (int h = 0; h < c.n_heads; ++h) {
            const auto uh = static_cast<size_t>(h);
            b.attn.W_Q[uh] = p.at(s.W_Q).middleCols(h * dh, dh).template cast<float>();
            b.attn.W_K[uh] = p.at(s.W_K).middleCols(h * dh, dh).template cast<float>();
            b.attn.W_V[uh] = p.at(s.W_V).middleCols(h * dh, dh).template cast<float>();
            b.attn.b_Q[uh] = p.at(s.b_Q).middleCols(h * dh, dh).template cast<float>();
            b.attn.b_K[uh] = p.at(s.b_K).middleCols(h * dh, dh).template cast<float>();
            b.attn.b_V[uh] = p.at(s.b_V).middleCols(h * dh, dh).template cast<float>();
            b.attn.W_O[uh] = p.at(s.W_O).middleRows(h * dh, dh).template cast<float>();
        }
        b.attn.b_O = p.at(s.b_O).template cast<float>();
        if (c.has_mlp()) {
            if (c.has_ln_weights()) {
                b.ln2.w = p.at(s.ln2_w).transpose().template cast<float>();
                b.ln2.b = p.at(s.ln2_b).transpose().template cast<float>();
            }
            b.mlp.W_in = p.at(s.W_in).template cast<float>();
            b.mlp.b_in = p.at(s.b_in).template cast<float>();
            b.mlp.W_out = p.at(s.W_out).template cast<float>();
            b.mlp.b_out = p.at(s.b_out).template cast<float>();
        }
    }
    if (c.has_ln_weights()) {
        m.ln_final.w = p.at(p.ln_final_w).transpose().template cast<float>();
        m.ln_final.b = p.at(p.ln_final_b).transpose().template cast<float>();
    }
    m.W_U = p.at(p.W_U).template cast<float>();
    m.b_U = p.at(p.b_U).template cast<float>();
}

template Params<float> params_from_model<float>(const Model&);
template Params<double> params_from_model<double>(const Model&);
template void copy_to_model<float>(const Params<float>&, Model&);
template void copy_to_model<double>(const Params<double>&, Model&);

void init_params(Params<float>& p, Rng& rng) {
    const auto std_dev = static_cast<float>(0.8 / std::sqrt(static_cast<double>(p.cfg().d_model)));
    p.set_zero();
    const bool ln = p.cfg().has_ln_weights();
    for (size_t i = 0; i < p.slots().size(); ++i) {
        const auto& s = p.slots()[i];
        auto t = p.at(static_cast<int>(i));
        if (s.decay) {
            for (Eigen::Index k = 0; k < t.size(); ++k) t.data()[k] = std_dev * static_cast<float>(rng.normal());
        } else if (ln && s.name.size() >= 2 && s.name.compare(s.name.size() - 2, 2, "/w") == 0) {
            t.setOnes();  // LayerNorm scale
        }
    }
}

}  // namespace circuits::train
