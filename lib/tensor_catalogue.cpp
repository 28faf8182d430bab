// The tensor catalogue and the root-attribute table with its config.json column (see
// tensor_catalogue.hpp), and the slot operations that let one loop read, write, fill and check any tensor whatever its
// Eigen layout.
#include "lib/tensor_catalogue.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "lib/error.hpp"

namespace circuits {

namespace {

using Shape = std::vector<std::int64_t>;

// Adds "<group>/<leaf>" (HDF5) and "<group>.<leaf>" (TransformerLens) with dots for the slashes.
struct CatalogueBuilder {
    std::vector<TensorSpec> specs;

    void add(const std::string& path, Shape shape, std::function<TensorSlot(Model&)> slot, bool optional = false,
             float initial = 0.0f) {
        std::string name = path;
        for (auto& ch : name)
            if (ch == '/') ch = '.';
        specs.push_back({path, name, std::move(shape), optional, initial, std::move(slot)});
    }

    // LayerNorm: scale w (initially 1) and shift b.
    void add_ln(const std::string& path, std::int64_t d, std::function<LayerNormWeights&(Model&)> ln) {
        add(
            path + "/w", {d}, [ln](Model& m) { return TensorSlot{&ln(m).w}; }, false, 1.0f);
        add(path + "/b", {d}, [ln](Model& m) { return TensorSlot{&ln(m).b}; });
    }
};

Block& block(Model& m, int l) {
    return m.blocks[static_cast<size_t>(l)];
}

void add_attention(CatalogueBuilder& t, const std::string& p, int l, const ModelConfig& c) {
    const std::int64_t D = c.d_model, H = c.n_heads, dh = c.d_head;
    t.add(p + "attn/W_Q", {H, D, dh}, [l](Model& m) { return TensorSlot{&block(m, l).attn.W_Q}; });
    t.add(p + "attn/W_K", {H, D, dh}, [l](Model& m) { return TensorSlot{&block(m, l).attn.W_K}; });
    t.add(p + "attn/W_V", {H, D, dh}, [l](Model& m) { return TensorSlot{&block(m, l).attn.W_V}; });
    t.add(p + "attn/W_O", {H, dh, D}, [l](Model& m) { return TensorSlot{&block(m, l).attn.W_O}; });
    t.add(
        p + "attn/b_Q", {H, dh}, [l](Model& m) { return TensorSlot{&block(m, l).attn.b_Q}; }, true);
    t.add(
        p + "attn/b_K", {H, dh}, [l](Model& m) { return TensorSlot{&block(m, l).attn.b_K}; }, true);
    t.add(
        p + "attn/b_V", {H, dh}, [l](Model& m) { return TensorSlot{&block(m, l).attn.b_V}; }, true);
    t.add(
        p + "attn/b_O", {D}, [l](Model& m) { return TensorSlot{&block(m, l).attn.b_O}; }, true);
}

void add_mlp(CatalogueBuilder& t, const std::string& p, int l, const ModelConfig& c) {
    const std::int64_t D = c.d_model, F = c.d_mlp;
    if (c.has_ln_weights()) t.add_ln(p + "ln2", D, [l](Model& m) -> LayerNormWeights& { return block(m, l).ln2; });
    t.add(p + "mlp/W_in", {D, F}, [l](Model& m) { return TensorSlot{&block(m, l).mlp.W_in}; });
    t.add(
        p + "mlp/b_in", {F}, [l](Model& m) { return TensorSlot{&block(m, l).mlp.b_in}; }, true);
    t.add(p + "mlp/W_out", {F, D}, [l](Model& m) { return TensorSlot{&block(m, l).mlp.W_out}; });
    t.add(
        p + "mlp/b_out", {D}, [l](Model& m) { return TensorSlot{&block(m, l).mlp.b_out}; }, true);
}

}  // namespace

std::vector<TensorSpec> tensor_catalogue(const ModelConfig& c) {
    const std::int64_t D = c.d_model;
    CatalogueBuilder t;
    t.add("embed/W_E", {c.d_vocab, D}, [](Model& m) { return TensorSlot{&m.W_E}; });
    if (c.has_positions()) t.add("pos_embed/W_pos", {c.n_ctx, D}, [](Model& m) { return TensorSlot{&m.W_pos}; });
    for (int l = 0; l < c.n_layers; ++l) {
        const std::string p = "blocks/" + std::to_string(l) + "/";
        if (c.has_ln_weights()) t.add_ln(p + "ln1", D, [l](Model& m) -> LayerNormWeights& { return block(m, l).ln1; });
        add_attention(t, p, l, c);
        if (c.has_mlp()) add_mlp(t, p, l, c);
    }
    if (c.has_ln_weights()) t.add_ln("ln_final", D, [](Model& m) -> LayerNormWeights& { return m.ln_final; });
    t.add("unembed/W_U", {D, c.d_vocab_out}, [](Model& m) { return TensorSlot{&m.W_U}; });
    t.add(
        "unembed/b_U", {c.d_vocab_out}, [](Model& m) { return TensorSlot{&m.b_U}; }, true);
    return std::move(t.specs);
}

const std::vector<std::string>& tensor_groups() {
    static const std::vector<std::string> groups = {"embed", "pos_embed", "blocks", "ln_final", "unembed"};
    return groups;
}

std::int64_t parameter_count(const ModelConfig& cfg) {
    std::int64_t n = 0;
    for (const auto& spec : tensor_catalogue(cfg)) {
        std::int64_t size = 1;
        for (const auto d : spec.shape) size *= d;
        n += size;
    }
    return n;
}

void check_parameter_limit(const ModelConfig& cfg, const std::string& where) {
    // Counted in double: absurd attributes overflow int64 products.
    double total = 0.0;
    for (const auto& spec : tensor_catalogue(cfg)) {
        double size = 1.0;
        for (const auto d : spec.shape) size *= static_cast<double>(d);
        total += size;
    }
    if (total > kMaxParameters)
        throw Error(where + ": describes " + std::to_string(total) + " parameters, over the 4e9 limit");
}

std::string shape_string(const Shape& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

TensorSlot read_slot(const TensorSpec& spec, const Model& m) {
    // The accessors only locate a member; callers of read_slot never write through the result.
    return spec.slot(const_cast<Model&>(m));
}

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void append(std::vector<float>& out, const Matrix& x) {
    const size_t at = out.size();
    out.resize(at + static_cast<size_t>(x.size()));
    Eigen::Map<RowMajor>(out.data() + at, x.rows(), x.cols()) = x;
}

template <typename V>
void append_vector(std::vector<float>& out, const V& v) {
    out.insert(out.end(), v.data(), v.data() + v.size());
}

Matrix from_row_major(const float* data, std::int64_t rows, std::int64_t cols) {
    return Eigen::Map<const RowMajor>(data, rows, cols);
}

// Shapes as Eigen sees them (a Vector is [n, 1], a RowVector [1, n]), so messages quote Eigen's sizes.
template <typename M>
void check_tensor(const std::string& name, const M& t, Eigen::Index rows, Eigen::Index cols) {
    if (t.rows() != rows || t.cols() != cols) {
        std::ostringstream os;
        os << name << ": shape [" << t.rows() << ", " << t.cols() << "], expected [" << rows << ", " << cols << "]";
        throw Error(os.str());
    }
    if (t.allFinite()) return;
    for (Eigen::Index r = 0; r < t.rows(); ++r)
        for (Eigen::Index c = 0; c < t.cols(); ++c)
            if (!std::isfinite(t(r, c))) {
                std::ostringstream os;
                os << name << ": non-finite value " << t(r, c) << " at [" << r << ", " << c << "]";
                throw Error(os.str());
            }
}

template <typename Heads>
void check_heads(const TensorSpec& spec, const Heads& heads, Eigen::Index rows, Eigen::Index cols) {
    if (static_cast<std::int64_t>(heads.size()) != spec.shape[0])
        throw Error(spec.path + ": " + std::to_string(heads.size()) +
                    " heads, expected n_heads = " + std::to_string(spec.shape[0]));
    for (size_t h = 0; h < heads.size(); ++h)
        check_tensor(spec.path + "[" + std::to_string(h) + "]", heads[h], rows, cols);
}

}  // namespace

std::vector<float> slot_values(const TensorSlot& slot) {
    std::vector<float> out;
    std::visit(
        [&](auto* p) {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, Matrix>)
                append(out, *p);
            else if constexpr (std::is_same_v<T, std::vector<Matrix>>) {
                for (const auto& x : *p) append(out, x);
            } else if constexpr (std::is_same_v<T, std::vector<RowVector>>) {
                for (const auto& x : *p) append_vector(out, x);
            } else
                append_vector(out, *p);
        },
        slot);
    return out;
}

void slot_assign(const TensorSlot& slot, const Shape& shape, const float* data) {
    std::visit(
        [&](auto* p) {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, Matrix>)
                *p = from_row_major(data, shape[0], shape[1]);
            else if constexpr (std::is_same_v<T, std::vector<Matrix>>) {
                p->clear();
                for (std::int64_t h = 0; h < shape[0]; ++h)
                    p->push_back(from_row_major(data + h * shape[1] * shape[2], shape[1], shape[2]));
            } else if constexpr (std::is_same_v<T, std::vector<RowVector>>) {
                p->clear();
                for (std::int64_t h = 0; h < shape[0]; ++h)
                    p->push_back(Eigen::Map<const RowVector>(data + h * shape[1], shape[1]));
            } else
                *p = Eigen::Map<const T>(data, shape[0]);
        },
        slot);
}

void slot_fill(const TensorSlot& slot, const Shape& shape, float value) {
    std::int64_t size = 1;
    for (const auto d : shape) size *= d;
    const std::vector<float> values(static_cast<size_t>(size), value);
    slot_assign(slot, shape, values.data());
}

void check_slot(const TensorSpec& spec, const TensorSlot& slot) {
    const auto& s = spec.shape;
    std::visit(
        [&](auto* p) {
            using T = std::remove_pointer_t<decltype(p)>;
            if constexpr (std::is_same_v<T, Matrix>)
                check_tensor(spec.path, *p, s[0], s[1]);
            else if constexpr (std::is_same_v<T, Vector>)
                check_tensor(spec.path, *p, s[0], 1);
            else if constexpr (std::is_same_v<T, RowVector>)
                check_tensor(spec.path, *p, 1, s[0]);
            else if constexpr (std::is_same_v<T, std::vector<Matrix>>)
                check_heads(spec, *p, s[1], s[2]);
            else
                check_heads(spec, *p, 1, s[1]);
        },
        slot);
}

namespace {

using Type = ConfigAttribute::Type;
using Opt = std::optional<AttributeValue>;
using nlohmann::json;

std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
    return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string part;
    while (std::getline(ss, part, sep))
        if (!part.empty()) out.push_back(part);
    return out;
}

ConfigAttribute attribute(const char* name, Type type, bool required) {
    ConfigAttribute a;
    a.name = name;
    a.type = type;
    a.required = required;
    return a;
}

// An int field of ModelConfig, stored as an integer attribute and under the same config.json key.
ConfigAttribute int_field(const char* name, int ModelConfig::*field, bool required) {
    ConfigAttribute a = attribute(name, Type::integer, required);
    a.get = [field](const Model& m) -> Opt { return std::int64_t{m.cfg.*field}; };
    a.set = [field](Model& m, const AttributeValue& v) { m.cfg.*field = static_cast<int>(std::get<std::int64_t>(v)); };
    a.to_json = [name, field](const Model& m, json& j) { j[name] = m.cfg.*field; };
    a.from_json = [name, field, required](Model& m, const ConfigJson& j) {
        m.cfg.*field = required ? j.integer(name) : j.integer_or(name, m.cfg.*field);
    };
    return a;
}

// The dimensions. TransformerLens defaults: n_heads = -1 is d_model / d_head; d_vocab = -1 is
// "from the tokenizer" (the embedding's rows); d_vocab_out = -1 is d_vocab; attn_only drops the
// MLPs, and d_mlp unset is 4 d_model.
void add_dimensions(std::vector<ConfigAttribute>& a) {
    a.push_back(int_field("n_layers", &ModelConfig::n_layers, true));
    a.push_back(int_field("n_heads", &ModelConfig::n_heads, true));
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        m.cfg.n_heads = j.integer_or("n_heads", -1);
        if (m.cfg.n_heads != -1) return;
        if (const int d_head = j.integer("d_head"); d_head > 0) m.cfg.n_heads = j.integer("d_model") / d_head;
    };
    a.push_back(int_field("d_model", &ModelConfig::d_model, true));
    a.push_back(int_field("d_head", &ModelConfig::d_head, true));
    a.push_back(int_field("d_vocab", &ModelConfig::d_vocab, true));
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        m.cfg.d_vocab = j.integer_or("d_vocab", -1);
        if (m.cfg.d_vocab == -1) m.cfg.d_vocab = j.embedding_rows();
    };
    a.push_back(int_field("d_vocab_out", &ModelConfig::d_vocab_out, false));
    a.back().fallback = [](Model& m) { m.cfg.d_vocab_out = m.cfg.d_vocab; };
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        m.cfg.d_vocab_out = j.integer_or("d_vocab_out", -1);
        if (m.cfg.d_vocab_out == -1) m.cfg.d_vocab_out = m.cfg.d_vocab;
    };
    a.push_back(int_field("n_ctx", &ModelConfig::n_ctx, true));
    a.push_back(int_field("d_mlp", &ModelConfig::d_mlp, false));
    a.back().to_json = [](const Model& m, json& j) {
        j["d_mlp"] = m.cfg.has_mlp() ? json(m.cfg.d_mlp) : json(nullptr);
        j["attn_only"] = !m.cfg.has_mlp();
    };
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        if (j.boolean_or("attn_only", false))
            m.cfg.d_mlp = 0;
        else
            m.cfg.d_mlp = j.has("d_mlp") ? j.integer("d_mlp") : 4 * m.cfg.d_model;
    };
}

// Positions and normalisation: the same names in both files; config.json writes null for none.
void add_architecture(std::vector<ConfigAttribute>& a) {
    a.push_back(attribute("positional_embedding_type", Type::text, true));
    a.back().get = [](const Model& m) -> Opt { return to_string(m.cfg.positional_embedding_type); };
    a.back().set = [](Model& m, const AttributeValue& v) {
        m.cfg.positional_embedding_type = parse_positional_embedding(std::get<std::string>(v));
    };
    a.back().to_json = [](const Model& m, json& j) {
        j["positional_embedding_type"] = to_string(m.cfg.positional_embedding_type);
    };
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        const std::string pos = j.string_or("positional_embedding_type", "standard");
        if (pos != "standard" && pos != "shortformer" && pos != "none")
            j.fail("positional_embedding_type", "= '" + pos + "' is not supported (standard, shortformer or none)");
        m.cfg.positional_embedding_type = parse_positional_embedding(pos);
    };
    a.push_back(attribute("normalization_type", Type::text, true));
    a.back().get = [](const Model& m) -> Opt { return to_string(m.cfg.normalization_type); };
    a.back().set = [](Model& m, const AttributeValue& v) {
        m.cfg.normalization_type = parse_normalization(std::get<std::string>(v));
    };
    a.back().to_json = [](const Model& m, json& j) {
        j["normalization_type"] =
            m.cfg.normalization_type == Normalization::none ? json(nullptr) : json(to_string(m.cfg.normalization_type));
    };
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        const std::string norm = j.string_or("normalization_type", "none");
        if (norm != "none" && norm != "LN" && norm != "LNPre")
            j.fail("normalization_type", "= '" + norm + "' is not supported (null, LN or LNPre)");
        m.cfg.normalization_type = parse_normalization(norm);
    };
}

// Attention: the scale written as the divisor actually used, so a reader need not know the
// sqrt(d_head) default; TransformerLens divides by attn_scale, or by 1 when use_attn_scale is
// false. causal is config.json's attention_dir.
void add_attention_options(std::vector<ConfigAttribute>& a) {
    a.push_back(attribute("attn_scale", Type::real, false));
    a.back().get = [](const Model& m) -> Opt { return m.cfg.effective_attn_scale(); };
    a.back().set = [](Model& m, const AttributeValue& v) { m.cfg.attn_scale = std::get<double>(v); };
    a.back().to_json = [](const Model& m, json& j) {
        j["use_attn_scale"] = true;
        j["attn_scale"] = m.cfg.effective_attn_scale();
    };
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        if (!j.boolean_or("use_attn_scale", true))
            m.cfg.attn_scale = 1.0;
        else if (const double s = j.number_or("attn_scale", -1.0); s > 0)
            m.cfg.attn_scale = s;
    };
    a.push_back(attribute("causal", Type::integer, false));
    a.back().get = [](const Model& m) -> Opt { return std::int64_t{m.cfg.causal ? 1 : 0}; };
    a.back().set = [](Model& m, const AttributeValue& v) { m.cfg.causal = std::get<std::int64_t>(v) != 0; };
    a.back().to_json = [](const Model& m, json& j) { j["attention_dir"] = m.cfg.causal ? "causal" : "bidirectional"; };
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        const std::string dir = j.string_or("attention_dir", "causal");
        if (dir != "causal" && dir != "bidirectional")
            j.fail("attention_dir", "should be causal or bidirectional, got '" + dir + "'");
        m.cfg.causal = dir == "causal";
    };
    // Without MLPs there is no activation: the model file leaves it out, config.json (whose
    // act_fn TransformerLens always has) keeps it, and whatever a foreign file says is unused.
    a.push_back(attribute("act_fn", Type::text, false));
    a.back().get = [](const Model& m) -> Opt {
        if (!m.cfg.has_mlp()) return std::nullopt;
        return to_string(m.cfg.act_fn);
    };
    a.back().set = [](Model& m, const AttributeValue& v) {
        if (m.cfg.has_mlp()) m.cfg.act_fn = parse_act_fn(std::get<std::string>(v));
    };
    a.back().to_json = [](const Model& m, json& j) { j["act_fn"] = to_string(m.cfg.act_fn); };
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        if (j.boolean_or("attn_only", false)) return;
        const std::string act = j.string_or("act_fn", "relu");
        if (act != "relu" && act != "gelu") j.fail("act_fn", "= '" + act + "' is not supported (relu or gelu)");
        m.cfg.act_fn = parse_act_fn(act);
    };
}

// A text attribute that is also a config.json string, read by `parse` with its error naming the key.
template <typename Parse>
void text_from_json(ConfigAttribute& a, const char* fallback, Parse parse) {
    const char* name = a.name;
    a.from_json = [name, fallback, parse](Model& m, const ConfigJson& j) {
        try {
            parse(m, j.string_or(name, fallback));
        } catch (const Error& e) {
            j.fail(name, e.what());
        }
    };
}

// The token given as an index or, in config.json, also as its string in "vocab".
void add_bos_token(std::vector<ConfigAttribute>& a) {
    a.push_back(int_field("bos_token", &ModelConfig::bos_token, false));
    a.back().to_json = [](const Model& m, json& j) {
        j["default_prepend_bos"] = m.cfg.bos_token >= 0;
        j["bos_token"] = m.cfg.bos_token >= 0 ? json(m.cfg.bos_token) : json(nullptr);
    };
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        if (!j.has("bos_token")) return;
        const json& bos = j.raw("bos_token");
        if (bos.is_string()) {
            const auto vocab = j.contains("vocab") ? j.strings("vocab") : numbered_vocab(m.cfg.d_vocab);
            const auto it = std::find(vocab.begin(), vocab.end(), bos.get<std::string>());
            if (it == vocab.end()) j.fail("bos_token", "= " + bos.dump() + " is not in the vocabulary");
            m.cfg.bos_token = static_cast<int>(it - vocab.begin());
            return;
        }
        m.cfg.bos_token = j.integer("bos_token");
        if (m.cfg.bos_token >= m.cfg.d_vocab)
            j.fail("bos_token", "= " + bos.dump() + " is outside [0, d_vocab = " + std::to_string(m.cfg.d_vocab) + ")");
    };
}

// Where the model came from and what was done to it: circuits' own keys in config.json.
void add_provenance(std::vector<ConfigAttribute>& a) {
    a.push_back(attribute("origin", Type::text, false));
    a.back().get = [](const Model& m) -> Opt { return to_string(m.cfg.origin); };
    a.back().set = [](Model& m, const AttributeValue& v) { m.cfg.origin = parse_origin(std::get<std::string>(v)); };
    a.back().to_json = [](const Model& m, json& j) { j["origin"] = to_string(m.cfg.origin); };
    text_from_json(a.back(), "imported", [](Model& m, const std::string& s) { m.cfg.origin = parse_origin(s); });
    add_bos_token(a);
    a.push_back(attribute("ln_eps", Type::real, false));
    a.back().get = [](const Model& m) -> Opt { return m.cfg.ln_eps; };
    a.back().set = [](Model& m, const AttributeValue& v) { m.cfg.ln_eps = std::get<double>(v); };
    a.back().to_json = [](const Model& m, json& j) { j["eps"] = m.cfg.ln_eps; };
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        m.cfg.ln_eps = j.number_or("eps", 1e-5);
        if (!(m.cfg.ln_eps > 0) || !std::isfinite(m.cfg.ln_eps)) j.fail("eps", "should be a positive number");
    };
    // A comma-joined attribute in the model file, a list of strings in config.json.
    a.push_back(attribute("weight_processing", Type::text, false));
    a.back().get = [](const Model& m) -> Opt {
        if (m.weight_processing.empty()) return std::nullopt;
        return join(m.weight_processing, ",");
    };
    a.back().set = [](Model& m, const AttributeValue& v) {
        m.weight_processing = split(std::get<std::string>(v), ',');
    };
    a.back().to_json = [](const Model& m, json& j) {
        if (!m.weight_processing.empty()) j["weight_processing"] = m.weight_processing;
    };
    a.back().from_json = [](Model& m, const ConfigJson& j) {
        if (j.contains("weight_processing")) m.weight_processing = j.strings("weight_processing");
    };
    a.push_back(attribute("output_encoding", Type::text, false));
    a.back().get = [](const Model& m) -> Opt {
        if (m.output_encoding == OutputEncoding::none) return std::nullopt;
        return to_string(m.output_encoding);
    };
    a.back().set = [](Model& m, const AttributeValue& v) {
        const auto& s = std::get<std::string>(v);
        // Written only when there is one: an empty attribute is not "none".
        if (s.empty()) throw Error("output_encoding is '', expected categorical or numerical");
        m.output_encoding = parse_output_encoding(s);
    };
    a.back().to_json = [](const Model& m, json& j) {
        if (m.output_encoding != OutputEncoding::none) j["output_encoding"] = to_string(m.output_encoding);
    };
    text_from_json(a.back(), "", [](Model& m, const std::string& s) { m.output_encoding = parse_output_encoding(s); });
}

std::vector<ConfigAttribute> make_attributes() {
    std::vector<ConfigAttribute> a;
    add_dimensions(a);
    add_architecture(a);
    add_attention_options(a);
    add_provenance(a);
    return a;
}

}  // namespace

const std::vector<ConfigAttribute>& model_attributes() {
    static const std::vector<ConfigAttribute> attributes = make_attributes();
    return attributes;
}

}  // namespace circuits
