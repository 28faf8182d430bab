// PNGs of a report's main figures, rendered by headless Chromium from the report's own pages.
#pragma once

#include <string>
#include <vector>

namespace circuits::reports {

// A figure to export: the page (relative to the report folder) and the id of an element in it.
struct FigureRef {
    std::string page;  // "index.html", "layers/L1.html"
    std::string id;    // "composition-graph"
    std::string png_name() const;  // "index-composition-graph.png", "layers-L1-viewer-heatmap.png"
};

// The Chromium executable: $CIRCUITS_CHROMIUM when set, else the first of chromium, chromium-browser,
// google-chrome on PATH; "" when there is none.
std::string find_chromium();

// Renders each figure with `chromium --headless --screenshot` of PAGE#figure=ID (report.js then shows
// that figure alone, scaled to the window) into png_dir/<png_name>. Throws Error naming the figure
// when Chromium fails or writes no PNG.
void export_pngs(const std::string& chromium, const std::string& report_dir, const std::vector<FigureRef>& figures,
                 const std::string& png_dir);

}  // namespace circuits::reports
