// The hand-built induction model really holds a previous-token head and an induction head.
#include "lib/forward.hpp"
#include "lib/model_io.hpp"
#include "lib/planted.hpp"
#include "tests/test_util.hpp"

using namespace circuits;

TEST_CASE("planted model: L0H0 attends to the previous token, L1H0 to the token after the earlier occurrence") {
    const Model m = planted_induction_model();
    // BOS, then a random-looking segment repeated twice.
    const std::vector<int> segment{5, 12, 3, 20, 8, 1, 17};
    std::vector<int> tokens{0};
    for (int r = 0; r < 2; ++r) tokens.insert(tokens.end(), segment.begin(), segment.end());
    const auto res = forward(m, tokens);
    const int T = int(tokens.size()), n = int(segment.size());
    for (int i = 1; i < T; ++i) CHECK(res.patterns[0][0](i, i - 1) > 0.99f);
    for (int i = 1 + n; i < T; ++i) {
        CAPTURE(i);
        CHECK(res.patterns[1][0](i, i - n + 1) > 0.99f);  // the token after the earlier occurrence
        Eigen::Index best = 0;
        res.logits.row(i).maxCoeff(&best);
        // Predicts the token that followed last time (the segment wraps to its start).
        CHECK(best == segment[size_t((i - n) % n)]);
    }
    // First occurrences have nothing to match: the induction head rests on BOS.
    for (int i = 1; i <= n; ++i) CHECK(res.patterns[1][0](i, 0) > 0.99f);
}

TEST_CASE("the bundled planted-2l.h5 is the model planted_induction_model() builds") {
    const Model bundled = read_model_h5(test::source_dir() + "/data/models/planted-2l.h5");
    const Model built = planted_induction_model();
    // A few float ulps: the weights are products the compiler may fuse (FMA in a native build),
    // while the bundled file was written by a build without FMA.
    constexpr double kRebuildTol = 1e-6;
    test::check_near(bundled.W_E, built.W_E, kRebuildTol, "W_E");
    for (int l = 0; l < 2; ++l)
        for (int h = 0; h < 2; ++h) {
            test::check_near(bundled.blocks[size_t(l)].attn.W_Q[size_t(h)], built.blocks[size_t(l)].attn.W_Q[size_t(h)], kRebuildTol, "W_Q");
            test::check_near(bundled.blocks[size_t(l)].attn.W_O[size_t(h)], built.blocks[size_t(l)].attn.W_O[size_t(h)], kRebuildTol, "W_O");
        }
    CHECK(bundled.vocab == built.vocab);
    CHECK(bundled.residual_labels == built.residual_labels);
}
