// compare on the bundled models: the compiled induction program against the trained induction-2l
// (which trained head is which), and a compiled program against its trained counterpart (the page
// and the behaviour figures, recomputed here independently).
#include "analyses/compare.hpp"
#include "analyses/induction.hpp"
#include "lib/forward.hpp"
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/evaluator.hpp"
#include "lib/rasp/program.hpp"
#include "tests/test_util.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace circuits;
using namespace circuits::analyses;

namespace {

std::string data(const std::string& path) { return test::source_dir() + "/data/" + path; }

// The head of `layer` with the largest `score` [L, H].
int best_head(const Matrix& score, int layer) {
    Eigen::Index h = 0;
    score.row(layer).maxCoeff(&h);
    return static_cast<int>(h);
}

const MatchedPair* partner_of(const CompareResult& r, int layer, int head) {
    for (const auto& m : r.matching)
        if (m.a.layer == layer && m.a.head == head) return &m;
    return nullptr;
}

}  // namespace

TEST_CASE("compare: the compiled induction program's heads are matched to the trained induction-2l's induction "
          "and previous-token heads") {
    const Model compiled = read_model_h5(data("models/compiled/induction.h5"));
    const Model trained = read_model_h5(data("models/trained/induction-2l.h5"));
    REQUIRE(compiled.cfg.n_layers == 2);
    REQUIRE(compiled.cfg.n_heads == 1);

    // Which trained head is which, by the induction pass (not by the comparison).
    InductionOptions io;
    io.threads = 2;
    const InductionResult ind = compute_induction(trained, io);
    const int induction_head = best_head(ind.induction, 1);
    const int prev_head = best_head(ind.prev_token, 0);
    CHECK(ind.is_induction_head.data[static_cast<size_t>(trained.cfg.n_heads + induction_head)] == 1);
    CHECK(ind.is_prev_token_head.data[static_cast<size_t>(prev_head)] == 1);

    CompareOptions o;
    o.threads = 2;
    o.baseline_samples = 100;
    const CompareResult r = compute_compare(compiled, trained, o);
    const MatchedPair* l1 = partner_of(r, 1, 0);
    const MatchedPair* l0 = partner_of(r, 0, 0);
    REQUIRE(l1 != nullptr);
    REQUIRE(l0 != nullptr);
    CHECK(l1->b.layer == 1);
    CHECK(l1->b.head == induction_head);
    CHECK(l0->b.layer == 0);
    CHECK(l0->b.head == prev_head);
    // The K-composition edge L0H0 -> L1H0 of the compiled model has its counterpart in the trained one.
    bool k_edge_in_both = false;
    for (const auto& e : r.edges_both)
        k_edge_in_both |= e.kind == 'k' && e.from.layer == 0 && e.from.head == 0 && e.to.layer == 1 && e.to.head == 0;
    CHECK(k_edge_in_both);
}

TEST_CASE("compare: a compiled program and its trained counterpart: the page, and the behaviour figures "
          "recomputed from the probe") {
    test::TempDir dir;
    const std::string out = dir.file("cmp");
    const std::string compiled_path = data("models/compiled/shift_by.h5");
    const std::string trained_path = data("models/trained/shift_by-1l.h5");
    const auto run = test::cli({"compare", compiled_path, trained_path, "-o", out, "--probe", "60", "--threads", "2",
                                "--baseline-samples", "20"});
    INFO(run.err);
    REQUIRE(run.status == 0);
    REQUIRE(std::filesystem::exists(out + "/index.html"));
    {
        std::ifstream page(out + "/index.html");
        std::stringstream text;
        text << page.rdbuf();
        CHECK(text.str().find("<svg") != std::string::npos);
        CHECK(text.str().find("accuracy") != std::string::npos);
    }

    // The same comparison in the library, then its figures from scratch: each model's argmax at every
    // probe position against the evaluator.
    const Model a = read_model_h5(compiled_path), b = read_model_h5(trained_path);
    const rasp::Program program = rasp::parse_program(a.program_source, "shift_by");
    CompareOptions o;
    o.probe = 60;
    o.threads = 2;
    o.baseline_samples = 20;
    o.max_len = program.max_len;
    o.reference = [&](const std::vector<std::string>& input) {
        std::vector<std::optional<std::string>> expected;
        for (const auto& v : rasp::evaluate(program, rasp::tokens_from_strings(program, input)))
            expected.push_back(v.is_none() ? std::nullopt : std::optional(v.to_string()));
        return expected;
    };
    for (const auto& v : program.vocab) o.probe_vocab.push_back(v.to_string());
    const CompareResult r = compute_compare(a, b, o);
    REQUIRE(r.probe.size() == 60);

    int positions = 0, scored = 0, agree = 0, right_a = 0, right_b = 0;
    for (const auto& input : r.probe) {
        const auto expected = o.reference(input);
        auto predict = [&](const Model& m) {
            std::vector<int> tokens;
            if (m.cfg.bos_token >= 0) tokens.push_back(m.cfg.bos_token);
            for (const auto& t : input) tokens.push_back(m.token_index(t));
            const Matrix logits = forward(m, tokens).logits;
            std::vector<std::string> out_tokens;
            for (size_t t = 0; t < input.size(); ++t) {
                Eigen::Index best = 0;
                logits.row(static_cast<Eigen::Index>(t + (m.cfg.bos_token >= 0 ? 1 : 0))).maxCoeff(&best);
                out_tokens.push_back(m.vocab_out[static_cast<size_t>(best)]);
            }
            return out_tokens;
        };
        const auto pa = predict(a), pb = predict(b);
        for (size_t t = 0; t < input.size(); ++t) {
            ++positions;
            agree += pa[t] == pb[t];
            if (!expected[t]) continue;
            ++scored;
            right_a += pa[t] == *expected[t];
            right_b += pb[t] == *expected[t];
        }
    }
    REQUIRE(scored > 0);
    CHECK(r.n_positions == positions);
    CHECK(r.n_scored == scored);
    CHECK(r.agreement == doctest::Approx(double(agree) / positions));
    CHECK(r.accuracy_a == doctest::Approx(double(right_a) / scored));
    CHECK(r.accuracy_b == doctest::Approx(double(right_b) / scored));
    CHECK(r.accuracy_a == 1.0);   // the compiled model is the program (verified when compiled)
    CHECK(r.accuracy_b > 0.95);   // the trained counterpart learnt it

    // The file the command wrote holds the same figures (same probe options and seed).
    const H5Reader f(out + "/compare.h5");
    CHECK(f.attr_double("compare", "accuracy_a") == doctest::Approx(1.0));
    CHECK(f.attr_double("compare", "accuracy_b") > 0.95);
}
