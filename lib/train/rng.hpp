// A small, fully specified random number generator, so a seed gives the same run on every platform.
#pragma once

#include <cstdint>
#include <vector>

namespace circuits::train {

// xoshiro256** seeded through splitmix64. The standard library's distributions are
// implementation-defined, so uniform integers and normals are derived here, by fixed formulas.
class Rng {
public:
    explicit Rng(std::uint64_t seed);

    std::uint64_t next_u64();
    // Uniform in [0, n) for n >= 1, by rejection (no modulo bias).
    int uniform_int(int n);
    // Uniform in [0, 1) with 53 random bits.
    double uniform01();
    // Standard normal by Box-Muller (the second value of each pair is kept for the next call).
    double normal();
    // An index drawn with probability proportional to `weights` (non-negative, positive sum).
    int categorical(const std::vector<double>& weights);
    // `k` distinct values from [0, n) in random order (partial Fisher-Yates), k <= n.
    std::vector<int> sample_without_replacement(int n, int k);
    // A generator for an independent stream, derived from this one's seed and `stream`.
    static Rng derived(std::uint64_t seed, std::uint64_t stream);

    // The whole generator state, so that a resumed run draws exactly what the interrupted one would.
    struct State {
        std::uint64_t s[4] = {0, 0, 0, 0};
        bool has_spare = false;
        double spare = 0.0;
    };
    State state() const { return {{m_s[0], m_s[1], m_s[2], m_s[3]}, m_has_spare, m_spare}; }
    void set_state(const State& st) {
        for (int i = 0; i < 4; ++i) m_s[i] = st.s[i];
        m_has_spare = st.has_spare;
        m_spare = st.spare;
    }

private:
    std::uint64_t m_s[4];
    bool m_has_spare = false;
    double m_spare = 0.0;
};

}  // namespace circuits::train
