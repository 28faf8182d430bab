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
// F32, F16, BF16 (and F64) tensors; the buffers `attn.mask` and `attn.IGNORE` are ignored, any other
// tensor the config does not call for is an error. Missing biases are zeros. The header is
// untrusted: offsets must lie inside the file without overlaps, byte lengths must equal
// shape x dtype size, and the header has a size cap. Throws Error naming the file and tensor.
//
// config.json holds HookedTransformerConfig keys (n_layers, d_model, d_head, n_heads, d_mlp,
// d_vocab, d_vocab_out, n_ctx, act_fn, normalization_type, positional_embedding_type, attn_only,
// attention_dir, use_attn_scale, attn_scale, eps, ...; TransformerLens defaults apply to absent
// keys, positional_embedding_type may also be "none") and optionally these keys of ours:
// "vocab" / "vocab_out" (lists of strings), "bos_token" (index or token string), "origin",
// "residual_labels", "output_sop", "program_source", "weight_processing" (list of strings),
// "output_encoding" (categorical or numerical). An absent "vocab_out" is "vocab" when
// d_vocab_out = d_vocab, else "0", "1", ...
Model read_model_safetensors(const std::string& path, const std::string& config_path = "");

// A raw tensor as stored: dtype ("F32", "F16", "BF16", ...), shape, and its values as float.
struct SafetensorsTensor {
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::vector<float> values;  // row-major
};

// One header entry of a safetensors file: where its bytes lie in the data section.
struct SafetensorsEntry {
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0;  // byte offsets relative to the start of the data section
    std::uint64_t end = 0;
};

// An opened safetensors file whose header has been validated (size cap, JSON, dtypes, shapes,
// offsets inside the data section, contiguous without overlaps or gaps). Tensor bytes are read
// on demand.
class SafetensorsFile {
public:
    static constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

    explicit SafetensorsFile(std::string path);
    const std::string& path() const { return m_path; }
    const std::map<std::string, SafetensorsEntry>& entries() const { return m_entries; }
    const std::map<std::string, std::string>& metadata() const { return m_metadata; }
    bool contains(const std::string& name) const { return m_entries.count(name) > 0; }
    // The tensor's values converted to float; throws Error for a missing tensor, an unsupported
    // dtype or a read failure.
    SafetensorsTensor read(const std::string& name) const;

private:
    std::string m_path;
    std::uint64_t m_data_start = 0;  // file offset of the data section
    std::map<std::string, SafetensorsEntry> m_entries;
    std::map<std::string, std::string> m_metadata;  // "__metadata__"
};

// All tensors of a safetensors file (validated as above), by name.
std::map<std::string, SafetensorsTensor> read_safetensors(const std::string& path);

// Writes tensors (F32) to a safetensors file atomically; used by tests and exporters.
void write_safetensors(const std::map<std::string, SafetensorsTensor>& tensors, const std::string& path);

// Writes `model` as a TransformerLens-named safetensors file plus `config.json` beside it
// (`config_path`, default: config.json in the same folder).
void write_model_safetensors(const Model& model, const std::string& path, const std::string& config_path = "");

// Float conversions of the 16-bit formats (exposed for tests).
float half_to_float(std::uint16_t bits);
float bfloat16_to_float(std::uint16_t bits);

}  // namespace circuits
