// Tests of the composition pass: agreement with dense d_model circuits, the planted induction
// model's K-composition, the random baseline, and the written group's shapes.
#include "analyses/composition.hpp"

#include <cmath>

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/planted.hpp"
#include "tests/test_util.hpp"

namespace circuits::analyses {
namespace {

constexpr double kRelTol = 1e-5;
constexpr double kPlantedZ = 5.0;  // z above which a pair counts as composing
constexpr int kTestSamples = 50;   // baseline draws in tests (the default is 1000)

double dense_score(const Eigen::MatrixXd& X, const Eigen::MatrixXd& Y) {
    return (X * Y).norm() / (X.norm() * Y.norm());
}

TEST_CASE("composition: factored scores agree with the dense d_model products; other pairs are NaN") {
    ModelConfig c = test::small_config(PositionalEmbedding::standard, Normalization::none);
    c.n_layers = 3;
    const Model m = test::random_model(c, 41);
    CompositionOptions o;
    o.baseline_samples = 20;
    o.threads = 2;
    const CompositionResult r = compute_composition(m, o);
    REQUIRE(r.q.dims == std::vector<std::uint64_t>{3, 3, 3, 3});
    auto ov = [&](int l, int h) {
        const auto& a = m.blocks[size_t(l)].attn;
        return Eigen::MatrixXd((a.W_V[size_t(h)] * a.W_O[size_t(h)]).cast<double>());
    };
    auto qk = [&](int l, int h) {
        const auto& a = m.blocks[size_t(l)].attn;
        return Eigen::MatrixXd((a.W_Q[size_t(h)] * a.W_K[size_t(h)].transpose()).cast<double>());
    };
    int defined = 0;
    for (int l1 = 0; l1 < 3; ++l1)
        for (int h1 = 0; h1 < 3; ++h1)
            for (int l2 = 0; l2 < 3; ++l2)
                for (int h2 = 0; h2 < 3; ++h2) {
                    CAPTURE(l1);
                    CAPTURE(h1);
                    CAPTURE(l2);
                    CAPTURE(h2);
                    const float q = r.q.at({l1, h1, l2, h2}), k = r.k.at({l1, h1, l2, h2}),
                                v = r.v.at({l1, h1, l2, h2});
                    if (l1 >= l2) {
                        CHECK(std::isnan(q));
                        CHECK(std::isnan(k));
                        CHECK(std::isnan(v));
                        CHECK(std::isnan(r.k_z.at({l1, h1, l2, h2})));
                        continue;
                    }
                    ++defined;
                    CHECK(q == doctest::Approx(dense_score(ov(l1, h1), qk(l2, h2))).epsilon(kRelTol));
                    CHECK(k == doctest::Approx(dense_score(ov(l1, h1), qk(l2, h2).transpose())).epsilon(kRelTol));
                    CHECK(v == doctest::Approx(dense_score(ov(l1, h1), ov(l2, h2))).epsilon(kRelTol));
                    CHECK(r.v_z.at({l1, h1, l2, h2}) ==
                          doctest::Approx((v - r.v_baseline.mean) / r.v_baseline.std).epsilon(kRelTol));
                }
    CHECK(defined == 27);  // 3 heads × 3 heads × 3 ordered layer pairs
}

TEST_CASE("composition: in the planted induction model only L0H0 -> L1H0 K-composes (z > 5)") {
    const Model m = planted_induction_model();
    CompositionOptions o;
    o.baseline_samples = kTestSamples;
    const CompositionResult r = compute_composition(m, o);
    CHECK(r.k_z.at({0, 0, 1, 0}) > kPlantedZ);
    const struct {
        const char* name;
        const Array<float>& z;
    } kinds[] = {{"q", r.q_z}, {"k", r.k_z}, {"v", r.v_z}};
    for (const auto& kind : kinds)
        for (int h1 = 0; h1 < 2; ++h1)
            for (int h2 = 0; h2 < 2; ++h2) {
                if (kind.name == std::string("k") && h1 == 0 && h2 == 0) continue;
                CAPTURE(kind.name);
                CAPTURE(h1);
                CAPTURE(h2);
                CHECK(kind.z.at({0, h1, 1, h2}) <= kPlantedZ);
            }
}

TEST_CASE("composition: the random baseline is deterministic, thread-independent and near 1/sqrt(d_model)") {
    const CompositionBaselines a = composition_baselines(64, 16, 100, 7, 1);
    const CompositionBaselines b = composition_baselines(64, 16, 100, 7, 3);
    CHECK(a.q.mean == b.q.mean);
    CHECK(a.k.std == b.k.std);
    CHECK(a.v.mean == b.v.mean);
    const CompositionBaselines other = composition_baselines(64, 16, 100, 8, 1);
    CHECK(a.q.mean != other.q.mean);
    // MATH.md: for random factors the mean is close to 1/sqrt(d_model).
    for (const Baseline* x : {&a.q, &a.k, &a.v}) {
        CHECK(x->mean == doctest::Approx(1.0 / std::sqrt(64.0)).epsilon(0.25));
        CHECK(x->std > 0.0);
        CHECK(x->std < x->mean);
    }
    CHECK_THROWS_AS(composition_baselines(64, 16, 1, 7), Error);
}

TEST_CASE("composition: the written group reads back with the documented names and shapes") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::none, Normalization::none), 42);
    CompositionOptions o;
    o.baseline_samples = 10;
    o.seed = 5;
    const CompositionResult r = compute_composition(m, o);
    test::TempDir dir;
    {
        H5Writer w(dir.file("results.h5"));
        write(w, r);
        w.close();
    }
    H5Reader in(dir.file("results.h5"));
    for (const char* name : {"q", "k", "v", "q_z", "k_z", "v_z"})
        CHECK(in.dims(std::string("composition/") + name) == std::vector<std::uint64_t>{2, 3, 2, 3});
    CHECK(in.attr_double("composition", "k_baseline_mean") == r.k_baseline.mean);
    CHECK(in.attr_double("composition", "v_baseline_std") == r.v_baseline.std);
    CHECK(in.attr_int("composition", "baseline_samples") == 10);
    CHECK(in.attr_int("composition", "baseline_seed") == 5);
    const auto k = in.read_float("composition/k");
    REQUIRE(k.data.size() == r.k.data.size());
    for (size_t i = 0; i < k.data.size(); ++i) {
        CAPTURE(i);
        if (std::isnan(r.k.data[i]))
            CHECK(std::isnan(k.data[i]));  // same-layer and backward pairs
        else
            CHECK(k.data[i] == r.k.data[i]);
    }
    CHECK(std::isnan(k.at({1, 0, 0, 0})));  // backward pair
}

}  // namespace
}  // namespace circuits::analyses
