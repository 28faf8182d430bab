// `circuits inspect MODEL`: config, parameter count, tensor shapes, vocabulary and residual labels.
#include "cli/commands.hpp"

#include "lib/model_io.hpp"
#include "lib/tensor_catalogue.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <ostream>
#include <set>

namespace circuits::cli {

namespace po = boost::program_options;

namespace {

std::string sample(const std::vector<std::string>& v, size_t n) {
    std::string out;
    for (size_t i = 0; i < v.size() && i < n; ++i) out += (i ? " " : "") + v[i];
    if (v.size() > n) out += " ... (" + std::to_string(v.size()) + " in all)";
    return out;
}

// The s-op (or subspace) name of a residual label "name:value" -> "name"; the BOS direction
// "tokens:BOS" of compiled models is its own group "BOS" (heads read it to attend to BOS).
std::string label_group(const std::string& label) {
    if (label == "tokens:BOS") return "BOS";
    const auto colon = label.find(':');
    return colon == std::string::npos ? label : label.substr(0, colon);
}

// Residual label groups whose rows of `W` [d_model, k] (read) are not all zero.
std::string groups_in_rows(const Model& m, const Matrix& W) {
    std::set<std::string> seen;
    std::vector<std::string> order;
    for (Eigen::Index r = 0; r < W.rows(); ++r)
        if (W.row(r).cwiseAbs().maxCoeff() > 1e-6f) {
            const auto g = label_group(m.residual_labels[static_cast<size_t>(r)]);
            if (seen.insert(g).second) order.push_back(g);
        }
    if (order.empty()) return "-";
    std::string out;
    for (size_t i = 0; i < order.size() && i < 12; ++i) out += (i ? ", " : "") + order[i];
    if (order.size() > 12) out += ", ...";
    return out;
}

void print_circuit_map(const Model& m, std::ostream& out) {
    out << "\nblocks (residual subspaces read and written):\n";
    for (int l = 0; l < m.cfg.n_layers; ++l) {
        const auto& b = m.blocks[static_cast<size_t>(l)];
        for (int h = 0; h < m.cfg.n_heads; ++h) {
            const auto uh = static_cast<size_t>(h);
            const Matrix W_O_T = b.attn.W_O[uh].transpose();
            out << "  L" << l << "H" << h << "  ";
            if (W_O_T.cwiseAbs().maxCoeff() <= 1e-6f) {
                out << "(unused: writes nothing)\n";
                continue;
            }
            out << "query " << groups_in_rows(m, b.attn.W_Q[uh]) << "; key " << groups_in_rows(m, b.attn.W_K[uh])
                << "; value " << groups_in_rows(m, b.attn.W_V[uh]) << " -> writes " << groups_in_rows(m, W_O_T) << "\n";
        }
        if (m.cfg.has_mlp()) {
            const Matrix W_out_T = b.mlp.W_out.transpose();
            int units = 0;
            for (Eigen::Index u = 0; u < b.mlp.W_out.rows(); ++u)
                if (b.mlp.W_out.row(u).cwiseAbs().maxCoeff() > 1e-6f) ++units;
            out << "  L" << l << " MLP  ";
            if (units == 0) {
                out << "(unused: writes nothing)\n";
                continue;
            }
            out << "(" << units << " hidden units) reads " << groups_in_rows(m, b.mlp.W_in) << " -> writes "
                << groups_in_rows(m, W_out_T) << "\n";
        }
    }
}

// The catalogue for this model's config as JSON: what the Python exporters check their own
// expected names against, so that the C++ catalogue stays the one list.
void print_catalogue(const Model& m, std::ostream& out) {
    nlohmann::json tensors = nlohmann::json::array(), attributes = nlohmann::json::array();
    for (const auto& spec : tensor_catalogue(m.cfg))
        tensors.push_back(
            {{"name", spec.name}, {"path", spec.path}, {"shape", spec.shape}, {"optional", spec.optional}});
    const char* types[] = {"integer", "real", "text"};
    for (const auto& a : model_attributes())
        attributes.push_back({{"name", a.name}, {"type", types[static_cast<int>(a.type)]}, {"required", a.required}});
    out << nlohmann::json{{"tensors", tensors}, {"attributes", attributes}}.dump(1) << "\n";
}

int run_inspect(const po::variables_map& vm, std::ostream& out, std::ostream&) {
    const auto path = vm["model"].as<std::string>();
    const Model m = load_model(path);
    if (vm.count("catalogue")) {
        print_catalogue(m, out);
        return 0;
    }
    const auto& c = m.cfg;
    out << "model: " << path << "\n"
        << "origin: " << to_string(c.origin) << "\n"
        << "n_layers: " << c.n_layers << "\nn_heads: " << c.n_heads << "\nd_model: " << c.d_model
        << "\nd_head: " << c.d_head << "\nd_vocab: " << c.d_vocab << "\nd_vocab_out: " << c.d_vocab_out
        << "\nn_ctx: " << c.n_ctx << "\nd_mlp: " << c.d_mlp
        << "\npositional_embedding_type: " << to_string(c.positional_embedding_type)
        << "\nnormalization_type: " << to_string(c.normalization_type) << "\nattn_scale: " << c.effective_attn_scale()
        << "\ncausal: " << (c.causal ? "true" : "false") << "\n";
    if (c.has_mlp()) out << "act_fn: " << to_string(c.act_fn) << "\n";
    out << "bos_token: ";
    if (c.bos_token >= 0) out << c.bos_token << " (" << m.vocab[static_cast<size_t>(c.bos_token)] << ")\n";
    else out << "none\n";
    if (!m.weight_processing.empty()) out << "weight_processing: " << sample(m.weight_processing, 10) << "\n";
    out << "parameters: " << m.parameter_count() << "\n\ntensors:\n";
    for (const auto& t : tensor_list(c)) out << "  " << t.name << " " << shape_string(t.shape) << "\n";
    out << "\nvocab: " << sample(m.vocab, 20) << "\n";
    if (m.vocab_out != m.vocab) out << "vocab_out: " << sample(m.vocab_out, 20) << "\n";
    if (!m.residual_labels.empty()) {
        out << "residual_labels: " << sample(m.residual_labels, 20) << "\n";
        print_circuit_map(m, out);
    }
    if (!m.output_sop.empty())
        out << "\noutput s-op: " << m.output_sop
            << (m.output_encoding == OutputEncoding::none ? "" : " (" + to_string(m.output_encoding) + ")") << "\n";
    if (!m.program_source.empty())
        out << "\nprogram:\n" << m.program_source << (m.program_source.back() == '\n' ? "" : "\n");
    return 0;
}

}  // namespace

Command inspect_command() {
    return {"inspect",
            "show a model's config, parameter count, tensor shapes and labels",
            "circuits inspect MODEL",
            "Reads a model file (.h5, or .safetensors with config.json beside it) and prints its\n"
            "config, parameter count, every tensor's TransformerLens name and shape, a sample of\n"
            "the vocabulary and residual labels, and for labelled (compiled) models the residual\n"
            "subspaces each head and MLP reads and writes. --catalogue prints instead, as JSON, every\n"
            "tensor (name, HDF5 path, shape, optional) and root attribute a model with this config has\n"
            "(lib/tensor_catalogue.cpp, the one list of them).",
            "circuits inspect data/models/planted-2l.h5",
            [](po::options_description& opts, po::positional_options_description& pos) {
                opts.add_options()("model", po::value<std::string>()->required(), "model file")(
                    "catalogue", "print the tensor catalogue for the model's config as JSON");
                pos.add("model", 1);
            },
            run_inspect};
}

}  // namespace circuits::cli
