// A minimal parallel loop over independent work items, shared by the passes that split their work.
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace circuits::analyses::detail {

// The number of threads to use: `requested`, or the hardware concurrency when requested <= 0.
inline int thread_count(int requested) {
    if (requested > 0) return requested;
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Calls body(i) for i in [0, n) on up to `threads` threads (0 = hardware concurrency), items handed
// out in order. The first exception thrown by any item is rethrown after every thread has joined.
template <typename Body>
void parallel_for(int n, int threads, Body&& body) {
    if (n <= 0) return;
    const int t = std::min(thread_count(threads), n);
    if (t == 1) {
        for (int i = 0; i < n; ++i) body(i);
        return;
    }
    std::atomic<int> next{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto work = [&] {
        for (int i = next++; i < n; i = next++) {
            try {
                body(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(failure_mutex);
                if (!failure) failure = std::current_exception();
            }
        }
    };
    std::vector<std::thread> pool;
    for (int k = 1; k < t; ++k) pool.emplace_back(work);
    work();
    for (auto& th : pool) th.join();
    if (failure) std::rethrow_exception(failure);
}

}  // namespace circuits::analyses::detail
