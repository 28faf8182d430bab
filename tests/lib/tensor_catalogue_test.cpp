// Tests of the tensor catalogue: which tensors each config has, parameter counts, the slot
// operations, the root-attribute table and the one parameter guard both readers share.
#include "lib/tensor_catalogue.hpp"

#include "lib/error.hpp"
#include "lib/model_io.hpp"
#include "lib/safetensors.hpp"
#include "tests/lib/io_test_util.hpp"
#include "tests/test_util.hpp"

#include <H5Cpp.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <set>

namespace circuits {
namespace {

using test::contains;
using test::error_of;

std::vector<std::string> names_of(const ModelConfig& cfg) {
    std::vector<std::string> out;
    for (const auto& spec : tensor_catalogue(cfg)) out.push_back(spec.name);
    return out;
}

bool has_name(const ModelConfig& cfg, const std::string& name) {
    const auto names = names_of(cfg);
    return std::find(names.begin(), names.end(), name) != names.end();
}

TEST_CASE("tensor_catalogue: the config decides which tensors exist") {
    auto cfg = test::small_config(PositionalEmbedding::standard, Normalization::LN, 5);
    CHECK(has_name(cfg, "pos_embed.W_pos"));
    CHECK(has_name(cfg, "blocks.1.ln1.w"));
    CHECK(has_name(cfg, "blocks.1.ln2.b"));
    CHECK(has_name(cfg, "blocks.1.mlp.W_in"));
    CHECK(has_name(cfg, "ln_final.w"));
    CHECK_FALSE(has_name(cfg, "blocks.2.attn.W_Q"));

    cfg.positional_embedding_type = PositionalEmbedding::none;
    cfg.normalization_type = Normalization::LNPre;  // LN without weights
    cfg.d_mlp = 0;
    CHECK_FALSE(has_name(cfg, "pos_embed.W_pos"));
    CHECK_FALSE(has_name(cfg, "blocks.0.ln1.w"));
    CHECK_FALSE(has_name(cfg, "blocks.0.mlp.W_in"));
    CHECK_FALSE(has_name(cfg, "ln_final.b"));
    CHECK(names_of(cfg).front() == "embed.W_E");
    CHECK(names_of(cfg).back() == "unembed.b_U");
}

TEST_CASE("tensor_catalogue: HDF5 paths are the TransformerLens names with slashes; only biases are optional") {
    const auto cfg = test::small_config(PositionalEmbedding::shortformer, Normalization::LN, 3);
    std::set<std::string> seen;
    for (const auto& spec : tensor_catalogue(cfg)) {
        CAPTURE(spec.name);
        std::string dotted = spec.path;
        std::replace(dotted.begin(), dotted.end(), '/', '.');
        CHECK(dotted == spec.name);
        CHECK(seen.insert(spec.name).second);
        const auto leaf = spec.name.substr(spec.name.rfind('.') + 1);
        CHECK(spec.optional == (leaf.rfind("b_", 0) == 0));
        CHECK(spec.initial == ((leaf == "w") ? 1.0f : 0.0f));
    }
    const auto list = tensor_list(cfg);
    REQUIRE(list.size() == seen.size());
    const auto specs = tensor_catalogue(cfg);
    for (size_t i = 0; i < list.size(); ++i) {
        CHECK(list[i].name == specs[i].name);
        CHECK(list[i].shape == specs[i].shape);
    }
}

TEST_CASE("tensor_catalogue: the parameter count equals the weights Model::zeros allocates") {
    for (auto norm : {Normalization::none, Normalization::LN})
        for (int d_mlp : {0, 5}) {
            const auto cfg = test::small_config(PositionalEmbedding::standard, norm, d_mlp);
            const Model m = Model::zeros(cfg);
            // Counted from the members, independently of the catalogue.
            std::int64_t n =
                m.W_E.size() + m.W_pos.size() + m.W_U.size() + m.b_U.size() + m.ln_final.w.size() + m.ln_final.b.size();
            for (const auto& b : m.blocks) {
                n += b.ln1.w.size() + b.ln1.b.size() + b.ln2.w.size() + b.ln2.b.size() + b.attn.b_O.size();
                for (size_t h = 0; h < b.attn.W_Q.size(); ++h)
                    n += b.attn.W_Q[h].size() + b.attn.W_K[h].size() + b.attn.W_V[h].size() + b.attn.W_O[h].size() +
                         b.attn.b_Q[h].size() + b.attn.b_K[h].size() + b.attn.b_V[h].size();
                n += b.mlp.W_in.size() + b.mlp.b_in.size() + b.mlp.W_out.size() + b.mlp.b_out.size();
            }
            CHECK(parameter_count(cfg) == n);
            CHECK(m.parameter_count() == n);
            if (norm == Normalization::LN) CHECK(m.blocks[0].ln1.w.isOnes(0));
        }
}

TEST_CASE("tensor_catalogue: slot values are row-major and assign back to the same weights") {
    const auto cfg = test::small_config(PositionalEmbedding::standard, Normalization::LN, 5);
    const Model m = test::random_model(cfg, 21);
    Model copy = Model::zeros(cfg);
    for (const auto& spec : tensor_catalogue(cfg)) {
        const auto values = slot_values(read_slot(spec, m));
        std::int64_t size = 1;
        for (auto d : spec.shape) size *= d;
        REQUIRE(static_cast<std::int64_t>(values.size()) == size);
        slot_assign(spec.slot(copy), spec.shape, values.data());
    }
    test::check_same_model(copy, m);
    // Row-major: W_Q[1](2, 3) of [H, D, dh] sits at (1 * D + 2) * dh + 3.
    const auto q = slot_values(read_slot(tensor_catalogue(cfg)[4], m));
    REQUIRE(tensor_catalogue(cfg)[4].name == "blocks.0.attn.W_Q");
    CHECK(q[static_cast<size_t>((1 * cfg.d_model + 2) * cfg.d_head + 3)] == m.blocks[0].attn.W_Q[1](2, 3));
}

TEST_CASE("tensor_catalogue: validation names the tensor and the head") {
    const auto cfg = test::small_config(PositionalEmbedding::standard, Normalization::none, 0);
    Model m = test::random_model(cfg, 5);
    m.blocks[1].attn.b_K[2](0, 1) = std::numeric_limits<float>::infinity();
    CHECK(contains(error_of([&] { m.validate(); }), "blocks/1/attn/b_K[2]: non-finite value inf at [0, 1]"));
    m = test::random_model(cfg, 5);
    m.blocks[0].attn.W_O.pop_back();
    CHECK(contains(error_of([&] { m.validate(); }), "blocks/0/attn/W_O: 2 heads, expected n_heads = 3"));
}

TEST_CASE("tensor_catalogue: the root attributes are listed once, required ones first-class") {
    std::set<std::string> required;
    for (const auto& a : model_attributes())
        if (a.required) required.insert(a.name);
    CHECK(required == std::set<std::string>{"n_layers", "n_heads", "d_model", "d_head", "d_vocab", "n_ctx",
                                            "positional_embedding_type", "normalization_type"});
}

TEST_CASE("tensor_catalogue: every root attribute is also read from and written to config.json") {
    for (const auto& a : model_attributes()) {
        CHECK_MESSAGE(static_cast<bool>(a.to_json), a.name);
        CHECK_MESSAGE(static_cast<bool>(a.from_json), a.name);
    }
    // TransformerLens's names for the settings whose config.json key differs from the attribute.
    auto cfg = test::small_config(PositionalEmbedding::standard, Normalization::none, 0);
    cfg.causal = false;
    cfg.ln_eps = 1e-6;
    const Model m = test::random_model(cfg, 3);
    nlohmann::json j;
    for (const auto& a : model_attributes()) a.to_json(m, j);
    CHECK(j["attention_dir"] == "bidirectional");
    CHECK(j["eps"] == 1e-6);
    CHECK(j["attn_only"] == true);
    CHECK(j["d_mlp"].is_null());
    CHECK(j["normalization_type"].is_null());
    CHECK_FALSE(j.contains("causal"));
    CHECK_FALSE(j.contains("ln_eps"));
}

// A written model whose d_mlp attribute claims 2e9 hidden units: 2 layers x 2 x 12 x 2e9 weights
// in the MLPs alone, far over the limit, while the attention and embeddings are tiny.
TEST_CASE("regression: the 4e9 parameter guard counts d_mlp in the HDF5 reader as in the safetensors reader") {
    test::TempDir dir;
    const auto cfg = test::small_config(PositionalEmbedding::standard, Normalization::none, 5);
    const auto h5 = dir.file("m.h5");
    write_model_h5(test::random_model(cfg, 3), h5);
    {
        H5::H5File f(h5, H5F_ACC_RDWR);
        H5Adelete(f.getId(), "d_mlp");
        const std::int64_t v = 2'000'000'000;
        f.createAttribute("d_mlp", H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR))
            .write(H5::PredType::NATIVE_INT64, &v);
    }
    const auto from_h5 = error_of([&] { read_model_h5(h5); });
    CHECK_MESSAGE(contains(from_h5, "over the 4e9 limit"), from_h5);

    const auto st = dir.file("m.safetensors");
    write_model_safetensors(test::random_model(cfg, 3), st);
    auto j = nlohmann::json::parse(test::read_bytes(dir.file("config.json")));
    j["d_mlp"] = 2'000'000'000;
    test::write_bytes(dir.file("config.json"), j.dump());
    const auto from_st = error_of([&] { read_model_safetensors(st); });
    CHECK_MESSAGE(contains(from_st, "over the 4e9 limit"), from_st);
}

}  // namespace
}  // namespace circuits
