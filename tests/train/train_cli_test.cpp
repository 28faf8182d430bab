// End-to-end tests of `circuits train`: the file it writes, its progress lines and its usage errors.
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/train/training_file.hpp"
#include "tests/test_util.hpp"

#include <filesystem>

namespace circuits {
namespace {

TEST_CASE("circuits train writes a trained model with /training and prints progress lines off a terminal") {
    test::TempDir dir;
    const auto path = dir.file("ind.h5");
    const auto r = test::cli({"train", "induction", "-o", path, "--layers", "1", "--heads", "2", "--d-model", "8",
                              "--d-head", "4", "--steps", "20", "--batch", "4", "--log-every", "10", "--checkpoints",
                              "3", "--vocab", "x,y,z", "--max-len", "8", "--seed", "3"});
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.out.find("wrote " + path) != std::string::npos);
    CHECK(r.err.find("step 10/20 loss ") != std::string::npos);
    CHECK(r.err.find("step 20/20 loss ") != std::string::npos);
    CHECK(r.err.find('\r') == std::string::npos);  // no bar when stderr is not a terminal
    const Model m = read_model_h5(path);
    CHECK(m.cfg.origin == Origin::trained);
    CHECK(m.cfg.n_layers == 1);
    CHECK(m.vocab == std::vector<std::string>{"BOS", "x", "y", "z"});
    CHECK(m.cfg.n_ctx == 9);
    const H5Reader h(path);
    CHECK(h.attr_int("training", "seed") == 3);
    const auto command = h.attr_string("training", "command");
    CHECK(command.find("circuits train induction") == 0);
    CHECK(command.find("--steps 20") != std::string::npos);
    CHECK(command.find("--vocab x,y,z") != std::string::npos);
    CHECK(train::read_training(path).steps == std::vector<std::int64_t>{0, 10, 20});
}

TEST_CASE("circuits train scan-snap defaults to one layer, one head and no positions") {
    test::TempDir dir;
    const auto path = dir.file("ss.h5");
    const auto r = test::cli({"train", "scan-snap", "-o", path, "--d-model", "8", "--d-head", "4", "--steps", "5",
                              "--batch", "4", "--max-len", "6"});
    INFO(r.err);
    REQUIRE(r.status == 0);
    const Model m = read_model_h5(path);
    CHECK(m.cfg.n_layers == 1);
    CHECK(m.cfg.n_heads == 1);
    CHECK(m.cfg.positional_embedding_type == PositionalEmbedding::none);
}

TEST_CASE("circuits train program:FILE stores the program as compiled files do, for circuits compare") {
    test::TempDir dir;
    const auto path = dir.file("shift.h5");
    const auto program = test::source_dir() + "/data/programs/shift_by.rasp";
    const auto r = test::cli({"train", "program:" + program, "-o", path, "--layers", "1", "--heads", "1", "--d-model",
                              "8", "--d-head", "4", "--steps", "5", "--batch", "4", "--log-every", "5"});
    INFO(r.err);
    REQUIRE(r.status == 0);
    const Model m = read_model_h5(path);
    const Model compiled = read_model_h5(test::source_dir() + "/data/models/compiled/shift_by.h5");
    CHECK(m.vocab == compiled.vocab);
    CHECK(m.vocab_out == compiled.vocab_out);
    CHECK(m.cfg.n_ctx == compiled.cfg.n_ctx);
    CHECK(m.cfg.causal == compiled.cfg.causal);
    CHECK(m.program_source == compiled.program_source);
    CHECK(m.output_sop == compiled.output_sop);
    CHECK(m.output_encoding == OutputEncoding::none);  // predictions are the argmax, not the compiled logit > 0 rule
    CHECK(train::read_training(path).task == "program");

    const auto numerical = test::cli({"train", "program:" + test::source_dir() + "/data/programs/frac_prevs.rasp", "-o",
                                      path + ".2", "--steps", "5"});
    CHECK(numerical.status == 1);
    CHECK(numerical.err.find("frac_prevs.rasp") != std::string::npos);
    CHECK(numerical.err.find("numerical") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(path + ".2"));
}

TEST_CASE("circuits train: usage errors exit 2 and leave no output file") {
    test::TempDir dir;
    const auto path = dir.file("x.h5");
    const auto unknown = test::cli({"train", "sorting", "-o", path});
    CHECK(unknown.status == 2);
    CHECK(unknown.err.find("unknown task 'sorting'") != std::string::npos);
    const auto program = test::cli({"train", "program:", "-o", path});
    CHECK(program.status == 2);
    const auto missing = test::cli({"train", "program:/nonexistent/missing.rasp", "-o", path});
    CHECK(missing.status == 1);
    CHECK(missing.err.find("missing.rasp") != std::string::npos);
    const auto steps = test::cli({"train", "bigram", "-o", path, "--steps", "0"});
    CHECK(steps.status == 2);
    const auto positions = test::cli({"train", "bigram", "-o", path, "--positions", "rotary"});
    CHECK(positions.status == 2);
    const auto no_output = test::cli({"train", "bigram"});
    CHECK(no_output.status == 2);
    CHECK_FALSE(std::filesystem::exists(path));
    const auto help = test::cli({"train", "--help"});
    CHECK(help.status == 0);
    CHECK(help.out.find("Example:") != std::string::npos);
}

}  // namespace
}  // namespace circuits
