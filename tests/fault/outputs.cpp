// The interrupted commands and the completeness checks of their outputs.
#include "tests/fault/outputs.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/train/training_file.hpp"
#include "reports/results_reader.hpp"

namespace circuits::test {

namespace fs = std::filesystem;

namespace {

const std::string kSource = CIRCUITS_SOURCE_DIR;

template <typename Fn>
bool reads(Fn&& fn) {
    try {
        fn();
        return true;
    } catch (const circuits::Error&) {
        return false;
    }
}

std::string file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

const std::vector<FaultCommand>& fault_commands() {
    static const std::vector<FaultCommand> commands = {
        {"analyze",
         [](const std::string& t) -> std::vector<std::string> {
             return {"analyze", kSource + "/data/models/compiled/sort.h5", "-o", t, "--threads", "1"};
         },
         [](const std::string& t) {
             return reads([&] {
                 const reports::ResultsReader r(t);
                 if (!r.head_grid("/induction/induction")) throw Error("no induction scores");
             });
         }},
        {"train",
         [](const std::string& t) -> std::vector<std::string> {
             return {"train", "induction", "-o", t, "--layers", "2", "--heads", "2", "--d-model", "16",
                     "--d-head", "8", "--steps", "150", "--threads", "1", "--log-every", "25"};
         },
         [](const std::string& t) {
             return reads([&] {
                 read_model_h5(t);
                 if (train::read_training(t).loss.size() != 150) throw Error("short loss curve");
             });
         }},
        {"compile",
         [](const std::string& t) -> std::vector<std::string> {
             return {"compile", kSource + "/data/programs/sort.rasp", "-o", t};
         },
         [](const std::string& t) { return reads([&] { read_model_h5(t); }); }},
        {"compare",
         [](const std::string& t) -> std::vector<std::string> {
             return {"compare", kSource + "/data/models/compiled/induction.h5",
                     kSource + "/data/models/trained/induction-2l.h5", "-o", t, "--threads", "1"};
         },
         [](const std::string& t) {
             return reads([&] {
                 const H5Reader r(t + "/compare.h5");
                 if (!r.exists("compare/similarity")) throw Error("no similarity");
                 const std::string html = file_bytes(fs::path(t) / "index.html");
                 if (html.find("</html>") == std::string::npos) throw Error("index.html cut short");
             });
         }},
    };
    return commands;
}

std::string snapshot(const std::string& path) {
    if (!fs::is_directory(path)) return fs::exists(path) ? file_bytes(path) : std::string();
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(path))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::string all;
    for (const auto& f : files) all += fs::relative(f, path).string() + "\n" + file_bytes(f) + "\n";
    return all;
}

std::vector<std::string> leftover_temporaries(const std::string& target) {
    const fs::path t(target);
    const std::string prefix = t.filename().string() + ".tmp-";
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(t.parent_path()))
        if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
    return out;
}

}  // namespace circuits::test
