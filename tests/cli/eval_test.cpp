// End-to-end tests of `circuits eval`.
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/test_util.hpp"

namespace circuits {

namespace {
std::string programs() {
    return test::source_dir() + "/data/programs/";
}
}  // namespace

TEST_CASE("cli eval: prints one value per position, none where nothing is selected") {
    auto r = test::cli({"eval", programs() + "reverse.rasp", "a", "b", "c", "d"});
    CHECK(r.status == 0);
    CHECK(r.out == "d c b a\n");
    r = test::cli({"eval", programs() + "shift_by.rasp", "a", "b", "c"});
    CHECK(r.out == "none a b\n");
    r = test::cli({"eval", programs() + "frac_prevs.rasp", "x", "a", "x", "b", "x"});
    CHECK(r.out == "1 0.5 0.6666666666666666 0.5 0.6\n");
    r = test::cli({"eval", programs() + "shuffle_dyck.rasp", "(", "{", ")", "}"});
    CHECK(r.out == "true true true true\n");
}

TEST_CASE("cli eval: RASPy's add and an n-ary sequence_map; compile and run give the same") {
    auto r = test::cli({"eval", programs() + "add.rasp", "6", "8", "3", "+", "3", "4", "5"});
    CHECK(r.status == 0);
    CHECK(r.out == "0 0 0 1 0 2 8\n");
    r = test::cli({"eval", programs() + "nary_map.rasp", "1", "2", "3"});
    CHECK(r.out == "1 0 4\n");
    test::TempDir dir;
    REQUIRE(test::cli({"compile", programs() + "add.rasp", "-o", dir.file("add.h5")}).status == 0);
    CHECK(test::cli({"run", dir.file("add.h5"), "9", "9", "+", "9", "9"}).out == "0 0 1 9 8\n");
    CHECK(test::cli({"eval", programs() + "add.rasp", "9", "9", "+", "9", "9"}).out == "0 0 1 9 8\n");
    // A lambda whose parameter count does not match the s-ops names the line.
    std::ofstream bad(dir.file("bad.rasp"));
    bad << "vocab a\nmax_len 3\nx = sequence_map((a, b) -> a, tokens, indices, tokens)\noutput x\n";
    bad.close();
    r = test::cli({"eval", dir.file("bad.rasp"), "a"});
    CHECK(r.status == 1);
    CHECK(r.err == "circuits: error: " + dir.file("bad.rasp") +
                       ":3:18: the first argument of sequence_map must take 3 parameters, this lambda takes 2\n");
}

TEST_CASE("cli eval: --json, --causal and the overrides") {
    auto r = test::cli({"eval", programs() + "shift_by.rasp", "a", "b", "--json"});
    REQUIRE(r.status == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["output"][0].is_null());
    CHECK(j["output"][1] == "a");
    CHECK(j["output_sop"] == "shifted");
    CHECK(j["input"][1] == "b");
    r = test::cli({"eval", programs() + "length.rasp", "a", "b", "c", "--causal"});
    CHECK(r.out == "1 2 3\n");
    r = test::cli({"eval", programs() + "length.rasp", "x", "y", "--vocab", "x", "y"});
    CHECK(r.out == "2 2\n");
    r = test::cli({"eval", programs() + "length.rasp", "a", "a", "a", "--max-len", "2"});
    CHECK(r.status == 1);
    CHECK(r.err.find("more than max_len = 2") != std::string::npos);
}

TEST_CASE("cli eval: errors give the file and line with exit status 1; usage errors 2") {
    test::TempDir dir;
    { std::ofstream(dir.file("bad.rasp")) << "vocab a b\nx = select(tokens, tokens, ==\ny = 1\n"; }
    auto r = test::cli({"eval", dir.file("bad.rasp"), "a"});
    CHECK(r.status == 1);
    CHECK(r.err == "circuits: error: " + dir.file("bad.rasp") +
                       ":2:30: expected ',' or ')' after argument 3 of select(...), found 'y'\n");
    r = test::cli({"eval", programs() + "reverse.rasp", "z"});
    CHECK(r.status == 1);
    CHECK(r.err.find("token 'z' is not in the vocabulary (a b c d)") != std::string::npos);
    r = test::cli({"eval", programs() + "reverse.rasp"});
    CHECK(r.status == 2);
    r = test::cli({"eval", dir.file("missing.rasp"), "a"});
    CHECK(r.status == 1);
    CHECK(r.err.find("cannot open the program file") != std::string::npos);
}

}  // namespace circuits
