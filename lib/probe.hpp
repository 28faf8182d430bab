// The repeated-random-sequence probe: one block of random ordinary tokens repeated, BOS first when
// the model has one. The induction pass, the path expansion's default tokens, the report's attention
// probe and the training dynamics all draw it here.
#pragma once

#include <cstdint>
#include <vector>

#include "lib/vocabulary.hpp"

namespace circuits {

struct Model;

// The probe's requested size; make_repeated_probe shrinks it to fit n_ctx.
struct RepeatedProbeShape {
    int length = 25;     // n: random tokens per repeat (MATH.md, "Induction heads")
    int repeats = 4;     // R: times the block is repeated
    int sequences = 10;  // sequences averaged over
};

// Position offset + r * length + k holds the k-th token of repeat r; every sequence has
// offset + length * repeats tokens.
struct RepeatedProbe {
    std::vector<std::vector<int>> sequences;
    int length = 0;                   // n actually used (after shrinking to fit n_ctx)
    int repeats = 0;                  // R actually used
    int offset = 0;                   // 1 when BOS is prepended, else 0
    bool without_replacement = true;  // false when there are fewer than n ordinary tokens

    int first_scored() const { return offset + length; }                // first position of repeat 2
    int scored_per_sequence() const { return length * (repeats - 1); }  // positions in repeats >= 2
    // The start of the repeat that position i (>= offset) lies in: earlier repeats end there.
    int repeat_start(int i) const { return (i - offset) / length * length + offset; }
};

// Draws the probe with std::mt19937_64(seed) from vocab.ordinary(bos). A block is drawn without
// replacement when there are at least `length` ordinary tokens; otherwise it is a concatenation of
// shuffled copies of them (each token as rarely as possible). When offset + length * repeats > n_ctx,
// `repeats` is reduced first (not below 2), then `length`. Throws Error for a shape below (2, 2, 1),
// when no token is ordinary, or when not even 2 repeats of 2 tokens fit.
RepeatedProbe make_repeated_probe(const Vocabulary& vocab, int bos, int n_ctx, const RepeatedProbeShape& shape,
                                  std::uint64_t seed);
RepeatedProbe make_repeated_probe(const Model& model, const RepeatedProbeShape& shape, std::uint64_t seed);

}  // namespace circuits
