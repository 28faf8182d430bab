// Weight processing in TransformerLens's sense: each function returns a new Model computing the
// same function (up to the documented invariances) and records what was applied.
#pragma once

#include "lib/model.hpp"

namespace circuits {

// Folds every LayerNorm's scale `w` into the weights that read its output and its bias `b` into
// their biases, and centres those reading weights over d_model (LN removes the mean anyway):
//   W_Q' = diag(w) W_Q - mean_rows,  b_Q' = b_Q + b W_Q   (likewise K, V, W_in, and ln_final into W_U, b_U)
// LN models become LNPre (same logits); LNPre and none models are returned unchanged (a no-op is
// not recorded). Records "fold_ln". Throws Error for shortformer LN models: their positions join the
// query/key inputs after ln1, so ln1 cannot be folded into W_Q/W_K exactly.
Model fold_ln(const Model& model);

// Subtracts from every weight that writes to the residual stream (W_E, standard W_pos, W_O, b_O,
// W_out, b_out) its mean over d_model. Only logit-preserving when every reader is preceded by LayerNorm
// (LN / LNPre); throws Error for normalization_type none. Records "center_writing_weights".
Model center_writing_weights(const Model& model);

// Subtracts from W_U (and b_U) the mean over the output vocabulary: softmax outputs unchanged.
// Records "center_unembed".
Model center_unembed(const Model& model);

// The processing the weight-based analysis passes expect: fold_ln, then center_writing_weights
// for models with LayerNorm. Shortformer LN models are returned unfolded with
// "ln_not_folded_shortformer" recorded. Both leave the logits unchanged; center_unembed is not applied (it
// changes logits by a per-position constant and would zero a single-output unembedding).
Model process_for_analysis(const Model& model);

}  // namespace circuits
