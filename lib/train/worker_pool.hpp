// A fixed set of threads that run the tasks of one parallel loop at a time (the calling thread helps).
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace circuits::train {

// run(n, fn) calls fn(task, worker) for task = 0..n-1, spread over the workers, and returns when all
// are done; worker is in [0, size()). Which worker runs which task varies from call to call, so
// callers must make results independent of it (each task writes its own output).
class WorkerPool {
public:
    // `threads` workers in all, the caller included; 0 = the machine's hardware concurrency.
    explicit WorkerPool(int threads);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    int size() const { return m_size; }
    // Rethrows the first exception a task threw, after every task has finished.
    void run(int tasks, const std::function<void(int task, int worker)>& fn);

private:
    int m_size = 1;
    std::vector<std::thread> m_threads;
    std::mutex m_mutex;
    std::condition_variable m_wake, m_done;
    const std::function<void(int, int)>* m_fn = nullptr;
    int m_tasks = 0, m_next = 0, m_running = 0;
    long m_generation = 0;
    bool m_stop = false;
    std::exception_ptr m_failure;

    void work(int worker);
    void drain(int worker, std::unique_lock<std::mutex>& lock);
};

}  // namespace circuits::train
