// safetensors files with TransformerLens state-dict names, plus the config.json beside them.
#pragma once

#include "lib/model.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace circuits {

// Reads `path` (a .safetensors file with TransformerLens names: `embed.W_E`, `blocks.0.attn.W_Q`, ...)
// and the TransformerLens config in `config_path` (default: `config.json` in the same folder).
// F32, F16 and BF16 tensors; the buffers `attn.mask` and `attn.IGNORE` are ignored. The header is
// untrusted: offsets must lie inside the file without overlaps, byte lengths must equal
// shape x dtype size, and the header has a size cap. Throws Error naming the file and tensor.
Model read_model_safetensors(const std::string& path, const std::string& config_path = "");

// A raw tensor as stored: dtype ("F32", "F16", "BF16", ...), shape, and its values as float.
struct SafetensorsTensor {
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::vector<float> values;  // row-major
};

// All tensors of a safetensors file (validated as above), by name.
std::map<std::string, SafetensorsTensor> read_safetensors(const std::string& path);

// Writes tensors (F32) to a safetensors file atomically; used by tests and exporters.
void write_safetensors(const std::map<std::string, SafetensorsTensor>& tensors, const std::string& path);

// Writes `model` as a TransformerLens-named safetensors file plus `config.json` beside it
// (`config_path`, default: config.json in the same folder).
void write_model_safetensors(const Model& model, const std::string& path, const std::string& config_path = "");

}  // namespace circuits
