// A minimal parallel loop over task indices, shared by the blocked factored products and the passes.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace circuits {

// The number of worker threads to use: `requested`, or the hardware concurrency when it is <= 0.
inline int resolve_threads(int requested) {
    if (requested > 0) return requested;
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Calls fn(worker, task) for every task in [0, n_tasks) on up to `threads` threads (0 = hardware
// concurrency). Each worker takes tasks in increasing order, so per-worker state sees its tasks in
// index order. `worker` is in [0, number of workers), see parallel_workers(). The first exception
// thrown by any task is rethrown here after every worker has stopped.
template <typename Fn>
void parallel_for(std::int64_t n_tasks, int threads, Fn&& fn) {
    if (n_tasks <= 0) return;
    const int workers = static_cast<int>(std::min<std::int64_t>(resolve_threads(threads), n_tasks));
    std::atomic<std::int64_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto work = [&](int worker) {
        for (std::int64_t t = next++; t < n_tasks && !failed; t = next++) {
            try {
                fn(worker, t);
            } catch (...) {
                std::lock_guard<std::mutex> lock(failure_mutex);
                if (!failure) failure = std::current_exception();
                failed = true;
            }
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(workers - 1));
    for (int w = 1; w < workers; ++w) pool.emplace_back(work, w);
    work(0);
    for (auto& t : pool) t.join();
    if (failure) std::rethrow_exception(failure);
}

// The number of distinct `worker` values parallel_for(n_tasks, threads, ...) passes.
inline int parallel_workers(std::int64_t n_tasks, int threads) {
    return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(resolve_threads(threads), n_tasks)));
}

}  // namespace circuits
