// The results reader: optional groups, shapes checked against the model, slices, baselines.
#include "reports/results_reader.hpp"

#include "lib/error.hpp"
#include "tests/test_util.hpp"

#include <cmath>

using namespace circuits;

TEST_CASE("results reader: per-head slices of [L, H, ...] datasets read the right entries") {
    test::TempDir dir;
    const auto path = dir.file("r.h5");
    Array<float> a{{2, 3, 4, 5}, {}};
    for (int i = 0; i < 2 * 3 * 4 * 5; ++i) a.data.push_back(static_cast<float>(i));
    {
        H5Writer w(path);
        w.attr("/", "format", "circuits-results");
        w.write("/circuits/qk_pos", a);
    }
    const H5Reader r(path);
    // Non-square slice [4, 5] at (1, 2): element (i, j) = ((1 * 3 + 2) * 4 + i) * 5 + j.
    const auto s = r.read_float_slice("/circuits/qk_pos", {1, 2});
    REQUIRE(s.dims == std::vector<std::uint64_t>{4, 5});
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 5; ++j) CHECK(s.data[size_t(i * 5 + j)] == float(((1 * 3 + 2) * 4 + i) * 5 + j));
    CHECK(r.read_int_slice("/circuits/qk_pos", {0, 1, 3}).data.front() == ((0 * 3 + 1) * 4 + 3) * 5);
    CHECK_THROWS_WITH_AS(r.read_float_slice("/circuits/qk_pos", {2, 0}), doctest::Contains("out of range"), Error);

    reports::ResultsReader rr(path);
    CHECK(rr.n_layers() == 2);
    CHECK(rr.n_heads() == 3);
    const auto m = rr.head_square("/circuits/qk_pos", 1, 2);
    REQUIRE(m);
    CHECK((*m)(3, 4) == float(((1 * 3 + 2) * 4 + 3) * 5 + 4));
    CHECK(!rr.head_grid("/induction/prev_token"));
    CHECK(!rr.composition("q"));
    CHECK(!rr.eigenvalues("ov", 0, 0));
    CHECK(rr.groups() == std::vector<std::string>{"circuits"});
}

TEST_CASE("regression: composition baselines are read from the group's attributes only, not a second place") {
    test::TempDir dir;
    const auto path = dir.file("r.h5");
    Array<float> raw{{2, 1, 2, 1}, {NAN, 0.5f, NAN, NAN}};
    {
        H5Writer w(path);
        w.attr("/", "format", "circuits-results");
        w.write("/composition/q", raw);
        w.write("/composition/k", raw);
        w.attr("/composition", "q_baseline_mean", 0.125);
        w.attr("/composition", "k_baseline_mean", 0.25);
        w.attr("/composition", "k_baseline_std", 0.0625);
        // Attributes of the raw dataset are not where the schema puts baselines: ignored.
        w.attr("/composition/q", "baseline_mean", 9.0);
        w.attr("/composition/q", "baseline_std", 9.0);
    }
    reports::ResultsReader rr(path);
    const auto q = rr.composition("q"), k = rr.composition("k");
    REQUIRE(q);
    REQUIRE(k);
    CHECK(*q->baseline_mean == 0.125);
    CHECK(!q->baseline_std);
    CHECK(!q->z);
    CHECK(*k->baseline_mean == 0.25);
    CHECK(*k->baseline_std == 0.0625);
    CHECK(k->raw.at({0, 0, 1, 0}) == 0.5);
    CHECK(std::isnan(k->raw.at({1, 0, 0, 0})));
    CHECK_THROWS_AS(rr.composition("x"), Error);
}

TEST_CASE("results reader: shapes are checked against the model's layers and heads") {
    test::TempDir dir;
    const auto path = dir.file("r.h5");
    {
        H5Writer w(path);
        w.attr("/", "format", "circuits-results");
        w.attr("/", "passes", "induction");
        w.attr("/", "top_k", 10);
        w.write_matrix("/induction/prev_token", Matrix::Zero(2, 4));
    }
    reports::ResultsReader rr(path);
    CHECK(rr.root_string("passes") == "induction");
    const auto attrs = rr.root_attributes();
    CHECK(std::find(attrs.begin(), attrs.end(), std::make_pair(std::string("top_k"), std::string("10"))) != attrs.end());
    CHECK_NOTHROW(rr.set_shape(2, 4));
    CHECK_THROWS_WITH_AS(rr.set_shape(2, 3), doctest::Contains("/induction/prev_token: shape [2, 4], expected [2, 3"),
                         Error);
}
