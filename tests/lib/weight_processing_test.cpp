// fold_ln and the centring functions leave the model's outputs unchanged and record what they did.
#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "lib/weight_processing.hpp"
#include "tests/test_util.hpp"

using namespace circuits;
using circuits::test::check_near;

namespace {

constexpr double kProcessTol = 2e-5;
const std::vector<int> kTokens{1, 4, 2, 8, 5, 7};

// Softmax of each row: centring the unembedding changes logits by a per-row constant only.
Matrix softmax_rows(const Matrix& x) {
    Matrix out = x;
    for (Eigen::Index r = 0; r < x.rows(); ++r) {
        out.row(r) = (x.row(r).array() - x.row(r).maxCoeff()).exp();
        out.row(r) /= out.row(r).sum();
    }
    return out;
}

}  // namespace

TEST_CASE("fold_ln turns LN into LNPre with the same logits") {
    for (auto pos : {PositionalEmbedding::standard, PositionalEmbedding::none})
        for (int d_mlp : {0, 8}) {
            CAPTURE(to_string(pos));
            const Model m = test::random_model(test::small_config(pos, Normalization::LN, d_mlp), 11);
            const Model f = fold_ln(m);
            CHECK(f.cfg.normalization_type == Normalization::LNPre);
            CHECK(f.weight_processing == std::vector<std::string>{"fold_ln"});
            CHECK(f.ln_final.w.size() == 0);
            f.validate();
            check_near(forward(f, kTokens).logits, forward(m, kTokens).logits, kProcessTol, "logits");
            // Folded reading weights are centred over d_model.
            CHECK(f.blocks[0].attn.W_Q[0].colwise().sum().cwiseAbs().maxCoeff() < 1e-4f);
        }
}

TEST_CASE("fold_ln refuses shortformer LN models, whose positions join after ln1") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::shortformer, Normalization::LN), 3);
    CHECK_THROWS_WITH_AS(fold_ln(m), doctest::Contains("shortformer"), Error);
    const Model p = process_for_analysis(m);
    CHECK(p.weight_processing == std::vector<std::string>{"ln_not_folded_shortformer"});
    check_near(forward(p, kTokens).logits, forward(m, kTokens).logits, 0.0, "unchanged");
}

TEST_CASE("fold_ln leaves models without LN weights untouched") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::none), 2);
    const Model f = fold_ln(m);
    CHECK(f.weight_processing.empty());
    check_near(f.W_U, m.W_U, 0.0, "W_U");
}

TEST_CASE("center_writing_weights preserves the logits of LN models and refuses models without LN") {
    for (auto pos : {PositionalEmbedding::standard, PositionalEmbedding::shortformer}) {
        const Model m = test::random_model(test::small_config(pos, Normalization::LNPre, 6), 4);
        const Model c = center_writing_weights(m);
        check_near(forward(c, kTokens).logits, forward(m, kTokens).logits, kProcessTol, "logits");
        CHECK(c.W_E.rowwise().sum().cwiseAbs().maxCoeff() < 1e-4f);
        CHECK(c.weight_processing.back() == "center_writing_weights");
    }
    const Model plain = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::none), 4);
    CHECK_THROWS_AS(center_writing_weights(plain), Error);
}

TEST_CASE("center_unembed preserves the output distribution") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::none), 6);
    const Model c = center_unembed(m);
    CHECK(c.W_U.rowwise().sum().cwiseAbs().maxCoeff() < 1e-4f);
    check_near(softmax_rows(forward(c, kTokens).logits), softmax_rows(forward(m, kTokens).logits), kProcessTol, "probs");
}

TEST_CASE("process_for_analysis folds and centres LN models and records both steps") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::LN), 9);
    const Model p = process_for_analysis(m);
    CHECK(p.weight_processing == std::vector<std::string>{"fold_ln", "center_writing_weights"});
    check_near(forward(p, kTokens).logits, forward(m, kTokens).logits, kProcessTol, "logits");
}
