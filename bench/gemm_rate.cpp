// Measures the machine's single-precision GEMM rate with Eigen, built with the same flags as circuits:
// one thread, and one independent GEMM per thread on N threads at once (Eigen itself is not threaded).
#include <Eigen/Dense>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

namespace {

using Matrix = Eigen::MatrixXf;

Matrix random_matrix(int rows, int cols, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    Matrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
    return m;
}

double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

struct Timing {
    double wall, cpu;
};

// Wall and CPU seconds for `reps` products [m, k] x [k, n] on each of `threads` threads at once.
Timing time_gemm(int m, int k, int n, int reps, int threads) {
    std::vector<Matrix> A, B, C(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t) {
        A.push_back(random_matrix(m, k, 1 + t));
        B.push_back(random_matrix(k, n, 100 + t));
    }
    const auto start = std::chrono::steady_clock::now();
    const double cpu0 = cpu_seconds();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (int r = 0; r < reps; ++r) C[static_cast<size_t>(t)].noalias() = A[static_cast<size_t>(t)] * B[static_cast<size_t>(t)];
        });
    for (auto& th : pool) th.join();
    return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), cpu_seconds() - cpu0};
}

}  // namespace

int main(int argc, char** argv) {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
    // The shape of the passes' largest products: [d_model, d_vocab] x [d_vocab, d_model], and a square one.
    struct Shape { int m, k, n, reps; const char* name; };
    const Shape shapes[] = {{512, 48262, 512, 3, "512x48262x512"}, {2048, 2048, 2048, 2, "2048^3"}};
    // Rates: GFLOP per wall second, and per CPU second (the rate of one core, undistorted by other load).
    for (const auto& s : shapes) {
        time_gemm(s.m, s.k, s.n, 1, 1);  // warm up
        const Timing one = time_gemm(s.m, s.k, s.n, s.reps, 1);
        const Timing all = time_gemm(s.m, s.k, s.n, s.reps, threads);
        const double flops = 2.0 * s.m * s.k * s.n * s.reps;
        std::printf("{\"shape\": \"%s\", \"threads\": %d, \"gflops_1_thread_wall\": %.2f, \"gflops_per_cpu_second\": %.2f, "
                    "\"gflops_all_threads_wall\": %.2f}\n",
                    s.name, threads, flops / one.wall / 1e9, flops / one.cpu / 1e9, threads * flops / all.wall / 1e9);
    }
    return 0;
}
