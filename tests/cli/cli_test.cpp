// End-to-end tests of the command line, run in-process through run_cli.
#include "lib/model_io.hpp"
#include "lib/planted.hpp"
#include "tests/test_util.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>

using namespace circuits;


namespace {
std::string planted_path() { return test::source_dir() + "/data/models/planted-2l.h5"; }
}  // namespace

TEST_CASE("every subcommand has --help with a usage line and an example") {
    const auto overview = test::cli({"--help"});
    CHECK(overview.status == 0);
    for (const auto& c : circuits::cli::commands()) {
        CAPTURE(c.name);
        CHECK(overview.out.find("  " + c.name) != std::string::npos);
        const auto r = test::cli({c.name, "--help"});
        CHECK(r.status == 0);
        CHECK(r.out.find("Usage: circuits " + c.name) != std::string::npos);
        CHECK(r.out.find("Example:\n  circuits " + c.name) != std::string::npos);
    }
}

TEST_CASE("usage errors exit with status 2 and a circuits: error: message") {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {}, {"frobnicate"}, {"inspect"}, {"inspect", planted_path(), "--bogus"}, {"run", planted_path()},
             {"planted", "-o"}}) {
        const auto r = test::cli(args);
        CHECK(r.status == 2);
    }
    const auto r = test::cli({"inspect", planted_path(), "--bogus"});
    CHECK(r.err.rfind("circuits: error: ", 0) == 0);
    CHECK(r.err.find("bogus") != std::string::npos);
}

TEST_CASE("inspect prints config, parameter count, every tensor's shape and labels") {
    const auto r = test::cli({"inspect", planted_path()});
    REQUIRE(r.status == 0);
    CHECK(r.out.find("n_layers: 2") != std::string::npos);
    CHECK(r.out.find("parameters: " + std::to_string(planted_induction_model().parameter_count())) != std::string::npos);
    CHECK(r.out.find("blocks.1.attn.W_Q [2, 204, 128]") != std::string::npos);
    CHECK(r.out.find("unembed.W_U [204, 25]") != std::string::npos);
    CHECK(r.out.find("vocab: <BOS> a b c") != std::string::npos);
    CHECK(r.out.find("residual_labels: one tok:<BOS> tok:a") != std::string::npos);
    // The map of what each head reads and writes, from the residual labels.
    CHECK(r.out.find("L0H0  query pos; key pos; value tok -> writes prev") != std::string::npos);
    CHECK(r.out.find("L1H0  query one, tok; key tok, prev; value tok -> writes out") != std::string::npos);
}

TEST_CASE("run predicts the repeat of a repeated sequence on the planted model") {
    const auto r = test::cli({"run", planted_path(), "a", "b", "c", "d", "e", "a", "b", "c", "d", "e"});
    REQUIRE(r.status == 0);
    // One prediction per input position (BOS left out); the second half continues the pattern.
    CHECK(r.out.substr(r.out.size() - 11) == " b c d e a\n");
    std::istringstream words(r.out);
    int count = 0;
    for (std::string w; words >> w;) ++count;
    CHECK(count == 10);
}

TEST_CASE("run --json and --attention") {
    const auto r = test::cli({"run", planted_path(), "a", "b", "a", "--json", "--attention"});
    REQUIRE(r.status == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["predictions"].size() == 3);
    CHECK(j["predictions"][2] == "b");
    CHECK(j["attention_tokens"][0] == "<BOS>");
    const auto& p = j["attention"]["L0H0"];
    REQUIRE(p.size() == 4);
    CHECK(double(p[3][2]) > 0.99);  // previous-token head
    const auto text = test::cli({"run", planted_path(), "a", "b", "--attention"});
    CHECK(text.out.find("L1H0 attention") != std::string::npos);
}

TEST_CASE("run rejects an unknown token, naming it") {
    const auto r = test::cli({"run", planted_path(), "a", "zebra"});
    CHECK(r.status == 1);
    CHECK(r.err.find("circuits: error: ") == 0);
    CHECK(r.err.find("'zebra'") != std::string::npos);
}

TEST_CASE("planted writes the model atomically and it reads back") {
    test::TempDir dir;
    const auto path = dir.file("p.h5");
    REQUIRE(test::cli({"planted", "-o", path, "--tokens", "6", "--n-ctx", "16"}).status == 0);
    const Model m = read_model_h5(path);
    CHECK(m.cfg.d_vocab == 7);
    // Only the target is left in the folder: no temporary files.
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);
    const auto bad = test::cli({"planted", "-o", dir.file("missing-dir/p.h5")});
    CHECK(bad.status == 1);
    CHECK(bad.err.find("missing-dir/p.h5") != std::string::npos);
}

TEST_CASE("compare: the compiled induction model against itself writes compare.h5 and index.html") {
    test::TempDir dir;
    const auto model = test::source_dir() + "/data/models/compiled/induction.h5";
    const auto out = dir.file("cmp");
    const auto r = test::cli({"compare", model, model, "-o", out, "--probe", "20", "--baseline-samples", "50"});
    REQUIRE_MESSAGE(r.status == 0, r.err);
    CHECK(r.out.find("agreement 1 over") != std::string::npos);
    CHECK(r.out.find("accuracy A 1, B 1") != std::string::npos);  // the compiled model is exact
    CHECK(r.out.find("L1H0 -> L1H0  1") != std::string::npos);
    CHECK(std::filesystem::exists(out + "/compare.h5"));
    CHECK(std::filesystem::exists(out + "/index.html"));
    const auto bad = test::cli({"compare", model, planted_path(), "-o", dir.file("bad")});
    CHECK(bad.status == 1);
    CHECK(bad.err.find("vocabularies differ") != std::string::npos);
    CHECK(!std::filesystem::exists(dir.file("bad")));
}

TEST_CASE("analyze --report writes the results file and the HTML report in one step") {
    test::TempDir dir;
    const auto r = test::cli({"analyze", planted_path(), "-o", dir.file("r.h5"), "--report", dir.file("rep"),
                              "--baseline-samples", "50", "--passes", "induction,path_expansion"});
    REQUIRE_MESSAGE(r.status == 0, r.err);
    CHECK(std::filesystem::exists(dir.file("r.h5")));
    CHECK(std::filesystem::exists(dir.file("rep") + "/index.html"));
    CHECK(std::filesystem::exists(dir.file("rep") + "/heads/L1H0.html"));
}
