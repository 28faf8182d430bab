// Helpers for the model file tests: exact model comparison, error capture, raw file surgery.
#pragma once

#include "lib/error.hpp"
#include "lib/model.hpp"
#include "tests/test_util.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace circuits::test {

// Checks that every field of two models agrees exactly (weights bit for bit after float storage).
inline void check_same_model(const Model& got, const Model& want) {
    const auto& a = got.cfg;
    const auto& b = want.cfg;
    CHECK(a.n_layers == b.n_layers);
    CHECK(a.n_heads == b.n_heads);
    CHECK(a.d_model == b.d_model);
    CHECK(a.d_head == b.d_head);
    CHECK(a.d_vocab == b.d_vocab);
    CHECK(a.d_vocab_out == b.d_vocab_out);
    CHECK(a.n_ctx == b.n_ctx);
    CHECK(a.d_mlp == b.d_mlp);
    CHECK(a.positional_embedding_type == b.positional_embedding_type);
    CHECK(a.normalization_type == b.normalization_type);
    CHECK(a.effective_attn_scale() == b.effective_attn_scale());
    CHECK(a.causal == b.causal);
    if (b.has_mlp()) CHECK(a.act_fn == b.act_fn);
    CHECK(a.origin == b.origin);
    CHECK(a.bos_token == b.bos_token);
    CHECK(a.ln_eps == b.ln_eps);
    REQUIRE(got.blocks.size() == want.blocks.size());

    constexpr double exact = 0.0;
    check_near(got.W_E, want.W_E, exact, "W_E");
    check_near(got.W_pos, want.W_pos, exact, "W_pos");
    for (size_t l = 0; l < want.blocks.size(); ++l) {
        const Block& x = got.blocks[l];
        const Block& y = want.blocks[l];
        const std::string p = "blocks." + std::to_string(l) + ".";
        check_near(x.ln1.w, y.ln1.w, exact, p + "ln1.w");
        check_near(x.ln1.b, y.ln1.b, exact, p + "ln1.b");
        REQUIRE(x.attn.W_Q.size() == y.attn.W_Q.size());
        for (size_t h = 0; h < y.attn.W_Q.size(); ++h) {
            const std::string hs = "[" + std::to_string(h) + "]";
            check_near(x.attn.W_Q[h], y.attn.W_Q[h], exact, p + "W_Q" + hs);
            check_near(x.attn.W_K[h], y.attn.W_K[h], exact, p + "W_K" + hs);
            check_near(x.attn.W_V[h], y.attn.W_V[h], exact, p + "W_V" + hs);
            check_near(x.attn.W_O[h], y.attn.W_O[h], exact, p + "W_O" + hs);
            check_near(x.attn.b_Q[h], y.attn.b_Q[h], exact, p + "b_Q" + hs);
            check_near(x.attn.b_K[h], y.attn.b_K[h], exact, p + "b_K" + hs);
            check_near(x.attn.b_V[h], y.attn.b_V[h], exact, p + "b_V" + hs);
        }
        check_near(x.attn.b_O, y.attn.b_O, exact, p + "b_O");
        check_near(x.ln2.w, y.ln2.w, exact, p + "ln2.w");
        check_near(x.ln2.b, y.ln2.b, exact, p + "ln2.b");
        check_near(x.mlp.W_in, y.mlp.W_in, exact, p + "W_in");
        check_near(x.mlp.b_in, y.mlp.b_in, exact, p + "b_in");
        check_near(x.mlp.W_out, y.mlp.W_out, exact, p + "W_out");
        check_near(x.mlp.b_out, y.mlp.b_out, exact, p + "b_out");
    }
    check_near(got.ln_final.w, want.ln_final.w, exact, "ln_final.w");
    check_near(got.ln_final.b, want.ln_final.b, exact, "ln_final.b");
    check_near(got.W_U, want.W_U, exact, "W_U");
    check_near(got.b_U, want.b_U, exact, "b_U");
    CHECK(got.vocab == want.vocab);
    CHECK(got.vocab_out == want.vocab_out);
    CHECK(got.residual_labels == want.residual_labels);
    CHECK(got.program_source == want.program_source);
    CHECK(got.output_sop == want.output_sop);
    CHECK(got.weight_processing == want.weight_processing);
    CHECK(got.output_encoding == want.output_encoding);
}

// The message of the circuits::Error that `f` throws, or "(no error)".
template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

inline std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Names in `dir` that look like AtomicOutput temporaries ("*.tmp-*").
inline std::vector<std::string> temp_files_in(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (contains(e.path().filename().string(), ".tmp-")) out.push_back(e.path().filename().string());
    return out;
}

// A model with every kind of bookkeeping set, for round trips: BOS, labels, program, processing.
inline Model labelled_model(const ModelConfig& cfg, unsigned seed) {
    Model m = random_model(cfg, seed);
    for (int i = 0; i < cfg.d_vocab; ++i) m.vocab.set(static_cast<size_t>(i), "tok" + std::to_string(i) + "é");
    for (int i = 0; i < cfg.d_vocab_out; ++i) m.vocab_out.set(static_cast<size_t>(i), "out" + std::to_string(i));
    m.cfg.bos_token = 0;
    m.cfg.origin = Origin::compiled;
    m.cfg.causal = false;
    m.cfg.attn_scale = 1.75;
    m.cfg.ln_eps = 1e-6;
    for (int i = 0; i < cfg.d_model; ++i) m.residual_labels.push_back("dim:" + std::to_string(i));
    m.program_source = "x = tokens\n";
    m.output_sop = "x";
    m.weight_processing = {"fold_ln", "center_unembed"};
    return m;
}

}  // namespace circuits::test
