// Tests of the training forward/backward pass: agreement with lib/forward and finite differences.
#include "lib/train/backprop.hpp"

#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "tests/test_util.hpp"

#include <cmath>
#include <random>

namespace circuits::train {
namespace {

constexpr double kForwardTol = 1e-4;  // float training forward vs reference forward, relative
constexpr double kFdStep = 3e-5;      // five-point central-difference step in double (error O(h^4))
constexpr double kFdTol = 1e-6;       // relative to max(1, max |gradient| of the tensor)
constexpr double kFloatGradTol = 2e-3;  // float gradient vs double gradient, relative

std::vector<Example> random_examples(const ModelConfig& c, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<Example> out;
    for (int len : {c.n_ctx, 3, c.n_ctx - 2}) {
        Example e;
        for (int t = 0; t < len; ++t) {
            e.tokens.push_back(static_cast<int>(rng() % static_cast<unsigned>(c.d_vocab)));
            // Every third position unscored, like BOS or `none` positions.
            e.targets.push_back(t % 3 == 1 ? -1 : static_cast<int>(rng() % static_cast<unsigned>(c.d_vocab_out)));
        }
        out.push_back(e);
    }
    return out;
}

struct Variant {
    PositionalEmbedding pos;
    Normalization norm;
    int d_mlp;
    std::string act;
    bool causal;
};

std::vector<Variant> variants() {
    std::vector<Variant> v;
    for (auto pos : {PositionalEmbedding::standard, PositionalEmbedding::shortformer, PositionalEmbedding::none})
        for (auto norm : {Normalization::none, Normalization::LN, Normalization::LNPre}) v.push_back({pos, norm, 0, "relu", true});
    v.push_back({PositionalEmbedding::standard, Normalization::LN, 6, "relu", true});
    v.push_back({PositionalEmbedding::shortformer, Normalization::LNPre, 5, "gelu", true});
    v.push_back({PositionalEmbedding::standard, Normalization::none, 0, "relu", false});
    return v;
}

ModelConfig config_of(const Variant& v) {
    ModelConfig c = test::small_config(v.pos, v.norm, v.d_mlp);
    c.act_fn = parse_act_fn(v.act);
    c.causal = v.causal;
    return c;
}

std::string name_of(const Variant& v) {
    return to_string(v.pos) + "/" + to_string(v.norm) + (v.d_mlp ? "/mlp-" + v.act : "") + (v.causal ? "" : "/non-causal");
}

TEST_CASE("train forward agrees with the reference forward pass for every positional and norm type") {
    for (const auto& v : variants()) {
        CAPTURE(name_of(v));
        const Model m = test::random_model(config_of(v), 17);
        const auto examples = random_examples(m.cfg, 5);
        const Params<float> p = params_from_model<float>(m);
        Backprop<float> bp;
        bp.forward(p, examples);
        for (size_t s = 0; s < examples.size(); ++s) {
            const ForwardResult ref = forward(m, examples[s].tokens);
            const Matrix got = bp.logits().middleRows(bp.offset(s), bp.length(s));
            test::check_near(got, ref.logits, kForwardTol, "logits of sequence " + std::to_string(s));
            for (int l = 0; l < m.cfg.n_layers; ++l)
                for (int h = 0; h < m.cfg.n_heads; ++h)
                    test::check_near(bp.pattern(l, s, h), ref.patterns[static_cast<size_t>(l)][static_cast<size_t>(h)],
                                     kForwardTol, "pattern L" + std::to_string(l) + "H" + std::to_string(h));
        }
    }
}

TEST_CASE("params round trip: params_from_model then copy_to_model reproduces every tensor") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::shortformer, Normalization::LN, 4), 3);
    Model back = Model::zeros(m.cfg);
    copy_to_model(params_from_model<float>(m), back);
    const Params<float> a = params_from_model<float>(m), b = params_from_model<float>(back);
    CHECK(a.data() == b.data());
    CHECK(back.blocks[1].attn.W_O[2] == m.blocks[1].attn.W_O[2]);
    CHECK(back.blocks[0].attn.b_K[1] == m.blocks[0].attn.b_K[1]);
}

TEST_CASE("backprop gradients match central finite differences for every parameter tensor") {
    for (const auto& v : variants()) {
        CAPTURE(name_of(v));
        const Model m = test::random_model(config_of(v), 29);
        const auto examples = random_examples(m.cfg, 7);
        Params<double> p = params_from_model<double>(m);
        Params<double> g(m.cfg);
        Backprop<double> bp;
        bp.forward(p, examples);
        bp.backward(p, 1.0, g);

        Params<double> fd(m.cfg);
        for (Eigen::Index i = 0; i < p.size(); ++i) {
            const double keep = p.data()[static_cast<size_t>(i)];
            const auto loss_at = [&](double delta) {
                p.data()[static_cast<size_t>(i)] = keep + delta;
                return bp.forward(p, examples);
            };
            // f' = (8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / 12h + O(h^4)
            const double d1 = loss_at(kFdStep) - loss_at(-kFdStep), d2 = loss_at(2 * kFdStep) - loss_at(-2 * kFdStep);
            p.data()[static_cast<size_t>(i)] = keep;
            fd.data()[static_cast<size_t>(i)] = (8 * d1 - d2) / (12 * kFdStep);
        }
        for (size_t s = 0; s < p.slots().size(); ++s) {
            const auto an = g.at(static_cast<int>(s));
            // A tensor whose gradient is identically zero would make the check vacuous.
            CHECK_MESSAGE(an.cwiseAbs().maxCoeff() > 0.0, p.slots()[s].name << " has an all-zero gradient");
            test::check_near(an, fd.at(static_cast<int>(s)), kFdTol, p.slots()[s].name);
        }
    }
}

TEST_CASE("float gradients agree with double gradients") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::LN), 41);
    const auto examples = random_examples(m.cfg, 9);
    const Params<float> pf = params_from_model<float>(m);
    const Params<double> pd = params_from_model<double>(m);
    Params<float> gf(m.cfg);
    Params<double> gd(m.cfg);
    Backprop<float> bf;
    Backprop<double> bd;
    const double lf = bf.forward(pf, examples), ld = bd.forward(pd, examples);
    CHECK(lf == doctest::Approx(ld).epsilon(1e-5));
    bf.backward(pf, 0.5f, gf);
    bd.backward(pd, 0.5, gd);
    for (size_t s = 0; s < pf.slots().size(); ++s)
        test::check_near(gf.at(static_cast<int>(s)), gd.at(static_cast<int>(s)).cast<float>(), kFloatGradTol,
                         pf.slots()[s].name);
}

TEST_CASE("backprop rejects malformed examples with the position at fault") {
    const ModelConfig c = test::small_config(PositionalEmbedding::standard, Normalization::none);
    const Params<float> p(c);
    Backprop<float> bp;
    std::vector<Example> too_long = {{std::vector<int>(static_cast<size_t>(c.n_ctx + 1), 0),
                                      std::vector<int>(static_cast<size_t>(c.n_ctx + 1), 0)}};
    CHECK_THROWS_WITH_AS(bp.forward(p, too_long), doctest::Contains("longer than n_ctx"), Error);
    std::vector<Example> bad_target = {{{1, 2}, {0, c.d_vocab_out}}};
    CHECK_THROWS_WITH_AS(bp.forward(p, bad_target), doctest::Contains("target 7 at position 1"), Error);
    std::vector<Example> mismatch = {{{1, 2}, {0}}};
    CHECK_THROWS_AS(bp.forward(p, mismatch), Error);
    CHECK_THROWS_AS(bp.forward(p, std::vector<Example>{}), Error);
}

}  // namespace
}  // namespace circuits::train
