// Inline SVG charts: colour scales, heatmaps, bar charts, line charts and eigenvalue plots.
#include "reports/svg.hpp"

#include "lib/error.hpp"
#include "reports/html.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace circuits::reports {

namespace {

// Coordinates with one decimal: enough for screen pixels, keeps pages small.
std::string px(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    std::string s = buf;
    if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
    return s == "-0" ? "0" : s;
}

Rgb interpolate(const Rgb* stops, size_t n, double t) {
    t = std::clamp(t, 0.0, 1.0);
    const double x = t * static_cast<double>(n - 1);
    const size_t i = std::min(static_cast<size_t>(x), n - 2);
    const double f = x - static_cast<double>(i);
    auto mix = [f](unsigned char a, unsigned char b) {
        return static_cast<unsigned char>(std::lround(a + (b - a) * f));
    };
    return {mix(stops[i].r, stops[i + 1].r), mix(stops[i].g, stops[i + 1].g), mix(stops[i].b, stops[i + 1].b)};
}

// Relative luminance, to choose black or white text on a cell.
double luminance(Rgb c) { return (0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b) / 255.0; }

// Approximate width of a label in px at the 11px font used for axis labels.
constexpr double kCharWidth = 6.5;
constexpr size_t kMaxLabelChars = 24;
constexpr long kCompactCells = 1000;  // heatmaps with more cells drop links and borders

size_t utf8_length(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

std::string label_text(const std::string& s) { return escape_html(truncate_utf8(s, kMaxLabelChars)); }

// Tick positions: about n "nice" values (1, 2, 5 times a power of ten) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int n) {
    if (!(hi > lo)) return {lo};
    const double raw = (hi - lo) / n;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = mag;
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * mag >= raw) {
            step = m * mag;
            break;
        }
    std::vector<double> ticks;
    for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
        ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
    return ticks;
}

Rgb scale_colour(const ColourScale& s, double v) {
    if (s.diverging) {
        const double w = s.half_width > 0 ? s.half_width : 1.0;
        return diverging_colour((v - s.centre) / w);
    }
    const double span = s.hi - s.lo;
    return sequential_colour(span > 0 ? (v - s.lo) / span : 0.5);
}

// A colour bar with its end (and centre) values, `width` px wide at (x, y).
std::string colour_bar(const ColourScale& s, double x, double y, double width) {
    constexpr int kSteps = 40;
    std::string out = "<g class=\"legend\">";
    const double w = width / kSteps;
    for (int i = 0; i < kSteps; ++i) {
        const double t = (i + 0.5) / kSteps;
        const Rgb c = s.diverging ? diverging_colour(2 * t - 1) : sequential_colour(t);
        out += "<rect x=\"" + px(x + i * w) + "\" y=\"" + px(y) + "\" width=\"" + px(w + 0.3) +
               "\" height=\"10\" fill=\"" + css_colour(c) + "\"/>";
    }
    const double lo = s.diverging ? s.centre - s.half_width : s.lo;
    const double hi = s.diverging ? s.centre + s.half_width : s.hi;
    auto label = [&](double at, const std::string& anchor, double v) {
        return "<text x=\"" + px(at) + "\" y=\"" + px(y + 22) + "\" font-size=\"10\" text-anchor=\"" + anchor +
               "\">" + escape_html(format_number(v)) + "</text>";
    };
    out += label(x, "start", lo) + label(x + width, "end", hi);
    if (s.diverging) out += label(x + width / 2, "middle", s.centre);
    if (!s.legend.empty())
        out += "<text x=\"" + px(x + width + 8) + "\" y=\"" + px(y + 9) + "\" font-size=\"10\">" +
               escape_html(s.legend) + "</text>";
    return out + "</g>";
}

const std::array<Rgb, 10> kCategorical = {{{31, 119, 180},
                                            {255, 127, 14},
                                            {44, 160, 44},
                                            {214, 39, 40},
                                            {148, 103, 189},
                                            {140, 86, 75},
                                            {227, 119, 194},
                                            {127, 127, 127},
                                            {188, 189, 34},
                                            {23, 190, 207}}};

std::string svg_open(const std::string& id, double width, double height, const std::string& klass) {
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"" + escape_html(id) + "\" class=\"" + klass +
           "\" width=\"" + px(width) + "\" height=\"" + px(height) + "\" viewBox=\"0 0 " + px(width) + " " +
           px(height) + "\" role=\"img\">";
}

}  // namespace

std::string css_colour(Rgb c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
    return buf;
}

Rgb sequential_colour(double t) {
    static const Rgb viridis[] = {{68, 1, 84},    {72, 40, 120},  {62, 74, 137},  {49, 104, 142}, {38, 130, 142},
                                  {31, 158, 137}, {53, 183, 121}, {109, 205, 89}, {180, 222, 44}, {253, 231, 37}};
    return interpolate(viridis, std::size(viridis), t);
}

Rgb diverging_colour(double t) {
    static const Rgb rdbu[] = {{5, 48, 97},     {33, 102, 172},  {67, 147, 195}, {146, 197, 222},
                               {209, 229, 240}, {247, 247, 247}, {253, 219, 199}, {244, 165, 130},
                               {214, 96, 77},   {178, 24, 43},   {103, 0, 31}};
    return interpolate(rdbu, std::size(rdbu), (std::clamp(t, -1.0, 1.0) + 1.0) / 2.0);
}

std::string svg_heatmap(const Heatmap& h) {
    if (h.rows <= 0 || h.cols <= 0) return "";
    const double cell = h.cell > 0 ? h.cell : std::clamp(560.0 / std::max(h.rows, h.cols), 6.0, 44.0);
    size_t row_chars = 0, col_chars = 0;
    for (const auto& l : h.row_labels) row_chars = std::max(row_chars, std::min(utf8_length(l), kMaxLabelChars + 1));
    for (const auto& l : h.col_labels) col_chars = std::max(col_chars, std::min(utf8_length(l), kMaxLabelChars + 1));
    const bool rotate = static_cast<double>(col_chars) * kCharWidth > cell;
    const double left = (h.row_axis.empty() ? 4.0 : 20.0) + static_cast<double>(row_chars) * kCharWidth + 6.0;
    const double col_label_height = rotate ? static_cast<double>(col_chars) * kCharWidth * 0.77 + 10.0 : 16.0;
    const double top = (h.col_axis.empty() ? 4.0 : 18.0) + col_label_height;
    const double grid_w = cell * h.cols, grid_h = cell * h.rows;
    const double width = std::max(left + grid_w + 12.0, left + 330.0);
    const double height = top + grid_h + 40.0;
    // Show every k-th label so that labels are at least 11 px apart.
    const int label_every = std::max(1, static_cast<int>(std::ceil(11.0 / cell)));
    const double font = std::min(11.0, std::max(7.0, cell * 0.8));

    std::string out = svg_open(h.id, width, height, "heatmap");
    if (!h.col_axis.empty())
        out += "<text x=\"" + px(left + grid_w / 2) + "\" y=\"12\" font-size=\"11\" font-weight=\"600\" "
               "text-anchor=\"middle\">" + escape_html(h.col_axis) + "</text>";
    if (!h.row_axis.empty())
        out += "<text transform=\"translate(12," + px(top + grid_h / 2) + ") rotate(-90)\" font-size=\"11\" "
               "font-weight=\"600\" text-anchor=\"middle\">" + escape_html(h.row_axis) + "</text>";
    for (int c = 0; c < h.cols && static_cast<size_t>(c) < h.col_labels.size(); c += label_every) {
        const double x = left + (c + 0.5) * cell;
        const std::string text = label_text(h.col_labels[static_cast<size_t>(c)]);
        if (rotate)
            out += "<text transform=\"translate(" + px(x + font * 0.35) + "," + px(top - 4) + ") rotate(-50)\" "
                   "font-size=\"" + px(font) + "\">" + text + "</text>";
        else
            out += "<text x=\"" + px(x) + "\" y=\"" + px(top - 5) + "\" font-size=\"" + px(font) +
                   "\" text-anchor=\"middle\">" + text + "</text>";
    }
    for (int r = 0; r < h.rows && static_cast<size_t>(r) < h.row_labels.size(); r += label_every)
        out += "<text x=\"" + px(left - 4) + "\" y=\"" + px(top + (r + 0.5) * cell + font * 0.35) +
               "\" font-size=\"" + px(font) + "\" text-anchor=\"end\">" +
               label_text(h.row_labels[static_cast<size_t>(r)]) + "</text>";

    const bool numbers = h.show_values && cell >= 30.0;
    // Large grids: no links or cell borders, so that pages stay a few MB at most.
    const bool compact = static_cast<long>(h.rows) * h.cols > kCompactCells;
    for (int r = 0; r < h.rows; ++r)
        for (int c = 0; c < h.cols; ++c) {
            const size_t i = static_cast<size_t>(r) * static_cast<size_t>(h.cols) + static_cast<size_t>(c);
            const double v = i < h.values.size() ? h.values[i] : std::nan("");
            const bool defined = std::isfinite(v);
            const Rgb fill = defined ? scale_colour(h.scale, v) : Rgb{226, 226, 226};
            std::string title;
            if (i < h.titles.size() && !h.titles[i].empty()) title = h.titles[i];
            else {
                const auto ur = static_cast<size_t>(r), uc = static_cast<size_t>(c);
                title = (ur < h.row_labels.size() ? h.row_labels[ur] : std::to_string(r)) + ", " +
                        (uc < h.col_labels.size() ? h.col_labels[uc] : std::to_string(c)) + ": " + format_number(v);
            }
            const std::string rect = "<rect x=\"" + px(left + c * cell) + "\" y=\"" + px(top + r * cell) +
                                     "\" width=\"" + px(cell) + "\" height=\"" + px(cell) + "\" fill=\"" +
                                     css_colour(fill) + "\"";
            if (compact) {
                out += rect + "><title>" + escape_html(title) + "</title></rect>";
                continue;
            }
            std::string cell_svg = "<title>" + escape_html(title) + "</title>" + rect + " stroke=\"#fff\" stroke-width=\"" +
                                   (cell >= 12 ? "1" : "0.3") + "\"/>";
            if (numbers && defined)
                cell_svg += "<text x=\"" + px(left + (c + 0.5) * cell) + "\" y=\"" + px(top + (r + 0.5) * cell + 3.5) +
                            "\" font-size=\"" + px(std::min(11.0, cell * 0.28)) + "\" text-anchor=\"middle\" fill=\"" +
                            (luminance(fill) > 0.5 ? "#000" : "#fff") + "\">" + escape_html(format_number(v)) +
                            "</text>";
            const bool link = i < h.links.size() && !h.links[i].empty();
            out += link ? "<a href=\"" + escape_html(h.links[i]) + "\">" + cell_svg + "</a>" : "<g>" + cell_svg + "</g>";
        }
    out += colour_bar(h.scale, left, top + grid_h + 8, std::min(240.0, std::max(180.0, grid_w)));
    return out + "</svg>\n";
}

std::string svg_bar_chart(const BarChart& chart) {
    if (chart.bars.empty()) return "";
    size_t chars = 0;
    double lo = 0.0, hi = 0.0;
    for (const auto& b : chart.bars) {
        chars = std::max(chars, std::min(utf8_length(b.label), kMaxLabelChars + 1));
        if (std::isfinite(b.value)) lo = std::min(lo, b.value), hi = std::max(hi, b.value);
    }
    if (hi == lo) hi = lo + 1.0;
    constexpr double kBarArea = 420.0, kRow = 18.0;
    const double left = static_cast<double>(chars) * kCharWidth + 10.0;
    const double top = 6.0;
    const double width = left + kBarArea + 70.0;
    const double height = top + kRow * static_cast<double>(chart.bars.size()) + 36.0;
    auto x_of = [&](double v) { return left + (v - lo) / (hi - lo) * kBarArea; };

    std::string out = svg_open(chart.id, width, height, "bars");
    for (size_t i = 0; i < chart.bars.size(); ++i) {
        const auto& b = chart.bars[i];
        const double y = top + kRow * static_cast<double>(i);
        const std::string title = b.title.empty() ? b.label + ": " + format_number(b.value) : b.title;
        std::string bar = "<title>" + escape_html(title) + "</title>";
        bar += "<text x=\"" + px(left - 5) + "\" y=\"" + px(y + 12.5) + "\" font-size=\"11\" text-anchor=\"end\">" +
               label_text(b.label) + "</text>";
        if (std::isfinite(b.value)) {
            const double x0 = x_of(std::min(0.0, b.value)), x1 = x_of(std::max(0.0, b.value));
            bar += "<rect x=\"" + px(x0) + "\" y=\"" + px(y + 2) + "\" width=\"" + px(std::max(x1 - x0, 0.5)) +
                   "\" height=\"" + px(kRow - 4) + "\" fill=\"" + (b.value < 0 ? "#c2523c" : "#3b75af") + "\"/>";
            bar += "<text x=\"" + px(x1 + 4) + "\" y=\"" + px(y + 12.5) + "\" font-size=\"10\">" +
                   escape_html(format_number(b.value)) + "</text>";
        } else {
            bar += "<text x=\"" + px(x_of(0) + 4) + "\" y=\"" + px(y + 12.5) + "\" font-size=\"10\">" +
                   escape_html(format_number(b.value)) + "</text>";
        }
        out += b.link.empty() ? "<g>" + bar + "</g>" : "<a href=\"" + escape_html(b.link) + "\">" + bar + "</a>";
    }
    const double axis_y = top + kRow * static_cast<double>(chart.bars.size()) + 2;
    out += "<line x1=\"" + px(x_of(0)) + "\" y1=\"" + px(top) + "\" x2=\"" + px(x_of(0)) + "\" y2=\"" + px(axis_y) +
           "\" stroke=\"#333\" stroke-width=\"1\"/>";
    out += "<line x1=\"" + px(left) + "\" y1=\"" + px(axis_y) + "\" x2=\"" + px(left + kBarArea) + "\" y2=\"" +
           px(axis_y) + "\" stroke=\"#999\" stroke-width=\"1\"/>";
    for (double t : nice_ticks(lo, hi, 5))
        out += "<text x=\"" + px(x_of(t)) + "\" y=\"" + px(axis_y + 12) + "\" font-size=\"9\" text-anchor=\"middle\">" +
               escape_html(format_number(t)) + "</text>";
    if (!chart.value_label.empty())
        out += "<text x=\"" + px(left + kBarArea / 2) + "\" y=\"" + px(axis_y + 26) +
               "\" font-size=\"11\" text-anchor=\"middle\">" + escape_html(chart.value_label) + "</text>";
    return out + "</svg>\n";
}

namespace {

// An axis of a line chart: data value -> position, with its ticks.
struct Axis {
    bool log = false;
    bool x = true;  // log x: log10(1 + v); log y: log10(v)
    double lo = 0, hi = 1;
    double map(double v) const { return !log ? v : x ? std::log10(1.0 + std::max(v, 0.0)) : std::log10(v); }
    bool drawable(double v) const { return std::isfinite(v) && (!log || x || v > 0); }
    std::vector<double> ticks(int n) const {
        if (!log) return nice_ticks(lo, hi, n);
        std::vector<double> out;  // data values at powers of ten inside the range
        for (double e = std::floor(lo); e <= std::ceil(hi); e += 1.0) {
            const double v = std::pow(10.0, e);
            if (map(v) >= lo - 1e-9 && map(v) <= hi + 1e-9) out.push_back(v);
        }
        if (x && lo <= 1e-12) out.insert(out.begin(), 0.0);
        return out;
    }
};

const std::vector<double>& series_steps(const LineChart& c, const Series& s) { return s.steps.empty() ? c.steps : s.steps; }

// The data ranges of a chart on its axes (mapped values).
std::pair<Axis, Axis> line_axes(const LineChart& chart) {
    Axis ax{chart.log_x, true, INFINITY, -INFINITY}, ay{chart.log_y, false, INFINITY, -INFINITY};
    for (const auto& s : chart.series) {
        const auto& xs = series_steps(chart, s);
        for (size_t i = 0; i < xs.size(); ++i) {
            if (!ax.drawable(xs[i])) continue;
            ax.lo = std::min(ax.lo, ax.map(xs[i])), ax.hi = std::max(ax.hi, ax.map(xs[i]));
            if (ay.drawable(s.values[i])) ay.lo = std::min(ay.lo, ay.map(s.values[i])), ay.hi = std::max(ay.hi, ay.map(s.values[i]));
        }
    }
    if (!std::isfinite(ax.lo)) ax.lo = 0.0, ax.hi = 1.0;
    if (!std::isfinite(ay.lo)) ay.lo = 0.0, ay.hi = 1.0;
    if (ay.hi == ay.lo) ay.lo -= 0.5, ay.hi += 0.5;
    if (ax.hi == ax.lo) ax.hi = ax.lo + 1.0;
    const double pad = (ay.hi - ay.lo) * 0.05;
    ay.lo -= pad, ay.hi += pad;
    return {ax, ay};
}

}  // namespace

std::string svg_line_chart(const LineChart& chart) {
    for (const auto& s : chart.series)
        if (s.values.size() != series_steps(chart, s).size())
            throw Error("line chart '" + chart.id + "': series '" + s.name + "' has " + std::to_string(s.values.size()) +
                        " values for " + std::to_string(series_steps(chart, s).size()) + " steps");
    if (chart.series.empty() || (chart.steps.empty() && chart.series.front().steps.empty())) return "";
    // Named copies, not a structured binding: clang 14 cannot capture bindings in the lambdas below.
    const auto axes = line_axes(chart);
    const auto& ax = axes.first;
    const auto& ay = axes.second;

    const bool legend = chart.series.size() <= 12;
    constexpr double kPlotW = 520.0, kPlotH = 240.0, kLeft = 64.0, kTop = 12.0;
    const double width = kLeft + kPlotW + (legend ? 170.0 : 20.0);
    const double height = kTop + kPlotH + 44.0;
    auto x_of = [&](double x) { return kLeft + (ax.map(x) - ax.lo) / (ax.hi - ax.lo) * kPlotW; };
    auto y_of = [&](double y) { return kTop + (ay.hi - ay.map(y)) / (ay.hi - ay.lo) * kPlotH; };

    std::string out = svg_open(chart.id, width, height, "lines");
    if (chart.band_lo <= chart.band_hi) {
        const double x0 = std::clamp(x_of(chart.band_lo), kLeft, kLeft + kPlotW);
        const double x1 = std::clamp(x_of(chart.band_hi), kLeft, kLeft + kPlotW);
        out += "<rect class=\"phase\" x=\"" + px(x0) + "\" y=\"" + px(kTop) + "\" width=\"" + px(std::max(x1 - x0, 2.0)) +
               "\" height=\"" + px(kPlotH) + "\" fill=\"#fde9c8\"><title>" + escape_html(chart.band_title) +
               "</title></rect>";
    }
    out += "<rect x=\"" + px(kLeft) + "\" y=\"" + px(kTop) + "\" width=\"" + px(kPlotW) + "\" height=\"" + px(kPlotH) +
           "\" fill=\"none\" stroke=\"#999\"/>";
    for (double v : ay.ticks(5)) {
        out += "<line x1=\"" + px(kLeft) + "\" y1=\"" + px(y_of(v)) + "\" x2=\"" + px(kLeft + kPlotW) + "\" y2=\"" +
               px(y_of(v)) + "\" stroke=\"#eee\"/><text x=\"" + px(kLeft - 4) + "\" y=\"" + px(y_of(v) + 3) +
               "\" font-size=\"9\" text-anchor=\"end\">" + escape_html(format_number(v)) + "</text>";
    }
    for (double t : ax.ticks(6))
        out += "<text x=\"" + px(x_of(t)) + "\" y=\"" + px(kTop + kPlotH + 12) +
               "\" font-size=\"9\" text-anchor=\"middle\">" + escape_html(format_number(t)) + "</text>";
    out += "<text x=\"" + px(kLeft + kPlotW / 2) + "\" y=\"" + px(kTop + kPlotH + 30) +
           "\" font-size=\"11\" text-anchor=\"middle\">" + escape_html(chart.x_label + (chart.log_x ? " (log scale)" : "")) +
           "</text>";
    out += "<text transform=\"translate(14," + px(kTop + kPlotH / 2) + ") rotate(-90)\" font-size=\"11\" "
           "text-anchor=\"middle\">" + escape_html(chart.y_label + (chart.log_y ? " (log)" : "")) + "</text>";
    for (size_t k = 0; k < chart.series.size(); ++k) {
        const auto& s = chart.series[k];
        const auto& xs = series_steps(chart, s);
        const std::string colour = css_colour(kCategorical[k % kCategorical.size()]);
        std::string lines;
        std::string points;
        size_t n_points = 0;
        auto flush = [&] {
            if (n_points > 0)
                lines += "<polyline points=\"" + points + "\" fill=\"none\" stroke=\"" + colour +
                         "\" stroke-width=\"1.5\"/>";
            points.clear();
            n_points = 0;
        };
        for (size_t i = 0; i < s.values.size(); ++i) {
            if (!ax.drawable(xs[i]) || !ay.drawable(s.values[i])) {
                flush();
                continue;
            }
            points += (n_points ? " " : "") + px(x_of(xs[i])) + "," + px(y_of(s.values[i]));
            ++n_points;
        }
        flush();
        const std::string last = s.values.empty() ? "none" : format_number(s.values.back());
        out += "<g><title>" + escape_html(s.name + " (last: " + last + ")") + "</title>" + lines + "</g>";
        if (legend) {
            const double ly = kTop + 8 + 16.0 * static_cast<double>(k);
            out += "<line x1=\"" + px(kLeft + kPlotW + 12) + "\" y1=\"" + px(ly) + "\" x2=\"" +
                   px(kLeft + kPlotW + 30) + "\" y2=\"" + px(ly) + "\" stroke=\"" + colour +
                   "\" stroke-width=\"2\"/><text x=\"" + px(kLeft + kPlotW + 35) + "\" y=\"" + px(ly + 4) +
                   "\" font-size=\"10\">" + label_text(s.name) + "</text>";
        }
    }
    return out + "</svg>\n";
}

std::string svg_eigenvalue_plot(const EigenvaluePlot& plot) {
    constexpr double kSize = 300.0, kRadius = 120.0;
    const double c = kSize / 2;
    double max_abs = 0.0;
    for (const auto& v : plot.values)
        if (std::isfinite(std::abs(v))) max_abs = std::max(max_abs, std::abs(v));
    const double scale = max_abs > 0 ? 1.0 / max_abs : 1.0;
    std::string out = svg_open(plot.id, kSize, kSize + 34, "eigen");
    out += "<line x1=\"10\" y1=\"" + px(c) + "\" x2=\"" + px(kSize - 10) + "\" y2=\"" + px(c) +
           "\" stroke=\"#bbb\"/><line x1=\"" + px(c) + "\" y1=\"10\" x2=\"" + px(c) + "\" y2=\"" + px(kSize - 10) +
           "\" stroke=\"#bbb\"/>";
    out += "<circle cx=\"" + px(c) + "\" cy=\"" + px(c) + "\" r=\"" + px(kRadius) +
           "\" fill=\"none\" stroke=\"#666\" stroke-dasharray=\"4 3\"><title>unit circle (|λ| = max|λ|)</title></circle>";
    out += "<text x=\"" + px(kSize - 12) + "\" y=\"" + px(c - 4) + "\" font-size=\"10\" text-anchor=\"end\">Re</text>";
    out += "<text x=\"" + px(c + 4) + "\" y=\"20\" font-size=\"10\">Im</text>";
    for (const auto& v : plot.values) {
        if (!std::isfinite(v.real()) || !std::isfinite(v.imag())) continue;
        const double x = c + v.real() * scale * kRadius, y = c - v.imag() * scale * kRadius;
        const std::string title = "λ = " + format_number(v.real()) + (v.imag() < 0 ? " − " : " + ") +
                                  format_number(std::abs(v.imag())) + "i, |λ| = " + format_number(std::abs(v));
        const char* fill = v.real() >= 0 ? "#3b75af" : "#c2523c";
        out += "<circle cx=\"" + px(x) + "\" cy=\"" + px(y) + "\" r=\"3.5\" fill=\"" + fill +
               "\" fill-opacity=\"0.8\"><title>" + escape_html(title) + "</title></circle>";
    }
    out += "<text x=\"10\" y=\"" + px(kSize + 10) + "\" font-size=\"10\">" +
           escape_html("scaled by 1/max|λ|, max|λ| = " + format_number(max_abs)) + "</text>";
    if (!plot.caption_line.empty())
        out += "<text x=\"10\" y=\"" + px(kSize + 26) + "\" font-size=\"11\" font-weight=\"600\">" +
               escape_html(plot.caption_line) + "</text>";
    return out + "</svg>\n";
}

}  // namespace circuits::reports
