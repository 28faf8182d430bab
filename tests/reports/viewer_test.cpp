// The interactive parts of the report: the attention viewer's data, the composition graph, token
// inputs, the full-vocabulary token tables (page weight bound) and --png without Chromium.
#include "reports/attention_viewer.hpp"
#include "reports/composition_graph.hpp"
#include "reports/report.hpp"
#include "reports/token_search.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/results_schema.hpp"
#include "tests/reports/xml_check.hpp"
#include "tests/test_util.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

using namespace circuits;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<unsigned char> unbase64(const std::string& s) {
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::vector<unsigned char> out;
    unsigned v = 0;
    int bits = 0;
    for (char c : s) {
        if (c == '=') break;
        v = (v << 6) | static_cast<unsigned>(alphabet.find(c));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<unsigned char>((v >> bits) & 0xFF));
        }
    }
    return out;
}

// The planted model's results (composition and induction passes), analysed here.
std::string planted_results(const test::TempDir& dir) {
    const std::string results = dir.file("planted.results.h5");
    const auto r = test::cli({"analyze", test::source_dir() + "/data/models/planted-2l.h5", "-o", results, "--passes",
                              "composition,induction"});
    REQUIRE_MESSAGE(r.status == 0, r.err);
    return results;
}

}  // namespace

TEST_CASE("viewer: json_string is JSON and safe as XML text; base64 follows RFC 4648") {
    CHECK(reports::json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(reports::json_string("<b>&</b>") == "\"\\u003cb\\u003e\\u0026\\u003c/b\\u003e\"");
    CHECK(reports::json_string(std::string("\n\x01", 2)) == "\"\\u000a\\u0001\"");
    CHECK(reports::json_string("héllo") == "\"héllo\"");
    CHECK(reports::base64({'M', 'a', 'n'}) == "TWFu");
    CHECK(reports::base64({'M', 'a'}) == "TWE=");
    CHECK(reports::base64({'M'}) == "TQ==");
    CHECK(reports::base64({}).empty());
}

TEST_CASE("token tables: half floats round to nearest and keep NaN and infinities") {
    CHECK(reports::to_half(1.0f) == 0x3C00);
    CHECK(reports::to_half(-2.0f) == 0xC000);
    CHECK(reports::to_half(65504.0f) == 0x7BFF);
    CHECK(reports::to_half(1e6f) == 0x7C00);
    CHECK(reports::to_half(0.1f) == 0x2E66);  // 0.0999755859375, the nearest half
    CHECK(reports::to_half(5.9604645e-8f) == 0x0001);  // smallest subnormal
    CHECK(reports::to_half(0.0f) == 0);
    CHECK((reports::to_half(std::nanf("")) & 0x7C00) == 0x7C00);
    CHECK((reports::to_half(std::nanf("")) & 0x3FF) != 0);
}

TEST_CASE("viewer: the planted heads' patterns in the page data mark the previous token and the induction target") {
    test::TempDir dir;
    const auto results = planted_results(dir);
    const auto tokens = dir.file("tokens.txt");
    { std::ofstream(tokens) << "a b c d e f a b c d e f\n"; }
    const auto out = dir.file("report");
    const auto r = test::cli({"report", results, "-o", out, "--tokens", tokens});
    REQUIRE_MESSAGE(r.status == 0, r.err);
    for (const auto& [page, head] : {std::pair{"heads/L0H0.html", 0}, std::pair{"heads/L1H0.html", 1}}) {
        const std::string html = read_text(fs::path(out) / page);
        const auto doc = test::parse_xml(html);
        REQUIRE_MESSAGE(doc.ok, doc.error);
        const auto* data = doc.root->find_id("viewer-data");
        REQUIRE(data != nullptr);
        const std::string json = data->text_content();
        // The second input is the --tokens sequence: BOS a b c d e f a b c d e f (13 tokens).
        CHECK(json.find("\"name\":\"tokens.txt sequence 1\"") != std::string::npos);
        std::smatch m;
        const std::regex last_pattern(R"re("patterns":\["([A-Za-z0-9+/=]+)"\]\}\]\}$)re");
        REQUIRE(std::regex_search(json, m, last_pattern));
        const auto p = unbase64(m[1].str());
        const int T = 13;
        REQUIRE(p.size() == static_cast<size_t>(T * T));
        for (int i = 1; i < T; ++i) {
            int best = 0;
            for (int j = 0; j < T; ++j)
                if (p[static_cast<size_t>(i * T + j)] > p[static_cast<size_t>(i * T + best)]) best = j;
            if (head == 0) CHECK_MESSAGE(best == i - 1, "L0H0 query " << i);
            else if (i >= 7) CHECK_MESSAGE(best == i - 5, "L1H0 query " << i);  // after the previous occurrence
        }
    }
}

TEST_CASE("composition graph: on the planted model exactly the planted K-composition edge is above z 3") {
    test::TempDir dir;
    const auto results = planted_results(dir);
    const reports::ResultsReader reader(results);
    std::vector<reports::Composition> kinds;
    for (const char* kind : {"q", "k", "v"})
        if (auto c = reader.composition(kind)) kinds.push_back(std::move(*c));
    REQUIRE(kinds.size() == 3);
    const auto edges = reports::composition_edges(kinds, 2, 2, 3.0);
    REQUIRE(edges.size() == 1);
    CHECK(edges[0].kind == "k");
    CHECK(edges[0].l1 == 0);
    CHECK(edges[0].h1 == 0);
    CHECK(edges[0].l2 == 1);
    CHECK(edges[0].h2 == 0);
    CHECK(edges[0].z > 100);
    // A lower threshold lets noise in: the threshold is what decides.
    CHECK(reports::composition_edges(kinds, 2, 2, -1e9).size() == 12);

    const Model planted = load_model(test::source_dir() + "/data/models/planted-2l.h5");
    CHECK(reports::head_writes(planted, 0, 0) == std::vector<std::string>{"prev"});
    CHECK(reports::head_writes(planted, 1, 0) == std::vector<std::string>{"out"});

    const auto out = dir.file("report");
    REQUIRE(test::cli({"report", results, "-o", out}).status == 0);
    const auto doc = test::parse_xml_file(out + "/index.html");
    REQUIRE_MESSAGE(doc.ok, doc.error);
    const auto* graph = doc.root->find_id("composition-graph");
    REQUIRE(graph != nullptr);
    std::vector<std::string> edge_ids;
    for (const auto* g : graph->find_all("g"))
        if (g->attr("class") == "edge") edge_ids.push_back(g->attr("id"));
    CHECK(edge_ids == std::vector<std::string>{"edge-k-L0H0-L1H0"});
    CHECK(doc.root->find_id("composition-graph-caption")->text_content().find("at least 3") != std::string::npos);
    CHECK(graph->find_id("node-L1H0") != nullptr);
}

TEST_CASE("viewer: --tokens errors name the file and line; inputs need the model") {
    test::TempDir dir;
    const auto results = planted_results(dir);
    const auto tokens = dir.file("bad.txt");
    { std::ofstream(tokens) << "a b\na notatoken\n"; }
    const auto r = test::cli({"report", results, "-o", dir.file("r"), "--tokens", tokens});
    CHECK(r.status == 1);
    CHECK(r.err.find("bad.txt:2") != std::string::npos);
    CHECK(r.err.find("notatoken") != std::string::npos);
    CHECK(!fs::exists(dir.file("r")));
}

TEST_CASE("report --png: a clear message and exit 1 without Chromium, nothing written") {
    test::TempDir dir;
    const auto results = planted_results(dir);
    const char* old_path = std::getenv("PATH");
    const std::string saved = old_path ? old_path : "";
    ::setenv("PATH", dir.path().c_str(), 1);
    ::unsetenv("CIRCUITS_CHROMIUM");
    const auto r = test::cli({"report", results, "-o", dir.file("r"), "--png"});
    ::setenv("PATH", saved.c_str(), 1);
    CHECK(r.status == 1);
    CHECK(r.err.find("--png needs Chromium") != std::string::npos);
    CHECK(!fs::exists(dir.file("r")));
}

TEST_CASE("full vocabulary: a d_vocab 48262 head page stays under 160 KB; every row is searchable from data files") {
    test::TempDir dir;
    constexpr int V = 48262, k = 10;
    ModelConfig c;
    c.n_layers = 1, c.n_heads = 1, c.d_model = 8, c.d_head = 4, c.d_vocab = V, c.d_vocab_out = V, c.n_ctx = 32;
    Model m = Model::zeros(c);
    std::mt19937 rng(7);
    m.W_E = test::random_matrix(rng, V, 8);
    m.W_U = test::random_matrix(rng, 8, V);
    std::vector<std::string> vocab;
    for (int i = 0; i < V; ++i) vocab.push_back("tok" + std::to_string(i));
    m.vocab = vocab;
    m.vocab_out = vocab;
    const auto model_path = dir.file("big.h5");
    write_model_h5(m, model_path);
    // A results file written here: random top-k tables over the whole vocabulary.
    const auto results = dir.file("big.results.h5");
    {
        H5Writer w(results);
        w.attr("/", schema::root::attr::format, schema::root::format_value);
        w.attr("/", schema::root::attr::format_version, schema::root::format_version_value);
        w.attr("/", schema::root::attr::model_path, model_path);
        Array<std::int64_t> ids{{1, 1, V, k}, {}};
        Array<float> values{{1, 1, V, k}, {}};
        std::uniform_int_distribution<std::int64_t> tok(0, V - 1);
        std::normal_distribution<float> val(0.0f, 1.0f);
        for (int i = 0; i < V * k; ++i) ids.data.push_back(tok(rng)), values.data.push_back(val(rng));
        for (const auto& [t, v] : {std::pair{schema::circuits::ov_top_tokens, schema::circuits::ov_top_values},
                                   std::pair{schema::circuits::qk_top_tokens, schema::circuits::qk_top_values}}) {
            w.write(t, ids);
            w.write(v, values);
        }
    }
    const auto out = dir.file("report");
    const auto summary = reports::write_report(results, out);
    const fs::path page = fs::path(out) / "heads" / "L0H0.html";
    const auto bytes = fs::file_size(page);
    INFO("head page bytes " << bytes);
    CHECK(bytes < 160'000);  // README: the page weights at 40 rows x 10 columns per table
    const auto doc = test::parse_xml_file(page.string());
    REQUIRE_MESSAGE(doc.ok, doc.error);
    const auto* search = doc.root->find_id("ov-top-search");
    REQUIRE(search != nullptr);
    CHECK(search->attr("data-src") == "data/L0H0-ov.js");
    CHECK(!search->attr("data-probe").empty());
    // The data file holds every row: 2 bytes per id (d_vocab < 65535) and per half value, base64.
    const std::string data = read_text(fs::path(out) / "heads" / "data" / "L0H0-ov.js");
    // (std::regex recurses per character: too deep for megabytes.)
    const size_t at = data.find("\"ids\":\"");
    REQUIRE(at != std::string::npos);
    const size_t from = at + 7, to = data.find('"', from);
    const auto id_bytes = unbase64(data.substr(from, to - from));
    REQUIRE(id_bytes.size() == static_cast<size_t>(V) * k * 2);
    const auto first = static_cast<std::int64_t>(id_bytes[0] | (id_bytes[1] << 8));
    const reports::ResultsReader reader(results);
    CHECK(first == reader.top_table(schema::circuits::ov_top_tokens, schema::circuits::ov_top_values, 0, 0)->token(0, 0));
    CHECK(fs::file_size(fs::path(out) / "heads" / "data" / "L0H0-ov.js") < 2'700'000);
    CHECK(fs::exists(fs::path(out) / "vocab.js"));
}
