// The training section: curated curves against the training step, the phase-change window, checkpoints.
#include "lib/error.hpp"
#include "reports/html.hpp"
#include "reports/report_context.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace circuits::reports {

namespace {

constexpr size_t kMaxPoints = 500;  // points per series; longer runs are subsampled evenly

void collect_datasets(const H5Reader& f, const std::string& group, std::vector<std::string>& out) {
    for (const auto& c : f.children(group)) {
        const std::string path = group + "/" + c;
        if (path == "/training/checkpoints") continue;  // raw weights: listed, never plotted
        if (f.is_group(path)) collect_datasets(f, path, out);
        else out.push_back(path);
    }
}

std::optional<Array<double>> read_numeric(const H5Reader& f, const std::string& path) {
    if (!f.exists(path) || f.is_group(path)) return std::nullopt;
    try {
        return f.read_double(path);
    } catch (const Error&) {
        return std::nullopt;  // strings and other non-numeric data are not curves
    }
}

std::string parent_of(const std::string& path) { return path.substr(0, path.rfind('/')); }
std::string leaf_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

bool is_step_dataset(const std::string& path) {
    const std::string leaf = leaf_of(path);
    return leaf == "step" || leaf == "steps";
}

// The x values of a dataset with n records: the step dataset of its group when it has n entries,
// else 1..n.
std::vector<double> steps_for(const H5Reader& f, const std::string& path, size_t n) {
    for (const char* leaf : {"/step", "/steps"})
        if (auto a = read_numeric(f, parent_of(path) + leaf); a && a->dims.size() == 1 && a->size() == n) return a->data;
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<double>(i + 1);
    return out;
}

// A dataset's series: one per column ([n] -> 1, [n, L, H] or [n, L*H] -> per head named L{l}H{h},
// [n, c] -> name[c]); empty when it is not a per-step array.
std::vector<Series> series_of(const H5Reader& f, const std::string& path, const std::string& name, int L, int H) {
    auto a = read_numeric(f, path);
    if (!a || a->dims.empty() || a->dims[0] < 2 || a->dims.size() > 3) return {};
    const size_t n = a->dims[0], columns = a->size() / n;
    // A one-head model's [n] series is not per head: dims[1] and dims[2] exist only for rank 3.
    const bool per_head = L > 0 && H > 0 && a->dims.size() >= 2 && columns == static_cast<size_t>(L * H) &&
                          (a->dims.size() == 2 || (a->dims[1] == static_cast<std::uint64_t>(L) &&
                                                   a->dims[2] == static_cast<std::uint64_t>(H)));
    if (a->dims.size() == 3 && !per_head) return {};
    const auto xs = steps_for(f, path, n);
    const size_t stride = (n + kMaxPoints - 1) / kMaxPoints;
    std::vector<Series> out;
    for (size_t c = 0; c < columns; ++c) {
        Series s;
        if (columns == 1) s.name = name;
        else if (per_head) s.name = head_name(static_cast<int>(c) / H, static_cast<int>(c) % H);
        else s.name = name + "[" + std::to_string(c) + "]";
        for (size_t i = 0; i < n; i += stride) {
            s.steps.push_back(xs[i]);
            s.values.push_back(a->data[i * columns + c]);
        }
        out.push_back(std::move(s));
    }
    return out;
}

// One curated chart: the first candidate path present for each series group.
struct CuratedSpec {
    const char* id;
    const char* y_label;
    std::vector<std::pair<std::vector<const char*>, const char*>> parts;  // (candidate paths, series name)
    bool log_y;
    const char* caption;
};

const std::vector<CuratedSpec>& curated_specs() {
    static const std::vector<CuratedSpec> specs = {
        {"training-loss", "loss (nats)",
         {{{"/training/loss"}, "training loss (batch)"},
          {{"/training/dynamics/loss", "/training/val_loss", "/training/validation_loss"}, "validation loss (fixed probe batch)"}},
         true, "Loss against the training step: the training batch's loss at every update and the loss on a fixed "
               "probe batch drawn before training (/training/dynamics/loss)."},
        {"training-entropy", "attention entropy (nats)",
         {{{"/training/dynamics/entropy", "/training/attention_entropy", "/training/dynamics/attention_entropy"}, "entropy"}},
         false, "Attention entropy per head: the mean over scored positions of −Σ_j A[i,j] ln A[i,j]; it falls as a "
                "head learns to attend to one position."},
        {"training-prev_token", "previous-token score",
         {{{"/training/dynamics/prev_token", "/training/prev_token_score"}, "prev_token"}}, false,
         "Previous-token score per head on the repeated probe (lib/head_scores.hpp, the induction pass's definition)."},
        {"training-induction", "induction score",
         {{{"/training/dynamics/induction", "/training/induction_score", "/training/dynamics/induction_score"}, "induction"}},
         false, "Induction score per head on the repeated probe: attention from a token to the one after its previous "
                "occurrence."},
        {"training-in_context", "loss on repeated tokens (nats)",
         {{{"/training/dynamics/repeat_loss", "/training/in_context_score"}, "loss on repeats ≥ 2"}}, false,
         "In-context learning: the loss on the tokens of the repeated probe that repeat earlier context (repeats ≥ 2). "
         "A model that uses its context predicts them far better than chance; the drop comes with the induction heads."},
    };
    return specs;
}

// The phase change: the window where the largest induction score rises from 10% to 90% of its total
// rise (when it rises by at least 0.2), else where the validation (or training) loss falls from 10%
// to 90% of its total fall. lo is the last logged step before the 10% crossing.
void find_phase(const std::vector<TrainingChart>& curated, TrainingSection& out) {
    auto window = [&](const Series& s, double sign, const std::string& rule) {
        if (s.values.size() < 2) return false;
        std::vector<double> v = s.values;
        for (auto& x : v) x *= sign;
        const double start = v.front(), top = *std::max_element(v.begin(), v.end());
        if (!(top - start > 0)) return false;
        size_t i10 = 0, i90 = 0;
        while (i10 < v.size() && v[i10] < start + 0.1 * (top - start)) ++i10;
        i90 = i10;
        while (i90 < v.size() && v[i90] < start + 0.9 * (top - start)) ++i90;
        out.phase_lo = s.steps[i10 > 0 ? i10 - 1 : 0];
        out.phase_hi = s.steps[std::min(i90, v.size() - 1)];
        out.phase_rule = rule;
        return true;
    };
    for (const auto& c : curated)
        if (c.chart.id == "training-induction" && !c.chart.series.empty()) {
            Series best = c.chart.series.front();
            for (size_t i = 0; i < best.values.size(); ++i)
                for (const auto& s : c.chart.series) best.values[i] = std::max(best.values[i], s.values[i]);
            const double rise = *std::max_element(best.values.begin(), best.values.end()) - best.values.front();
            if (rise >= 0.2 && window(best, 1.0, "the largest induction score over heads rises from 10% to 90% of its "
                                                 "total rise"))
                return;
        }
    for (const auto& c : curated)
        if (c.chart.id == "training-loss" && !c.chart.series.empty()) {
            const Series& s = c.chart.series.back();  // validation loss when present
            window(s, -1.0, "the " + s.name + " falls from 10% to 90% of its total fall");
            return;
        }
}

}  // namespace

TrainingSection training_section(const H5Reader& f, int n_layers, int n_heads) {
    TrainingSection out;
    std::vector<std::string> datasets;
    collect_datasets(f, "/training", datasets);
    std::set<std::string> used;
    for (const auto& spec : curated_specs()) {
        TrainingChart t;
        t.chart.id = spec.id;
        t.chart.x_label = "training step";
        t.chart.y_label = spec.y_label;
        t.chart.log_x = true;
        t.chart.log_y = spec.log_y;
        t.caption = spec.caption;
        for (const auto& [candidates, name] : spec.parts)
            for (const char* path : candidates) {
                auto series = series_of(f, path, name, n_layers, n_heads);
                if (series.empty()) continue;
                if (t.dataset.empty()) t.dataset = path;
                used.insert(path);
                for (auto& s : series) t.chart.series.push_back(std::move(s));
                break;
            }
        if (!t.chart.series.empty()) out.curated.push_back(std::move(t));
    }
    find_phase(out.curated, out);
    for (auto& c : out.curated) {
        c.chart.band_lo = out.phase_lo, c.chart.band_hi = out.phase_hi;
        c.chart.band_title = "phase change: steps " + format_number(out.phase_lo) + "–" + format_number(out.phase_hi);
    }
    for (const auto& path : datasets) {
        if (used.count(path) || is_step_dataset(path)) continue;
        auto series = series_of(f, path, leaf_of(path), n_layers, n_heads);
        if (series.empty()) continue;
        TrainingChart t;
        t.dataset = path;
        t.chart.id = "training-" + path.substr(std::string("/training/").size());
        std::replace(t.chart.id.begin(), t.chart.id.end(), '/', '-');
        t.chart.x_label = "training step";
        t.chart.y_label = leaf_of(path);
        t.chart.log_x = true;
        t.chart.series = std::move(series);
        out.other.push_back(std::move(t));
    }
    if (auto steps = read_numeric(f, "/training/checkpoints/step"); steps && steps->dims.size() == 1)
        for (size_t i = 0; i < steps->size(); ++i)
            if (f.exists("/training/checkpoints/" + std::to_string(i)))
                out.checkpoints.emplace_back(static_cast<int>(i), steps->data[i]);
    return out;
}

}  // namespace circuits::reports
