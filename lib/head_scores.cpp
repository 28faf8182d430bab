// The previous-token, duplicate-token and induction scores on the repeated-sequence probe.
#include "lib/head_scores.hpp"

#include <string>

#include "lib/error.hpp"

namespace circuits {

RepeatScores repeat_scores(const RepeatedProbe& probe, const PatternOf& pattern) {
    RepeatScores r;
    const int first = probe.first_scored(), per_seq = probe.scored_per_sequence();
    for (size_t s = 0; s < probe.sequences.size(); ++s) {
        const auto& seq = probe.sequences[s];
        const Matrix& A = pattern(static_cast<int>(s));
        const auto T = static_cast<Eigen::Index>(seq.size());
        if (A.rows() != T || A.cols() != T)
            throw Error("repeat_scores: pattern of sequence " + std::to_string(s) + " is [" + std::to_string(A.rows()) +
                        ", " + std::to_string(A.cols()) + "], expected [" + std::to_string(T) + ", " +
                        std::to_string(T) + "]");
        for (int i = first; i < first + per_seq; ++i) {
            r.prev_token += A(i, i - 1);
            for (int j = probe.offset; j < probe.repeat_start(i); ++j)
                if (seq[static_cast<size_t>(j)] == seq[static_cast<size_t>(i)]) {
                    r.duplicate_token += A(i, j);
                    r.induction += A(i, j + 1);
                }
        }
        r.positions += per_seq;
    }
    if (r.positions > 0) {
        r.prev_token /= r.positions;
        r.duplicate_token /= r.positions;
        r.induction /= r.positions;
    }
    return r;
}

}  // namespace circuits
