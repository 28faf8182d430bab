// Inputs that claim or demand too much (a huge tensor in a header or a dataset, a deeply nested
// or very wide RASP program, a 10^6-token file) are refused or handled within stated bounds,
// never by running out of memory or stack.
#include <H5Cpp.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "analyses/path_expansion.hpp"
#include "lib/error.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/compiler.hpp"
#include "lib/rasp/program.hpp"
#include "lib/safetensors.hpp"
#include "tests/fault/child_process.hpp"
#include "tests/test_util.hpp"

namespace fs = std::filesystem;
using namespace circuits;
using circuits::test::TempDir;

namespace {

const std::string kSource = CIRCUITS_SOURCE_DIR;

void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

// A safetensors file whose header is `header` and whose data section has `data_bytes` zero bytes.
void write_safetensors_raw(const std::string& path, const std::string& header, size_t data_bytes) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
    bytes += header + std::string(data_bytes, '\0');
    write_text(path, bytes);
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// A copy of a bundled model whose W_E is replaced by a chunked dataset of `rows` x d_model that
// was never written (HDF5 reads fill values): a few kB on disk claiming rows * d_model floats.
std::string model_with_unwritten_embedding(const TempDir& tmp, hsize_t rows) {
    const std::string path = tmp.file("claims.h5");
    fs::copy_file(kSource + "/data/models/compiled/count.h5", path);
    H5::H5File f(path, H5F_ACC_RDWR);
    std::int64_t dm = 0;
    f.openAttribute("d_model").read(H5::PredType::NATIVE_INT64, &dm);
    H5Ldelete(f.getId(), "/embed/W_E", H5P_DEFAULT);
    const hsize_t dims[2] = {rows, static_cast<hsize_t>(dm)}, chunk[2] = {1024, static_cast<hsize_t>(dm)};
    H5::DSetCreatPropList dcpl;
    dcpl.setChunk(2, chunk);
    f.createDataSet("/embed/W_E", H5::PredType::IEEE_F32LE, H5::DataSpace(2, dims), dcpl);
    const std::int64_t vocab = static_cast<std::int64_t>(rows);
    f.openAttribute("d_vocab").write(H5::PredType::NATIVE_INT64, &vocab);
    return path;
}

}  // namespace

TEST_CASE("limits: a safetensors header claiming a huge tensor is refused before any allocation") {
    TempDir tmp;
    const std::string path = tmp.file("huge.safetensors");
    // 10^6 x 10^6 floats (4 TB) in a file of 64 data bytes.
    write_safetensors_raw(path, R"({"embed.W_E":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}})", 64);
    CHECK(error_of([&] { SafetensorsFile{path}; }).find("outside the data section") != std::string::npos);
    // A shape whose byte count overflows 64 bits.
    write_safetensors_raw(path, R"({"embed.W_E":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0);
    CHECK(error_of([&] { SafetensorsFile{path}; }).find("overflows") != std::string::npos);
    // A header length of 2^62 bytes.
    std::string bytes(8, '\0');
    bytes[7] = 0x40;
    write_text(path, bytes + "{}");
    CHECK(error_of([&] { SafetensorsFile{path}; }).find(path) != std::string::npos);
}

TEST_CASE("limits: an HDF5 dataset claiming far more than the file stores is refused before allocation") {
    TempDir tmp;
    // 2^26 rows x d_model floats: gigabytes claimed by a file of a few kB.
    const std::string path = model_with_unwritten_embedding(tmp, hsize_t(1) << 26);
    const std::string e = error_of([&] { read_model_h5(path); });
    INFO(e);
    CHECK(e.find("/embed/W_E") != std::string::npos);
    CHECK(e.find("stores only") != std::string::npos);
}

TEST_CASE("limits: RASP nesting deeper than the parser's limit is an error naming the line, not a stack overflow") {
    for (const std::string& deep : {std::string(100000, '(') + "tokens" + std::string(100000, ')'),
                                    std::string(100000, '-') + "tokens", [] {
                                        std::string s;
                                        for (int i = 0; i < 100000; ++i) s += "not ";
                                        return s + "tokens";
                                    }()}) {
        const std::string source = "vocab a b\nmax_len 4\nx = map(v -> v, " + deep + ")\noutput x\n";
        const std::string e = error_of([&] { rasp::parse_program(source, "deep.rasp"); });
        INFO(e.substr(0, 200));
        CHECK(e.find("deep.rasp:3:") == 0);
        CHECK(e.find("nested") != std::string::npos);
    }
    // Within the limit, nesting parses.
    const std::string ok = std::string(50, '(') + "tokens" + std::string(50, ')');
    CHECK_NOTHROW(rasp::parse_program("vocab a b\nmax_len 4\nx = " + ok + "\noutput x\n", "ok.rasp"));
}

TEST_CASE("limits: a chain of 5000 defs, each calling the previous, is refused naming the line, not a stack overflow") {
    std::string source = "vocab a b\nmax_len 4\ndef f0(s) = map(v -> v, s)\n";
    for (int i = 1; i < 5000; ++i)
        source += "def f" + std::to_string(i) + "(s) = f" + std::to_string(i - 1) + "(s)\n";
    source += "x = f4999(tokens)\noutput x\n";
    const std::string e = error_of([&] { rasp::parse_program(source, "chain.rasp"); });
    INFO(e.substr(0, 300));
    CHECK(e.find("chain.rasp:") == 0);
    CHECK(e.find("defs nested deeper than") != std::string::npos);
}

namespace {

// Runs circuits as a child under a wall-clock bound; returns its exit status and peak memory.
struct Bounded {
    int exit_status = -1;
    bool finished = false;
    long max_rss_mb = 0;
};

Bounded run_bounded(const std::vector<std::string>& args, double seconds, const std::string& log) {
    test::ChildOptions options;
    options.output_file = log;
    const auto r = test::kill_child_after(args, std::chrono::microseconds(static_cast<long>(seconds * 1e6)), options);
    return {r.exit_status, !r.killed, r.max_rss_kb / 1024};
}

std::string read_log(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

// Stated bounds (README "Reliability"): each of these finishes within 120 s and 2 GiB, sanitizer
// builds included; the Release figures are far below (see the README).
constexpr double kBoundSeconds = 120;
constexpr long kBoundMegabytes = 2048;

TEST_CASE("limits: a wide RASP program (2000 s-ops) compiles or is refused within the stated bounds") {
    TempDir tmp;
    std::string source = "vocab a b c\nmax_len 6\n";
    for (int i = 0; i < 2000; ++i)
        source += "s" + std::to_string(i) + " = map(v -> v == \"a\", tokens)\n";
    source += "y = s0\n";
    for (int i = 1; i < 2000; ++i) source += "y = sequence_map((p, q) -> p and q, y, s" + std::to_string(i) + ")\n";
    source += "output y\n";
    write_text(tmp.file("wide.rasp"), source);
    const auto r = run_bounded({"compile", tmp.file("wide.rasp"), "-o", tmp.file("wide.h5")}, kBoundSeconds,
                               tmp.file("log"));
    INFO(read_log(tmp.file("log")).substr(0, 400));
    CHECK(r.finished);
    CHECK((r.exit_status == 0 || r.exit_status == 1));
    CHECK(r.max_rss_mb < kBoundMegabytes);
}

TEST_CASE("limits: a token file of 10^6 tokens is refused at the line passing the limit, within a second") {
    TempDir tmp;
    const Model planted = read_model_h5(kSource + "/data/models/planted-2l.h5");
    // One line of 10^6 tokens: refused (n_ctx) without holding more than the line.
    std::string line;
    for (int i = 0; i < 1000000; ++i) line += planted.vocab[static_cast<size_t>(1 + i % 24)] + " ";
    write_text(tmp.file("one-line.tokens"), line + "\n");
    CHECK(error_of([&] { analyses::read_token_file(planted, tmp.file("one-line.tokens")); }).find(":1: ") !=
          std::string::npos);
    // 10^6 tokens as sequences of 30: refused once the total passes 65536 (line 2115 = ceil(65537 / 31)).
    std::string lines;
    for (int i = 0; i < 1000000; ++i)
        lines += planted.vocab[static_cast<size_t>(1 + i % 24)] + ((i + 1) % 30 == 0 ? "\n" : " ");
    write_text(tmp.file("many.tokens"), lines + "\n");
    const std::string e = error_of([&] { analyses::read_token_file(planted, tmp.file("many.tokens")); });
    INFO(e);
    CHECK(e.find(tmp.file("many.tokens") + ":2115: more than 65536 tokens") == 0);
    // Under the limit the same lines are read.
    std::string few;
    for (int i = 0; i < 3000; ++i) few += planted.vocab[static_cast<size_t>(1 + i % 24)] + ((i + 1) % 30 == 0 ? "\n" : " ");
    write_text(tmp.file("few.tokens"), few);
    CHECK(analyses::read_token_file(planted, tmp.file("few.tokens")).size() == 100);
}
