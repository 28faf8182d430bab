// `circuits compile PROGRAM.rasp -o MODEL`: RASP -> transformer weights, optionally verified.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <ostream>

#include "cli/commands.hpp"
#include "cli/program_overrides.hpp"
#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/compiler.hpp"
#include "lib/rasp/program.hpp"
#include "lib/rasp/verify.hpp"
#include "reports/program_graph.hpp"

namespace circuits::cli {

namespace po = boost::program_options;

rasp::Program load_program_with_overrides(const std::string& path, const po::variables_map& vm) {
    rasp::Program program = rasp::load_program(path);
    rasp::ProgramOverrides o;
    if (vm.count("vocab")) {
        std::vector<rasp::Value> v;
        for (const auto& s : vm["vocab"].as<std::vector<std::string>>()) v.push_back(rasp::Value::from_token(s));
        o.vocab = v;
    }
    if (vm.count("max-len")) o.max_len = vm["max-len"].as<int>();
    o.causal = vm.count("causal") > 0;
    rasp::apply_overrides(program, o);
    return program;
}

namespace {

// Heads whose W_O is not zero, and MLP hidden units whose W_out row is not zero, over all layers.
std::pair<int, int> used_blocks(const Model& m) {
    int heads = 0, units = 0;
    for (const auto& b : m.blocks) {
        for (const auto& w : b.attn.W_O) heads += w.cwiseAbs().maxCoeff() > 0 ? 1 : 0;
        if (m.cfg.d_mlp > 0)
            for (Eigen::Index u = 0; u < b.mlp.W_out.rows(); ++u) units += b.mlp.W_out.row(u).cwiseAbs().maxCoeff() > 0;
    }
    return {heads, units};
}

void print_stats(const Model& m, const rasp::CompiledGraph& g, std::ostream& out) {
    const auto [heads, units] = used_blocks(m);
    out << "layers " << m.cfg.n_layers << " (longest path " << g.longest_path_layers << ")\n"
        << "heads " << heads << " (" << m.cfg.n_heads << " per layer at most)\n"
        << "mlp_width " << m.cfg.d_mlp << " (widest layer; " << units << " hidden units in all)\n"
        << "d_model " << m.cfg.d_model << "\n";
}

void write_graph(const rasp::CompiledGraph& g, const std::string& path) {
    AtomicOutput file(path);
    {
        std::ofstream f(file.temp_path(), std::ios::binary);
        f << reports::program_graph_svg(g);
        if (!f) throw Error(path + ": cannot write the graph picture");
    }
    file.commit();
}

int run_compile(const po::variables_map& vm, std::ostream& out, std::ostream& err) {
    const auto path = vm["program"].as<std::string>();
    std::string output = vm.count("output") ? vm["output"].as<std::string>()
                                            : std::filesystem::path(path).filename().replace_extension(".h5").string();
    const auto start = std::chrono::steady_clock::now();
    rasp::Program program = load_program_with_overrides(path, vm);
    rasp::CompileOptions options;
    options.attention_only = vm.count("attention-only") > 0;
    rasp::CompiledGraph graph;
    const Model model = rasp::compile(program, options, graph);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const auto& c = model.cfg;
    out << "compiled " << path << " in " << std::fixed << std::setprecision(2) << ms << " ms" << std::defaultfloat
        << ": " << c.n_layers << " layer" << (c.n_layers == 1 ? "" : "s") << ", " << c.n_heads << " head"
        << (c.n_heads == 1 ? "" : "s") << " per layer, d_model " << c.d_model << " (residual width), d_head "
        << c.d_head << ", d_mlp " << c.d_mlp << (c.causal ? ", causal" : "") << "; output '" << model.output_sop
        << "' (" << to_string(model.output_encoding) << ")\n";
    if (vm.count("verify")) {
        const int n = vm["verify"].as<int>();
        if (n < 0) throw UsageError("--verify takes a number of random inputs >= 0, got " + std::to_string(n));
        if (stderr_is_terminal()) err << "verifying against the evaluator...\n";
        rasp::VerifyOptions vo;
        vo.random_inputs = n;
        vo.seed = vm["seed"].as<std::uint64_t>();
        const auto report = rasp::verify(program, model, vo);
        if (report.mismatch) {
            const auto& m = *report.mismatch;
            throw Error(path + ": verification failed on input '" + rasp::join_values(m.input) + "' at position " +
                        std::to_string(m.position) + ": the evaluator gives " + m.expected + ", the compiled model " +
                        m.got + " (no model written)");
        }
        out << "verified: " << report.exhaustive << " inputs (every input up to length "
            << std::min(vo.exhaustive_length, program.max_len) << ") and " << report.random
            << " random inputs agree with the evaluator";
        if (report.evaluator_errors) out << " (" << report.evaluator_errors << " skipped: the evaluator fails on them)";
        out << "\n";
    }
    if (vm.count("stats")) print_stats(model, graph, out);
    if (vm.count("graph")) {
        write_graph(graph, vm["graph"].as<std::string>());
        out << "wrote " << vm["graph"].as<std::string>() << "\n";
    }
    write_model_h5(model, output);
    out << "wrote " << output << "\n";
    return 0;
}

}  // namespace

Command compile_command() {
    return {
        "compile",
        "compile a RASP program into a transformer model file",
        "circuits compile PROGRAM.rasp [-o MODEL] [--vocab V...] [--max-len N] [--causal] [--attention-only] "
        "[--verify N] [--stats] [--graph OUT.svg]",
        "Builds the weights of a transformer that computes the program's output s-op (the Tracr\n"
        "construction, RASP.md): one attention head per aggregate / selector_width, MLPs for maps,\n"
        "residual subspaces labelled name:value. The model file records the program, its output\n"
        "s-op and the residual labels (origin = compiled). --attention-only refuses programs that\n"
        "need an MLP, naming the line. --verify N runs the compiled model on every input up to\n"
        "length 4 and on N random inputs against the evaluator and fails at the first mismatch,\n"
        "writing nothing. --stats prints layers (and the least the program's graph allows), heads,\n"
        "MLP width and d_model. --graph OUT.svg draws the computation graph: each s-op in its layer\n"
        "and sub-layer, heads and MLPs labelled. The model file defaults to PROGRAM with .h5 in the\n"
        "current folder.",
        "circuits compile data/programs/reverse.rasp -o reverse.h5 --verify 200",
        [](po::options_description& opts, po::positional_options_description& pos) {
            opts.add_options()("program", po::value<std::string>()->required(), "the .rasp file")(
                "output,o", po::value<std::string>(), "model file to write")(
                "vocab", po::value<std::vector<std::string>>()->multitoken(), "input vocabulary (overrides 'vocab')")(
                "max-len", po::value<int>(), "longest input (overrides 'max_len')")(
                "causal", "compile with a causal mask")("attention-only", "fail if an MLP is needed")(
                "verify", po::value<int>(), "check against the evaluator: all inputs up to length 4 and N random ones")(
                "seed", po::value<std::uint64_t>()->default_value(0), "seed of the random inputs of --verify")(
                "stats", "print layers, heads, MLP width and d_model")(
                "graph", po::value<std::string>(), "draw the computation graph into this SVG file");
            pos.add("program", 1);
        },
        run_compile};
}

}  // namespace circuits::cli
