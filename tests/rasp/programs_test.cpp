// The bundled programs (data/programs): each compiled model agrees with the evaluator on every
// input up to length 4 and on 200 random inputs, and the bundled compiled models are current.
// Under the sanitizers, a program with more than 8 tokens (add: 16104 inputs up to length 4, which
// took about 11 of the 12.5 minutes of CI's sanitizer suite) is checked exhaustively up to length 3;
// the Release suite checks every program to length 4.
#include <filesystem>

#include <random>

#include "lib/forward.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/readout.hpp"
#include "lib/rasp/compiler.hpp"
#include "lib/rasp/evaluator.hpp"
#include "lib/rasp/verify.hpp"
#include "tests/test_util.hpp"

namespace circuits::rasp {

namespace {

const char* const kPrograms[] = {"length",    "reverse",  "hist",      "sort_unique",     "sort",     "frac_prevs",
                                 "pair_balance", "shuffle_dyck", "count", "shift_by", "detect_pattern", "induction",
                                 "minimum",   "first",    "ralign",    "split",           "slide",    "add",
                                 "sort_freq", "count_less_freq", "nary_map"};

std::string program_path(const std::string& name) {
    return test::source_dir() + "/data/programs/" + name + ".rasp";
}

CompileOptions options_for(const std::string& name) {
    CompileOptions o;
    o.attention_only = name == "induction";
    return o;
}

}  // namespace

// Every bundled program compiled and checked against the evaluator. The programs are split over
// three test cases so that ctest runs them side by side (tests/CMakeLists.txt: one entry each).
void check_bundled_programs(int part, int parts) {
    for (size_t i = static_cast<size_t>(part); i < std::size(kPrograms); i += static_cast<size_t>(parts)) {
        const std::string name = kPrograms[i];
        CAPTURE(name);
        const Program p = load_program(program_path(name));
        const Model m = compile(p, options_for(name));
        VerifyOptions vo;
        vo.random_inputs = 200;
        vo.exhaustive_length = test::kSanitized && p.vocab.size() > 8 ? 3 : 4;
        vo.seed = 1;
        const VerifyReport report = verify(p, m, vo);
        int all_short = 0;
        for (int len = 1, count = 1; len <= vo.exhaustive_length; ++len) all_short += (count *= static_cast<int>(p.vocab.size()));
        CHECK(report.exhaustive == all_short);
        CHECK(report.random == 200);
        CHECK(report.evaluator_errors == 0);
        if (report.mismatch)
            FAIL_CHECK("'" << join_values(report.mismatch->input) << "' position " << report.mismatch->position
                           << ": evaluator " << report.mismatch->expected << ", compiled " << report.mismatch->got);
    }
}

TEST_CASE("rasp programs: every bundled program compiles to a model that matches the evaluator (part 1 of 3)") {
    check_bundled_programs(0, 3);
}
TEST_CASE("rasp programs: every bundled program compiles to a model that matches the evaluator (part 2 of 3)") {
    check_bundled_programs(1, 3);
}
TEST_CASE("rasp programs: every bundled program compiles to a model that matches the evaluator (part 3 of 3)") {
    check_bundled_programs(2, 3);
}

TEST_CASE("rasp programs: the bundled compiled models are what scripts/compile_programs.sh makes now") {
    for (const std::string name : kPrograms) {
        CAPTURE(name);
        const std::string file = test::source_dir() + "/data/models/compiled/" + name + ".h5";
        REQUIRE(std::filesystem::exists(file));
        const Model bundled = read_model_h5(file);
        const Model fresh = compile(load_program(program_path(name)), options_for(name));
        CHECK(bundled.residual_labels == fresh.residual_labels);
        CHECK(bundled.cfg.n_layers == fresh.cfg.n_layers);
        CHECK(bundled.cfg.d_mlp == fresh.cfg.d_mlp);
        CHECK(bundled.output_sop == fresh.output_sop);
        CHECK(bundled.output_encoding == fresh.output_encoding);
        CHECK(bundled.program_source == fresh.program_source);
        if (bundled.cfg.n_layers != fresh.cfg.n_layers || bundled.cfg.d_head != fresh.cfg.d_head) continue;
        for (int l = 0; l < fresh.cfg.n_layers; ++l)
            for (int h = 0; h < fresh.cfg.n_heads; ++h) {
                const auto ul = static_cast<size_t>(l), uh = static_cast<size_t>(h);
                test::check_near(bundled.blocks[ul].attn.W_Q[uh], fresh.blocks[ul].attn.W_Q[uh], 0.0, name + " W_Q");
                test::check_near(bundled.blocks[ul].attn.W_O[uh], fresh.blocks[ul].attn.W_O[uh], 0.0, name + " W_O");
            }
    }
}

TEST_CASE("rasp programs: the examples table of RASP.md on the bundled programs") {
    const auto eval = [](const std::string& name, const std::vector<std::string>& in) {
        const Program p = load_program(program_path(name));
        return join_values(evaluate(p, tokens_from_strings(p, in)));
    };
    CHECK(eval("length", {"a", "b", "c"}) == "3 3 3");
    CHECK(eval("reverse", {"a", "b", "c", "d"}) == "d c b a");
    CHECK(eval("hist", {"a", "b", "a", "c"}) == "2 1 2 1");
    CHECK(eval("sort_unique", {"2", "4", "3", "1"}) == "1 2 3 4");
    CHECK(eval("frac_prevs", {"x", "a", "x", "b", "x"}) == "1 0.5 0.6666666666666666 0.5 0.6");
    CHECK(eval("shift_by", {"a", "b", "c", "d"}) == "none a b c");
    CHECK(eval("sort", {"2", "4", "1", "2"}) == "1 2 2 4");
    CHECK(eval("shuffle_dyck", {"(", "{", ")", "}"}) == "true true true true");
    CHECK(eval("shuffle_dyck", {"(", ")", "}", "{"}) == "false false false false");
    CHECK(eval("detect_pattern", {"a", "b", "c", "a", "b", "c"}) == "none none true false false true");
    CHECK(eval("induction", {"a", "b", "c", "a"}) == "none none none b");
    CHECK(eval("minimum", {"3", "1", "4", "1", "5"}) == "1 1 1 1 1");
    CHECK(eval("first", {"b", "a", "c", "a"}) == "1 1 1 1");
    CHECK(eval("first", {"b", "c"}) == "99 99");
    CHECK(eval("ralign", {"a", "b", "_", "_"}) == "- - a b");
    CHECK(eval("split", {"1", "2", "+", "3"}) == "0 0 1 2");
    CHECK(eval("slide", {"a", "<", "<", "b"}) == "a b b b");
    CHECK(eval("add", {"6", "8", "3", "+", "3", "4", "5"}) == "0 0 0 1 0 2 8");
    CHECK(eval("sort_freq", {"a", "b", "b", "c", "c", "c"}) == "c c c b b a");
    CHECK(eval("count_less_freq", {"a", "b", "b", "c", "c", "c"}) == "3 3 3 3 3 3");
    CHECK(eval("nary_map", {"1", "2", "3"}) == "1 0 4");
}

namespace {

// The compiled add model's output on "A+B", read as a number (its digits, right-aligned).
long compiled_sum(const Model& m, const std::string& a, const std::string& b) {
    std::vector<int> tokens{m.cfg.bos_token};
    for (char c : a + "+" + b) tokens.push_back(m.token_index(std::string(1, c)));
    long sum = 0;
    for (const auto& r : read_output(m, forward(m, tokens).logits, 1)) {
        const std::string digit = to_string(m, r);
        if (digit.size() != 1 || digit[0] < '0' || digit[0] > '9') return -1;
        sum = 10 * sum + (digit[0] - '0');
    }
    return sum;
}

}  // namespace

TEST_CASE("rasp programs: the compiled add model adds: 683+345 gives 1 0 2 8, every pair that fits max_len 4") {
    const Program p = load_program(program_path("add"));
    const Model m = compile(p);
    CHECK(compiled_sum(m, "683", "345") == 1028);
    std::vector<int> tokens{m.cfg.bos_token};
    for (char c : std::string("683+345")) tokens.push_back(m.token_index(std::string(1, c)));
    std::string last4;
    const auto readings = read_output(m, forward(m, tokens).logits, 1);
    for (size_t i = readings.size() - 4; i < readings.size(); ++i) last4 += to_string(m, readings[i]) + " ";
    CHECK(last4 == "1 0 2 8 ");
    // Every pair of numbers (leading zeros allowed) with at most 3 digits between them: length 4
    // (all 32100 pairs of length 5 take a minute of forward passes; the random pairs below reach 7).
    Program short_p = p;
    short_p.max_len = 4;
    const Model s = compile(short_p);
    int checked = 0, wrong = 0;
    for (int la = 1; la <= 2; ++la)
        for (int lb = 1; la + lb <= 3; ++lb) {
            int pa = 1, pb = 1;
            for (int i = 0; i < la; ++i) pa *= 10;
            for (int i = 0; i < lb; ++i) pb *= 10;
            for (int a = 0; a < pa; ++a)
                for (int b = 0; b < pb; ++b) {
                    const std::string sa = std::string(static_cast<size_t>(la - std::to_string(a).size()), '0') +
                                           std::to_string(a);
                    const std::string sb = std::string(static_cast<size_t>(lb - std::to_string(b).size()), '0') +
                                           std::to_string(b);
                    ++checked;
                    if (compiled_sum(s, sa, sb) != a + b && ++wrong <= 5) FAIL_CHECK(sa << "+" << sb);
                }
        }
    CHECK(checked == 2100);
    CHECK(wrong == 0);
    // max_len 7: 1000 random pairs of up to 6 digits between them.
    std::mt19937 rng(5);
    for (int t = 0; t < 1000; ++t) {
        const int la = 1 + static_cast<int>(rng() % 5);
        const int lb = 1 + static_cast<int>(rng() % static_cast<unsigned>(6 - la));
        std::string sa, sb;
        for (int i = 0; i < la; ++i) sa += static_cast<char>('0' + rng() % 10);
        for (int i = 0; i < lb; ++i) sb += static_cast<char>('0' + rng() % 10);
        if (compiled_sum(m, sa, sb) != std::stol(sa) + std::stol(sb)) FAIL_CHECK(sa << "+" << sb);
    }
}

// The longest path is counted on the graph alone (CompiledGraph::longest_path_layers); here it is
// also counted again from the program: each s-op one sub-layer after its inputs of the right kind.
TEST_CASE("rasp programs: no bundled program uses more layers than its graph's longest path requires") {
    for (const std::string name : kPrograms) {
        CAPTURE(name);
        const Program p = load_program(program_path(name));
        CompiledGraph g;
        const Model m = compile(p, options_for(name), g);
        CHECK(m.cfg.n_layers == g.n_layers);
        CHECK(m.cfg.n_layers <= g.longest_path_layers);
        // Every s-op sits exactly one sub-layer of its kind after the last of its inputs.
        for (const auto& s : g.sops) {
            if (s.first_sublayer < 0) continue;
            int after = -1;
            for (int in : s.inputs) after = std::max(after, g.sops[static_cast<size_t>(in)].last_sublayer);
            const int parity = s.kind == "aggregate" || s.kind == "selector_width" ? 0 : 1;
            int want = after + 1;
            if ((want & 1) != parity) ++want;
            CHECK_MESSAGE(s.first_sublayer == want, s.name);
        }
    }
}

TEST_CASE("rasp programs: induction is two attention layers and no MLP") {
    const Model m = read_model_h5(test::source_dir() + "/data/models/compiled/induction.h5");
    CHECK(m.cfg.n_layers == 2);
    CHECK(m.cfg.d_mlp == 0);
    CHECK(m.cfg.n_heads == 1);
    CHECK(m.cfg.causal);
}

}  // namespace circuits::rasp
