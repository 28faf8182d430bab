// SVG charts: well-formed markup, colour scale ends, hover titles, line-chart shape checks.
#include "reports/svg.hpp"

#include "lib/error.hpp"
#include "tests/reports/xml_check.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

using namespace circuits::reports;

namespace {

circuits::test::XmlDocument parse(const std::string& svg) {
    auto doc = circuits::test::parse_xml(svg);
    REQUIRE_MESSAGE(doc.ok, doc.error);
    return doc;
}

}  // namespace

TEST_CASE("svg: colour scales hit their control points") {
    CHECK(css_colour(sequential_colour(0.0)) == "#440154");
    CHECK(css_colour(sequential_colour(1.0)) == "#fde725");
    CHECK(css_colour(sequential_colour(7.0)) == "#fde725");  // clamped
    CHECK(css_colour(diverging_colour(0.0)) == "#f7f7f7");
    CHECK(css_colour(diverging_colour(-1.0)) == "#053061");
    CHECK(css_colour(diverging_colour(1.0)) == "#67001f");
}

TEST_CASE("svg: heatmap cells carry titles, links and colours; NaN cells are grey") {
    Heatmap h;
    h.id = "hm";
    h.rows = 2;
    h.cols = 3;
    h.values = {0.0, 0.5, 1.0, std::nan(""), 0.25, 0.75};
    h.row_labels = {"<r0>", "r1"};
    h.col_labels = {"c0", "c&1", "c2"};
    h.links = {"a.html", "", "", "", "", "b.html"};
    h.show_values = true;
    h.cell = 40;
    const auto doc = parse(svg_heatmap(h));
    const auto titles = doc.root->find_all("title");
    REQUIRE(titles.size() == 6);
    CHECK(titles[0]->text_content() == "<r0>, c0: 0");
    CHECK(titles[1]->text_content() == "<r0>, c&1: 0.5");
    CHECK(titles[3]->text_content() == "r1, c0: NaN");
    const auto links = doc.root->find_all("a");
    REQUIRE(links.size() == 2);
    CHECK(links[0]->attr("href") == "a.html");
    CHECK(links[1]->attr("href") == "b.html");
    std::vector<std::string> fills;
    for (const auto* r : doc.root->find_all("rect")) fills.push_back(r->attr("fill"));
    CHECK(fills[0] == "#440154");
    CHECK(fills[2] == "#fde725");
    CHECK(fills[3] == "#e2e2e2");
}

TEST_CASE("svg: bar chart draws negative bars left of zero") {
    BarChart c;
    c.id = "bars";
    c.bars = {{"pos", 2.0, "", ""}, {"neg", -1.0, "", "x.html"}, {"nan", std::nan(""), "", ""}};
    const auto doc = parse(svg_bar_chart(c));
    const auto rects = doc.root->find_all("rect");
    REQUIRE(rects.size() == 2);
    CHECK(std::stod(rects[1]->attr("x")) < std::stod(rects[0]->attr("x")));
    CHECK(doc.root->find_all("title")[2]->text_content() == "nan: NaN");
}

TEST_CASE("svg: line chart renders named series and rejects a length mismatch") {
    LineChart c;
    c.id = "lines";
    c.y_label = "loss";
    c.steps = {0, 10, 20, 30};
    c.series = {{"loss", {3.0, 2.0, std::nan(""), 1.0}, {}}, {"L0H1", {0.1, 0.2, 0.3, 0.4}, {}}};
    const auto doc = parse(svg_line_chart(c));
    // The NaN breaks the first series into two polylines.
    CHECK(doc.root->find_all("polyline").size() == 3);
    const auto titles = doc.root->find_all("title");
    REQUIRE(titles.size() == 2);
    CHECK(titles[0]->text_content() == "loss (last: 1)");
    c.series.push_back({"short", {1.0}, {}});
    CHECK_THROWS_AS(svg_line_chart(c), circuits::Error);
}

TEST_CASE("svg: line chart with log axes, per-series steps and a shaded phase window") {
    LineChart c;
    c.id = "log";
    c.log_x = c.log_y = true;
    c.series = {{"train", {3.0, 1.0, 0.1, 0.01}, {1, 10, 100, 1000}}, {"val", {3.0, 0.0, 0.02}, {0, 500, 1000}}};
    c.band_lo = 10, c.band_hi = 100, c.band_title = "phase change: steps 10–100";
    const auto doc = parse(svg_line_chart(c));
    // val's 0 cannot be drawn on a log y axis: it breaks that series in two.
    CHECK(doc.root->find_all("polyline").size() == 3);
    std::vector<std::string> ticks;
    for (const auto* t : doc.root->find_all("text")) ticks.push_back(t->text_content());
    for (const char* tick : {"0", "10", "100", "1000", "0.01", "1"})
        CHECK_MESSAGE(std::find(ticks.begin(), ticks.end(), tick) != ticks.end(), "tick " << tick);
    const circuits::test::XmlNode* band = nullptr;
    for (const auto* r : doc.root->find_all("rect"))
        if (r->attr("class") == "phase") band = r;
    REQUIRE(band != nullptr);
    CHECK(band->text_content() == "phase change: steps 10–100");
    // log10(1 + x) on 520 px from log10(1) = 0 to log10(1001): the band starts at log10(11) / log10(1001).
    CHECK(std::stod(band->attr("x")) == doctest::Approx(64 + 520 * std::log10(11.0) / std::log10(1001.0)).epsilon(0.01));
}

TEST_CASE("svg: eigenvalue plot scales points into the unit circle") {
    EigenvaluePlot p;
    p.id = "eig";
    p.values = {{2.0, 0.0}, {-1.0, 1.0}, {0.0, 0.0}};
    p.caption_line = "copying score 0.5";
    const auto doc = parse(svg_eigenvalue_plot(p));
    const auto circles = doc.root->find_all("circle");
    REQUIRE(circles.size() == 4);  // unit circle + 3 points
    const double cx = std::stod(circles[0]->attr("cx")), r = std::stod(circles[0]->attr("r"));
    CHECK(std::stod(circles[1]->attr("cx")) == doctest::Approx(cx + r));  // largest |λ| on the circle
    CHECK(circles[1]->find_all("title").front()->text_content() == "λ = 2 + 0i, |λ| = 2");
    CHECK(circles[2]->find_all("title").front()->text_content() == "λ = -1 + 1i, |λ| = 1.414");
}

TEST_CASE("svg: large heatmaps are compact: no links or borders, every cell still has its title") {
    Heatmap h;
    h.id = "big";
    h.rows = h.cols = 60;
    for (int i = 0; i < 3600; ++i) h.values.push_back(i / 3600.0), h.links.push_back("x.html");
    const auto svg = svg_heatmap(h);
    const auto doc = parse(svg);
    CHECK(doc.root->find_all("a").empty());
    CHECK(doc.root->find_all("title").size() == 3600);
    CHECK(svg.find("stroke=\"#fff\"") == std::string::npos);
    CHECK(svg.size() < 3600 * 140);
}
