// The attention-only transformer Model: config and weights in TransformerLens conventions.
#pragma once

#include "lib/vocabulary.hpp"

#include <Eigen/Dense>

#include <cstdint>
#include <string>
#include <vector>

namespace circuits {

// Row-major storage is not used: weights are Eigen's default column-major; the HDF5 and
// safetensors readers convert from the row-major layout on disk on purpose.
using Matrix = Eigen::MatrixXf;
using Vector = Eigen::VectorXf;
using RowVector = Eigen::RowVectorXf;

enum class PositionalEmbedding { standard, shortformer, none };
enum class Normalization { none, LN, LNPre };
enum class ActFn { relu, gelu };
// Where a model came from: compiled from a .rasp program, trained here, or read from elsewhere.
enum class Origin { compiled, trained, imported };
// How a compiled model's logits hold its output s-op (see Model::output_encoding).
enum class OutputEncoding { none, categorical, numerical };

std::string to_string(PositionalEmbedding p);
std::string to_string(Normalization n);
std::string to_string(ActFn a);
std::string to_string(Origin o);
std::string to_string(OutputEncoding e);  // "" for none
// Each throws Error naming the string and the values accepted.
PositionalEmbedding parse_positional_embedding(const std::string& s);
Normalization parse_normalization(const std::string& s);
ActFn parse_act_fn(const std::string& s);
Origin parse_origin(const std::string& s);
OutputEncoding parse_output_encoding(const std::string& s);  // "" is none

struct ModelConfig {
    int n_layers = 0;
    int n_heads = 0;
    int d_model = 0;
    int d_head = 0;
    int d_vocab = 0;
    int d_vocab_out = 0;
    int n_ctx = 0;
    int d_mlp = 0;  // 0 = attention-only
    PositionalEmbedding positional_embedding_type = PositionalEmbedding::standard;
    Normalization normalization_type = Normalization::none;
    double attn_scale = 0.0;  // 0 = sqrt(d_head)
    bool causal = true;
    ActFn act_fn = ActFn::relu;
    Origin origin = Origin::imported;
    int bos_token = -1;
    double ln_eps = 1e-5;

    // The divisor of attention logits: attn_scale, or sqrt(d_head) when unset.
    double effective_attn_scale() const;
    bool has_mlp() const { return d_mlp > 0; }
    bool has_ln_weights() const { return normalization_type == Normalization::LN; }
    bool has_positions() const { return positional_embedding_type != PositionalEmbedding::none; }
    // Throws Error unless every dimension is positive and bos_token and attn_scale are in range.
    void validate() const;
};

struct LayerNormWeights {
    Vector w;  // [d_model]
    Vector b;  // [d_model]
};

struct AttentionWeights {
    std::vector<Matrix> W_Q, W_K, W_V;  // per head [d_model, d_head]
    std::vector<Matrix> W_O;            // per head [d_head, d_model]
    std::vector<RowVector> b_Q, b_K, b_V;  // per head [d_head]
    RowVector b_O;                          // [d_model]
};

struct MlpWeights {
    Matrix W_in;      // [d_model, d_mlp]
    RowVector b_in;   // [d_mlp]
    Matrix W_out;     // [d_mlp, d_model]
    RowVector b_out;  // [d_model]
};

struct Block {
    LayerNormWeights ln1;  // LN only
    AttentionWeights attn;
    LayerNormWeights ln2;  // LN with MLP only
    MlpWeights mlp;        // d_mlp > 0 only
};

struct Model {
    ModelConfig cfg;
    Matrix W_E;    // [d_vocab, d_model]
    Matrix W_pos;  // [n_ctx, d_model]; empty for `none`
    std::vector<Block> blocks;
    LayerNormWeights ln_final;  // LN only
    Matrix W_U;      // [d_model, d_vocab_out]
    RowVector b_U;   // [d_vocab_out]

    Vocabulary vocab;                          // [d_vocab]
    Vocabulary vocab_out;                      // [d_vocab_out]
    std::vector<std::string> residual_labels;  // [d_model] or empty
    std::string program_source;                // compiled models: the .rasp text
    std::string output_sop;                    // compiled models: the output s-op's name
    // Compiled models: how the logits hold the output s-op. categorical: one logit per value of
    // vocab_out, > 0 where the value is there (all < 0: none); numerical: one logit holding the
    // value. none for other models (predictions are the argmax over vocab_out).
    OutputEncoding output_encoding = OutputEncoding::none;
    std::vector<std::string> weight_processing;  // e.g. "fold_ln", in the order applied

    // A model with every tensor present and zero-filled for `cfg`, vocabularies "0", "1", ...
    static Model zeros(const ModelConfig& cfg);

    // Throws Error naming the tensor when a shape disagrees with cfg or a weight is not finite
    // (the tensors are those of lib/tensor_catalogue.hpp).
    void validate() const;
    std::int64_t parameter_count() const;
    // Token index by its string, or -1 (vocab.index: a hash lookup).
    int token_index(const std::string& token) const;
};

// Every tensor of a model with its TransformerLens state-dict name ("blocks.0.attn.W_Q") and shape.
struct TensorInfo {
    std::string name;
    std::vector<std::int64_t> shape;
};
std::vector<TensorInfo> tensor_list(const ModelConfig& cfg);

// Default vocabulary strings "0", "1", ..., n-1.
std::vector<std::string> numbered_vocab(int n);

}  // namespace circuits
