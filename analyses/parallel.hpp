// The passes' form of the shared parallel loop (lib/parallel.hpp): work items by index, no worker id.
#pragma once

#include "lib/parallel.hpp"

#include <utility>

namespace circuits::analyses::detail {

// The number of threads to use: `requested`, or the hardware concurrency when requested <= 0.
inline int thread_count(int requested) { return resolve_threads(requested); }

// Calls body(i) for i in [0, n) on up to `threads` threads (0 = hardware concurrency), items handed
// out in order. The first exception thrown by any item is rethrown after every thread has stopped.
template <typename Body>
void parallel_for(int n, int threads, Body&& body) {
    circuits::parallel_for(n, threads, [&](int, std::int64_t i) { body(static_cast<int>(i)); });
}

}  // namespace circuits::analyses::detail
