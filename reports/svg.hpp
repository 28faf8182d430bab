// Inline SVG charts for the report pages: heatmaps, bar charts, line charts and the complex plane.
// Every chart is static markup (no scripts); hover text is an SVG <title> on the element.
#pragma once

#include <complex>
#include <string>
#include <vector>

namespace circuits::reports {

struct Rgb {
    unsigned char r = 0, g = 0, b = 0;
};
std::string css_colour(Rgb c);  // "#rrggbb"

// Sequential scale (viridis control points) for t in [0, 1]; t is clamped.
Rgb sequential_colour(double t);
// Diverging scale (ColorBrewer RdBu reversed) for t in [-1, 1]: blue below, white at 0, red above.
Rgb diverging_colour(double t);

// How a heatmap maps values to colours.
struct ColourScale {
    bool diverging = false;
    // sequential: values lo..hi map to 0..1. diverging: centre maps to white, centre ± half_width
    // to the ends.
    double lo = 0.0, hi = 1.0;
    double centre = 0.0, half_width = 1.0;
    std::string legend;  // text beside the colour bar, e.g. "raw − baseline"
};

// A colour-scaled grid. values is row-major [rows, cols]; NaN cells are grey ("undefined"). Grids of
// more than 1000 cells are drawn compactly: no links, no cell borders, no numbers.
struct Heatmap {
    std::string id;  // the <svg> element's id (unique in the page)
    int rows = 0, cols = 0;
    std::vector<double> values;
    std::vector<std::string> row_labels, col_labels;  // plain text, escaped when rendered
    std::string row_axis, col_axis;                   // axis titles, plain text
    std::vector<std::string> titles;  // hover text per cell (plain text); empty: "row, col: value"
    std::vector<std::string> links;   // per-cell relative href; empty or "" for none
    ColourScale scale;
    bool show_values = false;  // print the number in each cell (only when cells are large enough)
    double cell = 0.0;         // cell size in px; 0 = chosen from the grid size
};
std::string svg_heatmap(const Heatmap& h);

// Horizontal bar chart; bars may be negative (drawn left of the zero line).
struct Bar {
    std::string label;  // plain text
    double value = 0.0;
    std::string title;  // hover text; empty: "label: value"
    std::string link;   // relative href or ""
};
struct BarChart {
    std::string id;
    std::string value_label;  // axis title, plain text
    std::vector<Bar> bars;
};
std::string svg_bar_chart(const BarChart& chart);

// A set of named series over a common x axis (training steps) as an SVG line chart. Series with a
// NaN entry are broken there. More than 12 series: no legend, the name is the line's hover text.
struct Series {
    std::string name;
    std::vector<double> values;  // one per step
    std::vector<double> steps;   // this series' own x values; empty: the chart's steps
};
struct LineChart {
    std::string id;
    std::string x_label = "step", y_label;
    std::vector<double> steps;
    std::vector<Series> series;
    // Log axes: x is drawn at log10(1 + x) (so step 0 stays on the chart), y at log10(y) (values <= 0
    // are left out); ticks at powers of ten.
    bool log_x = false, log_y = false;
    // A shaded x range (the phase-change window) with its hover text; none when lo > hi.
    double band_lo = 1.0, band_hi = 0.0;
    std::string band_title;
};
// Throws circuits::Error when a series' length differs from the number of steps.
std::string svg_line_chart(const LineChart& chart);

// Eigenvalues in the complex plane with the unit circle. Points are scaled by 1 / max|λ| so that all
// lie in the unit disc (the scale is printed); each point's hover text gives the unscaled value.
struct EigenvaluePlot {
    std::string id;
    std::vector<std::complex<double>> values;
    std::string caption_line;  // plain text drawn under the plot, e.g. "copying score 0.98"
};
std::string svg_eigenvalue_plot(const EigenvaluePlot& plot);

}  // namespace circuits::reports
