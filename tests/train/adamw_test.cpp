// Tests of AdamW and its learning-rate schedule against the formulas written out by hand.
#include "lib/train/adamw.hpp"

#include "lib/error.hpp"
#include "tests/test_util.hpp"

#include <cmath>

namespace circuits::train {
namespace {

constexpr double kTol = 1e-5;  // float32 arithmetic, relative to max(1, |value|)

TEST_CASE("learning rate: linear warm-up, then cosine decay to min_lr_ratio") {
    AdamWOptions o;
    o.lr = 0.01;
    o.warmup_steps = 10;
    o.total_steps = 110;
    o.min_lr_ratio = 0.1;
    CHECK(learning_rate(o, 1) == doctest::Approx(0.001));
    CHECK(learning_rate(o, 10) == doctest::Approx(0.01));
    CHECK(learning_rate(o, 60) == doctest::Approx(0.001 + 0.009 * 0.5));  // halfway: cos(pi/2) = 0
    CHECK(learning_rate(o, 110) == doctest::Approx(0.001));
    o.min_lr_ratio = 1.0;
    CHECK(learning_rate(o, 80) == doctest::Approx(0.01));
}

TEST_CASE("adamw: two steps match the update written out, decay only on weight matrices") {
    ModelConfig c;
    c.n_layers = 0;
    c.n_heads = 1;
    c.d_model = 2;
    c.d_head = 1;
    c.d_vocab = 1;
    c.d_vocab_out = 1;
    c.n_ctx = 1;
    c.positional_embedding_type = PositionalEmbedding::none;
    Params<float> p(c), g(c);  // slots: W_E [1, 2], W_U [2, 1], b_U [1, 1]
    REQUIRE(p.size() == 5);
    p.data() = {1.0f, -2.0f, 0.5f, 0.25f, 3.0f};
    AdamWOptions o;
    o.lr = 0.1;
    o.weight_decay = 0.5;
    o.grad_clip = 0.0;
    o.total_steps = 2;
    o.min_lr_ratio = 1.0;
    AdamW opt(p, o);
    const std::vector<float> grads[2] = {{0.1f, 0.2f, -0.3f, 0.4f, 0.5f}, {-0.2f, 0.1f, 0.3f, 0.0f, 1.0f}};
    std::vector<double> want(p.data().begin(), p.data().end()), m(5, 0.0), v(5, 0.0);
    const std::vector<bool> decay = {true, true, true, true, false};
    for (int t = 1; t <= 2; ++t) {
        g.data() = grads[t - 1];
        opt.step(p, g, t);
        for (size_t i = 0; i < 5; ++i) {
            const double gi = grads[t - 1][i];
            if (decay[i]) want[i] *= 1.0 - o.lr * o.weight_decay;
            m[i] = 0.9 * m[i] + 0.1 * gi;
            v[i] = 0.999 * v[i] + 0.001 * gi * gi;
            const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
            want[i] -= o.lr * mh / (std::sqrt(vh) + o.eps);
        }
    }
    for (size_t i = 0; i < 5; ++i) CHECK(p.data()[i] == doctest::Approx(want[i]).epsilon(kTol).scale(1.0));
}

TEST_CASE("adamw: clipping scales the gradient to the limit and returns the norm before") {
    ModelConfig c;
    c.n_layers = 0;
    c.n_heads = 1;
    c.d_model = 1;
    c.d_head = 1;
    c.d_vocab = 1;
    c.d_vocab_out = 1;
    c.n_ctx = 1;
    c.positional_embedding_type = PositionalEmbedding::none;
    Params<float> p(c), g(c);
    g.data() = {3.0f, 4.0f, 0.0f};
    AdamWOptions o;
    o.grad_clip = 1.0;
    AdamW opt(p, o);
    CHECK(opt.step(p, g, 1) == doctest::Approx(5.0));
    CHECK(g.data()[0] == doctest::Approx(0.6));
    CHECK(g.data()[1] == doctest::Approx(0.8));
    o.lr = -1.0;
    CHECK_THROWS_AS(AdamW(p, o), Error);
}

}  // namespace
}  // namespace circuits::train
