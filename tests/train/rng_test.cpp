// Tests of the trainer's random number generator: reproducible streams and correct distributions.
#include "lib/train/rng.hpp"

#include "lib/error.hpp"
#include "tests/test_util.hpp"

#include <set>

namespace circuits::train {
namespace {

TEST_CASE("rng: a seed gives the same stream, another seed a different one") {
    Rng a(42), b(42), c(43);
    std::vector<std::uint64_t> xa, xb, xc;
    for (int i = 0; i < 8; ++i) {
        xa.push_back(a.next_u64());
        xb.push_back(b.next_u64());
        xc.push_back(c.next_u64());
    }
    CHECK(xa == xb);
    CHECK(xa != xc);
    CHECK(Rng::derived(1, 2).next_u64() != Rng::derived(1, 3).next_u64());
}

TEST_CASE("rng: uniform_int covers [0, n) evenly and rejects n <= 0") {
    Rng r(7);
    constexpr int kN = 6, kDraws = 60000;
    constexpr double kTol = 0.05;  // relative deviation of each count from kDraws / kN
    std::vector<int> counts(kN, 0);
    for (int i = 0; i < kDraws; ++i) {
        const int x = r.uniform_int(kN);
        REQUIRE(x >= 0);
        REQUIRE(x < kN);
        ++counts[static_cast<size_t>(x)];
    }
    for (int c : counts) CHECK(std::abs(c - kDraws / kN) < kTol * kDraws / kN);
    CHECK_THROWS_AS(r.uniform_int(0), Error);
}

TEST_CASE("rng: normal has mean 0 and variance 1") {
    Rng r(9);
    constexpr int kDraws = 100000;
    constexpr double kTol = 0.02;
    double s = 0, s2 = 0;
    for (int i = 0; i < kDraws; ++i) {
        const double x = r.normal();
        s += x;
        s2 += x * x;
    }
    CHECK(std::abs(s / kDraws) < kTol);
    CHECK(std::abs(s2 / kDraws - 1.0) < kTol);
}

TEST_CASE("rng: categorical follows the weights; sampling without replacement gives distinct values") {
    Rng r(11);
    constexpr int kDraws = 40000;
    constexpr double kTol = 0.02;  // absolute deviation of a frequency
    const std::vector<double> w = {1.0, 0.0, 3.0};
    std::vector<int> counts(3, 0);
    for (int i = 0; i < kDraws; ++i) ++counts[static_cast<size_t>(r.categorical(w))];
    CHECK(counts[1] == 0);
    CHECK(std::abs(counts[2] / double(kDraws) - 0.75) < kTol);
    const auto s = r.sample_without_replacement(10, 10);
    CHECK(std::set<int>(s.begin(), s.end()).size() == 10);
    CHECK_THROWS_AS(r.sample_without_replacement(3, 4), Error);
    CHECK_THROWS_AS(r.categorical({0.0, 0.0}), Error);
}

}  // namespace
}  // namespace circuits::train
