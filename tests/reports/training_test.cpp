// Training curves: every per-step dataset of /training becomes a line chart, per-head columns named.
#include "lib/hdf5.hpp"
#include "reports/report_context.hpp"
#include "tests/reports/xml_check.hpp"
#include "tests/test_util.hpp"

using namespace circuits;

TEST_CASE("training charts: per-step datasets become named series; others are left out") {
    test::TempDir dir;
    const auto path = dir.file("t.h5");
    {
        H5Writer w(path);
        w.write("/training/steps", Array<double>{{5}, {0, 10, 20, 30, 40}});
        w.write("/training/loss", Array<double>{{5}, {3, 2.5, 2, 1.5, 1}});
        Array<float> entropy{{5, 2, 2}, {}};
        for (int i = 0; i < 20; ++i) entropy.data.push_back(float(i));
        w.write("/training/dynamics/attention_entropy", entropy);
        w.write("/training/pairs", Array<float>{{5, 3}, std::vector<float>(15, 0.5f)});
        w.write("/training/other_length", Array<float>{{4}, {1, 2, 3, 4}});
        w.write_string("/training/task", "induction");
        w.write_scalar("/training/final_loss", 1.0);
    }
    const H5Reader f(path);
    const auto charts = reports::training_charts(f, 2, 2);
    std::vector<std::string> datasets;
    for (const auto& c : charts) datasets.push_back(c.dataset);
    CHECK(datasets == std::vector<std::string>{"/training/dynamics/attention_entropy", "/training/loss", "/training/pairs"});
    const auto& entropy = charts[0].chart;
    CHECK(entropy.id == "training-dynamics-attention_entropy");
    REQUIRE(entropy.series.size() == 4);
    CHECK(entropy.series[2].name == "L1H0");
    CHECK(entropy.series[2].values == std::vector<double>{2, 6, 10, 14, 18});
    CHECK(entropy.steps == std::vector<double>{0, 10, 20, 30, 40});
    CHECK(charts[1].chart.series[0].name == "loss");
    CHECK(charts[2].chart.series[1].name == "pairs[1]");
    for (const auto& c : charts) {
        const auto doc = test::parse_xml(reports::svg_line_chart(c.chart));
        CHECK_MESSAGE(doc.ok, doc.error);
    }
}
