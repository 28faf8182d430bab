// The HDF5 model file: root attributes for the config, TransformerLens state-dict names for tensors.
#include "lib/model_io.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/safetensors.hpp"

#include <sstream>

namespace circuits {

namespace {

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

int int_attr(const H5Reader& r, const char* name) {
    const auto v = r.attr_int("/", name);
    if (v < -1 || v > (std::int64_t{1} << 31) - 1) throw Error(r.where("/") + ": attribute '" + name + "' out of range");
    return static_cast<int>(v);
}

LayerNormWeights read_ln(const H5Reader& r, const std::string& group, int d) {
    return {r.read_vector(group + "/w", d), r.read_vector(group + "/b", d)};
}

RowVector read_row_or_zero(const H5Reader& r, const std::string& name, int n) {
    if (!r.exists(name)) return RowVector::Zero(n);
    return r.read_vector(name, n).transpose();
}

std::vector<RowVector> read_bias_stack(const H5Reader& r, const std::string& name, int heads, int d_head) {
    std::vector<RowVector> out;
    if (!r.exists(name)) {
        out.assign(static_cast<size_t>(heads), RowVector::Zero(d_head));
        return out;
    }
    const Matrix m = r.read_matrix(name, heads, d_head);
    for (int h = 0; h < heads; ++h) out.push_back(m.row(h));
    return out;
}

}  // namespace

Model read_model_h5(const std::string& path) {
    const H5Reader r(path);
    if (!r.has_attribute("/", "format"))
        throw Error(r.where("/") + ": missing attribute 'format' (not a circuits model file)");
    const std::string format = r.attr_string("/", "format");
    if (format != "circuits-model")
        throw Error(r.where("/") + ": format is '" + format + "', expected 'circuits-model'");
    const auto version = r.attr_int("/", "format_version");
    if (version != kModelFormatVersion)
        throw Error(r.where("/") + ": format_version " + std::to_string(version) + " is not supported (expected " +
                    std::to_string(kModelFormatVersion) + ")");

    ModelConfig c;
    c.n_layers = int_attr(r, "n_layers");
    c.n_heads = int_attr(r, "n_heads");
    c.d_model = int_attr(r, "d_model");
    c.d_head = int_attr(r, "d_head");
    c.d_vocab = int_attr(r, "d_vocab");
    c.d_vocab_out = r.has_attribute("/", "d_vocab_out") ? int_attr(r, "d_vocab_out") : c.d_vocab;
    c.n_ctx = int_attr(r, "n_ctx");
    c.d_mlp = r.has_attribute("/", "d_mlp") ? int_attr(r, "d_mlp") : 0;
    try {
        c.positional_embedding_type = parse_positional_embedding(r.attr_string("/", "positional_embedding_type"));
        c.normalization_type = parse_normalization(r.attr_string("/", "normalization_type"));
    } catch (const Error& e) {
        throw Error(r.where("/") + ": " + e.what());
    }
    c.attn_scale = r.has_attribute("/", "attn_scale") ? r.attr_double("/", "attn_scale") : 0.0;
    c.causal = r.has_attribute("/", "causal") ? r.attr_int("/", "causal") != 0 : true;
    if (r.has_attribute("/", "act_fn")) c.act_fn = r.attr_string("/", "act_fn");
    if (r.has_attribute("/", "origin")) c.origin = r.attr_string("/", "origin");
    c.bos_token = r.has_attribute("/", "bos_token") ? int_attr(r, "bos_token") : -1;
    if (r.has_attribute("/", "ln_eps")) c.ln_eps = r.attr_double("/", "ln_eps");
    try {
        c.validate();
    } catch (const Error& e) {
        throw Error(r.where("/") + ": " + e.what());
    }
    // Guard against absurd attributes before any allocation.
    const double total = double(c.d_vocab) * c.d_model + double(c.n_ctx) * c.d_model +
                         4.0 * c.n_layers * c.n_heads * c.d_model * c.d_head + double(c.d_model) * c.d_vocab_out;
    if (total > 4e9) throw Error(r.where("/") + ": attributes describe " + std::to_string(total) + " parameters, over the 4e9 limit");

    Model m;
    m.cfg = c;
    const int D = c.d_model, H = c.n_heads, dh = c.d_head;
    m.W_E = r.read_matrix("embed/W_E", c.d_vocab, D);
    if (c.has_positions()) m.W_pos = r.read_matrix("pos_embed/W_pos", c.n_ctx, D);
    m.blocks.resize(static_cast<size_t>(c.n_layers));
    for (int l = 0; l < c.n_layers; ++l) {
        auto& b = m.blocks[static_cast<size_t>(l)];
        const std::string p = "blocks/" + std::to_string(l) + "/";
        if (c.has_ln_weights()) b.ln1 = read_ln(r, p + "ln1", D);
        b.attn.W_Q = r.read_stack(p + "attn/W_Q", H, D, dh);
        b.attn.W_K = r.read_stack(p + "attn/W_K", H, D, dh);
        b.attn.W_V = r.read_stack(p + "attn/W_V", H, D, dh);
        b.attn.W_O = r.read_stack(p + "attn/W_O", H, dh, D);
        b.attn.b_Q = read_bias_stack(r, p + "attn/b_Q", H, dh);
        b.attn.b_K = read_bias_stack(r, p + "attn/b_K", H, dh);
        b.attn.b_V = read_bias_stack(r, p + "attn/b_V", H, dh);
        b.attn.b_O = read_row_or_zero(r, p + "attn/b_O", D);
        if (c.has_mlp()) {
            if (c.has_ln_weights()) b.ln2 = read_ln(r, p + "ln2", D);
            b.mlp.W_in = r.read_matrix(p + "mlp/W_in", D, c.d_mlp);
            b.mlp.b_in = read_row_or_zero(r, p + "mlp/b_in", c.d_mlp);
            b.mlp.W_out = r.read_matrix(p + "mlp/W_out", c.d_mlp, D);
            b.mlp.b_out = read_row_or_zero(r, p + "mlp/b_out", D);
        } else if (r.exists(p + "mlp")) {
            throw Error(r.where(p + "mlp") + ": MLP weights present but d_mlp = 0");
        }
    }
    if (c.has_ln_weights()) m.ln_final = read_ln(r, "ln_final", D);
    m.W_U = r.read_matrix("unembed/W_U", D, c.d_vocab_out);
    m.b_U = read_row_or_zero(r, "unembed/b_U", c.d_vocab_out);

    const auto strings = [&](const char* name, int n) {
        if (!r.exists(name)) return numbered_vocab(n);
        auto s = r.read_strings(name);
        if (static_cast<int>(s.size()) != n)
            throw Error(r.where(name) + ": " + std::to_string(s.size()) + " strings, expected " + std::to_string(n));
        return s;
    };
    m.vocab = strings("vocab", c.d_vocab);
    m.vocab_out = strings("vocab_out", c.d_vocab_out);
    if (r.exists("residual_labels")) {
        m.residual_labels = r.read_strings("residual_labels");
        if (static_cast<int>(m.residual_labels.size()) != D)
            throw Error(r.where("residual_labels") + ": " + std::to_string(m.residual_labels.size()) +
                        " labels, expected d_model = " + std::to_string(D));
    }
    if (r.exists("program/source")) m.program_source = r.read_string("program/source");
    if (r.exists("program/output")) m.output_sop = r.read_string("program/output");
    if (r.has_attribute("/", "output_encoding")) {
        m.output_encoding = r.attr_string("/", "output_encoding");
        if (m.output_encoding != "categorical" && m.output_encoding != "numerical")
            throw Error(r.where("/") + ": output_encoding is '" + m.output_encoding + "', expected categorical or numerical");
        if (m.output_encoding == "numerical" && c.d_vocab_out != 1)
            throw Error(r.where("/") + ": output_encoding is numerical but d_vocab_out = " + std::to_string(c.d_vocab_out) +
                        " (expected 1)");
    }
    if (r.has_attribute("/", "weight_processing")) m.weight_processing = split(r.attr_string("/", "weight_processing"), ',');

    try {
        m.validate();
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
    return m;
}

void write_model_h5(const Model& m, H5Writer& w, const std::string& group) {
    m.validate();
    // Attributes on `group`, datasets under it; "/" gives an ordinary model file.
    const std::string g = group.empty() || group == "/" ? "/" : (group.back() == '/' ? group.substr(0, group.size() - 1) : group);
    const std::string p0 = g == "/" ? "" : g + "/";
    const auto& c = m.cfg;
    w.attr(g, "format", "circuits-model");
    w.attr(g, "format_version", kModelFormatVersion);
    w.attr(g, "n_layers", c.n_layers);
    w.attr(g, "n_heads", c.n_heads);
    w.attr(g, "d_model", c.d_model);
    w.attr(g, "d_head", c.d_head);
    w.attr(g, "d_vocab", c.d_vocab);
    w.attr(g, "d_vocab_out", c.d_vocab_out);
    w.attr(g, "n_ctx", c.n_ctx);
    w.attr(g, "d_mlp", c.d_mlp);
    w.attr(g, "positional_embedding_type", to_string(c.positional_embedding_type));
    w.attr(g, "normalization_type", to_string(c.normalization_type));
    w.attr(g, "attn_scale", c.effective_attn_scale());
    w.attr(g, "causal", c.causal ? 1 : 0);
    if (c.has_mlp()) w.attr(g, "act_fn", c.act_fn);
    w.attr(g, "origin", c.origin);
    w.attr(g, "bos_token", c.bos_token);
    w.attr(g, "ln_eps", c.ln_eps);
    if (!m.weight_processing.empty()) w.attr(g, "weight_processing", join(m.weight_processing, ","));
    if (!m.output_encoding.empty()) w.attr(g, "output_encoding", m.output_encoding);

    w.write_matrix(p0 + "embed/W_E", m.W_E);
    if (c.has_positions()) w.write_matrix(p0 + "pos_embed/W_pos", m.W_pos);
    for (int l = 0; l < c.n_layers; ++l) {
        const auto& b = m.blocks[static_cast<size_t>(l)];
        const std::string p = p0 + "blocks/" + std::to_string(l) + "/";
        if (c.has_ln_weights()) {
            w.write_vector(p + "ln1/w", b.ln1.w);
            w.write_vector(p + "ln1/b", b.ln1.b);
        }
        w.write_stack(p + "attn/W_Q", b.attn.W_Q);
        w.write_stack(p + "attn/W_K", b.attn.W_K);
        w.write_stack(p + "attn/W_V", b.attn.W_V);
        w.write_stack(p + "attn/W_O", b.attn.W_O);
        const auto bias = [&](const char* name, const std::vector<RowVector>& v) {
            Matrix s(c.n_heads, c.d_head);
            for (int h = 0; h < c.n_heads; ++h) s.row(h) = v[static_cast<size_t>(h)];
            w.write_matrix(p + name, s);
        };
        bias("attn/b_Q", b.attn.b_Q);
        bias("attn/b_K", b.attn.b_K);
        bias("attn/b_V", b.attn.b_V);
        w.write_row(p + "attn/b_O", b.attn.b_O);
        if (c.has_mlp()) {
            if (c.has_ln_weights()) {
                w.write_vector(p + "ln2/w", b.ln2.w);
                w.write_vector(p + "ln2/b", b.ln2.b);
            }
            w.write_matrix(p + "mlp/W_in", b.mlp.W_in);
            w.write_row(p + "mlp/b_in", b.mlp.b_in);
            w.write_matrix(p + "mlp/W_out", b.mlp.W_out);
            w.write_row(p + "mlp/b_out", b.mlp.b_out);
        }
    }
    if (c.has_ln_weights()) {
        w.write_vector(p0 + "ln_final/w", m.ln_final.w);
        w.write_vector(p0 + "ln_final/b", m.ln_final.b);
    }
    w.write_matrix(p0 + "unembed/W_U", m.W_U);
    w.write_row(p0 + "unembed/b_U", m.b_U);
    w.write_strings(p0 + "vocab", m.vocab);
    w.write_strings(p0 + "vocab_out", m.vocab_out);
    if (!m.residual_labels.empty()) w.write_strings(p0 + "residual_labels", m.residual_labels);
    if (!m.program_source.empty()) w.write_string(p0 + "program/source", m.program_source);
    if (!m.output_sop.empty()) w.write_string(p0 + "program/output", m.output_sop);
}

void write_model_h5(const Model& m, const std::string& path) {
    m.validate();
    AtomicOutput out(path);
    {
        H5Writer w(out.temp_path(), /*compress=*/true);
        write_model_h5(m, w, "/");
        w.close();
    }
    out.commit();
}

Model load_model(const std::string& path) {
    const auto ends_with = [&](const std::string& suffix) {
        return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with(".safetensors")) return read_model_safetensors(path);
    return read_model_h5(path);
}

}  // namespace circuits
