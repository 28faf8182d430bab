// The model's tensors and root attributes listed once; zeros, validation, parameter counts, inspect
// and every reader and writer (HDF5, safetensors) walk these lists instead of naming tensors.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "lib/config_json.hpp"
#include "lib/model.hpp"

namespace circuits {

// The Model member that holds one tensor, in whichever Eigen layout that member uses: per-head
// weights are a vector of matrices, per-head biases a vector of row vectors.
using TensorSlot = std::variant<Matrix*, Vector*, RowVector*, std::vector<Matrix>*, std::vector<RowVector>*>;

// One tensor of the catalogue.
struct TensorSpec {
    std::string path;                 // in the HDF5 model file: "blocks/0/attn/W_Q"
    std::string name;                 // TransformerLens state-dict name: "blocks.0.attn.W_Q"
    std::vector<std::int64_t> shape;  // row-major as stored: per-head tensors lead with n_heads
    bool optional = false;            // biases: an absent one reads as zeros
    float initial = 0.0f;             // what Model::zeros fills it with (LayerNorm scales: 1)
    std::function<TensorSlot(Model&)> slot;
};

// Every tensor a model with config `cfg` has, in the order the writers store them. Which tensors
// appear depends on the config: LayerNorm weights only for LN, ln2 and mlp only when d_mlp > 0,
// pos_embed only with positions.
std::vector<TensorSpec> tensor_catalogue(const ModelConfig& cfg);

// The top-level groups of a model file that hold tensors; any other dataset under them is a tensor
// the config does not call for. Other groups (/vocab, /program, /training, ...) are not tensors.
const std::vector<std::string>& tensor_groups();

// The number of weights a model with config `cfg` has, from the catalogue without allocating.
std::int64_t parameter_count(const ModelConfig& cfg);

// Readers refuse configs over this many parameters before they allocate anything.
inline constexpr double kMaxParameters = 4e9;
// Throws Error "<where>: ... over the 4e9 limit" when cfg describes more than kMaxParameters weights.
void check_parameter_limit(const ModelConfig& cfg, const std::string& where);

// "[2, 3, 4]".
std::string shape_string(const std::vector<std::int64_t>& shape);

// The slot of `spec` in a model that is only read (the catalogue's accessors take Model&).
TensorSlot read_slot(const TensorSpec& spec, const Model& m);
// The slot's values row-major, as `spec.shape` lays them out.
std::vector<float> slot_values(const TensorSlot& slot);
// Replaces the slot's contents by `shape` values read row-major from `data`.
void slot_assign(const TensorSlot& slot, const std::vector<std::int64_t>& shape, const float* data);
// Replaces the slot's contents by `shape` copies of `value`.
void slot_fill(const TensorSlot& slot, const std::vector<std::int64_t>& shape, float value);
// Throws Error naming `spec.path` (and the head) when the slot's shape disagrees with spec.shape
// or a value is not finite.
void check_slot(const TensorSpec& spec, const TensorSlot& slot);

// A root attribute of the HDF5 model file (ModelConfig fields and the few Model fields stored
// beside them), in the order the writer stores them, and the same setting in the config.json beside
// a safetensors file: TransformerLens's HookedTransformerConfig keys, whose names, encodings and
// defaults differ (ln_eps is "eps", causal is "attention_dir", d_mlp comes with "attn_only", ...).
using AttributeValue = std::variant<std::int64_t, double, std::string>;
struct ConfigAttribute {
    enum class Type { integer, real, text };
    const char* name;
    Type type;
    bool required;
    // The value to store, or nullopt when the attribute is left out (act_fn without MLPs, ...).
    std::function<std::optional<AttributeValue>(const Model&)> get;
    // Stores a value read from a file; throws Error for a value out of its domain.
    std::function<void(Model&, const AttributeValue&)> set;
    // For an optional attribute the file lacks: the default when it is not the ModelConfig default.
    std::function<void(Model&)> fallback;
    // Writes the setting's config.json keys (null where TransformerLens writes null).
    std::function<void(const Model&, nlohmann::json&)> to_json;
    // Reads them, TransformerLens's default for an absent or null key; throws Error naming the key
    // for a value circuits does not support. Rows are read in order: a later one may use an earlier.
    std::function<void(Model&, const ConfigJson&)> from_json;
};
const std::vector<ConfigAttribute>& model_attributes();

}  // namespace circuits
