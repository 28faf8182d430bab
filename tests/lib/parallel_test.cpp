// Tests of the one parallel loop: every task runs once with a valid worker id, a pool is reusable,
// and a failing task's exception reaches the caller with no task started after it.
#include "lib/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <stdexcept>

#include "tests/test_util.hpp"

namespace circuits {

TEST_CASE("parallel_for and WorkerPool: every task once, worker ids in range, tasks in order per worker") {
    for (int threads : {1, 3, 8}) {
        constexpr std::int64_t kTasks = 200;
        std::vector<int> runs(kTasks, 0), worker_of(kTasks, -1);
        const int workers = parallel_workers(kTasks, threads);
        std::vector<std::int64_t> last(static_cast<size_t>(workers), -1);
        std::vector<char> in_order(static_cast<size_t>(workers), 1);  // per worker: no shared writes
        parallel_for(kTasks, threads, [&](int w, std::int64_t t) {
            ++runs[static_cast<size_t>(t)];
            worker_of[static_cast<size_t>(t)] = w;
            in_order[static_cast<size_t>(w)] = in_order[static_cast<size_t>(w)] && t > last[static_cast<size_t>(w)];
            last[static_cast<size_t>(w)] = t;
        });
        CAPTURE(threads);
        CHECK(std::all_of(in_order.begin(), in_order.end(), [](char ok) { return ok != 0; }));
        for (std::int64_t t = 0; t < kTasks; ++t) {
            CHECK(runs[static_cast<size_t>(t)] == 1);
            CHECK(worker_of[static_cast<size_t>(t)] >= 0);
            CHECK(worker_of[static_cast<size_t>(t)] < workers);
        }
    }
    WorkerPool pool(4);
    CHECK(pool.size() == 4);
    for (int round = 0; round < 3; ++round) {
        std::atomic<std::int64_t> sum{0};
        pool.run(100, [&](int, std::int64_t t) { sum += t; });
        CHECK(sum == 4950);
    }
}

TEST_CASE("parallel_for: the first exception is rethrown after the running tasks end; later tasks do not start") {
    std::atomic<int> started{0};
    CHECK_THROWS_AS(parallel_for(1000, 1,
                                 [&](int, std::int64_t t) {
                                     ++started;
                                     if (t == 10) throw std::runtime_error("task 10");
                                 }),
                    std::runtime_error);
    CHECK(started == 11);  // one worker: tasks 0..10, then nothing
    WorkerPool pool(3);
    CHECK_THROWS_AS(pool.run(5, [](int, std::int64_t) { throw std::logic_error("x"); }), std::logic_error);
    std::atomic<int> after{0};
    pool.run(7, [&](int, std::int64_t) { ++after; });  // the pool still works after a failure
    CHECK(after == 7);
}

}  // namespace circuits
