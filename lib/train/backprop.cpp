// Backpropagation for attention-only transformers (optionally with MLPs), written against Eigen.
#include "lib/train/backprop.hpp"

#include <cmath>
#include <limits>

#include "lib/error.hpp"

namespace circuits::train {

namespace {

template <typename S>
using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;

// Causal (or full) softmax of each row of the attention scores, in place. Masked entries become 0.
template <typename S>
void softmax_rows(Mat<S>& a, bool causal) {
    const Eigen::Index T = a.rows();
    for (Eigen::Index i = 0; i < T; ++i) {
        const Eigen::Index n = causal ? i + 1 : T;
        S mx = -std::numeric_limits<S>::infinity();
        for (Eigen::Index j = 0; j < n; ++j) mx = std::max(mx, a(i, j));
        S sum = 0;
        for (Eigen::Index j = 0; j < n; ++j) {
            a(i, j) = std::exp(a(i, j) - mx);
            sum += a(i, j);
        }
        const S inv = S(1) / sum;
        for (Eigen::Index j = 0; j < n; ++j) a(i, j) *= inv;
        for (Eigen::Index j = n; j < T; ++j) a(i, j) = 0;
    }
}

template <typename S>
S act_forward(bool gelu, S x) {
    if (gelu) return S(0.5) * x * (S(1) + std::erf(x / std::sqrt(S(2))));
    return x > 0 ? x : S(0);
}

template <typename S>
S act_derivative(bool gelu, S x) {
    if (gelu) {
        // d/dx [x Phi(x)] = Phi(x) + x phi(x)
        const S Phi = S(0.5) * (S(1) + std::erf(x / std::sqrt(S(2))));
        const S phi = std::exp(S(-0.5) * x * x) / std::sqrt(S(2 * M_PI));
        return Phi + x * phi;
    }
    return x > 0 ? S(1) : S(0);
}

// ---- normalisation -------------------------------------------------------------------------------

// out = x (none), (x - mean) / sqrt(var + eps) (LNPre), or that times w plus b (LN), row by row.
template <typename S, typename Cache>
void norm_forward(Normalization type, double eps, const Mat<S>& x, const Params<S>& p, int w_slot, int b_slot, Cache& c,
                  Mat<S>& out) {
    if (type == Normalization::none) {
        out = x;
        return;
    }
    const auto D = static_cast<S>(x.cols());
    c.y = x.colwise() - x.rowwise().mean();
    c.inv_std = ((c.y.array().square().rowwise().sum() / D) + static_cast<S>(eps)).rsqrt();
    c.y = c.y.array().colwise() * c.inv_std.array();
    if (type == Normalization::LN) {
        out = (c.y.array().rowwise() * p.at(w_slot).row(0).array()).rowwise() + p.at(b_slot).row(0).array();
    } else {
        out = c.y;
    }
}

// dx for dout = d(loss)/d(out); LN weight gradients go to g. dx = inv_std (dy - mean(dy) - y mean(dy y)).
template <typename S, typename Cache>
void norm_backward(Normalization type, const Mat<S>& dout, const Params<S>& p, int w_slot, int b_slot, const Cache& c,
                   Params<S>& g, Mat<S>& dy, Mat<S>& dx) {
    if (type == Normalization::none) {
        dx = dout;
        return;
    }
    if (type == Normalization::LN) {
        g.at(w_slot) += (dout.array() * c.y.array()).colwise().sum().matrix();
        g.at(b_slot) += dout.colwise().sum();
        dy = dout.array().rowwise() * p.at(w_slot).row(0).array();
    } else {
        dy = dout;
    }
    const auto D = static_cast<S>(dout.cols());
    const auto mean_dy = (dy.rowwise().sum() / D).eval();                                    // [N]
    const auto mean_dyy = ((dy.array() * c.y.array()).rowwise().sum() / D).matrix().eval();  // [N]
    dx = ((dy.colwise() - mean_dy).array() - c.y.array().colwise() * mean_dyy.array()).colwise() * c.inv_std.array();
}

}  // namespace

// ---- forward -------------------------------------------------------------------------------------

template <typename S>
void Backprop<S>::flatten(const ModelConfig& c, std::span<const Example> examples) {
    if (examples.empty()) throw Error("Backprop: empty batch");
    m_offsets.assign(1, 0);
    m_tokens.clear();
    m_targets.clear();
    m_positions.clear();
    for (size_t s = 0; s < examples.size(); ++s) {
        const auto& e = examples[s];
        const auto T = static_cast<int>(e.tokens.size());
        if (T == 0) throw Error("Backprop: sequence " + std::to_string(s) + " is empty");
        if (T > c.n_ctx)
            throw Error("Backprop: sequence " + std::to_string(s) + " has " + std::to_string(T) +
                        " tokens, longer than n_ctx = " + std::to_string(c.n_ctx));
        if (e.targets.size() != e.tokens.size())
            throw Error("Backprop: sequence " + std::to_string(s) + " has " + std::to_string(T) + " tokens but " +
                        std::to_string(e.targets.size()) + " targets");
        for (int t = 0; t < T; ++t) {
            const int tok = e.tokens[static_cast<size_t>(t)], tgt = e.targets[static_cast<size_t>(t)];
            if (tok < 0 || tok >= c.d_vocab)
                throw Error("Backprop: sequence " + std::to_string(s) + ": token " + std::to_string(tok) +
                            " at position " + std::to_string(t) + " outside [0, " + std::to_string(c.d_vocab) + ")");
            if (tgt < -1 || tgt >= c.d_vocab_out)
                throw Error("Backprop: sequence " + std::to_string(s) + ": target " + std::to_string(tgt) +
                            " at position " + std::to_string(t) + " outside [-1, " + std::to_string(c.d_vocab_out) +
                            ")");
            m_tokens.push_back(tok);
            m_targets.push_back(tgt);
            m_positions.push_back(t);
        }
        m_offsets.push_back(m_offsets.back() + T);
    }
    m_N = m_offsets.back();
    m_heads = c.n_heads;
}

// resid_0 = W_E[t] (+ W_pos[p] for standard positions).  [N, d_model]
template <typename S>
void Backprop<S>::embed(const Params<S>& p) {
    const Eigen::Index N = m_N;
    const auto W_E = p.at(p.W_E);
    m_x.resize(N, p.cfg().d_model);
    for (Eigen::Index i = 0; i < N; ++i) m_x.row(i) = W_E.row(m_tokens[static_cast<size_t>(i)]);
    if (p.cfg().positional_embedding_type == PositionalEmbedding::standard) {
        const auto W_pos = p.at(p.W_pos);
        for (Eigen::Index i = 0; i < N; ++i) m_x.row(i) += W_pos.row(m_positions[static_cast<size_t>(i)]);
    }
}

// resid_mid = resid_pre + sum_h softmax(Q_h K_h^T / scale) V_h W_O_h + b_O, per sequence.
template <typename S>
void Backprop<S>::attention_forward(const Params<S>& p, int l) {
    const auto& c = p.cfg();
    const Eigen::Index N = m_N, dh = c.d_head;
    const size_t n_seq = m_offsets.size() - 1;
    const S inv_scale = static_cast<S>(1.0 / c.effective_attn_scale());
    auto& L = m_layers[static_cast<size_t>(l)];
    const auto& s = p.layer(l);
    norm_forward(c.normalization_type, c.ln_eps, m_x, p, s.ln1_w, s.ln1_b, L.n1, L.xn);
    L.qk_in = L.xn;
    if (c.positional_embedding_type == PositionalEmbedding::shortformer) {
        const auto W_pos = p.at(p.W_pos);
        for (Eigen::Index i = 0; i < N; ++i) L.qk_in.row(i) += W_pos.row(m_positions[static_cast<size_t>(i)]);
    }
    L.Q.noalias() = L.qk_in * p.at(s.W_Q);  // [N, H*dh]
    L.Q.rowwise() += p.at(s.b_Q).row(0);
    L.K.noalias() = L.qk_in * p.at(s.W_K);
    L.K.rowwise() += p.at(s.b_K).row(0);
    L.V.noalias() = L.xn * p.at(s.W_V);
    L.V.rowwise() += p.at(s.b_V).row(0);
    L.Z.resize(N, L.Q.cols());
    L.A.resize(n_seq * static_cast<size_t>(c.n_heads));
    for (size_t q = 0; q < n_seq; ++q) {
        const Eigen::Index o = m_offsets[q], T = m_offsets[q + 1] - o;
        for (int h = 0; h < c.n_heads; ++h) {
            Mat& A = L.A[q * static_cast<size_t>(c.n_heads) + static_cast<size_t>(h)];  // [T, T]
            A.noalias() = L.Q.block(o, h * dh, T, dh) * L.K.block(o, h * dh, T, dh).transpose();
            A *= inv_scale;
            softmax_rows(A, c.causal);
            L.Z.block(o, h * dh, T, dh).noalias() = A * L.V.block(o, h * dh, T, dh);
        }
    }
    m_x.noalias() += L.Z * p.at(s.W_O);  // resid_mid  [N, d_model]
    m_x.rowwise() += p.at(s.b_O).row(0);
}

// resid_post = resid_mid + act(ln2(resid_mid) W_in + b_in) W_out + b_out.
template <typename S>
void Backprop<S>::mlp_forward(const Params<S>& p, int l) {
    const auto& c = p.cfg();
    auto& L = m_layers[static_cast<size_t>(l)];
    const auto& s = p.layer(l);
    const bool gelu = c.act_fn == ActFn::gelu;
    norm_forward(c.normalization_type, c.ln_eps, m_x, p, s.ln2_w, s.ln2_b, L.n2, L.xn2);
    L.pre.noalias() = L.xn2 * p.at(s.W_in);  // [N, d_mlp]
    L.pre.rowwise() += p.at(s.b_in).row(0);
    L.act = L.pre.unaryExpr([gelu](S v) { return act_forward(gelu, v); });
    m_x.noalias() += L.act * p.at(s.W_out);
    m_x.rowwise() += p.at(s.b_out).row(0);
}

// Loss and d(loss)/d(logits) = softmax - onehot(target) on scored rows.
template <typename S>
double Backprop<S>::loss_forward(const ModelConfig& c) {
    const Eigen::Index N = m_N;
    m_dlogits.setZero(N, c.d_vocab_out);
    double loss = 0.0;
    m_scored = 0;
    for (Eigen::Index i = 0; i < N; ++i) {
        const int t = m_targets[static_cast<size_t>(i)];
        if (t < 0) continue;
        const S mx = m_logits.row(i).maxCoeff();
        m_dlogits.row(i) = (m_logits.row(i).array() - mx).exp().matrix();
        const S sum = m_dlogits.row(i).sum();
        m_dlogits.row(i) /= sum;
        loss += static_cast<double>(std::log(sum) + mx - m_logits(i, t));
        m_dlogits(i, t) -= S(1);
        ++m_scored;
    }
    return loss;
}

template <typename S>
double Backprop<S>::forward(const Params<S>& p, std::span<const Example> examples) {
    const auto& c = p.cfg();
    flatten(c, examples);
    embed(p);
    m_layers.resize(static_cast<size_t>(c.n_layers));
    for (int l = 0; l < c.n_layers; ++l) {
        attention_forward(p, l);
        if (c.has_mlp()) mlp_forward(p, l);
    }
    norm_forward(c.normalization_type, c.ln_eps, m_x, p, p.ln_final_w, p.ln_final_b, m_nf, m_xf);
    m_logits.noalias() = m_xf * p.at(p.W_U);  // [N, d_vocab_out]
    m_logits.rowwise() += p.at(p.b_U).row(0);
    return loss_forward(c);
}

// ---- backward ------------------------------------------------------------------------------------

template <typename S>
void Backprop<S>::backward(const Params<S>& p, S weight, Params<S>& g) {
    const auto& c = p.cfg();
    if (g.size() != p.size()) throw Error("Backprop::backward: gradient buffer does not match the parameters");
    const Eigen::Index N = m_N, dh = c.d_head;
    const auto pos_type = c.positional_embedding_type;
    const auto norm = c.normalization_type;
    const S inv_scale = static_cast<S>(1.0 / c.effective_attn_scale());
    const size_t n_seq = m_offsets.size() - 1;

    // Unembedding.  G = weight (softmax - onehot)  [N, d_vocab_out]
    m_dtmp.noalias() = weight * m_dlogits;
    g.at(g.W_U).noalias() += m_xf.transpose() * m_dtmp;
    g.at(g.b_U) += m_dtmp.colwise().sum();
    m_dxn.noalias() = m_dtmp * p.at(p.W_U).transpose();  // d xf  [N, d_model]
    norm_backward(norm, m_dxn, p, p.ln_final_w, p.ln_final_b, m_nf, g, m_dS, m_dx);

    for (int l = c.n_layers - 1; l >= 0; --l) {
        const auto& L = m_layers[static_cast<size_t>(l)];
        const auto& s = p.layer(l);
        if (c.has_mlp()) {
            const bool gelu = c.act_fn == ActFn::gelu;
            g.at(s.W_out).noalias() += L.act.transpose() * m_dx;
            g.at(s.b_out) += m_dx.colwise().sum();
            m_dpre.noalias() = m_dx * p.at(s.W_out).transpose();  // d act  [N, d_mlp]
            m_dpre.array() *= L.pre.unaryExpr([gelu](S v) { return act_derivative(gelu, v); }).array();
            g.at(s.W_in).noalias() += L.xn2.transpose() * m_dpre;
            g.at(s.b_in) += m_dpre.colwise().sum();
            m_dxn.noalias() = m_dpre * p.at(s.W_in).transpose();  // d xn2  [N, d_model]
            norm_backward(norm, m_dxn, p, s.ln2_w, s.ln2_b, L.n2, g, m_dS, m_dtmp);
            m_dx += m_dtmp;
        }
        // Attention output: resid_mid = resid_pre + Z W_O + b_O.
        g.at(s.W_O).noalias() += L.Z.transpose() * m_dx;
        g.at(s.b_O) += m_dx.colwise().sum();
        m_dZ.noalias() = m_dx * p.at(s.W_O).transpose();  // [N, H*dh]
        m_dQ.resize(N, L.Q.cols());
        m_dK.resize(N, L.K.cols());
        m_dV.resize(N, L.V.cols());
        for (size_t q = 0; q < n_seq; ++q) {
            const Eigen::Index o = m_offsets[q], T = m_offsets[q + 1] - o;
            for (int h = 0; h < c.n_heads; ++h) {
                const Mat& A = L.A[q * static_cast<size_t>(c.n_heads) + static_cast<size_t>(h)];  // [T, T]
                const auto dZ = m_dZ.block(o, h * dh, T, dh);
                m_dA.noalias() = dZ * L.V.block(o, h * dh, T, dh).transpose();  // [T, T]
                m_dV.block(o, h * dh, T, dh).noalias() = A.transpose() * dZ;
                // Softmax backward: dS = A * (dA - rowsum(A * dA)); masked entries have A = 0.
                const auto row_dot = (A.array() * m_dA.array()).rowwise().sum().eval();  // [T]
                m_dS = (A.array() * (m_dA.array().colwise() - row_dot)) * inv_scale;
                m_dQ.block(o, h * dh, T, dh).noalias() = m_dS * L.K.block(o, h * dh, T, dh);
                m_dK.block(o, h * dh, T, dh).noalias() = m_dS.transpose() * L.Q.block(o, h * dh, T, dh);
            }
        }
        g.at(s.W_Q).noalias() += L.qk_in.transpose() * m_dQ;
        g.at(s.b_Q) += m_dQ.colwise().sum();
        g.at(s.W_K).noalias() += L.qk_in.transpose() * m_dK;
        g.at(s.b_K) += m_dK.colwise().sum();
        g.at(s.W_V).noalias() += L.xn.transpose() * m_dV;
        g.at(s.b_V) += m_dV.colwise().sum();
        m_dqk.noalias() = m_dQ * p.at(s.W_Q).transpose();  // d qk_in  [N, d_model]
        m_dqk.noalias() += m_dK * p.at(s.W_K).transpose();
        if (pos_type == PositionalEmbedding::shortformer) {
            auto gpos = g.at(g.W_pos);
            for (Eigen::Index i = 0; i < N; ++i) gpos.row(m_positions[static_cast<size_t>(i)]) += m_dqk.row(i);
        }
        m_dxn.noalias() = m_dV * p.at(s.W_V).transpose();  // d xn  [N, d_model]
        m_dxn += m_dqk;
        norm_backward(norm, m_dxn, p, s.ln1_w, s.ln1_b, L.n1, g, m_dS, m_dtmp);
        m_dx += m_dtmp;
    }
    auto gE = g.at(g.W_E);
    for (Eigen::Index i = 0; i < N; ++i) gE.row(m_tokens[static_cast<size_t>(i)]) += m_dx.row(i);
    if (pos_type == PositionalEmbedding::standard) {
        auto gpos = g.at(g.W_pos);
        for (Eigen::Index i = 0; i < N; ++i) gpos.row(m_positions[static_cast<size_t>(i)]) += m_dx.row(i);
    }
}

template class Backprop<float>;
template class Backprop<double>;

}  // namespace circuits::train
