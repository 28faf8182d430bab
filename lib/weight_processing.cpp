// fold_ln, center_writing_weights and center_unembed (TransformerLens semantics).
#include "lib/weight_processing.hpp"

#include "lib/error.hpp"

namespace circuits {

namespace {

// For a reader W [d_model, n] and bias c [n] after LN(x) * w + b:
//   (LN(x) * w + b) W + c = LN(x) (diag(w) W) + (b W + c).
// LN(x) has zero mean over d_model, so a constant per column of diag(w) W can be removed.
void fold_reader(const LayerNormWeights& ln, Matrix& W, RowVector& bias) {
    bias += ln.b.transpose() * W;
    W = ln.w.asDiagonal() * W;
    W.rowwise() -= W.colwise().mean();
}

}  // namespace

Model fold_ln(const Model& model) {
    if (model.cfg.normalization_type != Normalization::LN) return model;
    if (model.cfg.positional_embedding_type == PositionalEmbedding::shortformer)
        throw Error("fold_ln: shortformer positions are added to the query and key inputs after ln1, so ln1's scale "
                    "cannot be folded into W_Q and W_K without changing the model");
    Model m = model;
    for (auto& b : m.blocks) {
        for (int h = 0; h < m.cfg.n_heads; ++h) {
            const auto uh = static_cast<size_t>(h);
            fold_reader(b.ln1, b.attn.W_Q[uh], b.attn.b_Q[uh]);
            fold_reader(b.ln1, b.attn.W_K[uh], b.attn.b_K[uh]);
            fold_reader(b.ln1, b.attn.W_V[uh], b.attn.b_V[uh]);
        }
        b.ln1 = {};
        if (m.cfg.has_mlp()) {
            fold_reader(b.ln2, b.mlp.W_in, b.mlp.b_in);
            b.ln2 = {};
        }
    }
    fold_reader(m.ln_final, m.W_U, m.b_U);
    m.ln_final = {};
    m.cfg.normalization_type = Normalization::LNPre;
    m.weight_processing.push_back("fold_ln");
    return m;
}

Model center_writing_weights(const Model& model) {
    if (model.cfg.normalization_type == Normalization::none)
        throw Error("center_writing_weights: the model has no LayerNorm, so centring would change its outputs");
    Model m = model;
    const auto centre_rows = [](Matrix& W) { W.colwise() -= W.rowwise().mean(); };  // each row: mean over d_model
    const auto centre_row = [](RowVector& v) { v.array() -= v.mean(); };
    centre_rows(m.W_E);
    // Shortformer positions are added to query/key inputs after ln1, not to the stream: left alone.
    if (m.cfg.positional_embedding_type == PositionalEmbedding::standard) centre_rows(m.W_pos);
    for (auto& b : m.blocks) {
        for (auto& W_O : b.attn.W_O) centre_rows(W_O);
        centre_row(b.attn.b_O);
        if (m.cfg.has_mlp()) {
            centre_rows(b.mlp.W_out);
            centre_row(b.mlp.b_out);
        }
    }
    m.weight_processing.push_back("center_writing_weights");
    return m;
}

Model center_unembed(const Model& model) {
    Model m = model;
    m.W_U.colwise() -= m.W_U.rowwise().mean();  // each row of W_U: mean over the output vocabulary
    m.b_U.array() -= m.b_U.mean();
    m.weight_processing.push_back("center_unembed");
    return m;
}

Model process_for_analysis(const Model& model) {
    if (model.cfg.normalization_type == Normalization::LN &&
        model.cfg.positional_embedding_type == PositionalEmbedding::shortformer) {
        Model m = model;  // see fold_ln: not foldable; weight-based passes read the unfolded weights
        m.weight_processing.push_back("ln_not_folded_shortformer");
        return m;
    }
    Model m = fold_ln(model);
    if (m.cfg.normalization_type != Normalization::none) m = center_writing_weights(m);
    return m;
}

}  // namespace circuits
