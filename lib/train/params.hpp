// Trainable parameters in one flat array, laid out for batched GEMMs, and conversions to and from Model.
#pragma once

#include "lib/model.hpp"

#include <Eigen/Dense>

#include <string>
#include <vector>

namespace circuits::train {

class Rng;

// Every tensor of a model as a column-major block of one flat array, so that the optimiser and the
// gradient reduction are single loops. Per layer the heads are side by side:
//   W_Q, W_K, W_V  [d_model, n_heads * d_head]   (columns h*d_head .. (h+1)*d_head-1 are head h)
//   b_Q, b_K, b_V  [1, n_heads * d_head]
//   W_O            [n_heads * d_head, d_model]   (rows of head h likewise)
// Biases and LayerNorm weights are [1, n] rows. Gradients use the same class and layout.
template <typename S>
class Params {
public:
    using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
    using MapM = Eigen::Map<Mat>;
    using CMapM = Eigen::Map<const Mat>;

    struct Slot {
        std::string name;  // the model file's dataset name, e.g. "blocks/0/attn/W_Q"
        Eigen::Index offset = 0, rows = 0, cols = 0;
        bool decay = false;  // weight decay applies (weight matrices and embeddings, not biases or LN)
    };
    // Slot indices of one block; -1 where the tensor does not exist in this config.
    struct LayerSlots {
        int ln1_w = -1, ln1_b = -1;
        int W_Q = -1, W_K = -1, W_V = -1, b_Q = -1, b_K = -1, b_V = -1, W_O = -1, b_O = -1;
        int ln2_w = -1, ln2_b = -1, W_in = -1, b_in = -1, W_out = -1, b_out = -1;
    };

    // All zeros (LayerNorm weights too) for `cfg`; throws Error for an invalid config.
    explicit Params(const ModelConfig& cfg);

    const ModelConfig& cfg() const { return m_cfg; }
    const std::vector<Slot>& slots() const { return m_slots; }
    const LayerSlots& layer(int l) const { return m_layers[static_cast<size_t>(l)]; }
    std::vector<S>& data() { return m_data; }
    const std::vector<S>& data() const { return m_data; }
    Eigen::Index size() const { return static_cast<Eigen::Index>(m_data.size()); }

    MapM at(int slot) {
        const Slot& s = m_slots[static_cast<size_t>(slot)];
        return MapM(m_data.data() + s.offset, s.rows, s.cols);
    }
    CMapM at(int slot) const {
        const Slot& s = m_slots[static_cast<size_t>(slot)];
        return CMapM(m_data.data() + s.offset, s.rows, s.cols);
    }
    int W_E = -1, W_pos = -1, ln_final_w = -1, ln_final_b = -1, W_U = -1, b_U = -1;

    void set_zero() { std::fill(m_data.begin(), m_data.end(), S(0)); }

private:
    ModelConfig m_cfg;
    std::vector<Slot> m_slots;
    std::vector<LayerSlots> m_layers;
    std::vector<S> m_data;
    int add(const std::string& name, Eigen::Index rows, Eigen::Index cols, bool decay);
};

// Copies every tensor of `model` (validated first) into the flat layout.
template <typename S>
Params<S> params_from_model(const Model& model);

// Writes the parameters back into `model`, whose config must have the same shapes; vocabularies and
// labels of `model` are kept.
template <typename S>
void copy_to_model(const Params<S>& params, Model& model);

// TransformerLens-style initialisation: weight matrices and embeddings N(0, init_std^2) with
// init_std = 0.8 / sqrt(d_model), biases 0, LayerNorm scales 1. Draws in slot order from `rng`.
void init_params(Params<float>& params, Rng& rng);

}  // namespace circuits::train
