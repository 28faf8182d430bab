// The training section: curated charts against the training step, the phase-change window, checkpoints
// listed and never plotted; on a hand-written /training group and on the bundled trained models.
#include "lib/hdf5.hpp"
#include "reports/report_context.hpp"
#include "tests/reports/xml_check.hpp"
#include "tests/test_util.hpp"

using namespace circuits;

namespace {

std::vector<std::string> ids(const std::vector<reports::TrainingChart>& charts) {
    std::vector<std::string> out;
    for (const auto& c : charts) out.push_back(c.chart.id);
    return out;
}

const reports::TrainingChart* chart(const reports::TrainingSection& t, const std::string& id) {
    for (const auto& c : t.curated)
        if (c.chart.id == id) return &c;
    return nullptr;
}

}  // namespace

TEST_CASE("training section: curated charts in steps, per-head series named, checkpoints listed not plotted") {
    test::TempDir dir;
    const auto path = dir.file("t.h5");
    {
        H5Writer w(path);
        w.write("/training/loss", Array<float>{{6}, {3, 2.5, 2, 1.5, 1, 0.9f}});
        w.write("/training/dynamics/step", Array<double>{{5}, {0, 10, 20, 30, 40}});
        w.write("/training/dynamics/loss", Array<double>{{5}, {3, 2.9, 1.0, 0.5, 0.4}});
        Array<double> induction{{5, 2, 2}, std::vector<double>(20, 0.1)};
        for (int i = 0; i < 5; ++i) induction.data[static_cast<size_t>(i * 4 + 2)] = i < 2 ? 0.1 : i < 3 ? 0.5 : 0.9;
        w.write("/training/dynamics/induction", induction);
        Array<float> entropy{{5, 2, 2}, {}};
        for (int i = 0; i < 20; ++i) entropy.data.push_back(float(i));
        w.write("/training/dynamics/entropy", entropy);
        w.write("/training/grad_norm", Array<float>{{6}, std::vector<float>(6, 0.5f)});
        w.write("/training/checkpoints/step", Array<double>{{2}, {0, 40}});
        w.write("/training/checkpoints/0/embed/W_E", Array<float>{{3, 2}, std::vector<float>(6, 1.0f)});
        w.write("/training/checkpoints/1/embed/W_E", Array<float>{{3, 2}, std::vector<float>(6, 1.0f)});
        w.write_string("/training/task", "induction");
    }
    const auto t = reports::training_section(H5Reader(path), 2, 2);
    CHECK(ids(t.curated) == std::vector<std::string>{"training-loss", "training-entropy", "training-induction"});
    CHECK(ids(t.other) == std::vector<std::string>{"training-grad_norm"});  // no checkpoint weights
    const auto& loss = chart(t, "training-loss")->chart;
    REQUIRE(loss.series.size() == 2);
    CHECK(loss.series[0].steps == std::vector<double>{1, 2, 3, 4, 5, 6});  // update i logged as step i
    CHECK(loss.series[1].steps == std::vector<double>{0, 10, 20, 30, 40});
    CHECK(loss.x_label == "training step");
    CHECK(loss.log_x);
    const auto& entropy = chart(t, "training-entropy")->chart;
    REQUIRE(entropy.series.size() == 4);
    CHECK(entropy.series[2].name == "L1H0");
    CHECK(entropy.series[2].values == std::vector<double>{2, 6, 10, 14, 18});
    // Induction of L1H0 rises 0.1 -> 0.9: 10% (0.18) first reached at step 20, 90% (0.82) at 30.
    CHECK(t.phase_lo == 10);
    CHECK(t.phase_hi == 30);
    CHECK(t.phase_rule.find("induction") != std::string::npos);
    CHECK(entropy.band_lo == 10);
    CHECK(t.checkpoints == std::vector<std::pair<int, double>>{{0, 0.0}, {1, 40.0}});
    for (const auto& c : t.curated) {
        const auto doc = test::parse_xml(reports::svg_line_chart(c.chart));
        CHECK_MESSAGE(doc.ok, doc.error);
    }
}

TEST_CASE("training section of the bundled scan-snap and induction models: the curated charts, no raw weights") {
    const auto scan = reports::training_section(
        H5Reader(test::source_dir() + "/data/models/trained/scan-snap-1l.h5"), 1, 1);
    CHECK(ids(scan.curated) ==
          std::vector<std::string>{"training-loss", "training-entropy", "training-prev_token", "training-induction"});
    for (const auto& c : scan.other) CHECK(c.dataset.find("checkpoints") == std::string::npos);
    CHECK(scan.checkpoints.size() == 8);
    CHECK(scan.checkpoints.back().second == 3000);
    // The induction score of a 1-layer model stays flat: the window comes from the validation loss.
    CHECK(scan.phase_rule.find("validation loss") != std::string::npos);
    CHECK(scan.phase_lo < scan.phase_hi);
    CHECK(scan.phase_hi <= 3000);
    for (const auto& s : chart(scan, "training-entropy")->chart.series) CHECK(s.steps.back() == 3000);

    const auto ind = reports::training_section(
        H5Reader(test::source_dir() + "/data/models/trained/induction-2l.h5"), 2, 2);
    CHECK(ids(ind.curated) == std::vector<std::string>{"training-loss", "training-entropy", "training-prev_token",
                                                       "training-induction", "training-in_context"});
    CHECK(chart(ind, "training-induction")->chart.series.size() == 4);
    CHECK(chart(ind, "training-induction")->chart.series[2].name == "L1H0");
    CHECK(ind.phase_rule.find("induction") != std::string::npos);
    CHECK(ind.phase_lo == 0);
    // Largest induction score 0.14 at step 0, 0.63 at 200, 0.75 at 400 (its maximum): 10% of the rise is
    // passed at 200 (window opens at the step before), 90% (0.69) at 400.
    CHECK(ind.phase_hi == 400);
}
