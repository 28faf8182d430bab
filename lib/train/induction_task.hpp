// The induction task: random tokens with a repeated segment, next-token loss everywhere.
#pragma once

#include "lib/train/task.hpp"

namespace circuits::train {

// Vocabulary: BOS (index 0, unless options.bos is empty) then the ordinary tokens (options.vocab,
// default a..h); vocab_out = the ordinary tokens (BOS is never predicted), the convention of the
// compiled induction program. A sequence is BOS followed by max_len tokens: a segment of
// length n (uniform in [2, max_len/2], distinct tokens when the vocabulary allows) appears twice,
// the second copy g positions after the end of the first (g uniform in [0, max_len - 2n]), at a
// uniform start; every other position is a uniform random token. The target at each position is the
// next token (the last position is not scored). Because n and the gap vary, the copy cannot be found
// by a fixed positional offset: predicting it needs an induction mechanism.
class InductionTask : public Task {
public:
    InductionTask(const std::string& spec, const TaskOptions& options);
    std::string name() const override { return "induction"; }
    Example sample(Rng& rng) const override;
    bool next_token_task() const override { return true; }
    void write_description(H5Writer& w, const std::string& group) const override;

private:
    int m_max_len;
    std::vector<int> m_ordinary;  // vocabulary indices of the ordinary tokens
};

}  // namespace circuits::train
