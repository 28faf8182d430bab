// The induction task: random tokens with a repeated segment, next-token loss everywhere.
#pragma once

#include "lib/train/task.hpp"

namespace circuits::train {

// Vocabulary: BOS (index 0, unless options.bos is empty) then the ordinary tokens (options.vocab,
// default a b c d); vocab_out = the ordinary tokens (BOS is never predicted); max_len defaults to 8.
// The defaults are the vocabulary, BOS convention and max_len of the compiled induction program
// (data/programs/induction.rasp), so the two models can be compared.
// A sequence is BOS followed by L = max_len uniform random tokens in which one segment is copied: the distance d between the copies is uniform in [2, L-2], the
// segment length n uniform in [2, min(d, L-d)], the start s uniform in [0, L-d-n], and tokens
// s..s+n-1 are written again at s+d..s+d+n-1. The target at each position is the next token (the
// last position is not scored). Because d is uniform, no fixed positional offset finds the copy
// (each offset is right 1 time in L-3): predicting it needs an induction mechanism.
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
