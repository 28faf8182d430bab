// Forward and backward pass of a batch of sequences through the flat parameters (float or double).
#pragma once

#include <span>
#include <vector>

#include "lib/train/params.hpp"

namespace circuits::train {

// One training sequence: the input tokens and, per position, the output token to predict there.
struct Example {
    std::vector<int> tokens;   // [T] indices into vocab, T <= n_ctx
    std::vector<int> targets;  // [T] indices into vocab_out, or -1 where the position is not scored
};

// Runs a batch of sequences as one stacked [N, d_model] residual stream (N = total tokens), so the
// projections are single GEMMs; attention is per sequence and head. Keeps what the backward pass
// needs, so one object per thread is reused step after step without reallocating.
//
// Loss: the sum over scored positions of the cross-entropy -log softmax(logits)[target] (nats).
template <typename S>
class Backprop {
public:
    using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
    using Col = Eigen::Matrix<S, Eigen::Dynamic, 1>;

    // Forward pass; returns the summed loss. Throws Error for an empty batch, a sequence longer than
    // n_ctx, tokens or targets out of range, or tokens and targets of different lengths.
    double forward(const Params<S>& params, std::span<const Example> examples);
    // Adds `weight` times the gradient of the last forward's summed loss to `grad` (same config).
    void backward(const Params<S>& params, S weight, Params<S>& grad);

    int scored() const { return m_scored; }         // scored positions in the last forward
    const Mat& logits() const { return m_logits; }  // [N, d_vocab_out]
    Eigen::Index rows() const { return m_N; }
    Eigen::Index offset(size_t seq) const { return m_offsets[seq]; }  // first row of sequence seq
    Eigen::Index length(size_t seq) const { return m_offsets[seq + 1] - m_offsets[seq]; }
    // Attention pattern of (layer, head) on sequence seq: [T query, T key], rows sum to 1.
    const Mat& pattern(int layer, size_t seq, int head) const {
        return m_layers[static_cast<size_t>(layer)].A[seq * static_cast<size_t>(m_heads) + static_cast<size_t>(head)];
    }

private:
    struct NormCache {
        Mat y;        // [N, d] normalised rows (LN, LNPre)
        Col inv_std;  // [N] 1 / sqrt(var + eps)
    };
    struct LayerCache {
        NormCache n1;
        Mat xn;              // [N, d_model] ln1 output (the value input)
        Mat qk_in;           // [N, d_model] query/key input (xn plus W_pos for shortformer)
        Mat Q, K, V, Z;      // [N, n_heads * d_head]
        std::vector<Mat> A;  // [seq * n_heads + head] -> [T, T]
        NormCache n2;
        Mat xn2, pre, act;  // MLP: [N, d_model], [N, d_mlp], [N, d_mlp]
    };

    // Stages of forward(): the batch flattened to rows (checked against the config), the
    // embedding, one layer's attention and MLP on m_x, and the loss with its logit gradient.
    void flatten(const ModelConfig& c, std::span<const Example> examples);
    void embed(const Params<S>& p);
    void attention_forward(const Params<S>& p, int layer);
    void mlp_forward(const Params<S>& p, int layer);
    double loss_forward(const ModelConfig& c);

    std::vector<Eigen::Index> m_offsets;                // [n_seq + 1]
    std::vector<int> m_tokens, m_targets, m_positions;  // [N]
    Eigen::Index m_N = 0;
    int m_heads = 0;
    int m_scored = 0;
    std::vector<LayerCache> m_layers;
    NormCache m_nf;
    Mat m_x, m_xf, m_logits, m_dlogits;  // m_dlogits: softmax - onehot on scored rows, 0 elsewhere
    Mat m_dx, m_dtmp, m_dZ, m_dQ, m_dK, m_dV, m_dqk, m_dxn, m_dA, m_dS, m_dpre;
};

extern template class Backprop<float>;
extern template class Backprop<double>;

}  // namespace circuits::train
