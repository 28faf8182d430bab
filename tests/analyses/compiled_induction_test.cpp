// Ground truth from the compiler: the compiled induction program is found by the analyses.
#include "analyses/composition.hpp"
#include "analyses/induction.hpp"
#include "lib/model_io.hpp"
#include "lib/weight_processing.hpp"
#include "tests/test_util.hpp"

using namespace circuits;
using namespace circuits::analyses;

// The compiled model's vocab_out (a b c d) leaves out BOS: OV copying is computed over the four shared
// tokens, so the classification is defined and must flag exactly L1H0.
TEST_CASE("the compiled induction program: L1H0 is the one induction head, K-composing with L0H0") {
    const Model m = process_for_analysis(read_model_h5(test::source_dir() + "/data/models/compiled/induction.h5"));
    REQUIRE(m.cfg.n_layers == 2);
    InductionOptions o;
    o.threads = 2;
    const auto r = compute_induction(m, o);
    const auto flag = [&](int l, int h) { return r.is_induction_head.data[static_cast<size_t>(l * m.cfg.n_heads + h)]; };
    CHECK(r.induction(1, 0) > 0.9f);
    CHECK(r.ov_copying(1, 0) > 0.9f);
    for (int l = 0; l < m.cfg.n_layers; ++l)
        for (int h = 0; h < m.cfg.n_heads; ++h) CHECK(flag(l, h) == (l == 1 && h == 0 ? 1 : 0));
    CHECK(r.prev_token(0, 0) > 0.9f);

    CompositionOptions co;
    co.baseline_samples = 200;
    co.threads = 2;
    const auto c = compute_composition(m, co);
    // K-composition of L0H0 into L1H0 is far above the random baseline and the strongest pair.
    const int H = m.cfg.n_heads, L = m.cfg.n_layers;
    const auto k_z = [&](int l1, int h1, int l2, int h2) { return c.k_z.data[static_cast<size_t>(((l1 * H + h1) * L + l2) * H + h2)]; };
    CHECK(k_z(0, 0, 1, 0) > 5.0f);
    for (int h1 = 0; h1 < H; ++h1)
        for (int h2 = 0; h2 < H; ++h2) CHECK(k_z(0, h1, 1, h2) <= k_z(0, 0, 1, 0));
}
