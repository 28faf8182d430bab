// Shared test helpers: tolerances, check_near reporting the first differing entry, temp folders, CLI runs.
#pragma once

#include "cli/cli.hpp"
#include "lib/model.hpp"

#include <doctest/doctest.h>

#include <Eigen/Dense>

#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace circuits::test {

inline constexpr double kFloatTol = 1e-5;   // relative, float32 computations
inline constexpr double kDoubleTol = 1e-10;

// Whether this build runs under AddressSanitizer (scripts/test.sh's sanitizer suite), where a forward
// pass is some 30 times slower: the few exhaustive checks that take minutes there check less.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// Checks |got - want| <= tol * max(1, max|want|) entrywise; reports the first (row, col) that differs.
template <typename A, typename B>
void check_near(const Eigen::MatrixBase<A>& got, const Eigen::MatrixBase<B>& want, double tol,
                const std::string& what = "") {
    REQUIRE_MESSAGE(got.rows() == want.rows(), what << ": rows " << got.rows() << " vs " << want.rows());
    REQUIRE_MESSAGE(got.cols() == want.cols(), what << ": cols " << got.cols() << " vs " << want.cols());
    double scale = 1.0;
    for (Eigen::Index r = 0; r < want.rows(); ++r)
        for (Eigen::Index c = 0; c < want.cols(); ++c) scale = std::max(scale, std::abs(double(want(r, c))));
    for (Eigen::Index r = 0; r < want.rows(); ++r)
        for (Eigen::Index c = 0; c < want.cols(); ++c) {
            const double g = double(got(r, c)), w = double(want(r, c));
            if (!(std::abs(g - w) <= tol * scale)) {
                FAIL_CHECK(what << ": first difference at (" << r << ", " << c << "): got " << g << ", want " << w
                                << " (tol " << tol * scale << ")");
                return;
            }
        }
}

// A fresh folder under the system temp dir, removed when the object goes out of scope.
class TempDir {
public:
    TempDir() {
        static int counter = 0;
        std::random_device rd;
        m_path = std::filesystem::temp_directory_path() /
                 ("circuits-test-" + std::to_string(rd()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(m_path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    std::string file(const std::string& name) const { return (m_path / name).string(); }
    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

struct CliResult {
    int status;
    std::string out;
    std::string err;
};

inline CliResult cli(const std::vector<std::string>& args) {
    std::ostringstream out, err;
    const int status = circuits::cli::run_cli(args, out, err);
    return {status, out.str(), err.str()};
}

// Fills a matrix with N(0, std^2) entries from `rng`.
inline Matrix random_matrix(std::mt19937& rng, Eigen::Index rows, Eigen::Index cols, float std = 1.0f) {
    std::normal_distribution<float> d(0.0f, std);
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
    return m;
}

// A model with every weight (biases and LN parameters included) random, for numerics tests.
Model random_model(const ModelConfig& cfg, unsigned seed);

// A small config with the given positional and normalisation types.
ModelConfig small_config(PositionalEmbedding pos, Normalization norm, int d_mlp = 0);

inline std::string source_dir() { return CIRCUITS_SOURCE_DIR; }

}  // namespace circuits::test
