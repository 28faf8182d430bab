// safetensors reading and writing (see safetensors.hpp): an untrusted header validated before any
// tensor byte is read, and the TransformerLens config.json that gives the tensors their meaning.
#include "lib/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/tensor_catalogue.hpp"

namespace circuits {

using nlohmann::json;

namespace {

// Bytes per element of every dtype the format defines; 0 for an unknown name.
std::uint64_t dtype_size(const std::string& dtype) {
    static const std::map<std::string, std::uint64_t> sizes = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},  {"I32", 4},     {"I16", 2},    {"I8", 1},
        {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    const auto it = sizes.find(dtype);
    return it == sizes.end() ? 0 : it->second;
}

bool is_float_dtype(const std::string& dtype) {
    return dtype == "F32" || dtype == "F16" || dtype == "BF16" || dtype == "F64";
}

std::uint64_t load_le(const unsigned char* p, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    return v;
}

void store_le(std::string& out, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

float half_to_float(std::uint16_t bits) {
    const bool negative = (bits & 0x8000u) != 0;
    const int exponent = (bits >> 10) & 0x1f;
    const int mantissa = bits & 0x3ff;
    float v;
    if (exponent == 0) {
        v = std::ldexp(static_cast<float>(mantissa), -24);  // zero and subnormals: m * 2^-24
    } else if (exponent == 31) {
        v = mantissa == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
    } else {
        v = std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);  // (1 + m/1024) 2^(e-15)
    }
    return negative ? -v : v;
}

float bfloat16_to_float(std::uint16_t bits) {
    // bfloat16 is the upper half of an IEEE float32.
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

namespace {

// The header's JSON text, after checking the file and the 8-byte length before it; `data_start`
// and `data_size` receive where the data section begins and how long it is.
std::string read_header_text(const std::string& path, std::uint64_t& data_start, std::uint64_t& data_size) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw Error(path + ": no such file");
    if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": not a regular file");
    const std::uint64_t file_size = std::filesystem::file_size(path, ec);
    if (ec) throw Error(path + ": cannot read the file size: " + ec.message());
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open file");
    if (file_size < 8)
        throw Error(path + ": truncated: " + std::to_string(file_size) +
                    " bytes, shorter than the 8-byte header length that starts a safetensors file");
    unsigned char length_bytes[8];
    in.read(reinterpret_cast<char*>(length_bytes), 8);
    const std::uint64_t header_size = load_le(length_bytes, 8);
    if (header_size > SafetensorsFile::kMaxHeaderBytes)
        throw Error(path + ": header length " + std::to_string(header_size) + " exceeds the cap of " +
                    std::to_string(SafetensorsFile::kMaxHeaderBytes) + " bytes (not a safetensors file, or corrupt)");
    if (header_size > file_size - 8)
        throw Error(path + ": header length " + std::to_string(header_size) + " runs past the end of the file (" +
                    std::to_string(file_size) + " bytes; truncated?)");
    std::string text(header_size, '\0');
    in.read(text.data(), static_cast<std::streamsize>(header_size));
    if (!in) throw Error(path + ": cannot read the header");
    data_start = 8 + header_size;
    data_size = file_size - data_start;
    return text;
}

json parse_header(const std::string& path, const std::string& text) {
    // nlohmann keeps the last of duplicate keys silently; the format forbids duplicates.
    std::set<std::string> seen;
    std::string duplicate;
    const json::parser_callback_t note_keys = [&](int depth, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::key && depth == 1) {
            const auto key = parsed.get<std::string>();
            if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
        }
        return true;
    };
    json header;
    try {
        header = json::parse(text, note_keys);
    } catch (const json::exception& e) {
        throw Error(path + ": the header is not valid JSON: " + e.what());
    }
    if (!header.is_object()) throw Error(path + ": the header is not a JSON object");
    if (!duplicate.empty()) throw Error(path + ": tensor '" + duplicate + "' appears twice in the header");
    return header;
}

// One tensor's header entry, checked against its dtype, shape and the data section's size.
SafetensorsEntry parse_entry(const std::string& where, const json& info, std::uint64_t data_size) {
    if (!info.is_object()) throw Error(where + ": header entry is not a JSON object");
    for (const char* field : {"dtype", "shape", "data_offsets"})
        if (!info.contains(field)) throw Error(where + ": header entry has no '" + field + "'");
    SafetensorsEntry e;
    if (!info["dtype"].is_string()) throw Error(where + ": 'dtype' is not a string");
    e.dtype = info["dtype"].get<std::string>();
    const std::uint64_t size = dtype_size(e.dtype);
    if (size == 0) throw Error(where + ": unknown dtype '" + e.dtype + "'");

    const json& shape = info["shape"];
    if (!shape.is_array()) throw Error(where + ": 'shape' is not an array");
    std::uint64_t count = 1;
    for (const auto& d : shape) {
        if (!d.is_number_unsigned() || d.get<std::uint64_t>() > std::uint64_t{1} << 62)
            throw Error(where + ": shape " + shape.dump() + " has a dimension that is not a non-negative integer");
        const auto dim = d.get<std::uint64_t>();
        if (__builtin_mul_overflow(count, dim, &count))
            throw Error(where + ": shape " + shape.dump() + " overflows the element count");
        e.shape.push_back(static_cast<std::int64_t>(dim));
    }
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(count, size, &bytes))
        throw Error(where + ": shape " + shape.dump() + " overflows the byte count");

    const json& offsets = info["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
        throw Error(where + ": 'data_offsets' " + offsets.dump() + " is not a pair of non-negative integers");
    e.begin = offsets[0].get<std::uint64_t>();
    e.end = offsets[1].get<std::uint64_t>();
    if (e.begin > e.end) throw Error(where + ": data_offsets " + offsets.dump() + " end before they begin");
    if (e.end > data_size)
        throw Error(where + ": data_offsets " + offsets.dump() + " lie outside the data section of " +
                    std::to_string(data_size) + " bytes (truncated file?)");
    if (e.end - e.begin != bytes)
        throw Error(where + ": shape " + shape_string(e.shape) + " of " + e.dtype + " needs " + std::to_string(bytes) +
                    " bytes, but data_offsets " + offsets.dump() + " span " + std::to_string(e.end - e.begin));
    return e;
}

// The tensors must tile the data section: no overlaps, no gaps, nothing after the last one.
void check_tiling(const std::string& path, const std::map<std::string, SafetensorsEntry>& entries,
                  std::uint64_t data_size) {
    std::vector<std::pair<std::string, const SafetensorsEntry*>> order;
    for (const auto& [name, e] : entries) order.emplace_back(name, &e);
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
        return std::tie(a.second->begin, a.second->end) < std::tie(b.second->begin, b.second->end);
    });
    std::uint64_t covered = 0;
    std::string previous;
    for (const auto& [name, e] : order) {
        if (e->begin < covered)
            throw Error(path + ": tensor '" + name + "' (bytes " + std::to_string(e->begin) + " to " +
                        std::to_string(e->end) + ") overlaps tensor '" + previous + "'");
        if (e->begin > covered)
            throw Error(path + ": bytes " + std::to_string(covered) + " to " + std::to_string(e->begin) +
                        " of the data section belong to no tensor (before tensor '" + name + "')");
        covered = e->end;
        previous = name;
    }
    if (covered != data_size)
        throw Error(path + ": " + std::to_string(data_size - covered) +
                    " bytes after the last tensor belong to no tensor");
}

}  // namespace

SafetensorsFile::SafetensorsFile(std::string path) : m_path(std::move(path)) {
    std::uint64_t data_size = 0;
    const json header = parse_header(m_path, read_header_text(m_path, m_data_start, data_size));
    for (const auto& [name, info] : header.items()) {
        if (name == "__metadata__") {
            if (!info.is_object()) throw Error(m_path + ": __metadata__ is not a JSON object");
            for (const auto& [key, value] : info.items()) {
                if (!value.is_string()) throw Error(m_path + ": __metadata__ value of '" + key + "' is not a string");
                m_metadata[key] = value.get<std::string>();
            }
            continue;
        }
        m_entries.emplace(name, parse_entry(m_path + ": tensor '" + name + "'", info, data_size));
    }
    check_tiling(m_path, m_entries, data_size);
}

SafetensorsTensor SafetensorsFile::read(const std::string& name) const {
    const auto it = m_entries.find(name);
    if (it == m_entries.end()) throw Error(m_path + ": no tensor '" + name + "'");
    const SafetensorsEntry& e = it->second;
    if (!is_float_dtype(e.dtype))
        throw Error(m_path + ": tensor '" + name + "' has dtype " + e.dtype +
                    "; only F32, F16, BF16 and F64 tensors are supported");
    const std::uint64_t size = dtype_size(e.dtype);
    std::vector<unsigned char> bytes(e.end - e.begin);
    std::ifstream in(m_path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(m_data_start + e.begin));
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!in) throw Error(m_path + ": cannot read tensor '" + name + "' (file changed or truncated?)");

    SafetensorsTensor t{e.dtype, e.shape, std::vector<float>(bytes.size() / size)};
    for (size_t i = 0; i < t.values.size(); ++i) {
        const unsigned char* p = bytes.data() + i * size;
        if (e.dtype == "F32")
            t.values[i] = std::bit_cast<float>(static_cast<std::uint32_t>(load_le(p, 4)));
        else if (e.dtype == "F16")
            t.values[i] = half_to_float(static_cast<std::uint16_t>(load_le(p, 2)));
        else if (e.dtype == "BF16")
            t.values[i] = bfloat16_to_float(static_cast<std::uint16_t>(load_le(p, 2)));
        else
            t.values[i] = static_cast<float>(std::bit_cast<double>(load_le(p, 8)));
    }
    return t;
}

std::map<std::string, SafetensorsTensor> read_safetensors(const std::string& path) {
    const SafetensorsFile f(path);
    std::map<std::string, SafetensorsTensor> out;
    for (const auto& entry : f.entries()) out.emplace(entry.first, f.read(entry.first));
    return out;
}

void write_safetensors(const std::map<std::string, SafetensorsTensor>& tensors, const std::string& path) {
    json header = json::object();
    std::uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        if (name == "__metadata__" || name.empty()) throw Error(path + ": invalid tensor name '" + name + "'");
        if (!t.dtype.empty() && t.dtype != "F32")
            throw Error(path + ": tensor '" + name + "': only F32 can be written, got " + t.dtype);
        std::uint64_t count = 1;
        for (auto d : t.shape) {
            if (d < 0) throw Error(path + ": tensor '" + name + "': negative dimension in " + shape_string(t.shape));
            count *= static_cast<std::uint64_t>(d);
        }
        if (count != t.values.size())
            throw Error(path + ": tensor '" + name + "': " + std::to_string(t.values.size()) + " values for shape " +
                        shape_string(t.shape));
        header[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * count}}};
        offset += 4 * count;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned

    std::string bytes;
    bytes.reserve(8 + text.size() + offset);
    store_le(bytes, text.size(), 8);
    bytes += text;
    for (const auto& entry : tensors)
        for (float v : entry.second.values) store_le(bytes, std::bit_cast<std::uint32_t>(v), 4);

    AtomicOutput out(path);
    {
        std::ofstream os(out.temp_path(), std::ios::binary | std::ios::trunc);
        if (!os) throw Error(path + ": cannot create file");
        os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        os.close();
        if (!os) throw Error(path + ": cannot write file");
    }
    out.commit();
}

// ---------------------------------------------------------------------------------------------
// Models

namespace {

std::string default_config_path(const std::string& path) {
    return (std::filesystem::path(path).parent_path() / "config.json").string();
}

// TransformerLens options that change the computation in ways a circuits Model cannot express.
void reject_unsupported(const ConfigJson& cfg) {
    for (const char* key :
         {"final_rms", "parallel_attn_mlp", "gated_mlp", "use_local_attn", "scale_attn_by_inverse_layer_idx",
          "post_embedding_ln", "use_normalization_before_and_after", "use_qk_norm"})
        if (cfg.boolean_or(key, false)) cfg.fail(key, "= true is not supported by circuits");
    for (const char* key : {"attn_scores_soft_cap", "output_logits_soft_cap"})
        if (cfg.number_or(key, -1.0) > 0) cfg.fail(key, "> 0 is not supported by circuits");
    for (const char* key : {"num_experts", "n_key_value_heads"})
        if (cfg.has(key)) cfg.fail(key, "is set; mixture-of-experts and grouped-query attention are not supported");
}

// The config.json keys into a Model's config (and the settings stored beside it), each from its
// row of model_attributes().
Model parse_config(ConfigJson& cfg, const SafetensorsFile& file) {
    reject_unsupported(cfg);
    const auto embed = file.entries().find("embed.W_E");
    cfg.set_embedding_rows(file.path(), embed != file.entries().end() && embed->second.shape.size() == 2
                                            ? std::optional<std::int64_t>(embed->second.shape[0])
                                            : std::nullopt);
    Model m;
    for (const auto& a : model_attributes()) a.from_json(m, cfg);
    try {
        m.cfg.validate();
    } catch (const Error& e) {
        throw Error(cfg.path() + ": " + e.what());
    }
    return m;
}

// Reads tensors by TransformerLens name, checking shapes against the config and values for NaN/inf.
class TensorSource {
public:
    TensorSource(const SafetensorsFile& file, const ConfigJson& cfg) : m_file(file), m_cfg(cfg) {}

    bool has(const std::string& name) const { return m_file.contains(name); }

    std::vector<float> read(const std::string& name, const std::vector<std::int64_t>& shape) {
        if (!m_file.contains(name)) {
            std::string hint;
            if ((name.find(".mlp.") != std::string::npos || name.find(".ln2.") != std::string::npos) &&
                !m_cfg.contains("attn_only"))
                hint = " (config has no 'attn_only'; TransformerLens then expects MLPs)";
            throw Error(m_file.path() + ": missing tensor '" + name + "' of shape " + shape_string(shape) + hint);
        }
        const auto& entry = m_file.entries().at(name);
        if (entry.shape != shape)
            throw Error(m_file.path() + ": tensor '" + name + "' has shape " + shape_string(entry.shape) +
                        ", expected " + shape_string(shape) + " from " + m_cfg.path());
        SafetensorsTensor t = m_file.read(name);
        for (size_t i = 0; i < t.values.size(); ++i)
            if (!std::isfinite(t.values[i])) {
                std::vector<std::int64_t> index(shape.size());
                size_t rest = i;
                for (size_t d = shape.size(); d-- > 0;) {
                    index[d] = static_cast<std::int64_t>(rest % static_cast<size_t>(shape[d]));
                    rest /= static_cast<size_t>(shape[d]);
                }
                std::ostringstream os;
                os << m_file.path() << ": tensor '" << name << "' has a non-finite value " << t.values[i] << " at "
                   << shape_string(index);
                throw Error(os.str());
            }
        m_used.insert(name);
        return std::move(t.values);
    }

    // Reads spec's tensor into its slot of `m`; an absent optional one is zeros.
    void load(const TensorSpec& spec, Model& m) {
        if (spec.optional && !has(spec.name)) {
            slot_fill(spec.slot(m), spec.shape, 0.0f);
            return;
        }
        const auto v = read(spec.name, spec.shape);
        slot_assign(spec.slot(m), spec.shape, v.data());
    }

    // Tensors the config does not call for, except TransformerLens's attention buffers.
    std::vector<std::string> unused() const {
        const auto ends_with = [](const std::string& s, const std::string& suffix) {
            return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
        };
        std::vector<std::string> out;
        for (const auto& entry : m_file.entries())
            if (!m_used.count(entry.first) && !ends_with(entry.first, ".attn.mask") &&
                !ends_with(entry.first, ".attn.IGNORE"))
                out.push_back(entry.first);
        return out;
    }

private:
    const SafetensorsFile& m_file;
    const ConfigJson& m_cfg;
    std::set<std::string> m_used;
};

}  // namespace

Model read_model_safetensors(const std::string& path, const std::string& config_path) {
    const SafetensorsFile file(path);
    ConfigJson cfg(config_path.empty() ? default_config_path(path) : config_path);
    Model m = parse_config(cfg, file);
    const auto& c = m.cfg;
    check_parameter_limit(c, cfg.path());

    TensorSource t(file, cfg);
    m.blocks.resize(static_cast<size_t>(c.n_layers));
    for (const auto& spec : tensor_catalogue(c)) t.load(spec, m);

    if (const auto unused = t.unused(); !unused.empty()) {
        std::string names;
        for (size_t i = 0; i < unused.size() && i < 10; ++i) names += (i ? ", " : "") + unused[i];
        if (unused.size() > 10) names += ", ... (" + std::to_string(unused.size()) + " in all)";
        throw Error(path + ": tensors that a model with the config in " + cfg.path() + " does not have: " + names);
    }

    // Our own keys: vocabularies, BOS and the bookkeeping a circuits model file carries.
    const auto sized_strings = [&](const char* key, int n) {
        auto s = cfg.strings(key);
        if (static_cast<int>(s.size()) != n)
            cfg.fail(key, "has " + std::to_string(s.size()) + " strings, expected " + std::to_string(n));
        return s;
    };
    m.vocab = cfg.contains("vocab") ? sized_strings("vocab", c.d_vocab) : numbered_vocab(c.d_vocab);
    if (cfg.contains("vocab_out"))
        m.vocab_out = sized_strings("vocab_out", c.d_vocab_out);
    else
        m.vocab_out = c.d_vocab_out == c.d_vocab ? m.vocab.tokens() : numbered_vocab(c.d_vocab_out);
    if (cfg.contains("residual_labels")) m.residual_labels = sized_strings("residual_labels", c.d_model);
    m.output_sop = cfg.string_or("output_sop", "");
    m.program_source = cfg.string_or("program_source", "");

    try {
        m.validate();
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
    return m;
}

namespace {

// Every tensor of `m` by TransformerLens name, row-major as stored.
std::map<std::string, SafetensorsTensor> model_tensors(const Model& m) {
    std::map<std::string, SafetensorsTensor> out;
    for (const auto& spec : tensor_catalogue(m.cfg))
        out[spec.name] = SafetensorsTensor{"F32", spec.shape, slot_values(read_slot(spec, m))};
    return out;
}

}  // namespace

void write_model_safetensors(const Model& m, const std::string& path, const std::string& config_path) {
    m.validate();
    json j;
    for (const auto& a : model_attributes()) a.to_json(m, j);
    // Our own keys beside TransformerLens's: what the HDF5 model file keeps as datasets.
    j["vocab"] = m.vocab;
    j["vocab_out"] = m.vocab_out;
    if (!m.residual_labels.empty()) j["residual_labels"] = m.residual_labels;
    if (!m.output_sop.empty()) j["output_sop"] = m.output_sop;
    if (!m.program_source.empty()) j["program_source"] = m.program_source;

    write_safetensors(model_tensors(m), path);
    const std::string cfg_path = config_path.empty() ? default_config_path(path) : config_path;
    AtomicOutput out(cfg_path);
    {
        std::ofstream os(out.temp_path(), std::ios::trunc);
        if (!os) throw Error(cfg_path + ": cannot create file");
        os << j.dump(2) << "\n";
        os.close();
        if (!os) throw Error(cfg_path + ": cannot write file");
    }
    out.commit();
}

}  // namespace circuits
