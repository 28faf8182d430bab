// Forward pass of an attention-only (optionally MLP) transformer in TransformerLens conventions.
#include "lib/forward.hpp"

#include "lib/error.hpp"

#include "lib/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace circuits {

Matrix layer_norm_rows(const Matrix& x, double eps) {
    Matrix out(x.rows(), x.cols());
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        const float mean = x.row(t).mean();
        const RowVector centred = x.row(t).array() - mean;
        const float var = centred.squaredNorm() / static_cast<float>(x.cols());
        out.row(t) = centred / std::sqrt(var + static_cast<float>(eps));
    }
    return out;
}

Matrix normalise(const Model& m, const Matrix& x, const LayerNormWeights& ln) {
    switch (m.cfg.normalization_type) {
        case Normalization::none: return x;
        case Normalization::LNPre: return layer_norm_rows(x, m.cfg.ln_eps);
        case Normalization::LN: {
            Matrix y = layer_norm_rows(x, m.cfg.ln_eps);
            y.array().rowwise() *= ln.w.transpose().array();  // ln(x) * w + b
            y.rowwise() += ln.b.transpose();
            return y;
        }
    }
    return x;
}

namespace {

float activation(ActFn fn, float x) {
    if (fn == ActFn::gelu) return 0.5f * x * (1.0f + std::erf(x / std::sqrt(2.0f)));
    return x > 0.0f ? x : 0.0f;
}

// Row-wise softmax of attention scores [T query, T key] with the causal mask applied in place.
void softmax_rows(Matrix& s, bool causal) {
    const Eigen::Index T = s.rows();
    for (Eigen::Index i = 0; i < T; ++i) {
        const Eigen::Index n = causal ? i + 1 : s.cols();
        float mx = -std::numeric_limits<float>::infinity();
        for (Eigen::Index j = 0; j < n; ++j) mx = std::max(mx, s(i, j));
        float sum = 0.0f;
        for (Eigen::Index j = 0; j < n; ++j) {
            s(i, j) = std::exp(s(i, j) - mx);
            sum += s(i, j);
        }
        for (Eigen::Index j = 0; j < n; ++j) s(i, j) /= sum;
        for (Eigen::Index j = n; j < s.cols(); ++j) s(i, j) = 0.0f;
    }
}

bool is_ablated(const ForwardHooks& hooks, int l, int h) {
    return std::find(hooks.ablated_heads.begin(), hooks.ablated_heads.end(), std::make_pair(l, h)) !=
           hooks.ablated_heads.end();
}

void check_hooks(const Model& m, const ForwardHooks& hooks, Eigen::Index T) {
    const auto& c = m.cfg;
    for (const auto& [l, h] : hooks.ablated_heads)
        if (l < 0 || l >= c.n_layers || h < 0 || h >= c.n_heads)
            throw Error("hooks: ablated head L" + std::to_string(l) + "H" + std::to_string(h) + " does not exist");
    if (static_cast<int>(hooks.frozen_patterns.size()) > c.n_layers)
        throw Error("hooks: frozen patterns for " + std::to_string(hooks.frozen_patterns.size()) + " layers, model has " +
                    std::to_string(c.n_layers));
    for (size_t l = 0; l < hooks.frozen_patterns.size(); ++l) {
        const auto& layer = hooks.frozen_patterns[l];
        if (!layer.empty() && static_cast<int>(layer.size()) != c.n_heads)
            throw Error("hooks: frozen patterns for layer " + std::to_string(l) + " have " + std::to_string(layer.size()) +
                        " heads, expected " + std::to_string(c.n_heads));
        for (const auto& p : layer)
            if (p.size() != 0 && (p.rows() != T || p.cols() != T))
                throw Error("hooks: frozen pattern in layer " + std::to_string(l) + " is [" + std::to_string(p.rows()) +
                            ", " + std::to_string(p.cols()) + "], expected [" + std::to_string(T) + ", " +
                            std::to_string(T) + "]");
    }
    if (static_cast<int>(hooks.value_inputs.size()) > c.n_layers)
        throw Error("hooks: value inputs for " + std::to_string(hooks.value_inputs.size()) + " layers, model has " +
                    std::to_string(c.n_layers));
    for (size_t l = 0; l < hooks.value_inputs.size(); ++l) {
        const auto& v = hooks.value_inputs[l];
        if (v.size() != 0 && (v.rows() != T || v.cols() != c.d_model))
            throw Error("hooks: value input for layer " + std::to_string(l) + " is [" + std::to_string(v.rows()) + ", " +
                        std::to_string(v.cols()) + "], expected [" + std::to_string(T) + ", " +
                        std::to_string(c.d_model) + "]");
    }
}

}  // namespace

ForwardResult forward(const Model& m, const std::vector<int>& tokens, const ForwardHooks& hooks,
                      const ForwardOptions& options) {
    const auto& c = m.cfg;
    const auto T = static_cast<Eigen::Index>(tokens.size());
    if (T == 0) throw Error("forward: empty token sequence");
    if (T > c.n_ctx)
        throw Error("forward: sequence of " + std::to_string(T) + " tokens is longer than n_ctx = " + std::to_string(c.n_ctx));
    for (Eigen::Index t = 0; t < T; ++t)
        if (tokens[static_cast<size_t>(t)] < 0 || tokens[static_cast<size_t>(t)] >= c.d_vocab)
            throw Error("forward: token " + std::to_string(tokens[static_cast<size_t>(t)]) + " at position " +
                        std::to_string(t) + " outside [0, " + std::to_string(c.d_vocab) + ")");
    check_hooks(m, hooks, T);

    ForwardResult r;
    Matrix x(T, c.d_model);  // [T, d_model]
    for (Eigen::Index t = 0; t < T; ++t) {
        x.row(t) = m.W_E.row(tokens[static_cast<size_t>(t)]);
        if (c.positional_embedding_type == PositionalEmbedding::standard) x.row(t) += m.W_pos.row(t);
    }
    const float inv_scale = static_cast<float>(1.0 / c.effective_attn_scale());
    r.patterns.resize(static_cast<size_t>(c.n_layers));
    if (options.keep_head_outputs) r.head_out.resize(static_cast<size_t>(c.n_layers));

    for (int l = 0; l < c.n_layers; ++l) {
        const auto ul = static_cast<size_t>(l);
        const Block& b = m.blocks[ul];
        r.resid_pre.push_back(x);
        const Matrix xn = normalise(m, x, b.ln1);  // [T, d_model]
        Matrix qk_in = xn;
        if (c.positional_embedding_type == PositionalEmbedding::shortformer) qk_in += m.W_pos.topRows(T);
        const bool replaced_v = ul < hooks.value_inputs.size() && hooks.value_inputs[ul].size() != 0;
        const Matrix v_in = replaced_v ? normalise(m, hooks.value_inputs[ul], b.ln1) : xn;

        Matrix attn_out = Matrix::Zero(T, c.d_model);
        attn_out.rowwise() += b.attn.b_O;
        r.patterns[ul].resize(static_cast<size_t>(c.n_heads));
        for (int h = 0; h < c.n_heads; ++h) {
            const auto uh = static_cast<size_t>(h);
            const bool frozen = ul < hooks.frozen_patterns.size() && !hooks.frozen_patterns[ul].empty() &&
                                hooks.frozen_patterns[ul][uh].size() != 0;
            Matrix pattern;  // [T query, T key]
            if (frozen) {
                pattern = hooks.frozen_patterns[ul][uh];
            } else {
                Matrix q = qk_in * b.attn.W_Q[uh];  // [T, d_head]
                q.rowwise() += b.attn.b_Q[uh];
                Matrix k = qk_in * b.attn.W_K[uh];  // [T, d_head]
                k.rowwise() += b.attn.b_K[uh];
                pattern = (q * k.transpose()) * inv_scale;
                softmax_rows(pattern, c.causal);
            }
            Matrix v = v_in * b.attn.W_V[uh];  // [T, d_head]
            v.rowwise() += b.attn.b_V[uh];
            const Matrix out = (pattern * v) * b.attn.W_O[uh];  // [T, d_model]
            if (!is_ablated(hooks, l, h)) attn_out += out;
            if (options.keep_head_outputs) r.head_out[ul].push_back(is_ablated(hooks, l, h) ? Matrix::Zero(T, c.d_model) : out);
            r.patterns[ul][uh] = std::move(pattern);
        }
        x += attn_out;
        r.resid_mid.push_back(x);
        if (c.has_mlp()) {
            Matrix hidden = normalise(m, x, b.ln2) * b.mlp.W_in;  // [T, d_mlp]
            hidden.rowwise() += b.mlp.b_in;
            hidden = hidden.unaryExpr([&](float v) { return activation(c.act_fn, v); });
            Matrix mlp_out = hidden * b.mlp.W_out;  // [T, d_model]
            mlp_out.rowwise() += b.mlp.b_out;
            x += mlp_out;
        }
    }
    r.resid_pre.push_back(x);
    if (options.logits) {
        r.logits = normalise(m, x, m.ln_final) * m.W_U;  // [T, d_vocab_out]
        r.logits.rowwise() += m.b_U;
    }
    return r;
}

Matrix final_normalised(const Model& model, const Matrix& resid) {
    if (resid.cols() != model.cfg.d_model)
        throw Error("final_normalised: residual stream is [" + std::to_string(resid.rows()) + ", " +
                    std::to_string(resid.cols()) + "], expected [T, " + std::to_string(model.cfg.d_model) + "]");
    return normalise(model, resid, model.ln_final);
}

std::vector<ForwardResult> forward_batch(const Model& model, const std::vector<std::vector<int>>& batch, int threads,
                                         const ForwardOptions& options) {
    std::vector<ForwardResult> out(batch.size());
    parallel_for(static_cast<std::int64_t>(batch.size()), threads, [&](int, std::int64_t i) {
        out[static_cast<size_t>(i)] = forward(model, batch[static_cast<size_t>(i)], {}, options);
    });
    return out;
}

}  // namespace circuits
