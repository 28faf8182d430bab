// write_report: gathers results, model and probe into a ReportContext and writes the pages atomically.
#include "reports/report.hpp"

#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"
#include "lib/model_io.hpp"
#include "lib/probe.hpp"
#include "reports/html.hpp"
#include "reports/report_context.hpp"
#include "reports/png_export.hpp"
#include "reports/report_js.hpp"
#include "reports/token_search.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

namespace circuits::reports {

namespace fs = std::filesystem;

bool HeadClass::contains(int layer, int head) const {
    return std::find(heads.begin(), heads.end(), std::make_pair(layer, head)) != heads.end();
}

std::string ReportContext::token(std::int64_t index) const {
    if (model && index >= 0 && index < static_cast<std::int64_t>(model->vocab.size()))
        return model->vocab[static_cast<size_t>(index)];
    return index >= 0 && !model ? std::to_string(index) : "#" + std::to_string(index);
}

std::string ReportContext::token_out(std::int64_t index) const {
    if (model && index >= 0 && index < static_cast<std::int64_t>(model->vocab_out.size()))
        return model->vocab_out[static_cast<size_t>(index)];
    return index >= 0 && !model ? std::to_string(index) : "#" + std::to_string(index);
}

std::optional<double> ReportContext::score(const std::string& key, int layer, int head) const {
    for (const auto& s : scores)
        if (s.info.key == key) return s.values(layer, head);
    return std::nullopt;
}

std::string head_name(int layer, int head) { return "L" + std::to_string(layer) + "H" + std::to_string(head); }

std::string head_page_name(int layer, int head) { return head_name(layer, head) + ".html"; }

std::string layer_page_name(int layer) { return "L" + std::to_string(layer) + ".html"; }

std::string default_report_dir(const std::string& results_path) {
    fs::path p(results_path);
    p.replace_extension();
    return p.string() + "-report";
}

namespace {

// The model file: the override, else model_path as written (relative to the working directory), else
// relative to the results file's folder. "" when none exists.
std::string locate_model(const std::string& results_path, const std::string& named) {
    if (named.empty()) return "";
    if (fs::exists(named)) return named;
    const fs::path beside = fs::path(results_path).parent_path() / named;
    if (fs::path(named).is_relative() && fs::exists(beside)) return beside.string();
    return "";
}

std::vector<HeadClass> read_classes(const ResultsReader& r) {
    namespace s = schema::induction;
    const std::pair<HeadClass, const char*> classes[] = {
        {{"prev_token", "previous-token", s::is_prev_token_head.dataset, "", false, {}}, s::is_prev_token_head.rule},
        {{"induction", "induction", s::is_induction_head.dataset, "", false, {}}, s::is_induction_head.rule},
        {{"copying", "copying", s::is_copying_head.dataset, "", false, {}}, s::is_copying_head.rule},
    };
    std::vector<HeadClass> out;
    for (const auto& [head_class, rule_name] : classes) {
        auto& c = out.emplace_back(head_class);
        const auto grid = r.head_grid(c.dataset);
        if (!grid) continue;
        c.present = true;
        if (auto rule = r.attr_text(s::group, rule_name)) c.rule = *rule;
        for (int l = 0; l < grid->rows(); ++l)
            for (int h = 0; h < grid->cols(); ++h)
                if ((*grid)(l, h) != 0.0f) c.heads.emplace_back(l, h);
    }
    return out;
}

// A short repeated random sequence (lib/probe.hpp, one sequence of 2 repeats): BOS when the model has
// one, n distinct ordinary tokens, the same n again, so previous-token and induction heads show their
// pattern. n = probe_length, fewer when the model has fewer ordinary tokens or n_ctx is short.
std::optional<AttentionInput> make_probe(const Model& m, const ReportOptions& o, std::vector<std::string>& notes) {
    const int bos = m.cfg.bos_token;
    const int room = (m.cfg.n_ctx - (bos >= 0 ? 1 : 0)) / 2;
    const int ordinary = static_cast<int>(m.vocab.ordinary(bos).size());
    const int n = std::min({o.probe_length, ordinary, room});
    if (n < 2) {
        notes.push_back(
            "probe attention left out: the model has no room for a repeated sequence of 2 ordinary tokens "
            "(n_ctx = " +
            std::to_string(m.cfg.n_ctx) + ", " + std::to_string(ordinary) + " ordinary tokens)");
        return std::nullopt;
    }
    AttentionInput p;
    p.name = "induction probe";
    p.tokens = make_repeated_probe(m, {.length = n, .repeats = 2, .sequences = 1}, o.probe_seed).sequences.front();
    p.patterns = forward(m, p.tokens).patterns;
    return p;
}

// The attention patterns of ReportOptions::inputs; checks each against the vocabulary and n_ctx.
std::vector<AttentionInput> run_inputs(const Model& m, const std::vector<TokenInput>& inputs) {
    std::vector<AttentionInput> out;
    for (const auto& in : inputs) {
        if (in.tokens.empty()) throw Error("input '" + in.name + "': no tokens");
        if (static_cast<int>(in.tokens.size()) > m.cfg.n_ctx)
            throw Error("input '" + in.name + "': " + std::to_string(in.tokens.size()) + " tokens exceed n_ctx = " +
                        std::to_string(m.cfg.n_ctx));
        for (int t : in.tokens)
            if (t < 0 || t >= m.cfg.d_vocab)
                throw Error("input '" + in.name + "': token id " + std::to_string(t) + " outside the vocabulary (d_vocab " +
                            std::to_string(m.cfg.d_vocab) + ")");
        out.push_back({in.name, in.tokens, forward(m, in.tokens).patterns});
    }
    return out;
}

void write_text(const fs::path& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    f.close();
    if (!f) throw Error(path.string() + ": cannot write file");
}

// heads/data/L{l}H{h}-{ov,qk}.js for the tables too long to show whole (token_search.hpp).
void write_table_data(const ReportContext& ctx, int l, int h, const fs::path& dir) {
    namespace c = schema::circuits;
    const std::pair<const char*, std::pair<const char*, const char*>> tables[] = {
        {"ov", {c::ov_top_tokens, c::ov_top_values}}, {"qk", {c::qk_top_tokens, c::qk_top_values}}};
    for (const auto& [kind, names] : tables) {
        const auto t = ctx.results.top_table(names.first, names.second, l, h);
        if (!t || !table_is_searchable(ctx, *t)) continue;
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) throw Error(dir.string() + ": cannot create folder: " + ec.message());
        write_text(dir / (head_name(l, h) + "-" + kind + ".js"), table_data_js(ctx, head_name(l, h) + "-" + kind, *t));
    }
}

// The figures --png exports, those present in the rendered pages.
std::vector<FigureRef> main_figures(const ReportContext& ctx, const std::string& index_html) {
    std::vector<FigureRef> out;
    std::vector<std::string> ids = {"composition-graph"};
    for (const auto& s : ctx.scores) ids.push_back("grid-" + s.info.key);
    for (const auto& c : ctx.training.curated) ids.push_back(c.chart.id);
    for (const auto& id : ids)
        if (index_html.find("id=\"" + id + "\"") != std::string::npos) out.push_back({"index.html", id});
    if (ctx.probe)
        for (int l = 0; l < ctx.n_layers; ++l) out.push_back({"layers/" + layer_page_name(l), "viewer-heatmap"});
    return out;
}


}  // namespace

ReportSummary write_report(const std::string& results_path, const std::string& out_dir, const ReportOptions& options) {
    if (options.max_token_rows < 1 || options.max_top_k < 1 || options.probe_length < 1 || options.partners < 1)
        throw UsageError("report options: max_token_rows, max_top_k, probe_length and partners must be positive");
    std::string chromium;
    if (options.png && (chromium = find_chromium()).empty())
        throw Error(out_dir + ": --png needs Chromium (headless) to render the figures, and none was found (looked for "
                    "$CIRCUITS_CHROMIUM, then chromium, chromium-browser, google-chrome on PATH; on Debian: apt-get "
                    "install chromium); nothing was written");
    ResultsReader results(results_path);
    ReportContext ctx{results, options, std::nullopt, "", 0, 0, {}, {}, {}, std::nullopt, {}, {}, {}};

    const std::string named =
        options.model_path.empty() ? results.root_string(schema::root::attr::model_path) : options.model_path;
    ctx.model_path = named;
    const std::string found = locate_model(results_path, named);
    if (!options.model_path.empty() && found.empty()) throw Error(options.model_path + ": no such file");
    if (!found.empty()) {
        try {
            ctx.model = load_model(found);
            ctx.model_path = found;
        } catch (const Error& e) {
            if (!options.model_path.empty()) throw;
            ctx.notes.push_back(std::string("model file could not be read (") + e.what() +
                                "): config, token strings, probe attention and training curves left out");
        }
    } else {
        ctx.notes.push_back(named.empty() ? "the results file names no model file (root attribute model_path): "
                                            "config, token strings, probe attention and training curves left out"
                                          : "model file '" + named + "' not found: config, token strings, probe "
                                            "attention and training curves left out");
    }
    if ((!options.inputs.empty() || options.inputs_from_model) && !ctx.model)
        throw Error(results_path + ": token inputs need the model file, which was not found or not read (pass --model)");
    if (ctx.model) {
        try {
            results.set_shape(ctx.model->cfg.n_layers, ctx.model->cfg.n_heads);
        } catch (const Error& e) {
            throw Error(std::string(e.what()) + "; the model file " + ctx.model_path +
                        " does not match the results (pass --model?)");
        }
    }
    ctx.n_layers = results.n_layers();
    ctx.n_heads = results.n_heads();
    if (ctx.n_layers <= 0 || ctx.n_heads <= 0)
        ctx.notes.push_back("no per-head results and no model: no head pages");

    ctx.scores = results.head_scores();
    ctx.classes = read_classes(results);
    for (const char* kind : {"q", "k", "v"})
        if (auto c = results.composition(kind)) ctx.compositions.push_back(std::move(*c));
    if (ctx.model) {
        ctx.probe = make_probe(*ctx.model, options, ctx.notes);
        auto inputs = options.inputs;
        if (options.inputs_from_model)
            for (auto& in : options.inputs_from_model(*ctx.model)) inputs.push_back(std::move(in));
        ctx.inputs = run_inputs(*ctx.model, inputs);
        // Training curves live in HDF5 model files only (not safetensors).
        try {
            const H5Reader model_file(ctx.model_path);
            if (model_file.exists("/training") && model_file.is_group("/training"))
                ctx.training = training_section(model_file, ctx.n_layers, ctx.n_heads);
        } catch (const Error& e) {
            if (ctx.model_path.size() < 12 || ctx.model_path.compare(ctx.model_path.size() - 12, 12, ".safetensors") != 0)
                ctx.notes.push_back(std::string("training curves left out: ") + e.what());
        }
    }

    // Build beside the target, rename into place.
    AtomicOutput output(out_dir);
    const fs::path tmp(output.temp_path());
    std::error_code ec;
    fs::create_directories(tmp / "heads", ec);
    if (!ec) fs::create_directories(tmp / "layers", ec);
    if (ec) throw Error(out_dir + ": cannot create the report folder: " + ec.message());
    write_text(tmp / "report.js", report_js());
    if (ctx.model && ctx.model->cfg.d_vocab > options.max_token_rows) write_text(tmp / "vocab.js", vocab_js(ctx));
    const std::string index_html = render_index(ctx);
    write_text(tmp / "index.html", index_html);
    for (int l = 0; l < ctx.n_layers; ++l) write_text(tmp / "layers" / layer_page_name(l), render_layer_page(ctx, l));
    write_text(tmp / "summary.md", render_summary(ctx));
    ReportSummary summary;
    for (int l = 0; l < ctx.n_layers; ++l)
        for (int h = 0; h < ctx.n_heads; ++h) {
            write_text(tmp / "heads" / head_page_name(l, h), render_head_page(ctx, l, h));
            write_table_data(ctx, l, h, tmp / "heads" / "data");
            ++summary.head_pages;
        }
    if (options.png) {
        const auto figures = main_figures(ctx, index_html);
        export_pngs(chromium, tmp.string(), figures, (tmp / "png").string());
        summary.pngs = static_cast<int>(figures.size());
    }
    output.commit();
    summary.out_dir = out_dir;
    summary.model_path = ctx.model ? ctx.model_path : "";
    summary.notes = ctx.notes;
    return summary;
}

std::string value_span(double v) { return "<span class=\"val\">" + escape_html(format_number(v)) + "</span>"; }

std::vector<int> rows_to_show(const TopTable& t, int max_rows) {
    std::vector<int> rows(static_cast<size_t>(t.rows));
    for (int r = 0; r < t.rows; ++r) rows[static_cast<size_t>(r)] = r;
    if (t.rows <= max_rows || t.k == 0) return rows;
    auto key = [&](int r) {
        const double v = t.value(r, 0);
        return std::isfinite(v) ? v : -INFINITY;
    };
    std::stable_sort(rows.begin(), rows.end(), [&](int a, int b) { return key(a) > key(b); });
    rows.resize(static_cast<size_t>(max_rows));
    return rows;
}

// A top-k table; `output_vocab`: the listed tokens index vocab_out (OV) rather than vocab (QK).
std::string top_table_html(const ReportContext& ctx, const TopTable& t, bool output_vocab, const std::string& id,
                           const std::string& row_title, const std::string& data_key) {
    const int k = std::min(t.k, ctx.options.max_top_k);
    const auto rows = rows_to_show(t, ctx.options.max_token_rows);
    std::string out;
    if (static_cast<int>(rows.size()) < t.rows)
        out += "<p>Showing " + std::to_string(rows.size()) + " of " + std::to_string(t.rows) + " " + row_title +
               "s: those with the largest top-1 value" +
               (data_key.empty() ? std::string(".") : std::string("; search or page through every row below.")) + "</p>\n";
    if (!data_key.empty() && table_is_searchable(ctx, t)) out += table_search_html(ctx, t, output_vocab, id, data_key);
    if (k < t.k) out += "<p>First " + std::to_string(k) + " of " + std::to_string(t.k) + " columns.</p>\n";
    out += "<div class=\"scroll\"><table id=\"" + id + "\">\n<thead><tr><th>" + escape_html(row_title) + "</th>";
    for (int j = 0; j < k; ++j) out += "<th>" + std::to_string(j + 1) + "</th>";
    out += "</tr></thead>\n<tbody>\n";
    for (int r : rows) {
        out += "<tr id=\"" + id + "-" + std::to_string(r) + "\"><th>" + token_html(ctx.token(r)) + "</th>";
        for (int j = 0; j < k; ++j) {
            const auto tok = t.token(r, j);
            if (tok < 0) {
                out += "<td></td>";
                continue;
            }
            out += "<td>" + token_html(output_vocab ? ctx.token_out(tok) : ctx.token(tok)) + value_span(t.value(r, j)) +
                   "</td>";
        }
        out += "</tr>\n";
    }
    return out + "</tbody>\n</table></div>\n";
}

std::string token_html(const std::string& token) {
    const std::string shown = display_token(token);
    const std::string cut = truncate_utf8(shown, 32);
    std::string out = "<span class=\"tok\"";
    if (cut != shown) out += " title=\"" + escape_html(shown) + "\"";
    return out + ">" + escape_html(cut) + "</span>";
}

}  // namespace circuits::reports
