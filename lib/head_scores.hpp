// The behavioural scores of a head on the repeated-sequence probe (MATH.md, "Induction heads"),
// defined once: the induction pass and the training dynamics both measure with these.
#pragma once

#include <functional>

#include "lib/model.hpp"
#include "lib/probe.hpp"

namespace circuits {

// Scores of one head, each a mean over the scored positions i (every position in repeats >= 2 of
// every probe sequence), with A the head's attention pattern [T query, T key] on the sequence and
// j ranging over the positions of earlier repeats holding the token at i:
//   previous-token  = A[i, i-1]
//   duplicate-token = sum_j A[i, j]      (attention to the earlier occurrences)
//   induction       = sum_j A[i, j + 1]  (prefix matching: the token after each earlier occurrence)
// Only earlier repeats count: when a block is drawn with replacement, a token's other occurrences in
// its own repeat are neither duplicates nor induction targets.
struct RepeatScores {
    double prev_token = 0.0;
    double duplicate_token = 0.0;
    double induction = 0.0;
    int positions = 0;  // scored positions summed over
};

// The attention pattern of the head on probe sequence s: [T query, T key], T = the sequence length.
using PatternOf = std::function<const Matrix&(int sequence)>;

// The means above for one head over every sequence of `probe`. The sums run in sequence, then
// position order, in double precision.
RepeatScores repeat_scores(const RepeatedProbe& probe, const PatternOf& pattern);

}  // namespace circuits
