// Model construction, validation and bookkeeping.
#include "lib/model.hpp"

#include "lib/error.hpp"
#include "lib/tensor_catalogue.hpp"

#include <array>
#include <cmath>
#include <optional>

namespace circuits {

std::string to_string(PositionalEmbedding p) {
    switch (p) {
        case PositionalEmbedding::standard: return "standard";
        case PositionalEmbedding::shortformer: return "shortformer";
        case PositionalEmbedding::none: return "none";
    }
    return "?";
}

std::string to_string(Normalization n) {
    switch (n) {
        case Normalization::none: return "none";
        case Normalization::LN: return "LN";
        case Normalization::LNPre: return "LNPre";
    }
    return "?";
}

PositionalEmbedding parse_positional_embedding(const std::string& s) {
    if (s == "standard") return PositionalEmbedding::standard;
    if (s == "shortformer") return PositionalEmbedding::shortformer;
    if (s == "none" || s == "rotary_none") return PositionalEmbedding::none;
    throw Error("unknown positional_embedding_type '" + s + "' (expected standard, shortformer or none)");
}

Normalization parse_normalization(const std::string& s) {
    if (s == "none" || s == "None" || s.empty()) return Normalization::none;
    if (s == "LN") return Normalization::LN;
    if (s == "LNPre") return Normalization::LNPre;
    throw Error("unknown normalization_type '" + s + "' (expected none, LN or LNPre)");
}

namespace {

// The spelling of each value of an enum, in declaration order: one table serves to_string and parse.
template <typename E, size_t N>
struct Names {
    std::array<const char*, N> spelling;
};

constexpr Names<ActFn, 2> kActFn = {{"relu", "gelu"}};
constexpr Names<Origin, 3> kOrigin = {{"compiled", "trained", "imported"}};
constexpr Names<OutputEncoding, 3> kOutputEncoding = {{"", "categorical", "numerical"}};

template <typename E, size_t N>
std::string name_of(const Names<E, N>& names, E value) {
    return names.spelling[static_cast<size_t>(value)];
}

// The value spelt `s`, or nullopt.
template <typename E, size_t N>
std::optional<E> value_of(const Names<E, N>& names, const std::string& s) {
    for (size_t i = 0; i < N; ++i)
        if (s == names.spelling[i]) return static_cast<E>(i);
    return std::nullopt;
}

}  // namespace

std::string to_string(ActFn a) {
    return name_of(kActFn, a);
}
std::string to_string(Origin o) {
    return name_of(kOrigin, o);
}
std::string to_string(OutputEncoding e) {
    return name_of(kOutputEncoding, e);
}

ActFn parse_act_fn(const std::string& s) {
    if (const auto v = value_of(kActFn, s)) return *v;
    throw Error("unsupported act_fn '" + s + "' (expected relu or gelu)");
}

Origin parse_origin(const std::string& s) {
    if (const auto v = value_of(kOrigin, s)) return *v;
    throw Error("origin must be compiled, trained or imported, got '" + s + "'");
}

OutputEncoding parse_output_encoding(const std::string& s) {
    if (const auto v = value_of(kOutputEncoding, s)) return *v;
    throw Error("output_encoding is '" + s + "', expected categorical or numerical");
}

double ModelConfig::effective_attn_scale() const {
    return attn_scale > 0.0 ? attn_scale : std::sqrt(static_cast<double>(d_head));
}

void ModelConfig::validate() const {
    auto positive = [](const char* name, int v) {
        if (v <= 0) throw Error(std::string("config: ") + name + " must be positive, got " + std::to_string(v));
    };
    if (n_layers < 0) throw Error("config: n_layers must be >= 0, got " + std::to_string(n_layers));
    positive("n_heads", n_heads);
    positive("d_model", d_model);
    positive("d_head", d_head);
    positive("d_vocab", d_vocab);
    positive("d_vocab_out", d_vocab_out);
    positive("n_ctx", n_ctx);
    if (d_mlp < 0) throw Error("config: d_mlp must be >= 0, got " + std::to_string(d_mlp));
    if (!(attn_scale >= 0.0) || !std::isfinite(attn_scale))
        throw Error("config: attn_scale must be finite and >= 0");
    if (bos_token < -1 || bos_token >= d_vocab)
        throw Error("config: bos_token " + std::to_string(bos_token) + " outside [-1, d_vocab)");
}

std::vector<std::string> numbered_vocab(int n) {
    std::vector<std::string> v;
    v.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) v.push_back(std::to_string(i));
    return v;
}

Model Model::zeros(const ModelConfig& cfg) {
    cfg.validate();
    Model m;
    m.cfg = cfg;
    m.blocks.resize(static_cast<size_t>(cfg.n_layers));
    for (const auto& spec : tensor_catalogue(cfg)) slot_fill(spec.slot(m), spec.shape, spec.initial);
    m.vocab = numbered_vocab(cfg.d_vocab);
    m.vocab_out = numbered_vocab(cfg.d_vocab_out);
    return m;
}

void Model::validate() const {
    cfg.validate();
    // The catalogue's accessors index blocks by layer: their count first.
    if (static_cast<int>(blocks.size()) != cfg.n_layers)
        throw Error("blocks: " + std::to_string(blocks.size()) +
                    " blocks, expected n_layers = " + std::to_string(cfg.n_layers));
    for (const auto& spec : tensor_catalogue(cfg)) check_slot(spec, read_slot(spec, *this));
    if (static_cast<int>(vocab.size()) != cfg.d_vocab)
        throw Error("vocab: " + std::to_string(vocab.size()) + " strings, expected d_vocab = " +
                    std::to_string(cfg.d_vocab));
    if (static_cast<int>(vocab_out.size()) != cfg.d_vocab_out)
        throw Error("vocab_out: " + std::to_string(vocab_out.size()) +
                    " strings, expected d_vocab_out = " + std::to_string(cfg.d_vocab_out));
    if (!residual_labels.empty() && static_cast<int>(residual_labels.size()) != cfg.d_model)
        throw Error("residual_labels: " + std::to_string(residual_labels.size()) +
                    " labels, expected d_model = " + std::to_string(cfg.d_model));
    // A numerical readout is one logit holding the value.
    if (output_encoding == OutputEncoding::numerical && cfg.d_vocab_out != 1)
        throw Error("output_encoding is numerical but d_vocab_out = " + std::to_string(cfg.d_vocab_out) +
                    " (expected 1)");
}

std::int64_t Model::parameter_count() const {
    return circuits::parameter_count(cfg);
}

std::vector<TensorInfo> tensor_list(const ModelConfig& c) {
    std::vector<TensorInfo> out;
    for (const auto& spec : tensor_catalogue(c)) out.push_back({spec.name, spec.shape});
    return out;
}

int Model::token_index(const std::string& token) const {
    return vocab.index(token);
}

}  // namespace circuits
