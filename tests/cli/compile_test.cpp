// End-to-end tests of `circuits compile`, and of `run` and `inspect` on compiled models.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/test_util.hpp"

namespace circuits {

namespace {
std::string programs() {
    return test::source_dir() + "/data/programs/";
}
}  // namespace

TEST_CASE("cli compile: writes the model, verifies it, and run reads the output s-op") {
    test::TempDir dir;
    auto r = test::cli({"compile", programs() + "reverse.rasp", "-o", dir.file("reverse.h5"), "--verify", "50"});
    REQUIRE(r.status == 0);
    CHECK(r.out.find("3 layers, 1 head per layer, d_model 44 (residual width)") != std::string::npos);
    CHECK(
        r.out.find("verified: 340 inputs (every input up to length 4) and 50 random inputs agree with the evaluator") !=
        std::string::npos);
    CHECK(r.out.find("wrote " + dir.file("reverse.h5")) != std::string::npos);
    r = test::cli({"run", dir.file("reverse.h5"), "a", "b", "c"});
    CHECK(r.status == 0);
    CHECK(r.out == "c b a\n");

    r = test::cli({"compile", programs() + "shift_by.rasp", "-o", dir.file("shift.h5")});
    REQUIRE(r.status == 0);
    r = test::cli({"run", dir.file("shift.h5"), "a", "b", "c", "--json"});
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["predictions"][0].is_null());
    CHECK(j["predictions"][2] == "b");
    CHECK(test::cli({"run", dir.file("shift.h5"), "a", "b"}).out == "none a\n");

    r = test::cli({"compile", programs() + "pair_balance.rasp", "-o", dir.file("pb.h5")});
    REQUIRE(r.status == 0);
    CHECK(r.out.find("output 'balance' (numerical)") != std::string::npos);
    CHECK(test::cli({"run", dir.file("pb.h5"), "(", "a", ")", ")"}).out == "1 0.5 0 -0.25\n");
}

TEST_CASE("cli compile: options override the directives") {
    test::TempDir dir;
    auto r = test::cli({"compile", programs() + "length.rasp", "-o", dir.file("l.h5"), "--max-len", "12", "--vocab",
                        "p", "q", "--causal", "--verify", "10"});
    REQUIRE(r.status == 0);
    CHECK(r.out.find(", causal;") != std::string::npos);
    CHECK(test::cli({"run", dir.file("l.h5"), "p", "q", "q"}).out == "1 2 3\n");
    const auto info = test::cli({"inspect", dir.file("l.h5")});
    CHECK(info.out.find("n_ctx: 13") != std::string::npos);
}

TEST_CASE("cli compile: failures exit 1 naming the line and write no model") {
    test::TempDir dir;
    auto r = test::cli({"compile", programs() + "reverse.rasp", "-o", dir.file("r.h5"), "--attention-only"});
    CHECK(r.status == 1);
    CHECK(r.err ==
          "circuits: error: " + programs() +
              "reverse.rasp:4:11: 'length' is a selector_width, which needs an MLP to decode its attention to BOS, "
              "and --attention-only allows attention layers only\n");
    CHECK_FALSE(std::filesystem::exists(dir.file("r.h5")));
    {
        std::ofstream(dir.file("cat.rasp"))
            << "vocab a b\nmax_len 4\nx = aggregate(select(indices, indices, <), tokens)\noutput x\n";
    }
    r = test::cli({"compile", dir.file("cat.rasp"), "-o", dir.file("cat.h5")});
    CHECK(r.status == 1);
    CHECK(r.err.find(dir.file("cat.rasp") + ":3:5: categorical aggregate can select several keys") !=
          std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.file("cat.h5")));
    r = test::cli({"compile", programs() + "reverse.rasp", "--verify", "-3", "-o", dir.file("r.h5")});
    CHECK(r.status == 2);
}

TEST_CASE("cli compile: attention-only induction, and inspect names the s-ops each block reads and writes") {
    test::TempDir dir;
    auto r = test::cli(
        {"compile", programs() + "induction.rasp", "-o", dir.file("i.h5"), "--attention-only", "--verify", "20"});
    REQUIRE(r.status == 0);
    CHECK(r.out.find("2 layers, 1 head per layer") != std::string::npos);
    CHECK(r.out.find("d_mlp 0") != std::string::npos);
    const auto info = test::cli({"inspect", dir.file("i.h5")});
    REQUIRE(info.status == 0);
    CHECK(info.out.find("origin: compiled") != std::string::npos);
    CHECK(info.out.find("L0H0  query one, indices; key BOS, indices; value tokens -> writes prev") != std::string::npos);
    CHECK(info.out.find("L1H0  query one, tokens; key BOS, prev; value tokens -> writes induction") != std::string::npos);
    CHECK(info.out.find("output s-op: induction (categorical)") != std::string::npos);
    CHECK(info.out.find("residual_labels: one tokens:BOS tokens:a") != std::string::npos);
    CHECK(test::cli({"run", dir.file("i.h5"), "a", "b", "c", "a", "b"}).out == "none none none b c\n");
}

TEST_CASE("cli compile: --stats prints layers, heads, MLP width and d_model; --graph draws the graph") {
    test::TempDir dir;
    auto r = test::cli({"compile", programs() + "add.rasp", "-o", dir.file("add.h5"), "--stats", "--graph",
                        dir.file("add.svg")});
    REQUIRE(r.status == 0);
    CHECK(r.out.find("layers 11 (longest path 11)\n") != std::string::npos);
    CHECK(r.out.find("heads 6 (1 per layer at most)\n") != std::string::npos);
    CHECK(r.out.find("mlp_width 289 (widest layer; ") != std::string::npos);
    CHECK(r.out.find("d_model 162\n") != std::string::npos);
    std::ifstream f(dir.file("add.svg"));
    const std::string svg((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    CHECK(svg.rfind("<svg", 0) == 0);
    CHECK(svg.find(">sum</text>") != std::string::npos);
    CHECK(svg.find("data-block=\"L0 H0 + MLP\"") != std::string::npos);  // plus: a head and its cleanup MLP
    // A program that does not compile writes neither the picture nor the model.
    std::ofstream bad(dir.file("bad.rasp"));
    bad << "vocab a\nmax_len 3\nx = numerical(tokens)\noutput x\n";
    bad.close();
    r = test::cli({"compile", dir.file("bad.rasp"), "-o", dir.file("bad.h5"), "--graph", dir.file("bad.svg")});
    CHECK(r.status == 1);
    CHECK(r.err.find(dir.file("bad.rasp") + ":3:5: numerical s-op 'x'") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.file("bad.svg")));
    CHECK_FALSE(std::filesystem::exists(dir.file("bad.h5")));
}

}  // namespace circuits
