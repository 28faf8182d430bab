// The bigram task: sequences from a random Markov chain whose transition matrix is kept.
#pragma once

#include "lib/train/task.hpp"

#include <Eigen/Dense>

namespace circuits::train {

// Vocabulary: options.vocab, or t0..t{vocab_size-1}; no BOS; vocab_out = vocab. Row i of the
// transition matrix is softmax(z) with z_j ~ N(0, bigram_logit_std^2) drawn from the task seed.
// A sequence has max_len (default 16) tokens: the first uniform, each next one drawn from the
// current token's row; the target at each position is the next token (the last position is not scored).
class BigramTask : public Task {
public:
    BigramTask(const std::string& spec, const TaskOptions& options, std::uint64_t seed);
    std::string name() const override { return "bigram"; }
    Example sample(Rng& rng) const override;
    bool next_token_task() const override { return true; }
    void write_description(H5Writer& w, const std::string& group) const override;
    // [d_vocab current, d_vocab next], rows sum to 1.
    const Eigen::MatrixXd& transition() const { return m_transition; }

private:
    int m_max_len;
    double m_logit_std;
    Eigen::MatrixXd m_transition;
    std::vector<std::vector<double>> m_rows;  // the rows again, for Rng::categorical
};

}  // namespace circuits::train
