// The program task: inputs uniform over a RASP program's vocabulary and lengths, targets its output.
#pragma once

#include "lib/rasp/program.hpp"
#include "lib/train/task.hpp"

namespace circuits::train {

// Vocabularies, context and mask of the model `circuits compile` makes from the program, so that
// the trained and compiled models can be set side by side: vocab = "BOS" (index 0) then the
// program's vocabulary; vocab_out = the output s-op's value set in the compiler's order (sorted,
// none excluded); n_ctx = max_len + 1; causal = the program's `causal` flag. A sequence is BOS then
// L tokens, L uniform in [1, max_len], each token uniform over the vocabulary; the target at input
// position i (model position i + 1) is the evaluator's output there, unscored where it is none (and
// at BOS). Inputs on which the evaluator fails (a division by zero, ...) are drawn again. The task
// options are not read: vocabulary and max_len are the program's.
class ProgramTask : public Task {
public:
    // Throws Error naming the file when it cannot be read or parsed, lacks `vocab` or `max_len`, or
    // its output is numerical (a trained classifier needs a categorical output).
    ProgramTask(const std::string& spec, const std::string& path);
    ProgramTask(const std::string& spec, rasp::Program program);
    std::string name() const override { return "program"; }
    Example sample(Rng& rng) const override;
    void write_description(H5Writer& w, const std::string& group) const override;
    void annotate_model(Model& model) const override;

    const rasp::Program& program() const { return m_program; }
    // Targets of the input `tokens` (indices into the program's vocabulary, without BOS), one per
    // input position: vocab_out indices, -1 for none. Throws Error when the evaluator fails.
    std::vector<int> targets_of(const std::vector<int>& tokens) const;

private:
    rasp::Program m_program;
    std::vector<rasp::Value> m_values;  // [d_vocab_out] the output's values, in vocab_out's order
};

}  // namespace circuits::train
