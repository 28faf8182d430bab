// check_hdf5_file (lib/hdf5_check.cpp): files that crash or hang the HDF5 library itself are
// refused with an Error naming them, in every reader and in the command line; good files pass.
#include <cstdlib>
#include <filesystem>

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/hdf5_check.hpp"
#include "lib/model_io.hpp"
#include "reports/results_reader.hpp"
#include "tests/lib/io_test_util.hpp"
#include "tests/test_util.hpp"

namespace fs = std::filesystem;

namespace circuits {

namespace {

const std::string kRegressions = test::source_dir() + "/tests/fuzz/regressions";

// The inputs a fuzzer found that fault inside the HDF5 library (tests/fuzz/regressions/README.md).
const char* const kLibraryFaults[] = {"hdf5_model/hdf5_model-H5HG_read-memcpy-overlap.h5",
                                      "hdf5_model/hdf5_model-vlen-read-leak.h5",
                                      "results/results-H5A__close-segv.h5", "results/results-attribute-read-hang.h5"};

using test::error_of;

// Replaces the bytes of `to` with those of `from`.
void copy_bytes(const std::string& from, const std::string& to) { test::write_bytes(to, test::read_bytes(from)); }

// Sets an environment variable for one scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : m_name(name) { setenv(name, value, 1); }
    ~ScopedEnv() { unsetenv(m_name); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* m_name;
};

}  // namespace

TEST_CASE("hdf5 check: each file that faults inside the HDF5 library is refused by name, and this process goes on") {
    for (const char* name : kLibraryFaults) {
        const std::string path = kRegressions + "/" + name;
        CAPTURE(path);
        const std::string opened = error_of([&] { H5Reader r(path); });
        CHECK(opened.find(path + ": ") == 0);
        CHECK(opened.find("corrupt HDF5 file") != std::string::npos);
        const bool model = std::string(name).find("hdf5_model/") == 0;
        const std::string read = model ? error_of([&] { read_model_h5(path); })
                                       : error_of([&] { reports::ResultsReader r(path); });
        CHECK(read == opened);
    }
}

TEST_CASE("hdf5 check: the command line exits 1 naming a file that crashes the HDF5 library") {
    const std::string path = kRegressions + "/hdf5_model/hdf5_model-H5HG_read-memcpy-overlap.h5";
    const test::CliResult r = test::cli({"inspect", path});
    CHECK(r.status == 1);
    CHECK(r.err.find(path) != std::string::npos);
    CHECK(r.err.find("corrupt HDF5 file") != std::string::npos);
    CHECK(r.out.empty());
}

TEST_CASE("hdf5 check: a file that passed is checked again once it is rewritten") {
    test::TempDir tmp;
    const std::string path = tmp.file("model.h5");
    copy_bytes(test::source_dir() + "/data/models/compiled/count.h5", path);
    CHECK_NOTHROW(check_hdf5_file(path));
    CHECK_NOTHROW(read_model_h5(path));
    copy_bytes(kRegressions + "/hdf5_model/hdf5_model-H5HG_read-memcpy-overlap.h5", path);
    const std::string e = error_of([&] { read_model_h5(path); });
    CHECK(e.find(path + ": ") == 0);
    CHECK(e.find("corrupt HDF5 file") != std::string::npos);
}

TEST_CASE("hdf5 check: a file HDF5 takes longer to read than the limit is refused, naming the limit") {
    test::TempDir tmp;
    const std::string path = tmp.file("big.h5");
    {
        H5Writer w(path);
        w.write("big", Array<float>::filled({4096, 4096}, 1.0f));  // 64 MiB: four blocks
        w.close();
    }
    {
        const ScopedEnv limit("CIRCUITS_HDF5_CHECK_MS", "1");
        const std::string e = error_of([&] { H5Reader r(path); });
        CHECK(e.find(path + ": corrupt HDF5 file: the HDF5 library did not finish reading it within 1 ms") == 0);
    }
    CHECK_NOTHROW(H5Reader{path});  // the default limit, 20 s and 1 s per 16 MiB
}

TEST_CASE("hdf5 check: CIRCUITS_HDF5_CHECK=0 leaves the check out") {
    test::TempDir tmp;
    const std::string path = tmp.file("big.h5");
    {
        H5Writer w(path);
        w.write("big", Array<float>::filled({1024, 1024}, 1.0f));
        w.close();
    }
    const ScopedEnv limit("CIRCUITS_HDF5_CHECK_MS", "1");
    const ScopedEnv off("CIRCUITS_HDF5_CHECK", "0");
    CHECK_NOTHROW(H5Reader{path});
}

}  // namespace circuits
