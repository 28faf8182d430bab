// Times one model's head circuits three ways in one process: the previous tiled path (reduce_rows:
// Eigen GEMM tiles, then a scan), the top-k engine's dense path and its automatic path; checks that the
// engine's two paths agree bit for bit. Prints one JSON line per circuit.
// Usage: topk_bench MODEL.h5 [HEADS] [THREADS] [bounded]   (the first HEADS heads of layer 0, and of the
// last layer; `bounded`: the engine's bounded path instead of its automatic choice)
// The weights are read raw (no LayerNorm folding, no centering) with the HDF5 C API, so that this probe
// needs only the engine and factored_matrix from the library.
#include <hdf5.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <stdexcept>
#include <vector>

#include "lib/factored_matrix.hpp"
#include "lib/topk_engine.hpp"

namespace {

using namespace circuits;

double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Dataset `name` of `file` as float32, with its dimensions.
std::vector<float> read(hid_t file, const std::string& name, std::vector<hsize_t>& dims) {
    const hid_t d = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
    if (d < 0) throw std::runtime_error("no dataset " + name);
    const hid_t sp = H5Dget_space(d);
    dims.assign(size_t(H5Sget_simple_extent_ndims(sp)), 0);
    H5Sget_simple_extent_dims(sp, dims.data(), nullptr);
    size_t n = 1;
    for (auto x : dims) n *= size_t(x);
    std::vector<float> out(n);
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data());
    H5Sclose(sp);
    H5Dclose(d);
    return out;
}

// Row-major [rows, cols] data (offset `first`) as a Matrix.
Matrix matrix(const std::vector<float>& v, size_t first, Eigen::Index rows, Eigen::Index cols) {
    return Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(v.data() + first, rows,
                                                                                                  cols);
}

bool same(const TopKReduction& a, const TopKReduction& b) {
    auto eq = [](const auto& x, const auto& y) {
        return x.size() == y.size() && std::memcmp(x.data(), y.data(), sizeof(*x.data()) * size_t(x.size())) == 0;
    };
    return eq(a.row_indices, b.row_indices) && eq(a.row_values, b.row_values) && eq(a.column_indices, b.column_indices) &&
           eq(a.column_values, b.column_values) && eq(a.diagonal_rank, b.diagonal_rank) && eq(a.diagonal, b.diagonal);
}

TopKMode g_mode = TopKMode::automatic;

void bench(const char* name, int l, int h, const FactoredMatrix& f, bool columns, int threads) {
    RowReduceOptions ro;
    ro.top_k = 10;
    ro.column_top_k = columns ? 10 : 0;
    ro.diagonal = true;
    ro.threads = threads;
    double c0 = cpu_seconds();
    const RowReduction old = reduce_rows(f, ro);
    const double t_old = cpu_seconds() - c0;
    TopKOptions o;
    o.top_k = 10;
    o.column_top_k = ro.column_top_k;
    o.diagonal = true;
    o.threads = threads;
    o.mode = TopKMode::dense;
    c0 = cpu_seconds();
    const TopKReduction dense = reduce_top_k(f, o);
    const double t_dense = cpu_seconds() - c0;
    o.mode = g_mode;
    c0 = cpu_seconds();
    const TopKReduction autom = reduce_top_k(f, o);
    const double t_auto = cpu_seconds() - c0;
    // The previous path rounds differently (Eigen's GEMM order): count its top-1 agreements only.
    long top1 = 0;
    for (Eigen::Index i = 0; i < old.row_indices.rows(); ++i) top1 += old.row_indices(i, 0) == dense.row_indices(i, 0);
    std::printf(
        "{\"circuit\": \"%s\", \"layer\": %d, \"head\": %d, \"cpu_previous\": %.3f, \"cpu_engine_dense\": %.3f, "
        "\"cpu_engine_auto\": %.3f, \"auto_bounded\": %s, \"approx_rank\": %ld, \"exact_share\": %.4f, "
        "\"auto_equals_dense\": %s, \"top1_agreement_with_previous\": %.5f}\n",
        name, l, h, t_old, t_dense, t_auto, autom.stats.bounded ? "true" : "false", long(autom.stats.approx_rank),
        autom.stats.exact_entries / autom.stats.entries, same(dense, autom) ? "true" : "false",
        double(top1) / double(old.row_indices.rows()));
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: topk_bench MODEL.h5 [HEADS] [THREADS]\n");
        return 2;
    }
    try {
        const hid_t file = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
        if (file < 0) throw std::runtime_error(std::string("cannot open ") + argv[1]);
        std::vector<hsize_t> dE, dU, dW;
        const auto E = read(file, "embed/W_E", dE), U = read(file, "unembed/W_U", dU);
        const Matrix W_E = matrix(E, 0, Eigen::Index(dE[0]), Eigen::Index(dE[1]));
        const Matrix W_U = matrix(U, 0, Eigen::Index(dU[0]), Eigen::Index(dU[1]));
        int n_layers = 0;
        const hid_t at = H5Aopen(file, "n_layers", H5P_DEFAULT);
        H5Aread(at, H5T_NATIVE_INT, &n_layers);
        H5Aclose(at);
        const int heads = argc > 2 ? std::atoi(argv[2]) : 1, threads = argc > 3 ? std::atoi(argv[3]) : 0;
        if (argc > 4 && std::string(argv[4]) == "bounded") g_mode = TopKMode::bounded;
        const std::vector<int> layers = n_layers > 1 ? std::vector<int>{0, n_layers - 1} : std::vector<int>{0};
        for (int l : layers) {
            const std::string b = "blocks/" + std::to_string(l) + "/attn/";
            const auto Q = read(file, b + "W_Q", dW), K = read(file, b + "W_K", dW), V = read(file, b + "W_V", dW);
            std::vector<hsize_t> dO;
            const auto O = read(file, b + "W_O", dO);
            const auto D = Eigen::Index(dW[1]), dh = Eigen::Index(dW[2]);
            for (int h = 0; h < std::min<int>(heads, int(dW[0])); ++h) {
                const size_t off = size_t(h) * size_t(D * dh);
                bench("ov", l, h,
                      FactoredMatrix(parallel_product(W_E, matrix(V, off, D, dh), threads),
                                     parallel_product(matrix(O, off, dh, D), W_U, threads)),
                      false, threads);
                const Matrix EK = parallel_product(W_E, matrix(K, off, D, dh), threads);
                bench("qk", l, h, FactoredMatrix(parallel_product(W_E, matrix(Q, off, D, dh), threads), EK.transpose()),
                      true, threads);
            }
        }
        H5Fclose(file);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "topk_bench: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
