// `circuits eval PROGRAM.rasp INPUT...`: the RASP evaluator on one input.
#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/commands.hpp"
#include "cli/program_overrides.hpp"
#include "lib/error.hpp"
#include "lib/rasp/evaluator.hpp"
#include "lib/rasp/program.hpp"

namespace circuits::cli {

namespace po = boost::program_options;

namespace {

nlohmann::json to_json(const rasp::Value& v) {
    if (v.is_none()) return nullptr;
    if (v.is_bool()) return v.as_bool();
    if (v.is_int()) return v.as_int();
    if (v.is_float()) return v.to_double();
    return v.as_string();
}

int run_eval(const po::variables_map& vm, std::ostream& out, std::ostream&) {
    const auto path = vm["program"].as<std::string>();
    const auto inputs = vm.count("input") ? vm["input"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (inputs.empty()) throw UsageError("no input tokens given (see 'circuits eval --help')");
    rasp::Program program = load_program_with_overrides(path, vm);
    const auto tokens = rasp::tokens_from_strings(program, inputs);
    const auto result = rasp::evaluate(program, tokens);
    if (vm.count("json")) {
        nlohmann::json j;
        j["program"] = path;
        j["output_sop"] = program.output_node().name;
        j["causal"] = program.causal;
        j["input"] = inputs;
        j["output"] = nlohmann::json::array();
        for (const auto& v : result) j["output"].push_back(to_json(v));
        out << j.dump() << "\n";
        return 0;
    }
    for (size_t i = 0; i < result.size(); ++i) out << (i ? " " : "") << result[i].to_string();
    out << "\n";
    return 0;
}

}  // namespace

Command eval_command() {
    return {"eval",
            "run a RASP program on an input with the reference evaluator",
            "circuits eval PROGRAM.rasp INPUT... [--vocab V...] [--max-len N] [--causal] [--json]",
            "Parses the program and evaluates its output s-op on the input tokens (matched against the\n"
            "program's vocabulary). Prints one value per position separated by spaces: 'none' where\n"
            "nothing was selected, numbers as the shortest exact decimal. --causal evaluates with a\n"
            "causal mask (query i sees keys j <= i); --vocab and --max-len override the program's\n"
            "directives; --json prints a JSON object (null for none).",
            "circuits eval data/programs/reverse.rasp a b c d",
            [](po::options_description& opts, po::positional_options_description& pos) {
                opts.add_options()("program", po::value<std::string>()->required(), "the .rasp file")(
                    "input", po::value<std::vector<std::string>>()->multitoken(), "input tokens")(
                    "vocab", po::value<std::vector<std::string>>()->multitoken(),
                    "input vocabulary (overrides 'vocab')")("max-len", po::value<int>(),
                                                            "longest input (overrides 'max_len')")(
                    "causal", "evaluate with a causal mask")("json", "print JSON");
                pos.add("program", 1).add("input", -1);
            },
            run_eval};
}

}  // namespace circuits::cli
