// The HTML report: well-formed pages, one per head, links that resolve, numbers from the results
// file, escaped token strings, any subset of groups, large vocabularies, atomic output.
#include "reports/report.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "reports/html.hpp"
#include "tests/reports/report_fixture.hpp"
#include "tests/reports/xml_check.hpp"
#include "tests/test_util.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

using namespace circuits;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Parses every .html file under `dir` and checks its links; returns the number of pages.
int check_all_pages(const fs::path& dir) {
    int pages = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (e.path().extension() != ".html") continue;
        ++pages;
        const auto doc = test::parse_xml_file(e.path().string());
        CHECK_MESSAGE(doc.ok, doc.error);
        if (!doc.ok) continue;
        for (const auto& problem : test::broken_links(e.path().string(), *doc.root)) FAIL_CHECK(problem);
        // No external resources; the one script is the report's own report.js (a relative src that
        // broken_links resolved), and inline <script> blocks are JSON data only.
        for (const auto* script : doc.root->find_all("script")) {
            const auto src = script->attr("src");
            if (src.empty()) CHECK(script->attr("type") == "application/json");
            else CHECK(fs::path(src).filename() == "report.js");
        }
        CHECK(doc.root->find_all("link").empty());
    }
    return pages;
}

// Every <title> text under the element with `id` in `doc`.
std::vector<std::string> titles_under(const test::XmlNode& root, const std::string& id) {
    std::vector<std::string> out;
    const auto* node = root.find_id(id);
    REQUIRE_MESSAGE(node != nullptr, "no element with id " << id);
    for (const auto* t : node->find_all("title")) out.push_back(t->text_content());
    return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

test::XmlDocument page(const fs::path& p) {
    auto doc = test::parse_xml_file(p.string());
    REQUIRE_MESSAGE(doc.ok, doc.error);
    return doc;
}

}  // namespace

TEST_CASE("report: every page is well-formed, one page per head, links resolve") {
    test::TempDir dir;
    const auto f = test::make_report_fixture(dir);
    const auto out = dir.path() / "report";
    const auto summary = reports::write_report(f.results_path, out.string());
    CHECK(summary.head_pages == 4);
    CHECK(summary.model_path == f.model_path);
    CHECK(summary.notes.empty());
    CHECK(fs::is_regular_file(out / "index.html"));
    CHECK(fs::is_regular_file(out / "summary.md"));
    for (int l = 0; l < 2; ++l)
        for (int h = 0; h < 2; ++h) CHECK(fs::is_regular_file(out / "heads" / reports::head_page_name(l, h)));
    CHECK(std::distance(fs::directory_iterator(out / "heads"), fs::directory_iterator()) == 4);
    CHECK(check_all_pages(out) == 7);  // index, 4 head pages, 2 layer pages

    // The index links every head page and the classified heads.
    const auto index = page(out / "index.html");
    const auto* induction = index.root->find_id("class-induction");
    REQUIRE(induction != nullptr);
    CHECK(induction->text_content() == "L1H0");
    CHECK(index.root->find_id("class-prev_token")->text_content() == "L0H0");
    CHECK(index.root->find_all("a").size() >= 4);
    // A compiled-looking model section: config and parameter count.
    CHECK(index.root->find_id("model-config")->text_content().find(std::to_string(f.model.parameter_count())) !=
          std::string::npos);
}

TEST_CASE("report: numbers in the pages are the ones in the results file") {
    test::TempDir dir;
    const auto f = test::make_report_fixture(dir);
    const auto out = dir.path() / "report";
    reports::write_report(f.results_path, out.string());
    const H5Reader results(f.results_path);
    const auto index = page(out / "index.html");

    // Score grids on the index, the scores table on each head page.
    const std::vector<std::pair<std::string, std::string>> scores = {
        {"prev_token", "/induction/prev_token"}, {"induction", "/induction/induction"}, {"ov_copying", "/eigen/ov_copying"},
        {"ov_diag_top1", "/circuits/ov_diag_top1"}, {"head_norm", "/path/head_norm"}};
    for (const auto& entry : scores) {  // no structured binding: doctest's CAPTURE is a lambda (clang 14)
        const auto& key = entry.first;
        const auto& dataset = entry.second;
        CAPTURE(dataset);
        const auto values = results.read_float(dataset);
        const auto titles = titles_under(*index.root, "grid-" + key);
        for (int l = 0; l < 2; ++l)
            for (int h = 0; h < 2; ++h) {
                const std::string v = reports::format_number(values.data[static_cast<size_t>(l * 2 + h)]);
                bool found = false;
                for (const auto& t : titles) found |= t.rfind(reports::head_name(l, h) + " ", 0) == 0 && t.size() > v.size() &&
                                                      t.compare(t.size() - v.size() - 2, v.size() + 2, ": " + v) == 0;
                CHECK_MESSAGE(found, reports::head_name(l, h) << " " << v);
                const auto head = page(out / "heads" / reports::head_page_name(l, h));
                const auto* row = head.root->find_id("score-" + key);
                REQUIRE(row != nullptr);
                CHECK(row->find_all("td").front()->text_content() == v);
            }
    }
    // The planted heads' scores are the hand-set ones.
    CHECK(contains(titles_under(*index.root, "grid-induction"), "L1H0 induction: 0.9375"));

    // Composition: raw score and z in the hover text of each defined pair.
    const auto k_raw = results.read_float("/composition/k"), k_z = results.read_float("/composition/k_z");
    const auto k_titles = titles_under(*index.root, "composition-k");
    // (l1, h1, l2, h2) = (0, 0, 1, 0): index ((0 * 2 + 0) * 2 + 1) * 2 + 0 = 2
    const std::string want = "L0H0 → L1H0 K-composition: " + reports::format_number(k_raw.data[2]);
    bool found = false;
    for (const auto& t : k_titles)
        found |= t.rfind(want, 0) == 0 && t.find("z " + reports::format_number(k_z.data[2])) != std::string::npos;
    CHECK_MESSAGE(found, want);

    // Path: loss by order.
    const auto loss = results.read_double("/path/order_loss");
    const auto loss_titles = titles_under(*index.root, "order-loss");
    for (size_t k = 0; k < loss.data.size(); ++k) {
        bool hit = false;
        for (const auto& t : loss_titles)
            hit |= t.rfind("L" + std::to_string(k) + " = " + reports::format_number(loss.data[k]), 0) == 0;
        CHECK_MESSAGE(hit, "order " << k);
    }

    // Head page L1H0: OV table cells and eigenvalues.
    const auto head = page(out / "heads" / "L1H0.html");
    const auto ov_tokens = results.read_int_slice("/circuits/ov_top_tokens", {1, 0});
    const auto ov_values = results.read_float_slice("/circuits/ov_top_values", {1, 0});
    const int k = static_cast<int>(ov_tokens.dims[1]);
    for (int r = 0; r < static_cast<int>(ov_tokens.dims[0]); ++r) {
        const auto* row = head.root->find_id("ov-top-" + std::to_string(r));
        REQUIRE(row != nullptr);
        const auto cells = row->find_all("td");
        REQUIRE(static_cast<int>(cells.size()) == k);
        for (int j = 0; j < k; ++j) {
            const auto tok = ov_tokens.data[static_cast<size_t>(r * k + j)];
            const std::string text = cells[static_cast<size_t>(j)]->text_content();
            CHECK(text == reports::display_token(f.model.vocab_out[static_cast<size_t>(tok)]) +
                               reports::format_number(ov_values.data[static_cast<size_t>(r * k + j)]));
        }
    }
    // The induction head copies: each ordinary token's top OV output is itself.
    CHECK(head.root->find_id("ov-top-3")->find_all("td").front()->text_content().rfind("héllo✓", 0) == 0);
    const auto re = results.read_float_slice("/eigen/ov_eigenvalues_re", {1, 0});
    const auto eig_titles = titles_under(*head.root, "ov-eigenvalues");
    CHECK(std::any_of(eig_titles.begin(), eig_titles.end(), [&](const std::string& t) {
        return t.rfind("λ = " + reports::format_number(*std::max_element(re.data.begin(), re.data.end())), 0) == 0;
    }));
    // Skip-trigrams: destinations from /circuits/skip_trigram_dest_*, outputs from the OV table.
    const auto dest_tokens = results.read_int_slice("/circuits/skip_trigram_dest_tokens", {1, 0});
    const auto dest_values = results.read_float_slice("/circuits/skip_trigram_dest_values", {1, 0});
    const auto skip_rows = head.root->find_id("skip-trigrams")->find_all("tr");
    REQUIRE(skip_rows.size() == 8);  // header + 7 sources
    for (size_t i = 1; i < skip_rows.size(); ++i) {
        const std::string id = skip_rows[i]->attr("id");
        const int s = std::stoi(id.substr(std::string("skip-trigram-").size()));
        const auto cells = skip_rows[i]->find_all("td");
        const auto dests = cells[1]->find_all("span");
        REQUIRE(dests.size() >= 2);
        CHECK(dests[0]->text_content() == reports::display_token(f.model.vocab[size_t(dest_tokens.data[size_t(s * k)])]));
        CHECK(dests[1]->text_content() == reports::format_number(dest_values.data[size_t(s * k)]));
        const auto outputs = cells[3]->find_all("span");
        REQUIRE(outputs.size() >= 2);
        CHECK(outputs[0]->text_content() == reports::display_token(f.model.vocab_out[size_t(ov_tokens.data[size_t(s * k)])]));
    }
    CHECK(head.root->find_id("qk-eigenvalues") != nullptr);
    // Probe attention: L0H0 attends to the previous token.
    const auto probe_titles = titles_under(*page(out / "heads" / "L0H0.html").root, "probe-attention");
    CHECK(std::any_of(probe_titles.begin(), probe_titles.end(), [](const std::string& t) {
        return t.rfind("query 2 ", 0) == 0 && t.find("→ key 1 ") != std::string::npos &&
               t.compare(t.size() - 3, 3, ": 1") == 0;
    }));

    // summary.md carries the same numbers.
    const auto md = read_file(out / "summary.md");
    CHECK(md.find("| L1H0 |") != std::string::npos);
    CHECK(md.find("0.9375") != std::string::npos);
    CHECK(md.find("- induction: L1H0") != std::string::npos);
    CHECK(md.find("| real model | 0.3906 |") != std::string::npos);
}

TEST_CASE("report: token strings with <, &, quotes, newlines and non-ASCII render as text") {
    test::TempDir dir;
    const auto f = test::make_report_fixture(dir);
    const auto out = dir.path() / "report";
    reports::write_report(f.results_path, out.string());
    const auto html = read_file(out / "heads" / "L1H0.html");
    const auto head = page(out / "heads" / "L1H0.html");
    // Row r of the OV table starts with token r, shown as text (the parser decodes the entities).
    const auto vocab = test::awkward_vocab();
    for (size_t t = 1; t < vocab.size(); ++t) {
        const auto* row = head.root->find_id("ov-top-" + std::to_string(t));
        REQUIRE(row != nullptr);
        CHECK(row->find_all("th").front()->text_content() == reports::display_token(vocab[t]));
    }
    CHECK(reports::display_token("a\nb") == "a\\nb");
    // None of the token strings became markup.
    CHECK(head.root->find_all("b").empty());
    CHECK(html.find("<b>&amp;") == std::string::npos);
    CHECK(html.find("&lt;b&gt;&amp;amp;") != std::string::npos);
    CHECK(html.find("&quot;q&#39;uote&quot;") != std::string::npos);
    CHECK(html.find("héllo✓") != std::string::npos);
    // Residual labels on the index, escaped the same way.
    const auto index = page(out / "index.html");
    CHECK(index.root->find_id("residual-labels")->text_content().find("tok:</title>") != std::string::npos);
    // summary.md: the model path as a code span.
    CHECK(read_file(out / "summary.md").find("`" + f.model_path + "`") != std::string::npos);
}

TEST_CASE("report: compiled models show their program source; the bigram table uses the output vocabulary") {
    test::TempDir dir;
    test::ReportFixtureOptions o;
    o.program_source = "# copy <x> & \"y\"\nout = select(tokens, tokens, ==)\n";
    const auto f = test::make_report_fixture(dir, o);
    const auto out = dir.path() / "report";
    reports::write_report(f.results_path, out.string());
    const auto index = page(out / "index.html");
    REQUIRE(index.root->find_id("program-source") != nullptr);
    CHECK(index.root->find_id("program-source")->text_content() == o.program_source);
    CHECK(index.root->find_id("overview")->text_content().find("origin compiled") != std::string::npos);
    CHECK(index.root->find_id("model-config")->text_content().find("output s-op") != std::string::npos);
    // Bigram: W_E W_U of the planted model is zero, so every row lists tokens 0.. in order with logit 0.
    const auto* row = index.root->find_id("bigram-top-2");
    REQUIRE(row != nullptr);
    CHECK(row->find_all("th").front()->text_content() == reports::display_token(test::awkward_vocab()[2]));
    CHECK(row->find_all("td").front()->text_content() == "<BOS>0");
    CHECK(read_file(out / "summary.md").find("compiled from a RASP program") != std::string::npos);
}

TEST_CASE("report: works on a results file with any subset of groups") {
    const std::vector<std::set<std::string>> subsets = {
        {}, {"induction"}, {"circuits"}, {"eigen"}, {"composition", "path"}, {"bigram", "circuits", "induction"}};
    for (const auto& groups : subsets) {
        std::string name;
        for (const auto& g : groups) name += g + " ";
        CAPTURE(name);
        test::TempDir dir;
        test::ReportFixtureOptions o;
        o.groups = groups;
        const auto f = test::make_report_fixture(dir, o);
        const auto out = dir.path() / "report";
        const auto summary = reports::write_report(f.results_path, out.string());
        // The model gives the shape even when no per-head dataset does.
        CHECK(summary.head_pages == 4);
        CHECK(check_all_pages(out) == 7);  // index, 4 head pages, 2 layer pages  // index, 4 head pages, 2 layer pages
        const auto index = read_file(out / "index.html");
        if (!groups.count("composition")) CHECK(index.find("composition pass not run") != std::string::npos);
        if (!groups.count("induction")) CHECK(index.find("induction pass not run") != std::string::npos);
        const auto head = read_file(out / "heads" / "L1H0.html");
        if (!groups.count("circuits")) CHECK(head.find("/circuits/ov_top_tokens absent") != std::string::npos);
        if (!groups.count("eigen")) CHECK(head.find("/eigen/ov_eigenvalues_re absent") != std::string::npos);
    }
}

TEST_CASE("report: without the model file, tokens are numbered and the probe is left out") {
    test::TempDir dir;
    test::ReportFixtureOptions o;
    o.write_model = false;
    const auto f = test::make_report_fixture(dir, o);
    const auto out = dir.path() / "report";
    const auto summary = reports::write_report(f.results_path, out.string());
    CHECK(summary.model_path.empty());
    REQUIRE(summary.notes.size() == 1);
    CHECK(summary.notes[0].find("not found") != std::string::npos);
    CHECK(summary.head_pages == 4);  // shape from the datasets
    CHECK(check_all_pages(out) == 7);  // index, 4 head pages, 2 layer pages
    const auto head = page(out / "heads" / "L1H0.html");
    CHECK(head.root->find_id("ov-top-3")->find_all("th").front()->text_content() == "3");
    CHECK(head.root->find_id("probe-attention") == nullptr);
}

TEST_CASE("report: the model is found beside the results file when model_path is relative") {
    test::TempDir dir;
    const auto f = test::make_report_fixture(dir);
    // Rewrite the results with a bare file name as model_path, then report from another folder.
    {
        const H5Reader r(f.results_path);
        H5Writer w(dir.file("relative.h5"));
        w.attr("/", "format", "circuits-results");
        w.attr("/", "model_path", "model.h5");
        w.write_matrix("/induction/prev_token", matrix_from_row_major(r.read_float("/induction/prev_token").data.data(), 2, 2));
    }
    const auto summary = reports::write_report(dir.file("relative.h5"), dir.file("rel-report"));
    CHECK(summary.model_path == (dir.path() / "model.h5").string());
    CHECK(summary.notes.empty());
}

TEST_CASE("report: large vocabularies show the strongest top-k rows only") {
    test::TempDir dir;
    constexpr int L = 1, H = 2, V = 5000, K = 12;
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> token(0, V - 1);
    std::normal_distribution<float> value(0.0f, 1.0f);
    Array<std::int64_t> tokens{{L, H, V, K}, {}};
    Array<float> values{{L, H, V, K}, {}};
    for (int i = 0; i < L * H * V; ++i) {
        std::vector<float> row(K);
        for (auto& v : row) v = value(rng);
        std::sort(row.begin(), row.end(), std::greater<>());
        for (int j = 0; j < K; ++j) tokens.data.push_back(token(rng)), values.data.push_back(row[size_t(j)]);
    }
    const auto path = dir.file("large.h5");
    {
        H5Writer w(path);
        w.attr("/", "format", "circuits-results");
        for (const char* c : {"ov", "qk"}) {
            w.write(std::string("/circuits/") + c + "_top_tokens", tokens);
            w.write(std::string("/circuits/") + c + "_top_values", values);
        }
    }
    reports::ReportOptions o;
    o.max_token_rows = 40;
    o.max_top_k = 5;
    const auto out = dir.path() / "report";
    const auto summary = reports::write_report(path, out.string(), o);
    CHECK(summary.head_pages == 2);
    CHECK(check_all_pages(out) == 4);  // index, 2 head pages, 1 layer page
    const auto head = page(out / "heads" / "L0H1.html");
    const auto rows = head.root->find_id("ov-top")->find_all("tr");
    CHECK(rows.size() == 41);  // header + 40
    CHECK(rows[1]->find_all("td").size() == 5);
    // The first row shown is the source with the largest top-1 value of head L0H1.
    int best = 0;
    for (int r = 1; r < V; ++r)
        if (values.data[size_t((V + r) * K)] > values.data[size_t((V + best) * K)]) best = r;
    CHECK(rows[1]->attr("id") == "ov-top-" + std::to_string(best));
    CHECK(fs::file_size(out / "heads" / "L0H1.html") < 100'000);
    // Without /circuits/skip_trigram_dest_*, skip-trigrams come from inverting the QK rows' top-k.
    const auto skip_rows = head.root->find_id("skip-trigrams")->find_all("tr");
    CHECK(skip_rows.size() == 16);  // header + 15
}

TEST_CASE("report: output is atomic; an existing folder is replaced and nothing temporary is left") {
    test::TempDir dir;
    const auto f = test::make_report_fixture(dir);
    const auto out = dir.path() / "report";
    reports::write_report(f.results_path, out.string());
    std::ofstream(out / "stale.txt") << "old";
    reports::write_report(f.results_path, out.string());
    CHECK(!fs::exists(out / "stale.txt"));
    CHECK(fs::is_regular_file(out / "index.html"));
    // A failing report leaves the existing folder as it was and no temporary beside it.
    std::ofstream(dir.file("not-results.h5")) << "not hdf5";
    CHECK_THROWS_AS(reports::write_report(dir.file("not-results.h5"), out.string()), Error);
    CHECK(fs::is_regular_file(out / "index.html"));
    for (const auto& e : fs::directory_iterator(dir.path()))
        CHECK_MESSAGE(e.path().filename().string().find(".tmp-") == std::string::npos, e.path());
}

TEST_CASE("report: errors name the file and the dataset; missing parent folders are created") {
    test::TempDir dir;
    const auto f = test::make_report_fixture(dir);
    // A model file is not a results file.
    try {
        reports::write_report(f.model_path, dir.file("r1"));
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find(f.model_path + ": not a circuits results file") == 0);
    }
    // A per-head dataset whose shape disagrees with the model.
    {
        H5Writer w(dir.file("bad.h5"));
        w.attr("/", "format", "circuits-results");
        w.attr("/", "model_path", f.model_path);
        w.write_matrix("/induction/prev_token", Matrix::Zero(3, 2));
    }
    try {
        reports::write_report(dir.file("bad.h5"), dir.file("r2"));
        FAIL("no error");
    } catch (const Error& e) {
        const std::string msg = e.what();
        CHECK(msg.find("/induction/prev_token") != std::string::npos);
        CHECK(msg.find("[3, 2]") != std::string::npos);
        CHECK(msg.find("expected [2, 2]") != std::string::npos);
    }
    CHECK(!fs::exists(dir.file("r2")));
    // Missing parent folders are created (like mkdir -p).
    reports::write_report(f.results_path, dir.file("new/folder/report"));
    CHECK(fs::is_regular_file(dir.path() / "new" / "folder" / "report" / "index.html"));
}

TEST_CASE("report: the report command writes the folder and defaults to RESULTS-report") {
    test::TempDir dir;
    const auto f = test::make_report_fixture(dir);
    const auto r = test::cli({"report", f.results_path, "-o", dir.file("out")});
    CHECK(r.status == 0);
    CHECK(r.out.find("4 head pages") != std::string::npos);
    CHECK(fs::is_regular_file(dir.path() / "out" / "heads" / "L1H1.html"));
    CHECK(test::cli({"report", f.results_path}).status == 0);
    CHECK(fs::is_regular_file(dir.path() / "results-report" / "index.html"));
    CHECK(reports::default_report_dir("runs/results.h5") == "runs/results-report");
    const auto missing = test::cli({"report", dir.file("missing.h5")});
    CHECK(missing.status == 1);
    CHECK(missing.err.find("missing.h5") != std::string::npos);
    CHECK(test::cli({"report", f.results_path, "--rows", "0"}).status == 2);
    const auto no_model = test::cli({"report", f.results_path, "--model", dir.file("nope.h5"), "-o", dir.file("o2")});
    CHECK(no_model.status == 1);
}
