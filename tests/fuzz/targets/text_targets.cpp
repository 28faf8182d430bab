// Fuzz targets of the text inputs: RASP programs (lexer, parser, elaboration, analysis, evaluator,
// compiler) and token files (`analyze --tokens`).
#include <algorithm>
#include <filesystem>
#include <optional>

#include "analyses/path_expansion.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/compiler.hpp"
#include "lib/rasp/evaluator.hpp"
#include "lib/rasp/program.hpp"
#include "tests/fuzz/targets/fuzz_targets.hpp"
#include "tests/fuzz/targets/scratch.hpp"

namespace circuits::fuzz {

namespace {

namespace fs = std::filesystem;

// Compiling grows with max_len and the vocabulary; the fuzzer explores the front end, so programs
// are compiled at a small length (a program's own larger max_len is the resource-limit tests' job).
constexpr int kFuzzMaxLen = 5;

void compile_and_run(rasp::Program& program) {
    rasp::ProgramOverrides overrides;
    overrides.max_len = std::min(program.max_len > 0 ? program.max_len : kFuzzMaxLen, kFuzzMaxLen);
    rasp::apply_overrides(program, overrides);
    if (!program.vocab.empty()) {
        std::vector<rasp::Value> input;
        for (int i = 0; i < overrides.max_len.value_or(kFuzzMaxLen); ++i)
            input.push_back(program.vocab[static_cast<size_t>(i) % program.vocab.size()]);
        rejecting([&] { rasp::evaluate(program, input); });
    }
    rejecting([&] { rasp::compile(program); });
}

}  // namespace

bool fuzz_rasp(const std::uint8_t* data, std::size_t size) {
    const std::string source(reinterpret_cast<const char*>(data), size);
    std::optional<rasp::Program> program;
    if (!rejecting([&] { program = rasp::parse_program(source, "fuzz.rasp"); })) return false;
    compile_and_run(*program);
    return true;
}

bool fuzz_tokens(const std::uint8_t* data, std::size_t size) {
    // The planted model: 24 letter tokens plus <BOS>, n_ctx 128.
    static const Model model = read_model_h5(CIRCUITS_SOURCE_DIR "/data/models/planted-2l.h5");
    const std::string path = scratch_file("input.tokens", data, size);
    return rejecting([&] { analyses::read_token_file(model, path); });
}

void seed_rasp(const std::string& source_dir, const std::string& dir) {
    for (const auto& entry : fs::directory_iterator(source_dir + "/data/programs"))
        if (entry.path().extension() == ".rasp")
            fs::copy_file(entry.path(), dir + "/" + entry.path().filename().string(), fs::copy_options::overwrite_existing);
}

void seed_tokens(const std::string& source_dir, const std::string& dir) {
    const Model model = read_model_h5(source_dir + "/data/models/planted-2l.h5");
    std::string lines = "# repeated halves\n";
    for (int r = 0; r < 4; ++r) {
        for (int rep = 0; rep < 2; ++rep)
            for (int i = 0; i < 6; ++i) lines += model.vocab[static_cast<size_t>(1 + (r * 5 + i) % 24)] + " ";
        lines += "\n";
    }
    write_bytes(dir + "/probe.tokens", lines);
    write_bytes(dir + "/one.tokens", model.vocab[1] + " " + model.vocab[2] + "\n\n" + model.vocab[3] + "\n");
}

}  // namespace circuits::fuzz
