// The HDF5 model file: root attributes for the config, TransformerLens state-dict names for tensors.
#include "lib/model_io.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/safetensors.hpp"
#include "lib/tensor_catalogue.hpp"

#include <set>

namespace circuits {

namespace {

void check_format(const H5Reader& r) {
    if (!r.has_attribute("/", "format"))
        throw Error(r.where("/") + ": missing attribute 'format' (not a circuits model file)");
    const std::string format = r.attr_string("/", "format");
    if (format != "circuits-model")
        throw Error(r.where("/") + ": format is '" + format + "', expected 'circuits-model'");
    const auto version = r.attr_int("/", "format_version");
    if (version != kModelFormatVersion)
        throw Error(r.where("/") + ": format_version " + std::to_string(version) + " is not supported (expected " +
                    std::to_string(kModelFormatVersion) + ")");
}

AttributeValue read_attribute(const H5Reader& r, const ConfigAttribute& a) {
    switch (a.type) {
        case ConfigAttribute::Type::integer: {
            const auto v = r.attr_int("/", a.name);
            if (v < -1 || v > (std::int64_t{1} << 31) - 1)
                throw Error(r.where("/") + ": attribute '" + a.name + "' out of range");
            return v;
        }
        case ConfigAttribute::Type::real:
            return r.attr_double("/", a.name);
        case ConfigAttribute::Type::text:
            return r.attr_string("/", a.name);
    }
    return std::int64_t{0};
}

// The root attributes into m.cfg (and the Model fields stored beside them); every domain error
// names the file.
void read_attributes(const H5Reader& r, Model& m) {
    for (const auto& a : model_attributes()) {
        if (!r.has_attribute("/", a.name)) {
            if (a.required) throw Error(r.where("/") + ": missing attribute '" + a.name + "'");
            if (a.fallback) a.fallback(m);
            continue;
        }
        const AttributeValue v = read_attribute(r, a);
        try {
            a.set(m, v);
        } catch (const Error& e) {
            throw Error(r.where("/") + ": " + e.what());
        }
    }
    try {
        m.cfg.validate();
    } catch (const Error& e) {
        throw Error(r.where("/") + ": " + e.what());
    }
}

void read_tensor(const H5Reader& r, const TensorSpec& spec, Model& m) {
    if (spec.optional && !r.exists(spec.path)) {
        slot_fill(spec.slot(m), spec.shape, 0.0f);
        return;
    }
    const auto dims = r.dims(spec.path);
    if (std::vector<std::int64_t>(dims.begin(), dims.end()) != spec.shape)
        throw Error(r.where(spec.path) + ": shape " +
                    shape_string(std::vector<std::int64_t>(dims.begin(), dims.end())) + ", expected " +
                    shape_string(spec.shape));
    const auto a = r.read_float(spec.path);
    slot_assign(spec.slot(m), spec.shape, a.data.data());
}

// Every dataset under the tensor groups, as "blocks/0/attn/W_Q".
void collect_datasets(const H5Reader& r, const std::string& group, std::vector<std::string>& out) {
    for (const auto& child : r.children(group)) {
        const std::string path = group + "/" + child;
        if (r.is_group(path))
            collect_datasets(r, path, out);
        else
            out.push_back(path);
    }
}

// Like llama.cpp's done_getting_tensors: a dataset the config does not call for means the
// attributes and the tensors disagree (an MLP with d_mlp = 0, a layer past n_layers, ...).
void reject_unrequested(const H5Reader& r, const std::vector<TensorSpec>& specs) {
    std::vector<std::string> present;
    for (const auto& g : tensor_groups())
        if (r.exists(g)) {
            if (r.is_group(g))
                collect_datasets(r, g, present);
            else
                present.push_back(g);
        }
    std::set<std::string> requested;
    for (const auto& spec : specs) requested.insert(spec.path);
    std::string names;
    int n = 0;
    for (const auto& p : present)
        if (!requested.count(p) && n++ < 10) names += (names.empty() ? "/" : ", /") + p;
    if (n > 10) names += ", ... (" + std::to_string(n) + " in all)";
    if (n > 0) throw Error(r.path() + ": datasets that a model with these attributes does not have: " + names);
}

// A string list of n entries, or `fallback` when the file has none.
std::vector<std::string> read_sized_strings(const H5Reader& r, const char* name, int n,
                                            const std::vector<std::string>& fallback) {
    if (!r.exists(name)) return fallback;
    auto s = r.read_strings(name);
    if (static_cast<int>(s.size()) != n)
        throw Error(r.where(name) + ": " + std::to_string(s.size()) + " strings, expected " + std::to_string(n));
    return s;
}

void read_strings_and_program(const H5Reader& r, Model& m) {
    const auto& c = m.cfg;
    m.vocab = read_sized_strings(r, "vocab", c.d_vocab, numbered_vocab(c.d_vocab));
    // An absent /vocab_out is /vocab when the sizes agree (what a user's own h5py script writes).
    m.vocab_out = read_sized_strings(r, "vocab_out", c.d_vocab_out,
                                     c.d_vocab_out == c.d_vocab ? m.vocab.tokens() : numbered_vocab(c.d_vocab_out));
    if (r.exists("residual_labels")) {
        m.residual_labels = r.read_strings("residual_labels");
        if (static_cast<int>(m.residual_labels.size()) != c.d_model)
            throw Error(r.where("residual_labels") + ": " + std::to_string(m.residual_labels.size()) +
                        " labels, expected d_model = " + std::to_string(c.d_model));
    }
    if (r.exists("program/source")) m.program_source = r.read_string("program/source");
    if (r.exists("program/output")) m.output_sop = r.read_string("program/output");
}

void write_attribute(H5Writer& w, const std::string& g, const char* name, const AttributeValue& v) {
    std::visit([&](const auto& x) { w.attr(g, name, x); }, v);
}

}  // namespace

Model read_model_h5(const std::string& path) {
    const H5Reader r(path);
    check_format(r);
    Model m;
    read_attributes(r, m);
    // Guard against absurd attributes before any allocation.
    check_parameter_limit(m.cfg, r.where("/"));
    const auto specs = tensor_catalogue(m.cfg);
    reject_unrequested(r, specs);
    m.blocks.resize(static_cast<size_t>(m.cfg.n_layers));
    for (const auto& spec : specs) read_tensor(r, spec, m);
    read_strings_and_program(r, m);
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
    w.attr(g, "format", "circuits-model");
    w.attr(g, "format_version", kModelFormatVersion);
    for (const auto& a : model_attributes())
        if (const auto v = a.get(m)) write_attribute(w, g, a.name, *v);
    for (const auto& spec : tensor_catalogue(m.cfg)) {
        const std::vector<std::uint64_t> dims(spec.shape.begin(), spec.shape.end());
        w.write(p0 + spec.path, Array<float>{dims, slot_values(read_slot(spec, m))});
    }
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
