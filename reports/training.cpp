// Training curves: every per-step dataset of a model file's /training group as an SVG line chart.
#include "lib/error.hpp"
#include "reports/report_context.hpp"

#include <algorithm>

namespace circuits::reports {

namespace {

constexpr size_t kMaxPoints = 500;  // points per series; longer runs are subsampled evenly

void collect_datasets(const H5Reader& f, const std::string& group, std::vector<std::string>& out) {
    for (const auto& c : f.children(group)) {
        const std::string path = group + "/" + c;
        if (f.is_group(path)) collect_datasets(f, path, out);
        else out.push_back(path);
    }
}

std::optional<Array<double>> read_numeric(const H5Reader& f, const std::string& path) {
    try {
        return f.read_double(path);
    } catch (const Error&) {
        return std::nullopt;  // strings and other non-numeric data are not curves
    }
}

}  // namespace

std::vector<TrainingChart> training_charts(const H5Reader& f, int n_layers, int n_heads) {
    std::vector<std::string> datasets;
    collect_datasets(f, "/training", datasets);
    std::vector<double> steps;
    std::string steps_path;
    for (const char* name : {"/training/steps", "/training/step"})
        if (f.exists(name) && !f.is_group(name))
            if (auto a = read_numeric(f, name); a && a->dims.size() == 1) {
                steps = a->data;
                steps_path = name;
                break;
            }

    std::vector<TrainingChart> charts;
    for (const auto& path : datasets) {
        if (path == steps_path) continue;
        auto a = read_numeric(f, path);
        if (!a || a->dims.empty() || a->dims[0] < 2 || a->dims.size() > 3) continue;
        const size_t n_steps = a->dims[0];
        if (!steps.empty() && n_steps != steps.size()) continue;
        const size_t columns = a->size() / n_steps;
        const bool per_head = n_layers > 0 && n_heads > 0 && columns == static_cast<size_t>(n_layers * n_heads) &&
                              (a->dims.size() == 2 || (a->dims[1] == static_cast<std::uint64_t>(n_layers) &&
                                                       a->dims[2] == static_cast<std::uint64_t>(n_heads)));
        if (a->dims.size() == 3 && !per_head) continue;
        const std::string leaf = path.substr(path.rfind('/') + 1);

        TrainingChart t;
        t.dataset = path;
        t.chart.id = "training-" + path.substr(std::string("/training/").size());
        std::replace(t.chart.id.begin(), t.chart.id.end(), '/', '-');
        t.chart.x_label = steps.empty() ? "record" : "step";
        t.chart.y_label = leaf;
        const size_t stride = (n_steps + kMaxPoints - 1) / kMaxPoints;
        for (size_t i = 0; i < n_steps; i += stride)
            t.chart.steps.push_back(steps.empty() ? static_cast<double>(i) : steps[i]);
        for (size_t c = 0; c < columns; ++c) {
            Series s;
            if (columns == 1) s.name = leaf;
            else if (per_head) s.name = head_name(static_cast<int>(c) / n_heads, static_cast<int>(c) % n_heads);
            else s.name = leaf + "[" + std::to_string(c) + "]";
            for (size_t i = 0; i < n_steps; i += stride) s.values.push_back(a->data[i * columns + c]);
            t.chart.series.push_back(std::move(s));
        }
        charts.push_back(std::move(t));
    }
    return charts;
}

}  // namespace circuits::reports
