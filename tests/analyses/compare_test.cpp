// compare: a model against itself and against a head-permuted, basis-rotated copy; the matching,
// JSD and vocabulary checks on their own.
#include "analyses/compare.hpp"
#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/planted.hpp"
#include "tests/test_util.hpp"

#include <algorithm>
#include <numeric>

using namespace circuits;
using namespace circuits::analyses;

namespace {

constexpr double kSimilarityTol = 1e-4;

CompareOptions quick_options() {
    CompareOptions o;
    o.probe = 12;
    o.max_len = 12;
    o.baseline_samples = 50;
    o.threads = 2;
    return o;
}

// The same function as `m` with heads permuted within each layer (new head h = old perm[h]) and
// the residual basis rotated by an orthogonal R (no LN, so the rotation is exact).
Model permuted_rotated(const Model& m, const std::vector<int>& perm, unsigned seed) {
    std::mt19937 rng(seed);
    const Matrix g = test::random_matrix(rng, m.cfg.d_model, m.cfg.d_model);
    const Matrix R = Eigen::HouseholderQR<Matrix>(g).householderQ();  // [d_model, d_model], orthogonal
    Model r = m;
    r.W_E = m.W_E * R;
    if (m.cfg.has_positions()) r.W_pos = m.W_pos * R;
    for (size_t l = 0; l < m.blocks.size(); ++l) {
        const auto& src = m.blocks[l].attn;
        auto& dst = r.blocks[l].attn;
        for (size_t h = 0; h < perm.size(); ++h) {
            const auto o = static_cast<size_t>(perm[h]);
            dst.W_Q[h] = R.transpose() * src.W_Q[o];
            dst.W_K[h] = R.transpose() * src.W_K[o];
            dst.W_V[h] = R.transpose() * src.W_V[o];
            dst.W_O[h] = src.W_O[o] * R;
            dst.b_Q[h] = src.b_Q[o];
            dst.b_K[h] = src.b_K[o];
            dst.b_V[h] = src.b_V[o];
        }
        dst.b_O = src.b_O * R;
    }
    r.W_U = R.transpose() * m.W_U;
    return r;
}

}  // namespace

TEST_CASE("compare: a model against itself agrees everywhere and matches every head to itself") {
    const Model m = planted_induction_model();
    const auto r = compute_compare(m, m, quick_options());
    CHECK(r.agreement == doctest::Approx(1.0));
    REQUIRE(r.matching.size() == 4);
    CHECK(r.unmatched_a.empty());
    CHECK(r.unmatched_b.empty());
    for (const auto& p : r.matching) {
        CAPTURE(p.a.layer);
        CAPTURE(p.a.head);
        CHECK(p.a.layer == p.b.layer);
        CHECK(p.a.head == p.b.head);
        CHECK(p.similarity == doctest::Approx(1.0).epsilon(kSimilarityTol));
    }
    // The planted K-composition edge L0H0 -> L1H0 is found in both and corresponds.
    const auto has_edge = [](const std::vector<CompositionEdge>& edges) {
        return std::any_of(edges.begin(), edges.end(), [](const CompositionEdge& e) {
            return e.kind == 'k' && e.from.layer == 0 && e.from.head == 0 && e.to.layer == 1 && e.to.head == 0;
        });
    };
    CHECK(has_edge(r.edges_both));
    CHECK(r.edges_only_a.empty());
    CHECK(r.edges_only_b.empty());
}

TEST_CASE("compare: the matching recovers heads permuted within layers under a rotated residual basis") {
    ModelConfig c = test::small_config(PositionalEmbedding::standard, Normalization::none);
    c.n_heads = 4;
    c.d_vocab_out = c.d_vocab;
    const Model m = test::random_model(c, 17);
    const std::vector<int> perm{2, 0, 3, 1};
    const Model p = permuted_rotated(m, perm, 5);
    const auto r = compute_compare(m, p, quick_options());
    CHECK(r.agreement == doctest::Approx(1.0));
    REQUIRE(r.matching.size() == 8);
    for (const auto& pair : r.matching) {
        CAPTURE(pair.a.layer);
        CAPTURE(pair.a.head);
        CHECK(pair.a.layer == pair.b.layer);
        // new head h holds old head perm[h]
        CHECK(perm[static_cast<size_t>(pair.b.head)] == pair.a.head);
        CHECK(pair.similarity == doctest::Approx(1.0).epsilon(kSimilarityTol));
    }
}

TEST_CASE("compare: models of different widths and head counts leave heads unmatched") {
    const Model a = planted_induction_model();
    Model b = planted_induction_model();
    for (auto& block : b.blocks) {  // keep only head 0 of each layer
        block.attn.W_Q.resize(1);
        block.attn.W_K.resize(1);
        block.attn.W_V.resize(1);
        block.attn.W_O.resize(1);
        block.attn.b_Q.resize(1);
        block.attn.b_K.resize(1);
        block.attn.b_V.resize(1);
    }
    b.cfg.n_heads = 1;
    const auto r = compute_compare(a, b, quick_options());
    CHECK(r.matching.size() == 2);
    CHECK(r.unmatched_a.size() == 2);
    for (const auto& p : r.matching) {
        CHECK(p.a.head == 0);  // the planted heads find their counterparts
        CHECK(p.a.layer == p.b.layer);
    }
}

TEST_CASE("compare: different input vocabularies are an error naming the first token that differs") {
    const Model a = planted_induction_model();
    Model b = a;
    b.vocab.set(3, "zebra");
    CHECK_THROWS_WITH_AS(compute_compare(a, b, quick_options()), doctest::Contains("'c'"), Error);
}

TEST_CASE("compare: a reference program gives each model's accuracy") {
    const Model m = planted_induction_model();
    CompareOptions o = quick_options();
    // "Predict the previous token": wrong for the planted model except by chance on repeats.
    o.reference = [](const std::vector<std::string>& in) {
        std::vector<std::optional<std::string>> out(in.size());
        for (size_t i = 1; i < in.size(); ++i) out[i] = in[i - 1];
        return out;
    };
    const auto r = compute_compare(m, m, o);
    CHECK(r.n_scored > 0);
    CHECK(r.accuracy_a == doctest::Approx(r.accuracy_b));
    CHECK(r.accuracy_a < 0.5);
}

TEST_CASE("optimal_assignment maximises the total score, also for rectangular matrices") {
    std::mt19937 rng(3);
    for (int trial = 0; trial < 20; ++trial) {
        const int rows = 2 + trial % 3, cols = 2 + (trial / 3) % 3;
        Eigen::MatrixXd s = test::random_matrix(rng, rows, cols).cast<double>();
        const auto got = optimal_assignment(s);
        double got_total = 0;
        std::set<int> used;
        for (int r = 0; r < rows; ++r)
            if (got[size_t(r)] >= 0) {
                got_total += s(r, got[size_t(r)]);
                CHECK(used.insert(got[size_t(r)]).second);
            }
        CHECK(int(used.size()) == std::min(rows, cols));
        // Brute force over permutations of the larger side.
        const int n = std::max(rows, cols);
        std::vector<int> perm(static_cast<size_t>(n));
        std::iota(perm.begin(), perm.end(), 0);
        double best = -1e300;
        do {
            double total = 0;
            for (int r = 0; r < rows; ++r)
                if (perm[size_t(r)] < cols) total += s(r, perm[size_t(r)]);
            best = std::max(best, total);
        } while (std::next_permutation(perm.begin(), perm.end()));
        CHECK(got_total == doctest::Approx(best));
    }
}

TEST_CASE("jensen_shannon is 0 for equal and 1 for disjoint distributions") {
    Eigen::VectorXd p(3), q(3);
    p << 0.2, 0.3, 0.5;
    CHECK(jensen_shannon(p, p) == doctest::Approx(0.0));
    p << 1, 0, 0;
    q << 0, 0.5, 0.5;
    CHECK(jensen_shannon(p, q) == doctest::Approx(1.0));
    p << 0.5, 0.5, 0;
    q << 0, 0.5, 0.5;
    CHECK(jensen_shannon(p, q) == doctest::Approx(0.5));
}

TEST_CASE("write_compare writes the documented datasets with their shapes") {
    const Model m = planted_induction_model();
    const auto r = compute_compare(m, m, quick_options());
    test::TempDir dir;
    {
        H5Writer w(dir.file("c.h5"));
        write(w, r);
    }
    H5Reader rd(dir.file("c.h5"));
    for (const char* name : {"compare/similarity", "compare/attention_similarity", "compare/qk_similarity",
                             "compare/ov_similarity"})
        CHECK(rd.dims(name) == std::vector<std::uint64_t>{2, 2, 2, 2});
    CHECK(rd.dims("compare/matching") == std::vector<std::uint64_t>{4, 5});
    CHECK(rd.attr_double("compare", "agreement") == doctest::Approx(1.0));
}
