// Tests of the compiler: the examples table through compiled weights, the model layout, the
// improvements over Tracr, and every restriction's error with its line.
#include "lib/rasp/compiler.hpp"

#include <algorithm>
#include <cmath>

#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/evaluator.hpp"
#include "lib/rasp/readout.hpp"
#include "lib/rasp/verify.hpp"
#include "tests/test_util.hpp"

namespace circuits::rasp {

namespace {

Model compile_source(const std::string& src, const CompileOptions& o = {}) {
    return compile(parse_program(src, "c.rasp"), o);
}

std::string compile_error(const std::string& src, const CompileOptions& o = {}) {
    try {
        compile_source(src, o);
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

// The compiled model's output on `input`, one reading per position.
std::string run_model(const Model& m, const std::vector<std::string>& input) {
    std::vector<int> tokens{m.cfg.bos_token};
    for (const auto& s : input) {
        REQUIRE_MESSAGE(m.token_index(s) >= 0, "token " << s);
        tokens.push_back(m.token_index(s));
    }
    const auto readings = read_output(m, forward(m, tokens).logits, 1);
    std::string out;
    for (const auto& r : readings) out += (out.empty() ? "" : " ") + to_string(m, r);
    return out;
}

std::string run_evaluator(const std::string& src, const std::vector<std::string>& input) {
    const Program p = parse_program(src, "c.rasp");
    return join_values(evaluate(p, tokens_from_strings(p, input)));
}

// Verifies src on every input up to length 4 and `random` random inputs; reports the mismatch.
void check_verified(const std::string& src, int random = 200, const CompileOptions& o = {}) {
    const Program p = parse_program(src, "c.rasp");
    const Model m = compile(p, o);
    VerifyOptions vo;
    vo.random_inputs = random;
    vo.seed = 7;
    const auto report = verify(p, m, vo);
    CHECK(report.evaluator_errors == 0);
    if (report.mismatch)
        FAIL_CHECK("mismatch on '" << join_values(report.mismatch->input) << "' at " << report.mismatch->position
                                   << ": want " << report.mismatch->expected << ", got " << report.mismatch->got);
}

const std::string kLength = "length = selector_width(select(tokens, tokens, true))\n";
const std::string kReverse =
    "vocab a b c d\nmax_len 6\n" + kLength +
    "opp = length - indices - 1\nreverse = aggregate(select(indices, opp, ==), tokens)\noutput reverse\n";

}  // namespace

TEST_CASE("rasp compiler: the examples table of RASP.md through the compiled model") {
    CHECK(run_model(compile_source("vocab a b c\nmax_len 5\n" + kLength + "output length\n"), {"a", "b", "c"}) ==
          "3 3 3");
    CHECK(run_model(compile_source(kReverse), {"a", "b", "c", "d"}) == "d c b a");
    CHECK(run_model(compile_source(
                        "vocab a b c\nmax_len 5\nhist = selector_width(select(tokens, tokens, ==))\noutput hist\n"),
                    {"a", "b", "a", "c"}) == "2 1 2 1");
    CHECK(run_model(compile_source("vocab 1 2 3 4\nmax_len 5\ntarget = selector_width(select(tokens, tokens, <))\n"
                                   "sort = aggregate(select(target, indices, ==), tokens)\noutput sort\n"),
                    {"2", "4", "3", "1"}) == "1 2 3 4");
    const Model frac = compile_source(
        "vocab x a b\nmax_len 6\nf = numerical(aggregate(select(indices, indices, <=), numerical(tokens == \"x\"), "
        "default: 0))\noutput f\n");
    CHECK(run_model(frac, {"x", "a", "x", "b", "x"}) == "1 0.5 0.6666667 0.5 0.6");
    CHECK(run_model(compile_source("vocab a b c d\nmax_len 5\ns = aggregate(select(indices, indices, (k, q) -> q == k "
                                   "+ 1), tokens)\noutput s\n"),
                    {"a", "b", "c", "d"}) == "none a b c");
}

TEST_CASE("rasp compiler: model layout, labels, vocabularies and the program are recorded") {
    const Model m = compile_source(kReverse);
    const auto& c = m.cfg;
    CHECK(c.n_ctx == 7);
    CHECK(c.d_vocab == 5);
    CHECK(c.bos_token == 0);
    CHECK(m.vocab == std::vector<std::string>{"BOS", "a", "b", "c", "d"});
    CHECK(m.vocab_out == std::vector<std::string>{"a", "b", "c", "d"});
    CHECK(c.origin == circuits::Origin::compiled);
    CHECK(c.positional_embedding_type == PositionalEmbedding::standard);
    CHECK(c.normalization_type == Normalization::none);
    CHECK_FALSE(c.causal);
    CHECK(m.output_sop == "reverse");
    CHECK(m.output_encoding == OutputEncoding::categorical);
    CHECK(m.program_source == kReverse);
    // length: attention + MLP in layer 0; opp: MLP in layer 1; reverse: attention in layer 2.
    CHECK(c.n_layers == 3);
    CHECK(c.n_heads == 1);
    REQUIRE(static_cast<int>(m.residual_labels.size()) == c.d_model);
    CHECK(m.residual_labels[0] == "one");
    CHECK(m.residual_labels[1] == "tokens:BOS");
    CHECK(m.residual_labels[2] == "tokens:a");
    CHECK(m.residual_labels[6] == "indices:0");
    CHECK(m.residual_labels[12] == "length.bos_attn");
    CHECK(m.residual_labels[13] == "length:0");
    const auto has = [&](const std::string& l) {
        return std::find(m.residual_labels.begin(), m.residual_labels.end(), l) != m.residual_labels.end();
    };
    CHECK(has("opp:5"));
    CHECK(has("reverse:d"));
    CHECK(c.d_model == 2 + 4 + 6 + 1 + 7 + 12 + 4);  // one, BOS, tokens, indices, length.bos_attn, length, opp, reverse
    // Layer 1 has no head: its attention weights are zero.
    CHECK(m.blocks[1].attn.W_O[0].cwiseAbs().maxCoeff() == 0.0f);
    // Position p of the model holds RASP index p - 1; BOS holds none.
    CHECK(m.W_pos.row(0).cwiseAbs().maxCoeff() == 0.0f);
    CHECK(m.W_pos(1, 6) == 1.0f);
}

TEST_CASE("rasp compiler: a model file round trip keeps the compiled model's records and outputs") {
    test::TempDir dir;
    const Model m = compile_source(kReverse);
    write_model_h5(m, dir.file("r.h5"));
    const Model back = read_model_h5(dir.file("r.h5"));
    CHECK(back.cfg.origin == circuits::Origin::compiled);
    CHECK(back.output_encoding == OutputEncoding::categorical);
    CHECK(back.output_sop == "reverse");
    CHECK(back.program_source == kReverse);
    CHECK(back.residual_labels == m.residual_labels);
    CHECK(run_model(back, {"a", "b", "c"}) == "c b a");
}

// Better than Tracr: Tracr turns the `none` of an empty categorical aggregate into a zero vector
// that later operations compute on; here none stays none through maps, sequence_maps and
// selectors, and the output reads none.
TEST_CASE("rasp compiler: a categorical aggregate with default none compiles correctly, none flowing onwards") {
    const std::string src =
        "vocab a b c\nmax_len 6\nprev = aggregate(select(indices, indices, (k, q) -> q == k + 1), tokens)\n"
        "is_a = prev == \"a\"\nsame = sequence_map((x, y) -> x == y, prev, tokens)\n"
        "asks = selector_width(select(tokens, prev, !=))\ndiffer = selector_width(not select(prev, tokens, ==))\n"
        "again = aggregate(select(indices, indices, (k, q) -> q == k + 1), same)\n";
    for (const std::string out : {"prev", "is_a", "same", "asks", "differ", "again"}) {
        CAPTURE(out);
        check_verified(src + "output " + out + "\n");
    }
    const Model m = compile_source(src + "output again\n");
    CHECK(run_evaluator(src + "output again\n", {"a", "a", "b", "b"}) == "none none true false");
    CHECK(run_model(m, {"a", "a", "b", "b"}) == "none none true false");
    CHECK(run_model(compile_source(src + "output asks\n"), {"a", "b", "c"}) == "0 2 2");
}

TEST_CASE("rasp compiler: and / or / not of selectors over the same s-ops compile into one head") {
    const std::string src = "vocab a b c\nmax_len 6\nsame = select(tokens, tokens, ==)\n";
    const std::string widths[] = {
        "w = selector_width(same and select(tokens, tokens, (k, q) -> k != \"a\"))\n",
        "w = selector_width(not same)\n",
        "w = selector_width(not same or select(tokens, indices, (k, q) -> k == \"b\"))\n",
        "w = selector_width(select(indices, indices, <) or select(tokens, indices, (k, q) -> q == 1))\n",
    };
    for (const auto& w : widths) {
        CAPTURE(w);
        check_verified(src + w + "output w\n");
        const Model m = compile_source(src + w + "output w\n");
        CHECK(m.cfg.n_layers == 1);
        CHECK(m.cfg.n_heads == 1);
    }
    check_verified(src +
                   "prev = aggregate(select(indices, indices, (k, q) -> q == k + 1) and not select(indices, indices, "
                   "false), tokens)\noutput prev\n");
}

// Each operator with each way the selects can differ: in their keys, their queries, or both, over
// string tokens, integer indices and a boolean s-op.
TEST_CASE("rasp compiler: and / or / not of selectors over different s-ops compile exactly through a joint s-op") {
    const std::string src =
        "vocab a b c\nmax_len 5\nflag = tokens == \"a\"\n"
        "keys_differ = select(tokens, indices, (k, q) -> k != \"b\")\n"
        "queries_differ = select(indices, tokens, (k, q) -> q == \"a\" or k == 0)\n"
        "both_differ = select(flag, flag, ==)\n"
        "base = select(indices, indices, <=)\n";
    const std::string combos[] = {"base and keys_differ",       "base or keys_differ",
                                  "base and not keys_differ",   "base and queries_differ",
                                  "base or queries_differ",     "not (base or queries_differ)",
                                  "base and both_differ",       "base or both_differ",
                                  "not base and not both_differ", "(base and keys_differ) or both_differ"};
    for (const auto& c : combos) {
        CAPTURE(c);
        check_verified(src + "w = selector_width(" + c + ")\noutput w\n", 100);
        check_verified(src + "m = numerical(aggregate(" + c + ", numerical(flag), default: 0))\noutput m\n", 100);
    }
    // One token per query: a categorical aggregate over a joint selector.
    check_verified(src + "p = aggregate(select(indices, indices, (k, q) -> k == q - 1) and keys_differ, tokens)\n"
                         "output p\n");
    // The joint s-op costs one MLP sub-layer before the head: the width's head sits at layer 1, not 0.
    const Model m = compile_source(src + "w = selector_width(base and keys_differ)\noutput w\n");
    CHECK(m.cfg.n_layers == 2);
    // Tuples the head compares get a direction; (b, i) never is a key (k != "b"), so it has none.
    const auto has = [&](const std::string& label) {
        return std::find(m.residual_labels.begin(), m.residual_labels.end(), label) != m.residual_labels.end();
    };
    CHECK(has("(tokens, indices):(a, 0)"));
    CHECK(has("(tokens, indices):(c, 4)"));
    CHECK_FALSE(has("(tokens, indices):(b, 0)"));
}

TEST_CASE("rasp compiler: RASPy's minimum and first compile and agree with the evaluator") {
    const std::string minimum =
        "def minimum(s) = aggregate(select(selector_width(select(s, s, <) or (select(indices, indices, <) and "
        "select(s, s, ==))), indices, (k, q) -> k == 0), s)\n";
    const std::string min_src = "vocab 0 1 2 3 4 5\nmax_len 6\n" + minimum + "min = minimum(tokens)\noutput min\n";
    check_verified(min_src);
    CHECK(run_model(compile_source(min_src), {"3", "1", "4", "1", "5"}) == "1 1 1 1 1");
    const std::string first_src = "vocab a b c\nmax_len 6\n" + minimum +
                                  "where_a = sequence_map((t, i) -> if t == \"a\" then i else 99, tokens, indices)\n"
                                  "first = minimum(where_a)\noutput first\n";
    check_verified(first_src);
    CHECK(run_model(compile_source(first_src), {"b", "c", "a", "b", "a"}) == "2 2 2 2 2");
    CHECK(run_model(compile_source(first_src), {"b", "c"}) == "99 99");
}

TEST_CASE("rasp compiler: numerical aggregates of any numbers are means within the tolerance; BOS carries defaults") {
    const std::string src = "vocab a b c\nmax_len 6\nv = numerical(map(t -> if t == \"a\" then 2.5 else if t == \"b\" "
                            "then -4 else 10, tokens))\n";
    check_verified(src + "m = numerical(aggregate(select(indices, indices, <=), v))\noutput m\n");
    check_verified(src + "m = numerical(aggregate(select(tokens, tokens, ==), numerical(indices)))\noutput m\n");
    // An empty selection gives the default, carried by BOS; a later map reads the mean.
    const std::string empty =
        src + "m = numerical(aggregate(select(indices, indices, <), v, default: 7))\n";
    check_verified(empty + "output m\n");
    check_verified(empty + "big = m > 3\noutput big\n");
    const Model m = compile_source(empty + "output m\n");
    std::vector<int> tokens{0, m.token_index("a"), m.token_index("b"), m.token_index("c")};
    const auto logits = forward(m, tokens).logits;  // [position, 1]
    CHECK(std::fabs(logits(1, 0) - 7.0) < 1e-5);
    CHECK(std::fabs(logits(2, 0) - 2.5) < 1e-5);
    CHECK(std::fabs(logits(3, 0) - (-0.75)) < 1e-5);
}

TEST_CASE("rasp compiler: selector_width under causal counts the keys up to the query") {
    const std::string src = "vocab a b c\nmax_len 8\ncausal\nw = selector_width(select(tokens, tokens, ==))\n";
    check_verified(src + "output w\n");
    CHECK(run_model(compile_source(src + "output w\n"), {"a", "b", "a", "a", "c"}) == "1 1 2 3 1");
    CHECK(run_evaluator(src + "output w\n", {"a", "b", "a", "a", "c"}) == "1 1 2 3 1");
    // Over a joint selector, and feeding a later head.
    check_verified(src + "v = selector_width(select(tokens, tokens, ==) or select(indices, indices, (k, q) -> k == 0))\n"
                         "r = aggregate(select(indices, v, ==), tokens)\noutput r\n");
}

TEST_CASE("rasp compiler: an n-ary sequence_map evaluates and compiles into one MLP") {
    const std::string src = "vocab 0 1 2\nmax_len 5\nprev = aggregate(select(indices, indices, (k, q) -> q == k + 1), "
                            "tokens, default: 0)\nm = sequence_map((t, p, i) -> (t + 2 * p + i) % 4, tokens, prev, "
                            "indices)\n";
    CHECK(run_evaluator(src + "output m\n", {"1", "2", "0"}) == "1 1 2");
    check_verified(src + "output m\n");
    const Model m = compile_source(src + "output m\n");
    CHECK(run_model(m, {"1", "2", "0"}) == "1 1 2");
    CHECK(m.cfg.n_layers == 1);  // the head, then the MLP of the same layer
    // Four inputs, one of them none where prev is (no default): none propagates.
    check_verified("vocab a b\nmax_len 4\nprev = aggregate(select(indices, indices, (k, q) -> q == k + 1), tokens)\n"
                   "m = sequence_map((a, b, c, d) -> a + b + str(c) + str(d), tokens, prev, indices, indices == 0)\n"
                   "output m\n");
    CHECK(compile_error("vocab 0 1\nmax_len 4\nn = numerical(tokens == 1)\nm = sequence_map((a, b, c) -> a + b + c, "
                        "tokens, indices, n)\noutput m\n") ==
          "c.rasp:4:5: a sequence_map of 3 s-ops compiles from categorical inputs only, but 'n' (line 3) is numerical "
          "(use categorical(...))");
}

TEST_CASE("rasp compiler: a categorical aggregate's default is carried by BOS") {
    const std::string src =
        "vocab a b c\nmax_len 6\nprev = aggregate(select(indices, indices, (k, q) -> q == k + 1), tokens, default: "
        "\"_\")\n";
    check_verified(src + "output prev\n");
    CHECK(run_model(compile_source(src + "output prev\n"), {"a", "b", "c"}) == "_ a b");
    // The default is a value like any other for later s-ops, and may be one the input also has.
    check_verified(src + "is_ = prev == \"_\"\noutput is_\n");
    const std::string same = "vocab a b c\nmax_len 6\nprev = aggregate(select(indices, indices, (k, q) -> q == k + 1), "
                             "tokens, default: \"c\")\nnext = aggregate(select(indices, indices, (k, q) -> k == q + 1), "
                             "prev, default: \"a\")\noutput next\n";
    check_verified(same);
    CHECK(run_model(compile_source(same), {"b", "b", "a"}) == "b b a");
}

// Better than Tracr, whose selector_width loses exactness past about max_len 10.
TEST_CASE("rasp compiler: selector_width is exact up to max_len 64") {
    const std::string src =
        "vocab a b\nmax_len 64\nhist = selector_width(select(tokens, tokens, ==))\n"
        "count = numerical(selector_width(select(tokens, tokens, (k, q) -> k == \"a\")))\n";
    const Program p = parse_program(src + "output hist\n", "w.rasp");
    const Model m = compile(p);
    const Model num = compile_source(src + "output count\n");
    // Every count 0..64 of "a" at length 64 (shuffled), and lengths 1..64 of all "a".
    std::mt19937 rng(11);
    for (int k = 0; k <= 64; ++k) {
        std::vector<std::string> in(64, "b");
        for (int i = 0; i < k; ++i) in[static_cast<size_t>(i)] = "a";
        std::shuffle(in.begin(), in.end(), rng);
        CHECK(run_model(m, in) == join_values(evaluate(p, tokens_from_strings(p, in))));
        const std::vector<std::string> same(static_cast<size_t>(std::max(1, k)), "a");
        CHECK(run_model(m, same) == join_values(evaluate(p, tokens_from_strings(p, same))));
        const std::string counted = run_model(num, in);
        const double got = std::stod(counted.substr(0, counted.find(' ')));
        CHECK(std::fabs(got - k) <= kVerifyAtol + kVerifyRtol * k);
    }
    VerifyOptions vo;
    vo.random_inputs = 100;
    const auto report = verify(p, m, vo);
    CHECK_FALSE(report.mismatch.has_value());
}

// Better than Tracr: the temperature accounts for the forward pass's own 1/sqrt(d_head).
TEST_CASE("rasp compiler: softmax temperature makes every head exact after the 1/sqrt(d_head) scaling") {
    // sort's rank head compares 4 x 16 key values: d_head is large, so an unscaled temperature
    // would be too soft by a factor sqrt(d_head).
    const std::string src =
        "vocab 1 2 3 4\nmax_len 16\nkeys = tokens + indices / 16\nrank = selector_width(select(keys, keys, <))\n"
        "sort = aggregate(select(rank, indices, ==), tokens)\noutput sort\n";
    const Program p = parse_program(src, "t.rasp");
    const Model m = compile(p);
    REQUIRE(m.cfg.d_head >= 32);
    CHECK(m.cfg.effective_attn_scale() == doctest::Approx(std::sqrt(m.cfg.d_head)));
    const double c = softmax_temperature(16);
    CHECK(c == doctest::Approx(2.0 * std::log(16 / kAttentionLeak)));
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> tok(1, 4);
    for (int trial = 0; trial < 20; ++trial) {
        std::vector<int> tokens{0};
        for (int i = 0; i < 16; ++i) tokens.push_back(tok(rng));
        const auto r = forward(m, tokens);
        for (int l = 0; l < m.cfg.n_layers; ++l)
            for (int h = 0; h < m.cfg.n_heads; ++h) {
                if (m.blocks[static_cast<size_t>(l)].attn.W_O[static_cast<size_t>(h)].cwiseAbs().maxCoeff() == 0.0f)
                    continue;
                // The pre-softmax logits are c (selected), c/2 or c (BOS), or 0: multiples of c/2.
                const Matrix q = r.resid_pre[static_cast<size_t>(l)] *
                                 m.blocks[static_cast<size_t>(l)].attn.W_Q[static_cast<size_t>(h)];
                const Matrix k = r.resid_pre[static_cast<size_t>(l)] *
                                 m.blocks[static_cast<size_t>(l)].attn.W_K[static_cast<size_t>(h)];
                const Matrix logits = q * k.transpose() / std::sqrt(static_cast<float>(m.cfg.d_head));
                for (Eigen::Index i = 1; i < logits.rows(); ++i)
                    for (Eigen::Index j = 0; j < logits.cols(); ++j) {
                        const double half_steps = logits(i, j) / (c / 2);
                        CHECK(std::fabs(half_steps - std::round(half_steps)) < 1e-3);
                    }
                // Each query spreads its attention equally over the keys it selects; the rest is leak.
                const Matrix& pattern = r.patterns[static_cast<size_t>(l)][static_cast<size_t>(h)];
                for (Eigen::Index i = 1; i < pattern.rows(); ++i) {
                    const float top = pattern.row(i).maxCoeff();
                    double leak = 0;
                    for (Eigen::Index j = 0; j < pattern.cols(); ++j)
                        if (pattern(i, j) < 0.5f * top)
                            leak += pattern(i, j);
                        else
                            CHECK(pattern(i, j) == doctest::Approx(top).epsilon(1e-5));
                    CHECK(leak < 2 * kAttentionLeak);
                }
            }
    }
    check_verified(src, 100);
}

// Better than Tracr: --attention-only yields a model with no MLP, or names the line that needs one.
TEST_CASE("rasp compiler: attention-only programs compile without MLPs; others name the line") {
    CompileOptions o;
    o.attention_only = true;
    const std::string induction =
        "vocab a b c d\nmax_len 8\ncausal\nprev = aggregate(select(indices, indices, (k, q) -> q == k + 1), tokens)\n"
        "induction = aggregate(select(prev, tokens, ==), tokens)\noutput induction\n";
    const Model m = compile_source(induction, o);
    CHECK(m.cfg.d_mlp == 0);
    CHECK(m.cfg.n_layers == 2);
    CHECK(m.cfg.n_heads == 1);
    CHECK(m.cfg.causal);
    CHECK(run_model(m, {"a", "b", "c", "a"}) == "none none none b");
    check_verified(induction, 200, o);
    CHECK(compile_error(kReverse, o) ==
          "c.rasp:3:10: 'length' is a selector_width, which needs an MLP to decode its attention to BOS, and "
          "--attention-only allows attention layers only");
    CHECK(compile_error("vocab a b\nmax_len 4\nx = tokens == \"a\"\noutput x\n", o) ==
          "c.rasp:3:12: 'x' is a map, which is computed by an MLP, and --attention-only allows attention layers only");
}

TEST_CASE("rasp compiler: every restriction of RASP.md gives its error with the line") {
    // Select keys and queries must be categorical.
    CHECK(
        compile_error("vocab a b\nmax_len 4\nn = numerical(tokens == \"a\")\nw = selector_width(select(n, tokens, "
                      "==))\noutput w\n") ==
        "c.rasp:4:20: select keys must be categorical, but 'n' (line 3) is numerical (a compiled head compares one-hot "
        "values; use categorical(...))");
    CHECK(compile_error("vocab a b\nmax_len 4\nn = numerical(tokens == \"a\")\nw = aggregate(select(tokens, n, ==), "
                        "tokens)\noutput w\n")
              .find("c.rasp:4:15: select queries must be categorical, but 'n' (line 3) is numerical") == 0);
    // A categorical aggregate must select at most one key per query.
    CHECK(compile_error("vocab a b\nmax_len 4\n\nx = aggregate(select(indices, indices, <=), tokens)\noutput x\n") ==
          "c.rasp:4:5: categorical aggregate can select several keys with different values (the query value 1 of "
          "'indices' "
          "selects the key values 0 and 1 of 'indices'); a categorical aggregate must select at most one key per "
          "query: use "
          "numerical(aggregate(...)) for a mean, or a selector that matches one key");
    // A numerical aggregate of values that are not numbers.
    CHECK(compile_error("vocab a b\nmax_len 4\nx = numerical(aggregate(select(tokens, tokens, true), "
                        "map(t -> t + \"!\", tokens)))\noutput x\n") ==
          "c.rasp:3:15: numerical aggregate of non-numeric values: 'map@3' (line 3) can be 'a!' (a mean needs "
          "numbers)");
    // An MLP under --attention-only: see the test above.
}

TEST_CASE("rasp compiler: the compiler's own errors name the line") {
    CHECK(compile_error("vocab a b\nmax_len 4\nx = numerical(aggregate(select(tokens, tokens, !=), numerical(tokens == "
                        "\"a\"), default: \"z\"))\noutput x\n") ==
          "c.rasp:3:15: numerical s-op 'x' can take the non-numeric value 'z' (numerical s-ops hold numbers; use "
          "categorical)");
    CHECK(compile_error(
              "vocab a b\nmax_len 4\nf = numerical(aggregate(select(tokens, tokens, !=), numerical(tokens == \"a\")))\n"
              "g = f > 0\noutput g\n") ==
          "c.rasp:4:7: 'f' (line 3) is numerical and can be none, which the compiled model holds as 0; give its "
          "aggregate a "
          "default (default: 0) or make it categorical");
    CHECK(
        compile_error(
            "vocab a b\nmax_len 4\nf = numerical(aggregate(select(indices, indices, <=), numerical(tokens == \"a\")))\n"
            "g = sequence_map((x, y) -> x * y, f, numerical(f + 1))\noutput g\n")
            .find("c.rasp:4:5: sequence_map of numerical s-ops must itself be numerical") == 0);
    CHECK(
        compile_error(
            "vocab a b\nmax_len 4\nf = numerical(aggregate(select(indices, indices, <=), numerical(tokens == \"a\")))\n"
            "g = numerical(sequence_map((x, y) -> x * y, f, numerical(indices)))\noutput g\n")
            .find("c.rasp:4:15: sequence_map of numerical s-ops must be linear") == 0);
    CHECK(
        compile_error(
            "vocab a b\nmax_len 4\nf = numerical(aggregate(select(indices, indices, <=), numerical(tokens == \"a\")))\n"
            "g = f + indices\noutput g\n")
            .find("c.rasp:4:7: sequence_map of numerical 'f' and categorical 'indices' cannot be compiled") == 0);
    CHECK(compile_error("vocab a b\nmax_len 4\np = aggregate(select(indices, indices, (k, q) -> q == k + 1), tokens)\n"
                        "f = numerical(aggregate(select(indices, indices, <=), p == \"a\", default: 0))\noutput f\n") ==
          "c.rasp:4:15: numerical aggregate of 'map@4' (line 4), which can be none: the compiled mean would count none as 0");
    CHECK(compile_error("vocab a BOS\nmax_len 4\nx = tokens == \"a\"\noutput x\n") ==
          "c.rasp: the vocabulary contains 'BOS', the compiled model's BOS token");
    CHECK(compile_error("vocab a b\nmax_len 4\nx = numerical(tokens)\noutput x\n") ==
          "c.rasp:3:5: numerical s-op 'x' can take the non-numeric value 'a' (numerical s-ops hold numbers; use "
          "categorical)");
}

TEST_CASE("rasp compiler: numerical maps: linear exactly, others by discretising; numerical to categorical") {
    const std::string src =
        "vocab x a\nmax_len 6\nfrac = numerical(aggregate(select(indices, indices, <=), numerical(tokens == \"x\"), "
        "default: 0))\n";
    check_verified(src + "y = numerical(2 * frac - 1)\noutput y\n");
    check_verified(src + "y = numerical(map(v -> v * v, frac))\noutput y\n");
    check_verified(src + "y = frac > 0.5\noutput y\n");
    check_verified(src + "y = numerical(map(v -> round(3 * v), frac))\noutput y\n");
    check_verified(src +
                   "g = numerical(frac - numerical(aggregate(select(indices, indices, <=), numerical(tokens == "
                   "\"a\"))))\noutput g\n");
    check_verified(src + "y = numerical(map(v -> 1 - v, frac))\nz = y < 0.25\noutput z\n");
    // A categorical s-op averaged numerically: its 0/1 values are read straight from its one-hot.
    check_verified(
        "vocab x a\nmax_len 6\ny = numerical(aggregate(select(indices, indices, <=), tokens == \"x\", default: "
        "0))\noutput y\n");
    // The linear MLP is exact: 2 * frac - 1 is -1 or 1 with no float error beyond the mean's.
    const Model m = compile_source(src + "y = numerical(2 * frac - 1)\noutput y\n");
    CHECK(run_model(m, {"a", "x"}) == "-1 0");
    CHECK(m.output_encoding == OutputEncoding::numerical);
    CHECK(m.vocab_out == std::vector<std::string>{"y"});
}

TEST_CASE("rasp compiler: a categorical aggregate whose keys may repeat with different values is cleaned before use") {
    // On "a b a c a" the last query matches keys 1 (b) and 3 (c): the evaluator gives none, and
    // is_b must see none too, so an MLP zeroes the head's half-b half-c mixture.
    const std::string src =
        "vocab a b c\nmax_len 6\ncausal\nprev = aggregate(select(indices, indices, (k, q) -> q == k + 1), tokens)\n"
        "nxt = aggregate(select(prev, tokens, ==), tokens)\nis_b = nxt == \"b\"\noutput is_b\n";
    CHECK(run_evaluator(src, {"a", "b", "a", "c", "a"}) == "none none true none none");
    const Model m = compile_source(src);
    CHECK(run_model(m, {"a", "b", "a", "c", "a"}) == "none none true none none");
    CHECK(m.cfg.d_mlp > 0);
    check_verified(src);
    // As the output, the mixture reads as none without an MLP.
    const std::string out_only =
        "vocab a b c\nmax_len 6\ncausal\nprev = aggregate(select(indices, indices, (k, q) -> q == k + 1), tokens)\n"
        "nxt = aggregate(select(prev, tokens, ==), tokens)\noutput nxt\n";
    CHECK(run_model(compile_source(out_only), {"a", "b", "a", "c", "a"}) == "none none b none none");
    CHECK(compile_source(out_only).cfg.d_mlp == 0);
}

}  // namespace circuits::rasp
