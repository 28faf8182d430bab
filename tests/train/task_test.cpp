// Tests of the training tasks: vocabularies, sequence structure, targets and option checks.
#include "lib/train/task.hpp"

#include "lib/error.hpp"
#include "lib/model_io.hpp"
#include "lib/train/bigram_task.hpp"
#include "lib/train/induction_task.hpp"
#include "lib/train/rng.hpp"
#include "lib/train/scan_snap_task.hpp"
#include "tests/test_util.hpp"

#include <set>

namespace circuits::train {
namespace {

// Whether some segment of length >= 2 occurs twice, the copies not overlapping.
bool has_repeat(const std::vector<int>& s, size_t from) {
    for (size_t n = 2; from + 2 * n <= s.size(); ++n)
        for (size_t a = from; a + 2 * n <= s.size(); ++a)
            for (size_t b = a + n; b + n <= s.size(); ++b)
                if (std::equal(s.begin() + static_cast<long>(a), s.begin() + static_cast<long>(a + n), s.begin() + static_cast<long>(b)))
                    return true;
    return false;
}

TEST_CASE("induction task: BOS at index 0, a repeated segment in every sequence, next-token targets") {
    TaskOptions o;
    o.vocab = {"a", "b", "c", "d", "e", "f", "g", "h"};
    o.max_len = 16;
    auto task = make_task("induction", o, 1);
    REQUIRE(task->vocab().size() == 9);
    CHECK(task->vocab()[0] == "BOS");
    CHECK(task->vocab()[1] == "a");
    CHECK(task->vocab_out() == std::vector<std::string>(task->vocab().begin() + 1, task->vocab().end()));
    CHECK(task->output_index(0) == -1);  // BOS is never a target
    CHECK(task->output_index(3) == 2);
    CHECK(task->bos_token() == 0);
    CHECK(task->n_ctx() == 17);
    CHECK(task->ordinary_tokens().size() == 8);
    Rng rng(3);
    for (int i = 0; i < 200; ++i) {
        const Example e = task->sample(rng);
        REQUIRE(e.tokens.size() == 17);
        CHECK(e.tokens[0] == 0);
        for (size_t t = 1; t < e.tokens.size(); ++t) CHECK(e.tokens[t] != 0);
        for (size_t t = 0; t + 1 < e.tokens.size(); ++t) CHECK(e.targets[t] == e.tokens[t + 1] - 1);
        CHECK(e.targets.back() == -1);
        CHECK(has_repeat(e.tokens, 1));
    }
    o.bos = "";
    o.vocab = {"x", "y", "z"};
    o.max_len = 10;
    auto nobos = make_task("induction", o, 1);
    CHECK(nobos->bos_token() == -1);
    CHECK(nobos->n_ctx() == 10);
    CHECK(nobos->vocab() == std::vector<std::string>{"x", "y", "z"});
    o.vocab = {"x", "x"};
    CHECK_THROWS_AS(make_task("induction", o, 1), UsageError);
}

TEST_CASE("induction task: the defaults are the compiled induction program's vocabularies, BOS and n_ctx") {
    const auto task = make_task("induction", TaskOptions{}, 0);
    const Model compiled = read_model_h5(test::source_dir() + "/data/models/compiled/induction.h5");
    CHECK(task->vocab() == compiled.vocab);
    CHECK(task->vocab_out() == compiled.vocab_out);
    CHECK(task->bos_token() == compiled.cfg.bos_token);
    CHECK(task->n_ctx() == compiled.cfg.n_ctx);
    CHECK(task->causal() == compiled.cfg.causal);
}

TEST_CASE("bigram task: transition rows sum to 1 and sequences follow them") {
    TaskOptions o;
    o.vocab_size = 5;
    o.max_len = 50;
    auto task = make_task("bigram", o, 8);
    const auto& b = dynamic_cast<const BigramTask&>(*task);
    const Eigen::MatrixXd& P = b.transition();
    REQUIRE(P.rows() == 5);
    for (Eigen::Index i = 0; i < 5; ++i) CHECK(P.row(i).sum() == doctest::Approx(1.0));
    CHECK(task->vocab()[4] == "t4");
    // Empirical transition frequencies converge to P.
    constexpr double kTol = 0.03;
    Eigen::MatrixXd counts = Eigen::MatrixXd::Zero(5, 5);
    Rng rng(4);
    for (int s = 0; s < 400; ++s) {
        const Example e = task->sample(rng);
        for (size_t t = 0; t + 1 < e.tokens.size(); ++t) {
            CHECK(e.targets[t] == e.tokens[t + 1]);
            counts(e.tokens[t], e.tokens[t + 1]) += 1;
        }
    }
    for (Eigen::Index i = 0; i < 5; ++i) {
        const Eigen::RowVectorXd f = counts.row(i) / counts.row(i).sum();
        CHECK((f - P.row(i)).cwiseAbs().maxCoeff() < kTol);
    }
    // Another seed, another chain; the same seed, the same chain.
    const auto other = make_task("bigram", o, 9), same = make_task("bigram", o, 8);
    CHECK((dynamic_cast<const BigramTask&>(*other).transition() - P).cwiseAbs().maxCoeff() > 0.01);
    CHECK(dynamic_cast<const BigramTask&>(*same).transition() == P);
}

TEST_CASE("scan-snap task: context of the class's distinct tokens and common tokens, then the query") {
    TaskOptions o;
    o.classes = 3;
    o.distinct = 2;
    o.common = 2;
    o.max_len = 12;
    auto task = make_task("scan-snap", o, 0);
    const auto& ss = dynamic_cast<const ScanSnapTask&>(*task);
    REQUIRE(task->vocab().size() == 1 + 3 + 6 + 2);
    CHECK(task->vocab()[ss.distinct_token(1, 0)] == "d1_0");
    CHECK(task->vocab()[ss.common_token(1)] == "c1");
    const auto kinds = task->token_kinds();
    CHECK(kinds[static_cast<size_t>(ss.distinct_token(2, 1))] == 1);
    CHECK(kinds[static_cast<size_t>(ss.common_token(0))] == 2);
    CHECK(kinds[static_cast<size_t>(ss.next_token(0))] == 0);
    Rng rng(5);
    int commons = 0, total = 0;
    for (int i = 0; i < 300; ++i) {
        const Example e = task->sample(rng);
        REQUIRE(e.tokens.size() == 12);
        CHECK(e.tokens.back() == task->query_token());
        const int cls = e.targets.back() - ss.next_token(0);
        REQUIRE(cls >= 0);
        REQUIRE(cls < 3);
        for (size_t t = 0; t + 1 < e.tokens.size(); ++t) {
            CHECK(e.targets[t] == -1);
            const int tok = e.tokens[t];
            const bool own = tok == ss.distinct_token(cls, 0) || tok == ss.distinct_token(cls, 1);
            const bool common = tok == ss.common_token(0) || tok == ss.common_token(1);
            CHECK((own || common));
            commons += common;
            ++total;
        }
    }
    constexpr double kTol = 0.05;
    CHECK(std::abs(commons / double(total) - o.common_prob) < kTol);
}

TEST_CASE("make_task: unknown tasks and bad options are usage errors; a missing program file is named") {
    TaskOptions o;
    CHECK_THROWS_WITH_AS(make_task("copying", o, 0), doctest::Contains("unknown task 'copying'"), UsageError);
    CHECK_THROWS_AS(make_task("program:", o, 0), UsageError);
    CHECK_THROWS_WITH_AS(make_task("program:/nonexistent/x.rasp", o, 0), doctest::Contains("x.rasp"), Error);
    o.max_len = 2;
    CHECK_THROWS_AS(make_task("induction", o, 0), UsageError);
    o.max_len = 16;
    o.classes = 1;
    CHECK_THROWS_AS(make_task("scan-snap", o, 0), UsageError);
}

}  // namespace
}  // namespace circuits::train
