// `circuits compile PROGRAM.rasp -o MODEL`: RASP -> transformer weights, optionally verified.
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <ostream>

#include "cli/commands.hpp"
#include "cli/program_overrides.hpp"
#include "lib/error.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/compiler.hpp"
#include "lib/rasp/program.hpp"
#include "lib/rasp/verify.hpp"

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

int run_compile(const po::variables_map& vm, std::ostream& out, std::ostream& err) {
    const auto path = vm["program"].as<std::string>();
    std::string output = vm.count("output") ? vm["output"].as<std::string>()
                                            : std::filesystem::path(path).filename().replace_extension(".h5").string();
    const auto start = std::chrono::steady_clock::now();
    rasp::Program program = load_program_with_overrides(path, vm);
    rasp::CompileOptions options;
    options.attention_only = vm.count("attention-only") > 0;
    const Model model = rasp::compile(program, options);
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
        "[--verify N]",
        "Builds the weights of a transformer that computes the program's output s-op (the Tracr\n"
        "construction, RASP.md): one attention head per aggregate / selector_width, MLPs for maps,\n"
        "residual subspaces labelled name:value. The model file records the program, its output\n"
        "s-op and the residual labels (origin = compiled). --attention-only refuses programs that\n"
        "need an MLP, naming the line. --verify N runs the compiled model on every input up to\n"
        "length 4 and on N random inputs against the evaluator and fails at the first mismatch,\n"
        "writing nothing. The model file defaults to PROGRAM with .h5 in the current folder.",
        "circuits compile data/programs/reverse.rasp -o reverse.h5 --verify 200",
        [](po::options_description& opts, po::positional_options_description& pos) {
            opts.add_options()("program", po::value<std::string>()->required(), "the .rasp file")(
                "output,o", po::value<std::string>(), "model file to write")(
                "vocab", po::value<std::vector<std::string>>()->multitoken(), "input vocabulary (overrides 'vocab')")(
                "max-len", po::value<int>(), "longest input (overrides 'max_len')")(
                "causal", "compile with a causal mask")("attention-only", "fail if an MLP is needed")(
                "verify", po::value<int>(), "check against the evaluator: all inputs up to length 4 and N random ones")(
                "seed", po::value<std::uint64_t>()->default_value(0), "seed of the random inputs of --verify");
            pos.add("program", 1);
        },
        run_compile};
}

}  // namespace circuits::cli
