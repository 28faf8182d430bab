// Drawing the repeated-random-sequence probe.
#include "lib/probe.hpp"

#include <algorithm>
#include <random>
#include <string>

#include "lib/error.hpp"
#include "lib/model.hpp"

namespace circuits {

namespace {

// One block of `length` tokens: successive steps of Fisher-Yates shuffles of `usable`, a fresh copy
// whenever the previous one is used up.
std::vector<int> draw_block(const std::vector<int>& usable, int length, std::mt19937_64& rng) {
    std::vector<int> block, pool;
    while (static_cast<int>(block.size()) < length) {
        if (pool.empty()) pool = usable;
        std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
        const size_t k = pick(rng);
        block.push_back(pool[k]);
        pool[k] = pool.back();
        pool.pop_back();
    }
    return block;
}

}  // namespace

RepeatedProbe make_repeated_probe(const Vocabulary& vocab, int bos, int n_ctx, const RepeatedProbeShape& shape,
                                  std::uint64_t seed) {
    if (shape.length < 2 || shape.repeats < 2 || shape.sequences < 1)
        throw Error("repeated probe: needs length >= 2, repeats >= 2, sequences >= 1; got " +
                    std::to_string(shape.length) + ", " + std::to_string(shape.repeats) + ", " +
                    std::to_string(shape.sequences));
    RepeatedProbe p;
    p.offset = bos >= 0 ? 1 : 0;
    // Too long for n_ctx: fewer repeats first (not below 2), then a shorter block. Short blocks make
    // the scores ambiguous (with blocks of 2 the previous token is also the induction target).
    const int room = n_ctx - p.offset;
    p.repeats = shape.repeats;
    p.length = shape.length;
    if (p.length * p.repeats > room) p.repeats = std::max(2, room / p.length);
    if (p.length * p.repeats > room) p.length = room / p.repeats;
    if (p.length < 2)
        throw Error("repeated probe: n_ctx = " + std::to_string(n_ctx) + " cannot hold " + "2 repeats of 2 tokens" +
                    (p.offset ? " after BOS" : ""));
    const std::vector<int> usable = vocab.ordinary(bos);
    if (usable.empty()) throw Error("repeated probe: the vocabulary has no token other than special ones");
    p.without_replacement = static_cast<int>(usable.size()) >= p.length;

    std::mt19937_64 rng(seed);
    for (int s = 0; s < shape.sequences; ++s) {
        const std::vector<int> block = draw_block(usable, p.length, rng);
        std::vector<int> seq;
        if (p.offset) seq.push_back(bos);
        for (int r = 0; r < p.repeats; ++r) seq.insert(seq.end(), block.begin(), block.end());
        p.sequences.push_back(std::move(seq));
    }
    return p;
}

RepeatedProbe make_repeated_probe(const Model& model, const RepeatedProbeShape& shape, std::uint64_t seed) {
    return make_repeated_probe(model.vocab, model.cfg.bos_token, model.cfg.n_ctx, shape, seed);
}

}  // namespace circuits
