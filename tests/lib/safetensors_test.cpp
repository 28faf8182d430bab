// Tests of the safetensors reader and writer: round trips, 16-bit decoding, and one test per bad input.
#include "lib/safetensors.hpp"

#include "lib/model_io.hpp"
#include "tests/lib/io_test_util.hpp"
#include "tests/test_util.hpp"

#include <nlohmann/json.hpp>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace circuits {
namespace {

using test::contains;
using test::error_of;

// A safetensors file as bytes: the 8-byte little-endian header length, the header, the data.
std::string raw_file(const std::string& header, const std::string& data, std::uint64_t header_length) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header_length >> (8 * i)) & 0xff));
    return out + header + data;
}
std::string raw_file(const std::string& header, const std::string& data) { return raw_file(header, data, header.size()); }

std::string f32_bytes(const std::vector<float>& values) {
    std::string out;
    for (float v : values) {
        const auto bits = std::bit_cast<std::uint32_t>(v);
        for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
    }
    return out;
}

std::string u16_bytes(const std::vector<std::uint16_t>& values) {
    std::string out;
    for (auto v : values) {
        out.push_back(static_cast<char>(v & 0xff));
        out.push_back(static_cast<char>(v >> 8));
    }
    return out;
}

// The error that reading `bytes` as a safetensors file gives; the message must name the file.
std::string bad_file_error(const test::TempDir& dir, const std::string& bytes) {
    const auto path = dir.file("bad.safetensors");
    test::write_bytes(path, bytes);
    const auto message = error_of([&] { read_safetensors(path); });
    CHECK_MESSAGE(contains(message, path), message);
    return message;
}

// A small model written as safetensors + config.json in `dir`; returns the .safetensors path.
std::string write_small_model(const test::TempDir& dir, const Model& m) {
    const auto path = dir.file("model.safetensors");
    write_model_safetensors(m, path);
    return path;
}

Model small_model() {
    return test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::LN, 5), 7);
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(test::read_bytes(path)); }
void write_json(const std::string& path, const nlohmann::json& j) { test::write_bytes(path, j.dump(2)); }

TEST_CASE("safetensors: model round trip for every positional and normalisation type, with and without MLP") {
    test::TempDir dir;
    unsigned seed = 1;
    for (auto pos : {PositionalEmbedding::standard, PositionalEmbedding::shortformer, PositionalEmbedding::none})
        for (auto norm : {Normalization::none, Normalization::LN, Normalization::LNPre})
            for (int d_mlp : {0, 5}) {
                CAPTURE(to_string(pos));
                CAPTURE(to_string(norm));
                CAPTURE(d_mlp);
                auto cfg = test::small_config(pos, norm, d_mlp);
                cfg.act_fn = ActFn::gelu;
                const Model m = test::random_model(cfg, seed++);
                const auto path = write_small_model(dir, m);
                test::check_same_model(read_model_safetensors(path), m);
                test::check_same_model(load_model(path), m);
            }
}

TEST_CASE("safetensors: vocabularies, BOS, labels and bookkeeping survive the round trip") {
    test::TempDir dir;
    const Model m = test::labelled_model(test::small_config(PositionalEmbedding::none, Normalization::LNPre, 3), 11);
    const auto path = write_small_model(dir, m);
    test::check_same_model(read_model_safetensors(path), m);
}

TEST_CASE("safetensors: an explicit config path is used instead of config.json") {
    test::TempDir dir;
    const Model m = small_model();
    write_model_safetensors(m, dir.file("w.safetensors"), dir.file("other.json"));
    CHECK_FALSE(std::filesystem::exists(dir.file("config.json")));
    test::check_same_model(read_model_safetensors(dir.file("w.safetensors"), dir.file("other.json")), m);
}

TEST_CASE("safetensors: the same model as .h5 and .safetensors gives the same inspect and run output") {
    test::TempDir dir;
    Model m = test::random_model(test::small_config(PositionalEmbedding::shortformer, Normalization::LN, 4), 3);
    m.cfg.bos_token = 2;
    write_model_h5(m, dir.file("m.h5"));
    const auto st = write_small_model(dir, m);
    const std::vector<std::string> tokens = {"1", "5", "3", "9", "0"};
    std::vector<std::string> run_h5 = {"run", dir.file("m.h5")}, run_st = {"run", st};
    run_h5.insert(run_h5.end(), tokens.begin(), tokens.end());
    run_st.insert(run_st.end(), tokens.begin(), tokens.end());
    for (const char* flag : {"", "--json"}) {
        auto a = run_h5, b = run_st;
        if (*flag) {
            a.push_back(flag);
            b.push_back(flag);
            a.push_back("--attention");
            b.push_back("--attention");
            a.push_back("--logits");
            b.push_back("--logits");
        }
        const auto ra = test::cli(a), rb = test::cli(b);
        CHECK(ra.status == 0);
        CHECK(rb.status == 0);
        CHECK(ra.out == rb.out);
        CHECK_FALSE(ra.out.empty());
    }
    const auto ia = test::cli({"inspect", dir.file("m.h5")}), ib = test::cli({"inspect", st});
    REQUIRE(ia.status == 0);
    REQUIRE(ib.status == 0);
    // Everything after the "model: PATH" line agrees.
    CHECK(ia.out.substr(ia.out.find('\n')) == ib.out.substr(ib.out.find('\n')));
}

TEST_CASE("safetensors: write_safetensors and read_safetensors round trip raw tensors with metadata allowed") {
    test::TempDir dir;
    std::map<std::string, SafetensorsTensor> t;
    t["a"] = {"F32", {2, 3}, {1, 2, 3, 4, 5, 6}};
    t["b"] = {"F32", {0}, {}};
    t["c"] = {"F32", {}, {-0.5f}};  // a scalar
    write_safetensors(t, dir.file("t.safetensors"));
    const auto bytes = test::read_bytes(dir.file("t.safetensors"));
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= std::uint64_t(static_cast<unsigned char>(bytes[static_cast<size_t>(i)])) << (8 * i);
    CHECK(n % 8 == 0);  // the data section starts aligned
    const auto back = read_safetensors(dir.file("t.safetensors"));
    REQUIRE(back.size() == 3);
    for (const auto& [name, tensor] : t) {
        CHECK(back.at(name).shape == tensor.shape);
        CHECK(back.at(name).values == tensor.values);
        CHECK(back.at(name).dtype == "F32");
    }
    CHECK_THROWS_AS(write_safetensors({{"x", {"F32", {2}, {1}}}}, dir.file("u.safetensors")), Error);
    CHECK_FALSE(std::filesystem::exists(dir.file("u.safetensors")));

    const std::string header =
        R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    test::write_bytes(dir.file("m.safetensors"), raw_file(header, f32_bytes({1.5f, -2})));
    const SafetensorsFile f(dir.file("m.safetensors"));
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.read("w").values == std::vector<float>{1.5f, -2.0f});
}

TEST_CASE("safetensors: F16 and BF16 decode to known values") {
    // IEEE half: 1, -2, 1/3 rounded, the largest finite value, the smallest subnormal, zero, -0.
    CHECK(half_to_float(0x3C00) == 1.0f);
    CHECK(half_to_float(0xC000) == -2.0f);
    CHECK(half_to_float(0x3555) == 0.333251953125f);
    CHECK(half_to_float(0x7BFF) == 65504.0f);
    CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));
    CHECK(half_to_float(0x03FF) == std::ldexp(1023.0f, -24));
    CHECK(half_to_float(0x8000) == 0.0f);
    CHECK(std::signbit(half_to_float(0x8000)));
    CHECK(half_to_float(0x7C00) == std::numeric_limits<float>::infinity());
    CHECK(half_to_float(0xFC00) == -std::numeric_limits<float>::infinity());
    CHECK(std::isnan(half_to_float(0x7E00)));
    // bfloat16: the top 16 bits of a float32.
    CHECK(bfloat16_to_float(0x3F80) == 1.0f);
    CHECK(bfloat16_to_float(0xC040) == -3.0f);
    CHECK(bfloat16_to_float(0x4049) == 3.140625f);
    CHECK(bfloat16_to_float(0x0001) == std::bit_cast<float>(std::uint32_t{0x00010000}));

    test::TempDir dir;
    const std::string header = R"({"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]}})";
    test::write_bytes(dir.file("x.safetensors"),
                      raw_file(header, u16_bytes({0x3C00, 0xC000, 0x3555, 0x7BFF}) + u16_bytes({0x3F80, 0xC040, 0x4049})));
    const auto t = read_safetensors(dir.file("x.safetensors"));
    CHECK(t.at("h").dtype == "F16");
    CHECK(t.at("h").shape == std::vector<std::int64_t>{2, 2});
    CHECK(t.at("h").values == std::vector<float>{1.0f, -2.0f, 0.333251953125f, 65504.0f});
    CHECK(t.at("b").dtype == "BF16");
    CHECK(t.at("b").values == std::vector<float>{1.0f, -3.0f, 3.140625f});
}

TEST_CASE("safetensors: a model stored in BF16 reads as the float model with the same values") {
    test::TempDir dir;
    const Model m = small_model();
    const auto path = write_small_model(dir, m);
    const auto f32 = read_safetensors(path);
    // Rewrite every tensor as BF16 by truncating the float bits.
    nlohmann::json header = nlohmann::json::object();
    std::string data;
    for (const auto& [name, t] : f32) {
        std::vector<std::uint16_t> bits;
        for (float v : t.values) bits.push_back(static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(v) >> 16));
        header[name] = {{"dtype", "BF16"}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + 2 * bits.size()}}};
        data += u16_bytes(bits);
    }
    test::write_bytes(path, raw_file(header.dump(), data));
    const Model b = read_model_safetensors(path);
    const auto truncated = [](float v) {
        return std::bit_cast<float>(std::bit_cast<std::uint32_t>(v) & 0xFFFF0000u);
    };
    REQUIRE(b.W_E.rows() == m.W_E.rows());
    const Matrix want_E = m.W_E.unaryExpr(truncated);
    const Matrix want_V = m.blocks[1].attn.W_V[2].unaryExpr(truncated);
    test::check_near(b.W_E, want_E, 0.0, "W_E");
    test::check_near(b.blocks[1].attn.W_V[2], want_V, 0.0, "W_V");
    CHECK(b.W_E != m.W_E);  // the truncation did change something
}

// ---------------------------------------------------------------------------------------------
// Bad files: the header and layout

TEST_CASE("safetensors: a truncated file is an error naming the file") {
    test::TempDir dir;
    const auto path = write_small_model(dir, small_model());
    const auto bytes = test::read_bytes(path);
    const auto message = bad_file_error(dir, bytes.substr(0, bytes.size() / 2));
    CHECK_MESSAGE(contains(message, "truncated"), message);
    CHECK_MESSAGE(contains(bad_file_error(dir, bytes.substr(0, 5)), "truncated"), "5 bytes");
    CHECK(contains(bad_file_error(dir, ""), "truncated"));
}

TEST_CASE("safetensors: a header length past the end of the file or over the cap is an error") {
    test::TempDir dir;
    const auto past = bad_file_error(dir, raw_file("{}", "", 1000));
    CHECK_MESSAGE(contains(past, "runs past the end"), past);
    const auto huge = bad_file_error(dir, raw_file("{}", "", std::uint64_t{1} << 40));
    CHECK_MESSAGE(contains(huge, "exceeds the cap"), huge);
    const auto all_ones = bad_file_error(dir, raw_file("{}", "", ~std::uint64_t{0}));
    CHECK_MESSAGE(contains(all_ones, "exceeds the cap"), all_ones);
}

TEST_CASE("safetensors: a header that is not valid JSON, or not an object, is an error") {
    test::TempDir dir;
    CHECK(contains(bad_file_error(dir, raw_file("{\"a\": {\"dtype\":", "")), "not valid JSON"));
    CHECK(contains(bad_file_error(dir, raw_file(std::string("{\0}", 3), "")), "not valid JSON"));
    CHECK(contains(bad_file_error(dir, raw_file("[1, 2]", "")), "not a JSON object"));
    CHECK(contains(bad_file_error(dir, raw_file(R"({"a": 3})", "")), "'a'"));
    CHECK(contains(bad_file_error(dir, raw_file(R"({"a": {"dtype": "F32", "shape": [1]}})", "")), "data_offsets"));
    CHECK(contains(bad_file_error(dir, raw_file(R"({"__metadata__": {"k": 1}})", "")), "__metadata__"));
}

TEST_CASE("safetensors: a deeply nested header is an error, not a stack overflow") {
    test::TempDir dir;
    constexpr int depth = 200000;
    CHECK(contains(bad_file_error(dir, raw_file(std::string(depth, '['), "")), "not valid JSON"));
    std::string nested;
    for (int i = 0; i < depth; ++i) nested += "{\"a\":";
    nested += "1" + std::string(depth, '}');
    CHECK(contains(bad_file_error(dir, raw_file(nested, "")), "tensor 'a': header entry has no 'dtype'"));
}

TEST_CASE("safetensors: a tensor named twice in the header is an error") {
    test::TempDir dir;
    const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
    const auto message = bad_file_error(dir, raw_file(header, f32_bytes({1, 2})));
    CHECK_MESSAGE(contains(message, "'a' appears twice"), message);
}

TEST_CASE("safetensors: overlapping offsets are an error naming both tensors") {
    test::TempDir dir;
    const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
    const auto message = bad_file_error(dir, raw_file(header, f32_bytes({1, 2, 3})));
    CHECK_MESSAGE(contains(message, "'b'"), message);
    CHECK_MESSAGE(contains(message, "overlaps tensor 'a'"), message);
}

TEST_CASE("safetensors: gaps between tensors and bytes after the last one are errors") {
    test::TempDir dir;
    const std::string gap = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
    CHECK(contains(bad_file_error(dir, raw_file(gap, f32_bytes({1, 2, 3}))), "belong to no tensor"));
    const std::string one = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    CHECK(contains(bad_file_error(dir, raw_file(one, f32_bytes({1, 2}))), "after the last tensor"));
}

TEST_CASE("safetensors: offsets outside the file are an error naming the tensor") {
    test::TempDir dir;
    const std::string header = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
    const auto message = bad_file_error(dir, raw_file(header, f32_bytes({1, 2})));
    CHECK_MESSAGE(contains(message, "tensor 'w'"), message);
    CHECK_MESSAGE(contains(message, "outside the data section of 8 bytes"), message);
    const std::string reversed = R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})";
    CHECK(contains(bad_file_error(dir, raw_file(reversed, f32_bytes({1, 2}))), "end before they begin"));
    const std::string negative = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})";
    CHECK(contains(bad_file_error(dir, raw_file(negative, f32_bytes({1}))), "not a pair of non-negative integers"));
}

TEST_CASE("safetensors: a byte length that is not shape x dtype size is an error") {
    test::TempDir dir;
    const std::string header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
    const auto message = bad_file_error(dir, raw_file(header, f32_bytes({1, 2})));
    CHECK_MESSAGE(contains(message, "tensor 'w'"), message);
    CHECK_MESSAGE(contains(message, "needs 12 bytes"), message);
    CHECK_MESSAGE(contains(message, "span 8"), message);
}

TEST_CASE("safetensors: negative, fractional and overflowing dimensions are errors, not allocations") {
    test::TempDir dir;
    const auto with_shape = [&](const std::string& shape) {
        return bad_file_error(dir, raw_file(R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,4]}})",
                                            f32_bytes({1})));
    };
    CHECK(contains(with_shape("[-1]"), "not a non-negative integer"));
    CHECK(contains(with_shape("[1.5]"), "not a non-negative integer"));
    CHECK(contains(with_shape("[\"2\"]"), "not a non-negative integer"));
    CHECK(contains(with_shape("[4611686018427387904, 4611686018427387904]"), "overflows"));
    CHECK(contains(with_shape("[4611686018427387904]"), "overflows the byte count"));
    CHECK(contains(with_shape("[18446744073709551615]"), "not a non-negative integer"));
    CHECK(contains(with_shape("7"), "'shape' is not an array"));
}

TEST_CASE("safetensors: unknown and unsupported dtypes are errors naming the tensor") {
    test::TempDir dir;
    const std::string unknown = R"({"w":{"dtype":"F13","shape":[1],"data_offsets":[0,4]}})";
    CHECK(contains(bad_file_error(dir, raw_file(unknown, f32_bytes({1}))), "unknown dtype 'F13'"));
    const std::string integer = R"({"w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})";
    const auto message = bad_file_error(dir, raw_file(integer, f32_bytes({1, 2})));
    CHECK_MESSAGE(contains(message, "tensor 'w' has dtype I32"), message);

    // In a model file: embed.W_E stored as I32.
    const auto path = write_small_model(dir, small_model());
    auto t = read_safetensors(path);
    nlohmann::json header = nlohmann::json::object();
    std::string data;
    for (const auto& [name, tensor] : t) {
        header[name] = {{"dtype", name == "embed.W_E" ? "I32" : "F32"},
                        {"shape", tensor.shape},
                        {"data_offsets", {data.size(), data.size() + 4 * tensor.values.size()}}};
        data += f32_bytes(tensor.values);
    }
    test::write_bytes(path, raw_file(header.dump(), data));
    const auto model_message = error_of([&] { read_model_safetensors(path); });
    CHECK_MESSAGE(contains(model_message, path), model_message);
    CHECK_MESSAGE(contains(model_message, "tensor 'embed.W_E' has dtype I32"), model_message);
}

// ---------------------------------------------------------------------------------------------
// Bad files: tensors against the config

TEST_CASE("safetensors: a missing tensor is an error naming it; missing biases are zeros") {
    test::TempDir dir;
    const auto path = write_small_model(dir, small_model());
    auto t = read_safetensors(path);
    for (const char* bias : {"blocks.0.attn.b_Q", "blocks.0.attn.b_O", "blocks.1.mlp.b_in", "unembed.b_U"}) t.erase(bias);
    write_safetensors(t, path);
    const Model m = read_model_safetensors(path);
    CHECK(m.blocks[0].attn.b_Q[1].isZero(0));
    CHECK(m.blocks[0].attn.b_O.isZero(0));
    CHECK(m.blocks[1].mlp.b_in.isZero(0));
    CHECK(m.b_U.isZero(0));
    CHECK_FALSE(m.blocks[0].attn.b_K[1].isZero(0));

    t.erase("blocks.1.attn.W_K");
    write_safetensors(t, path);
    const auto message = error_of([&] { read_model_safetensors(path); });
    CHECK_MESSAGE(contains(message, path), message);
    CHECK_MESSAGE(contains(message, "missing tensor 'blocks.1.attn.W_K' of shape [3, 12, 4]"), message);
}

TEST_CASE("safetensors: an unexpected tensor is an error naming it; TransformerLens attention buffers are ignored") {
    test::TempDir dir;
    const auto path = write_small_model(dir, small_model());
    auto t = read_safetensors(path);
    // TransformerLens saves the causal mask (bool) and IGNORE (-inf scalar) as buffers.
    nlohmann::json header = nlohmann::json::object();
    std::string data;
    for (const auto& [name, tensor] : t) {
        header[name] = {{"dtype", "F32"}, {"shape", tensor.shape}, {"data_offsets", {data.size(), data.size() + 4 * tensor.values.size()}}};
        data += f32_bytes(tensor.values);
    }
    header["blocks.0.attn.mask"] = {{"dtype", "BOOL"}, {"shape", {9, 9}}, {"data_offsets", {data.size(), data.size() + 81}}};
    data += std::string(81, '\1');
    header["blocks.0.attn.IGNORE"] = {{"dtype", "F32"}, {"shape", nlohmann::json::array()}, {"data_offsets", {data.size(), data.size() + 4}}};
    data += f32_bytes({-std::numeric_limits<float>::infinity()});
    test::write_bytes(path, raw_file(header.dump(), data));
    CHECK_NOTHROW(read_model_safetensors(path));

    t["blocks.0.attn.W_extra"] = {"F32", {1}, {0.0f}};
    write_safetensors(t, path);
    const auto message = error_of([&] { read_model_safetensors(path); });
    CHECK_MESSAGE(contains(message, path), message);
    CHECK_MESSAGE(contains(message, "blocks.0.attn.W_extra"), message);
}

TEST_CASE("safetensors: a tensor shape disagreeing with config.json is an error naming the tensor and both shapes") {
    test::TempDir dir;
    const auto path = write_small_model(dir, small_model());
    auto cfg = read_json(dir.file("config.json"));
    cfg["d_vocab"] = 13;
    write_json(dir.file("config.json"), cfg);
    const auto message = error_of([&] { read_model_safetensors(path); });
    CHECK_MESSAGE(contains(message, path), message);
    CHECK_MESSAGE(contains(message, "tensor 'embed.W_E' has shape [11, 12], expected [13, 12]"), message);
    CHECK_MESSAGE(contains(message, "config.json"), message);

    cfg["d_vocab"] = 11;
    cfg["d_head"] = 6;
    cfg["n_heads"] = 2;
    write_json(dir.file("config.json"), cfg);
    const auto heads = error_of([&] { read_model_safetensors(path); });
    CHECK_MESSAGE(contains(heads, "tensor 'blocks.0.attn.W_Q' has shape [3, 12, 4], expected [2, 12, 6]"), heads);
}

TEST_CASE("safetensors: a NaN or infinite weight is an error naming the file, the tensor and the entry") {
    test::TempDir dir;
    const auto path = write_small_model(dir, small_model());
    auto t = read_safetensors(path);
    auto& v = t.at("blocks.1.attn.W_V").values;  // [3, 12, 4]
    v[1 * 48 + 2 * 4 + 3] = std::numeric_limits<float>::quiet_NaN();
    write_safetensors(t, path);
    const auto message = error_of([&] { read_model_safetensors(path); });
    CHECK_MESSAGE(contains(message, path), message);
    CHECK_MESSAGE(contains(message, "tensor 'blocks.1.attn.W_V' has a non-finite value nan at [1, 2, 3]"), message);

    v[1 * 48 + 2 * 4 + 3] = 0.0f;
    t.at("ln_final.b").values[4] = std::numeric_limits<float>::infinity();
    write_safetensors(t, path);
    const auto inf = error_of([&] { read_model_safetensors(path); });
    CHECK_MESSAGE(contains(inf, "tensor 'ln_final.b' has a non-finite value inf at [4]"), inf);

    // Through the command line: status 1 and a message that names the file and the tensor.
    const auto r = test::cli({"inspect", path});
    CHECK(r.status == 1);
    CHECK(r.err.rfind("circuits: error:", 0) == 0);
    CHECK_MESSAGE(contains(r.err, path), r.err);
    CHECK_MESSAGE(contains(r.err, "ln_final.b"), r.err);
}

TEST_CASE("safetensors: a missing or broken config.json is an error naming it") {
    test::TempDir dir;
    const auto path = write_small_model(dir, small_model());
    const auto cfg = read_json(dir.file("config.json"));
    std::filesystem::remove(dir.file("config.json"));
    const auto missing = error_of([&] { read_model_safetensors(path); });
    CHECK_MESSAGE(contains(missing, dir.file("config.json")), missing);
    CHECK_MESSAGE(contains(missing, "no such file"), missing);
    const auto r = test::cli({"inspect", path});
    CHECK(r.status == 1);
    CHECK(r.err.rfind("circuits: error:", 0) == 0);
    CHECK_MESSAGE(contains(r.err, "config.json"), r.err);

    test::write_bytes(dir.file("config.json"), "{\"n_layers\": 2,");
    CHECK(contains(error_of([&] { read_model_safetensors(path); }), "not valid JSON"));

    const auto broken = [&](const std::string& key, const nlohmann::json& value) {
        auto c = cfg;
        if (value.is_discarded()) c.erase(key);
        else c[key] = value;
        write_json(dir.file("config.json"), c);
        const auto message = error_of([&] { read_model_safetensors(path); });
        CHECK_MESSAGE(contains(message, dir.file("config.json")), message);
        CHECK_MESSAGE(contains(message, "'" + key + "'"), message);
        return message;
    };
    CHECK(contains(broken("n_layers", nlohmann::json::value_t::discarded), "missing key"));
    CHECK(contains(broken("d_model", "12"), "should be an integer"));
    CHECK(contains(broken("d_head", 4.5), "should be an integer"));
    CHECK(contains(broken("normalization_type", "RMS"), "not supported"));
    CHECK(contains(broken("positional_embedding_type", "rotary"), "not supported"));
    CHECK(contains(broken("attention_dir", "sideways"), "causal or bidirectional"));
    CHECK(contains(broken("act_fn", "gelu_new"), "not supported"));
    CHECK(contains(broken("gated_mlp", true), "not supported"));
    CHECK(contains(broken("n_key_value_heads", 1), "not supported"));
    CHECK(contains(broken("vocab", nlohmann::json::array({"a", "b"})), "has 2 strings, expected 11"));
    CHECK(contains(broken("bos_token", "<nope>"), "not in the vocabulary"));
    CHECK(contains(broken("bos_token", 11), "outside [0, d_vocab = 11)"));
}

TEST_CASE("safetensors: a TransformerLens-style config.json with defaults and foreign keys is understood") {
    test::TempDir dir;
    auto cfg = test::small_config(PositionalEmbedding::standard, Normalization::LN, 48);  // 48 = 4 d_model
    cfg.act_fn = ActFn::gelu;
    Model m = test::random_model(cfg, 5);
    const auto path = write_small_model(dir, m);
    // What HookedTransformerConfig.to_dict() holds, minus what has a default, plus unrelated keys.
    nlohmann::json tl = {{"n_layers", 2},
                         {"d_model", 12},
                         {"n_ctx", 9},
                         {"d_head", 4},
                         {"model_name", "custom"},
                         {"n_heads", -1},
                         {"d_mlp", nullptr},
                         {"act_fn", "gelu"},
                         {"d_vocab", 11},
                         {"d_vocab_out", 7},
                         {"eps", 1e-5},
                         {"use_attn_result", false},
                         {"use_attn_scale", true},
                         {"attn_scale", -1.0},
                         {"normalization_type", "LN"},
                         {"device", "cpu"},
                         {"dtype", "torch.float32"},
                         {"seed", 42},
                         {"default_prepend_bos", true},
                         {"vocab", {"<s>", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}},
                         {"bos_token", "<s>"}};
    write_json(dir.file("config.json"), tl);
    const Model got = read_model_safetensors(path);
    CHECK(got.cfg.n_heads == 3);        // d_model / d_head
    CHECK(got.cfg.d_mlp == 48);         // 4 d_model
    CHECK(got.cfg.effective_attn_scale() == 2.0);  // sqrt(d_head)
    CHECK(got.cfg.causal);
    CHECK(got.cfg.bos_token == 0);
    CHECK(got.vocab[3] == "c");
    CHECK(got.vocab_out == numbered_vocab(7));  // sizes differ: vocab_out is not vocab
    CHECK(got.cfg.origin == Origin::imported);
    test::check_near(got.blocks[1].mlp.W_in, m.blocks[1].mlp.W_in, 0.0, "W_in");

    tl["use_attn_scale"] = false;
    tl["attention_dir"] = "bidirectional";
    tl.erase("d_vocab");  // inferred from embed.W_E
    write_json(dir.file("config.json"), tl);
    const Model other = read_model_safetensors(path);
    CHECK(other.cfg.effective_attn_scale() == 1.0);
    CHECK_FALSE(other.cfg.causal);
    CHECK(other.cfg.d_vocab == 11);

    // attn_only unset means MLPs: the error for an attention-only file says so.
    const Model attn_only = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::none), 9);
    const auto path2 = write_small_model(dir, attn_only);
    auto c2 = read_json(dir.file("config.json"));
    c2.erase("attn_only");
    write_json(dir.file("config.json"), c2);
    const auto message = error_of([&] { read_model_safetensors(path2); });
    CHECK_MESSAGE(contains(message, "missing tensor 'blocks.0.mlp.W_in'"), message);
    CHECK_MESSAGE(contains(message, "attn_only"), message);
}

TEST_CASE("safetensors: a failed write leaves no file behind") {
    test::TempDir dir;
    Model m = small_model();
    m.W_E(0, 0) = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(write_model_safetensors(m, dir.file("m.safetensors")), Error);
    std::filesystem::create_directory(dir.file("taken.safetensors"));
    std::filesystem::create_directory(dir.file("taken.safetensors/inside"));
    CHECK_THROWS_AS(write_model_safetensors(small_model(), dir.file("taken.safetensors")), Error);
    CHECK(std::filesystem::is_directory(dir.file("taken.safetensors/inside")));
    CHECK(test::temp_files_in(dir.path()).empty());
    CHECK_FALSE(std::filesystem::exists(dir.file("m.safetensors")));
}

TEST_CASE("regression: a compiled model with a numerical output keeps its readout through safetensors") {
    test::TempDir dir;
    const auto compiled =
        test::cli({"compile", test::source_dir() + "/data/programs/frac_prevs.rasp", "-o", dir.file("m.h5")});
    REQUIRE_MESSAGE(compiled.status == 0, compiled.err);
    const Model m = read_model_h5(dir.file("m.h5"));
    REQUIRE(m.output_encoding == OutputEncoding::numerical);
    write_model_safetensors(m, dir.file("m.safetensors"));
    CHECK(read_model_safetensors(dir.file("m.safetensors")).output_encoding == OutputEncoding::numerical);

    const std::vector<std::string> input = {"x", "a", "x", "b", "x"};
    auto args = [&](const std::string& model) {
        std::vector<std::string> a = {"run", model};
        a.insert(a.end(), input.begin(), input.end());
        return a;
    };
    const auto from_h5 = test::cli(args(dir.file("m.h5")));
    const auto from_st = test::cli(args(dir.file("m.safetensors")));
    REQUIRE_MESSAGE(from_h5.status == 0, from_h5.err);
    REQUIRE_MESSAGE(from_st.status == 0, from_st.err);
    CHECK(contains(from_h5.out, "0.5"));
    CHECK(from_st.out == from_h5.out);
}

TEST_CASE("safetensors: a categorical output encoding survives the round trip") {
    test::TempDir dir;
    Model m = test::labelled_model(test::small_config(PositionalEmbedding::standard, Normalization::LN, 3), 4);
    m.output_encoding = OutputEncoding::categorical;
    write_model_safetensors(m, dir.file("m.safetensors"));
    test::check_same_model(read_model_safetensors(dir.file("m.safetensors")), m);
}

}  // namespace
}  // namespace circuits
