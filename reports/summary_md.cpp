// summary.md: the index page's overview in Markdown, for a terminal or a pull request.
#include "lib/results_schema.hpp"
#include "reports/html.hpp"
#include "reports/report_context.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace circuits::reports {

namespace {

constexpr size_t kTopPairs = 5;

std::string code_span(const std::string& s) {
    // A backtick run longer than any inside the text delimits it (CommonMark).
    size_t longest = 0, run = 0;
    for (char c : s) {
        run = c == '`' ? run + 1 : 0;
        longest = std::max(longest, run);
    }
    const std::string text = display_token(s);  // no newlines, never empty
    const std::string fence(longest + 1, '`');
    std::string out = fence + (text.front() == '`' ? " " : "") + text + (text.back() == '`' ? " " : "") + fence;
    // A pipe inside a table cell ends the cell even in a code span: escape it.
    std::string escaped;
    for (char c : out) escaped += c == '|' ? std::string("\\|") : std::string(1, c);
    return escaped;
}

// The title and what the report was made from: model, results file, passes, processing, notes.
std::string header_lines(const ReportContext& ctx) {
    std::string out;
    const std::string model_name =
        ctx.model_path.empty() ? ctx.results.path() : std::filesystem::path(ctx.model_path).filename().string();
    out += "# circuits report: " + escape_markdown(model_name) + "\n\n";
    if (ctx.model) {
        const auto& c = ctx.model->cfg;
        out += "- model: " + code_span(ctx.model_path) + " (origin " + escape_markdown(to_string(c.origin)) + ")\n";
        out += "- " + std::to_string(c.n_layers) + " layers × " + std::to_string(c.n_heads) + " heads, d_model " +
               std::to_string(c.d_model) + ", d_head " + std::to_string(c.d_head) + ", d_vocab " +
               std::to_string(c.d_vocab) + ", n_ctx " + std::to_string(c.n_ctx) + ", " +
               escape_markdown(to_string(c.positional_embedding_type)) + " positions, normalization " +
               escape_markdown(to_string(c.normalization_type)) + ", " + std::to_string(ctx.model->parameter_count()) +
               " parameters\n";
    } else {
        out += "- model: " + (ctx.model_path.empty() ? std::string("(not named)") : code_span(ctx.model_path)) +
               " (not read)\n";
    }
    out += "- results: " + code_span(ctx.results.path()) + "\n";
    const std::string passes = ctx.results.root_string(schema::root::attr::passes);
    if (!passes.empty()) out += "- passes: " + escape_markdown(passes) + "\n";
    const std::string processing = ctx.results.root_string(schema::root::attr::weight_processing);
    if (!processing.empty()) out += "- weight processing: " + escape_markdown(processing) + "\n";
    if (ctx.model && !ctx.model->program_source.empty()) out += "- compiled from a RASP program (source in index.html)\n";
    for (const auto& n : ctx.notes) out += "- note: " + escape_markdown(n) + "\n";
    return out;
}

// Each head class and the heads in it.
std::string classes_section(const ReportContext& ctx) {
    std::string out;
    out += "\n## Classified heads\n\n";
    for (const auto& c : ctx.classes) {
        out += "- " + c.label + ": ";
        if (!c.present) out += "not in the results file";
        else if (c.heads.empty()) out += "none";
        else
            for (size_t i = 0; i < c.heads.size(); ++i) out += (i ? ", " : "") + head_name(c.heads[i].first, c.heads[i].second);
        out += "\n";
    }
    return out;
}

// Every per-head score present, one row per head.
std::string scores_section(const ReportContext& ctx) {
    std::string out;
    if (!ctx.scores.empty() && ctx.n_layers > 0) {
        out += "\n## Per-head scores\n\n| head |";
        std::string rule = "|---|";
        for (const auto& s : ctx.scores) out += " " + escape_markdown(s.info.label) + " |", rule += "---:|";
        out += " classes |\n" + rule + "---|\n";
        for (int l = 0; l < ctx.n_layers; ++l)
            for (int h = 0; h < ctx.n_heads; ++h) {
                out += "| " + head_name(l, h) + " |";
                for (const auto& s : ctx.scores) out += " " + format_number(s.values(l, h)) + " |";
                std::string classes;
                for (const auto& c : ctx.classes)
                    if (c.contains(l, h)) classes += (classes.empty() ? "" : ", ") + c.label;
                out += " " + classes + " |\n";
            }
    }
    return out;
}

// The kTopPairs strongest pairs of each composition kind (by z, else raw minus baseline).
std::string composition_section(const ReportContext& ctx) {
    std::string out;
    if (!ctx.compositions.empty() && ctx.n_layers > 1) {
        out += "\n## Strongest composition\n\n| kind | from | to | raw | raw − baseline | z |\n|---|---|---|---:|---:|---:|\n";
        for (const auto& c : ctx.compositions) {
            struct P {
                int l1, h1, l2, h2;
                double raw, z, rank;
            };
            std::vector<P> pairs;
            const double mean = c.baseline_mean.value_or(0.0);
            for (int l1 = 0; l1 < ctx.n_layers; ++l1)
                for (int h1 = 0; h1 < ctx.n_heads; ++h1)
                    for (int l2 = l1 + 1; l2 < ctx.n_layers; ++l2)
                        for (int h2 = 0; h2 < ctx.n_heads; ++h2) {
                            const double raw = c.raw.at({l1, h1, l2, h2});
                            if (!std::isfinite(raw)) continue;
                            const double z = c.z ? c.z->at({l1, h1, l2, h2}) : std::nan("");
                            pairs.push_back({l1, h1, l2, h2, raw, z, std::isfinite(z) ? z : raw - mean});
                        }
            std::stable_sort(pairs.begin(), pairs.end(), [](const P& a, const P& b) { return a.rank > b.rank; });
            for (size_t i = 0; i < pairs.size() && i < kTopPairs; ++i) {
                const auto& p = pairs[i];
                out += "| " + std::string(c.kind == "q" ? "Q" : c.kind == "k" ? "K" : "V") + " | " + head_name(p.l1, p.h1) +
                       " | " + head_name(p.l2, p.h2) + " | " + format_number(p.raw) + " | " +
                       (c.baseline_mean ? format_number(p.raw - mean) : std::string("—")) + " | " +
                       (std::isfinite(p.z) ? format_number(p.z) : std::string("—")) + " |\n";
            }
        }
    }
    return out;
}

// Loss by path order, and the real model's.
std::string loss_section(const ReportContext& ctx) {
    std::string out;
    if (const auto loss = ctx.results.vector(schema::path::order_loss)) {
        out += "\n## Loss by path order\n\n| terms kept | loss (nats) |\n|---|---:|\n";
        for (size_t k = 0; k < loss->size(); ++k)
            out += "| " + (k == 0 ? std::string("order 0 (direct only)") : "orders ≤ " + std::to_string(k)) + " | " +
                   format_number((*loss)[k]) + " |\n";
        if (const auto real = ctx.results.scalar(schema::path::group, schema::path::attr::real_loss))
            out += "| real model | " + format_number(*real) + " |\n";
    }
    return out;
}

}  // namespace

std::string render_summary(const ReportContext& ctx) {
    std::string out =
        header_lines(ctx) + classes_section(ctx) + scores_section(ctx) + composition_section(ctx) + loss_section(ctx);
    out += "\nPer-head pages: `heads/L{layer}H{head}.html`; overview: `index.html`.\n";
    return out;
}

}  // namespace circuits::reports
