// Tests of the program task: vocabularies of the compiled model, targets of the evaluator, none unscored.
#include "lib/train/program_task.hpp"

#include <set>

#include "lib/error.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/evaluator.hpp"
#include "lib/train/rng.hpp"
#include "lib/train/trainer.hpp"
#include "tests/test_util.hpp"

namespace circuits::train {
namespace {

std::string program_path(const std::string& name) {
    return test::source_dir() + "/data/programs/" + name + ".rasp";
}

Model compiled(const std::string& name) {
    return read_model_h5(test::source_dir() + "/data/models/compiled/" + name + ".h5");
}

// The evaluator's output on the example's input (model positions 1.., BOS dropped), as strings.
std::vector<std::string> expected_outputs(const ProgramTask& task, const Example& e) {
    std::vector<std::string> input;
    for (size_t i = 1; i < e.tokens.size(); ++i) input.push_back(task.vocab()[static_cast<size_t>(e.tokens[i])]);
    const auto& p = task.program();
    std::vector<std::string> out;
    for (const auto& v : rasp::evaluate(p, rasp::tokens_from_strings(p, input)))
        out.push_back(v.is_none() ? "none" : v.to_string());
    return out;
}

TEST_CASE("program task: vocabularies, n_ctx and mask are the compiled model's") {
    for (const std::string name : {"shift_by", "induction", "sort_unique", "hist", "shuffle_dyck"}) {
        CAPTURE(name);
        const auto task = make_task("program:" + program_path(name), TaskOptions{}, 0);
        const Model m = compiled(name);
        CHECK(task->name() == "program");
        CHECK(task->vocab() == m.vocab);
        CHECK(task->vocab_out() == m.vocab_out);
        CHECK(task->bos_token() == m.cfg.bos_token);
        CHECK(task->n_ctx() == m.cfg.n_ctx);
        CHECK(task->causal() == m.cfg.causal);
    }
}

TEST_CASE("program task: targets are the evaluator's output, none positions and BOS are not scored") {
    for (const std::string name : {"shift_by", "induction", "sort_unique", "reverse"}) {
        CAPTURE(name);
        const auto task_ptr = make_task("program:" + program_path(name), TaskOptions{}, 0);
        const auto& task = dynamic_cast<const ProgramTask&>(*task_ptr);
        const int max_len = task.program().max_len;
        Rng rng(11);
        std::set<size_t> lengths;
        int none = 0, scored = 0;
        for (int s = 0; s < 300; ++s) {
            const Example e = task.sample(rng);
            REQUIRE(e.tokens.size() == e.targets.size());
            REQUIRE(e.tokens.size() >= 2);
            REQUIRE(e.tokens.size() <= static_cast<size_t>(max_len + 1));
            lengths.insert(e.tokens.size() - 1);
            CHECK(e.tokens[0] == task.bos_token());
            CHECK(e.targets[0] == -1);
            const auto want = expected_outputs(task, e);
            for (size_t i = 1; i < e.tokens.size(); ++i) {
                CHECK(e.tokens[i] != task.bos_token());
                const int t = e.targets[i];
                if (want[i - 1] == "none") {
                    CHECK(t == -1);
                    ++none;
                } else {
                    REQUIRE(t >= 0);
                    CHECK(task.vocab_out()[static_cast<size_t>(t)] == want[i - 1]);
                    ++scored;
                }
            }
        }
        CHECK(lengths.size() == static_cast<size_t>(max_len));  // every length 1..max_len drawn
        CHECK(scored > 0);
        if (name != "reverse") CHECK(none > 0);  // shift_by's first position, induction's first occurrences, ...
    }
    // shift_by: exactly the first input position is none.
    const auto shift = make_task("program:" + program_path("shift_by"), TaskOptions{}, 0);
    Rng rng(2);
    const Example e = shift->sample(rng);
    CHECK(e.targets[1] == -1);
    for (size_t i = 2; i < e.tokens.size(); ++i)
        CHECK(shift->vocab_out()[static_cast<size_t>(e.targets[i])] ==
              shift->vocab()[static_cast<size_t>(e.tokens[i - 1])]);
}

TEST_CASE("program task: a numerical output is refused with the file's name") {
    for (const std::string name : {"frac_prevs", "pair_balance"}) {
        CAPTURE(name);
        const std::string file = name + ".rasp";
        CHECK_THROWS_WITH_AS(make_task("program:" + program_path(name), TaskOptions{}, 0),
                             doctest::Contains(file.c_str()), Error);
        CHECK_THROWS_WITH_AS(make_task("program:" + program_path(name), TaskOptions{}, 0),
                             doctest::Contains("numerical"), Error);
    }
    const auto no_vocab = rasp::parse_program("output tokens\n", "novocab.rasp");
    CHECK_THROWS_WITH_AS(ProgramTask("program:novocab.rasp", no_vocab), doctest::Contains("novocab.rasp"), Error);
}

}  // namespace
}  // namespace circuits::train
