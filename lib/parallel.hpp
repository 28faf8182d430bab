// The one parallel loop: a pool of worker threads (persistent, for callers that loop many times) and
// parallel_for on a pool made for one loop. Every parallel loop of lib, the passes and the trainer is
// one of these, with one argument order: fn(worker, task).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace circuits {

// The number of worker threads to use: `requested`, or the hardware concurrency when it is <= 0.
inline int resolve_threads(int requested) {
    if (requested > 0) return requested;
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// The number of distinct `worker` values parallel_for(n_tasks, threads, ...) passes.
inline int parallel_workers(std::int64_t n_tasks, int threads) {
    return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(resolve_threads(threads), n_tasks)));
}

// run(n, fn) calls fn(worker, task) for task = 0..n-1 and returns when all are done; worker is in
// [0, size()), the calling thread being worker 0. Tasks are handed out in increasing order, so
// per-worker state sees its tasks in index order; which worker runs which task varies from call to
// call, so results must not depend on it (each task writes its own output). After a task throws no
// further task is started, and run rethrows the first exception once every running task has ended.
class WorkerPool {
public:
    using Task = std::function<void(int worker, std::int64_t task)>;

    // `threads` workers in all, the caller included; 0 = the machine's hardware concurrency.
    explicit WorkerPool(int threads);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    int size() const { return m_size; }
    void run(std::int64_t tasks, const Task& fn);

private:
    int m_size = 1;
    std::vector<std::thread> m_threads;
    std::mutex m_mutex;
    std::condition_variable m_wake, m_done;
    const Task* m_fn = nullptr;
    std::int64_t m_tasks = 0, m_next = 0;
    int m_running = 0;
    long m_generation = 0;
    bool m_stop = false;
    std::exception_ptr m_failure;

    void work(int worker);
    void drain(int worker, std::unique_lock<std::mutex>& lock);
};

// Calls fn(worker, task) for every task in [0, n_tasks) on up to `threads` threads (0 = hardware
// concurrency): WorkerPool::run on a pool of parallel_workers(n_tasks, threads) made for this loop.
template <typename Fn>
void parallel_for(std::int64_t n_tasks, int threads, Fn&& fn) {
    if (n_tasks <= 0) return;
    WorkerPool pool(parallel_workers(n_tasks, threads));
    pool.run(n_tasks, WorkerPool::Task(std::ref(fn)));
}

}  // namespace circuits
