// xoshiro256** (Blackman and Vigna) with splitmix64 seeding, and the distributions the trainer draws.
#include "lib/train/rng.hpp"

#include "lib/error.hpp"

#include <cmath>
#include <numeric>

namespace circuits::train {

namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& s : m_s) s = splitmix64(x);
}

Rng Rng::derived(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t x = seed ^ (0xd1b54a32d192ed03ULL * (stream + 1));
    return Rng(splitmix64(x));
}

std::uint64_t Rng::next_u64() {
    const std::uint64_t result = rotl(m_s[1] * 5, 7) * 9;
    const std::uint64_t t = m_s[1] << 17;
    m_s[2] ^= m_s[0];
    m_s[3] ^= m_s[1];
    m_s[1] ^= m_s[2];
    m_s[0] ^= m_s[3];
    m_s[2] ^= t;
    m_s[3] = rotl(m_s[3], 45);
    return result;
}

int Rng::uniform_int(int n) {
    if (n <= 0) throw Error("Rng::uniform_int: n must be positive, got " + std::to_string(n));
    const auto un = static_cast<std::uint64_t>(n);
    // Reject the top partial block of 2^64 so every residue is equally likely.
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % un);
    std::uint64_t x = next_u64();
    while (x >= limit) x = next_u64();
    return static_cast<int>(x % un);
}

double Rng::uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::normal() {
    if (m_has_spare) {
        m_has_spare = false;
        return m_spare;
    }
    double u1 = uniform01();
    while (u1 <= 0.0) u1 = uniform01();
    const double u2 = uniform01();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double theta = 2.0 * M_PI * u2;
    m_spare = r * std::sin(theta);
    m_has_spare = true;
    return r * std::cos(theta);
}

int Rng::categorical(const std::vector<double>& weights) {
    const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
    if (weights.empty() || !(total > 0.0)) throw Error("Rng::categorical: weights must have a positive sum");
    double u = uniform01() * total;
    for (size_t i = 0; i < weights.size(); ++i) {
        u -= weights[i];
        if (u < 0.0) return static_cast<int>(i);
    }
    // Rounding left u >= 0: the last positive weight.
    for (size_t i = weights.size(); i-- > 0;)
        if (weights[i] > 0.0) return static_cast<int>(i);
    return 0;
}

std::vector<int> Rng::sample_without_replacement(int n, int k) {
    if (k < 0 || k > n)
        throw Error("Rng::sample_without_replacement: k = " + std::to_string(k) + " outside [0, " + std::to_string(n) + "]");
    std::vector<int> pool(static_cast<size_t>(n));
    std::iota(pool.begin(), pool.end(), 0);
    for (int i = 0; i < k; ++i) {
        const int j = i + uniform_int(n - i);
        std::swap(pool[static_cast<size_t>(i)], pool[static_cast<size_t>(j)]);
    }
    pool.resize(static_cast<size_t>(k));
    return pool;
}

}  // namespace circuits::train
