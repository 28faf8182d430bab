// End-to-end tests of `circuits analyze` on the bundled planted model: the table, exit codes, the
// results file's datasets and shapes, and that nothing is left behind on failure.
#include "analyses/registry.hpp"
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/planted.hpp"
#include "tests/test_util.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using namespace circuits;

namespace {

std::string planted_path() { return test::source_dir() + "/data/models/planted-2l.h5"; }

// The table row of one head, split into its white-space separated fields.
std::vector<std::string> row_of(const std::string& table, const std::string& head) {
    std::istringstream in(table);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(head + " ", 0) == 0) {
            std::istringstream words(line);
            std::vector<std::string> out;
            for (std::string w; words >> w;) out.push_back(w);
            return out;
        }
    return {};
}

size_t files_in(const std::filesystem::path& dir) {
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

}  // namespace

TEST_CASE("analyze: the planted model's table shows the previous-token and induction heads") {
    test::TempDir dir;
    const auto results = dir.file("planted.results.h5");
    const auto r = test::cli({"analyze", planted_path(), "-o", results, "--baseline-samples", "50"});
    INFO(r.out << r.err);
    REQUIRE(r.status == 0);
    CHECK(r.out.find("head") == 0);
    const auto l0h0 = row_of(r.out, "L0H0"), l1h0 = row_of(r.out, "L1H0"), l0h1 = row_of(r.out, "L0H1"),
               l1h1 = row_of(r.out, "L1H1");
    REQUIRE(l0h0.size() == 6);
    CHECK(l0h0[1] == "1.000");      // previous-token score
    CHECK(l0h0[5] == "prev-token");
    REQUIRE(l1h0.size() == 8);      // ... partner "L0H0 (z 12.3)" is three fields
    CHECK(std::stod(l1h0[2]) > 0.9);  // induction score
    CHECK(l1h0[3] == "1.000");      // OV copying
    CHECK(l1h0[4] == "L0H0");
    CHECK(l1h0[5] == "(z");  // the composition pass ran: its K-composition z-score
    CHECK(l1h0[7] == "induction+copying");
    CHECK(l0h1.back() == "-");
    CHECK(l1h1.back() == "-");
    CHECK(r.out.find("wrote " + results) != std::string::npos);
}

TEST_CASE("analyze: the results file holds every documented dataset with its shape") {
    test::TempDir dir;
    const auto results = dir.file("r.h5");
    const auto r = test::cli(
        {"analyze", planted_path(), "-o", results, "--max-order", "3", "--seed", "3", "--baseline-samples", "50"});
    REQUIRE(r.status == 0);
    const H5Reader f(results);
    CHECK(f.attr_string("/", "format") == "circuits-results");
    CHECK(f.attr_int("/", "format_version") == 1);
    CHECK(f.attr_string("/", "model_path") == planted_path());
    CHECK(f.attr_string("/", "model_sha256").size() == 64);
    std::string all_passes;
    for (const auto& p : analyses::passes()) all_passes += (all_passes.empty() ? "" : ",") + std::string(p.name);
    CHECK(f.attr_string("/", "passes") == all_passes);
    for (const auto& p : analyses::passes()) CHECK(f.exists(p.group));
    CHECK(f.attr_string("/", "weight_processing") == "none");
    CHECK(f.attr_int("/", "seed") == 3);
    CHECK(f.attr_int("/", "max_order") == 3);
    CHECK(f.attr_double("/", "induction_threshold") == 0.4);
    using Dims = std::vector<std::uint64_t>;
    const Dims LH{2, 2}, LHLH{2, 2, 2, 2};
    const std::map<std::string, Dims> want = {
        {"induction/prev_token", LH},
        {"induction/duplicate_token", LH},
        {"induction/induction", LH},
        {"induction/copying_eval", LH},
        {"induction/mechanistic", LH},
        {"induction/ov_copying", LH},
        {"induction/is_induction_head", LH},
        {"induction/is_prev_token_head", LH},
        {"induction/is_copying_head", LH},
        {"induction/k_composition_trace", LHLH},
        {"path/head_norm", LH},
        {"path/head_copying", LH},
        {"path/virtual_norm", LHLH},
        {"path/virtual_copying", LHLH},
        {"path/order3_heads", {0, 3, 2}},
        {"path/order3_norm", {0}},
        {"path/qk_direct_norm", LH},
        {"path/qk_direct_copying", LH},
        {"path/qk_q_norm", LHLH},
        {"path/qk_q_copying", LHLH},
        {"path/qk_k_norm", LHLH},
        {"path/qk_k_copying", LHLH},
        {"path/qk_qk_norm", {2, 2, 2, 2, 2, 2}},
        {"path/order_loss", {4}},
        {"path/order_effect", {3}},
        {"path/order_loss_repeated", {4}},
    };
    for (const auto& entry : want) {  // no structured binding: doctest's CAPTURE is a lambda (clang 14)
        const auto& name = entry.first;
        const auto& dims = entry.second;
        CAPTURE(name);
        REQUIRE(f.exists(name));
        CHECK(f.dims(name) == dims);
    }
    CHECK(f.read_int("induction/is_induction_head").data == std::vector<std::int64_t>{0, 0, 1, 0});
    CHECK(f.read_int("induction/is_prev_token_head").data == std::vector<std::int64_t>{1, 0, 0, 0});
    CHECK(f.attr_double("induction", "induction_threshold") == 0.4);
    CHECK(f.attr_int("induction", "probe_length") == 25);
    CHECK(f.attr_string("path", "tokens") == "induction probe");
    // Scalars are attributes of their group (lib/results_schema.hpp).
    CHECK(f.attr_double("path", "direct_norm") >= 0.0);
    CHECK(f.has_attribute("path", "direct_copying"));
}

// Every dataset under `group`, depth first.
void collect_datasets(const H5Reader& f, const std::string& group, std::vector<std::string>& out) {
    for (const auto& child : f.children(group)) {
        const auto path = (group == "/" ? "/" : group + "/") + child;
        if (f.is_group(path))
            collect_datasets(f, path, out);
        else
            out.push_back(path);
    }
}

TEST_CASE("regression: no scalar is a dataset; every scalar is an attribute of its group (one place to look)") {
    test::TempDir dir;
    const auto results = dir.file("r.h5");
    const auto r =
        test::cli({"analyze", planted_path(), "-o", results, "--baseline-samples", "50", "--probe-sequences", "2"});
    REQUIRE(r.status == 0);
    const H5Reader f(results);
    std::vector<std::string> datasets;
    collect_datasets(f, "/", datasets);
    CHECK(datasets.size() > 40);
    for (const auto& name : datasets) {
        CAPTURE(name);
        CHECK_FALSE(f.dims(name).empty());
    }
    for (const char* name : {"direct_norm", "direct_copying", "real_loss", "real_loss_repeated"})
        CHECK_MESSAGE(f.has_attribute("/path", name), name);
}

TEST_CASE("analyze: options change the recorded numbers; --passes selects groups; default output path") {
    test::TempDir dir;
    // The model is copied so that the default output lands in the temporary folder.
    const auto model = dir.file("m.h5");
    std::filesystem::copy_file(planted_path(), model);
    const auto r = test::cli({"analyze", model, "--passes", "induction", "--induction-threshold", "0.995",
                              "--probe-length", "70", "--probe-sequences", "2"});
    INFO(r.err);
    REQUIRE(r.status == 0);
    const H5Reader f(dir.file("m.results.h5"));
    CHECK_FALSE(f.exists("path"));
    CHECK(f.attr_string("/", "passes") == "induction");
    CHECK(f.attr_double("/", "induction_threshold") == 0.995);
    CHECK(f.attr_int("induction", "probe_repeats") == 2);   // 4 repeats of 70 do not fit n_ctx = 128
    CHECK(f.attr_int("induction", "probe_length") == 63);   // then shrunk: (128 - 1) / 2
    CHECK(f.attr_int("/", "probe_length") == 70);           // as asked
    CHECK(f.read_int("induction/is_induction_head").data == std::vector<std::int64_t>{0, 0, 0, 0});
    CHECK(row_of(r.out, "L1H0").back() == "copying");
}

TEST_CASE("analyze: a token file drives the path ablation") {
    test::TempDir dir;
    const auto tokens = dir.file("tokens.txt");
    {
        std::ofstream t(tokens);
        t << "a b c d e a b c d e\nf g h f g h\n";
    }
    const auto results = dir.file("r.h5");
    const auto r = test::cli({"analyze", planted_path(), "-o", results, "--passes", "path_expansion", "--tokens", tokens});
    INFO(r.err);
    REQUIRE(r.status == 0);
    const H5Reader f(results);
    CHECK(f.attr_string("path", "tokens") == tokens);
    CHECK(f.attr_string("/", "tokens") == tokens);
    CHECK(f.attr_int("path", "loss_positions") == 10 + 6);
    CHECK_FALSE(f.exists("path/order_loss_repeated"));
    CHECK(row_of(r.out, "L0H0")[1] == "-");  // no induction pass: no scores in the table
}

TEST_CASE("analyze: usage errors exit 2, data errors exit 1, and no results file is left") {
    test::TempDir dir;
    const auto results = dir.file("r.h5");
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"analyze"},
             {"analyze", planted_path(), "-o", results, "--passes", "induction,bogus"},
             {"analyze", planted_path(), "-o", results, "--passes", ","},
             {"analyze", planted_path(), "-o", results, "--top-k", "0"},
             {"analyze", planted_path(), "-o", results, "--probe-repeats", "1"},
             {"analyze", planted_path(), "-o", results, "--threads", "-1"},
             {"analyze", planted_path(), "-o", results, "--induction-threshold", "abc"}}) {
        CAPTURE(args.size() > 5 ? args[5] : "");
        const auto r = test::cli(args);
        CHECK(r.status == 2);
        CHECK(r.err.rfind("circuits: error: ", 0) == 0);
    }
    const auto unknown = test::cli({"analyze", planted_path(), "-o", results, "--passes", "bogus"});
    CHECK(unknown.err.find("unknown pass 'bogus'") != std::string::npos);
    CHECK(unknown.err.find("path_expansion") != std::string::npos);

    CHECK(test::cli({"analyze", dir.file("missing.h5"), "-o", results}).status == 1);
    const auto tokens = dir.file("tokens.txt");
    {
        std::ofstream t(tokens);
        t << "a b zz\n";
    }
    const auto bad_tokens = test::cli({"analyze", planted_path(), "-o", results, "--tokens", tokens});
    CHECK(bad_tokens.status == 1);
    CHECK(bad_tokens.err.find("tokens.txt:1: token 'zz'") != std::string::npos);
    // Fails inside a pass, after the results file was opened: n_ctx = 4 cannot hold the induction
    // probe's 2 repeats of 2 tokens after BOS.
    const auto short_model = dir.file("short.h5");
    write_model_h5(planted_induction_model({.n_tokens = 6, .n_ctx = 4}), short_model);
    const auto too_long = test::cli({"analyze", short_model, "-o", results, "--baseline-samples", "10"});
    CHECK(too_long.status == 1);
    CHECK(too_long.err.find("n_ctx") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(results));
    CHECK(files_in(dir.path()) == 2);  // tokens.txt and short.h5: no temporary left
}

TEST_CASE("analyze: --help lists every option with its default and an example") {
    const auto r = test::cli({"analyze", "--help"});
    REQUIRE(r.status == 0);
    for (const char* opt : {"--output", "--passes", "--top-k arg (=10)", "--seed arg (=0)", "--threads arg (=0)",
                            "--tokens", "--baseline-samples arg (=1000)", "--induction-threshold arg (=0.4)",
                            "--probe-length arg (=25)", "--probe-repeats arg (=4)", "--probe-sequences arg (=10)",
                            "--max-order arg (=2)", "--timings", "Example:\n  circuits analyze"})
        CHECK_MESSAGE(r.out.find(opt) != std::string::npos, opt);
    for (const auto& p : analyses::passes()) CHECK(r.out.find(p.name) != std::string::npos);
}

TEST_CASE("analyze: --timings reports each pass on stderr") {
    test::TempDir dir;
    const auto r = test::cli({"analyze", planted_path(), "-o", dir.file("r.h5"), "--timings", "--probe-sequences", "2",
                              "--passes", "path_expansion,induction"});
    REQUIRE(r.status == 0);
    for (const char* step : {"timing: load ", "timing: path_expansion.terms ", "timing: path_expansion.ablation ",
                             "timing: path_expansion ", "timing: induction ", "timing: total "})
        CHECK_MESSAGE(r.err.find(step) != std::string::npos, step);
}

TEST_CASE("regression: reading a group attribute does not shadow a same-named root attribute (H5Reader leak)") {
    test::TempDir dir;
    const auto path = dir.file("a.h5");
    {
        H5Writer w(path);
        w.attr("/", "probe_length", 40);
        w.attr("/induction", "probe_length", 31);
        w.close();
    }
    const H5Reader f(path);
    CHECK(f.attr_int("induction", "probe_length") == 31);
    CHECK(f.attr_int("/", "probe_length") == 40);
    CHECK(f.attr_double("/", "probe_length") == 40.0);
}

TEST_CASE("analyze: LayerNorm is folded before the passes and the processing is recorded") {
    test::TempDir dir;
    const auto model = dir.file("ln.h5");
    write_model_h5(test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::LN), 4), model);
    const auto r = test::cli({"analyze", model, "-o", dir.file("r.h5"), "--probe-sequences", "2", "--passes",
                              "induction,path_expansion"});
    INFO(r.err);
    REQUIRE(r.status == 0);
    const H5Reader f(dir.file("r.h5"));
    CHECK(f.attr_string("/", "weight_processing") == "fold_ln,center_writing_weights");
    CHECK(f.attr_int("induction", "probe_length") == 4);  // n_ctx = 9: 2 repeats of 4 tokens
    CHECK(f.dims("path/order_loss") == std::vector<std::uint64_t>{3});
}
