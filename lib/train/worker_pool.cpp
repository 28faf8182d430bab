// The trainer's persistent worker threads: one mutex, a generation counter, tasks taken in order.
#include "lib/train/worker_pool.hpp"

#include <algorithm>

namespace circuits::train {

WorkerPool::WorkerPool(int threads) {
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    m_size = threads;
    for (int w = 1; w < threads; ++w) m_threads.emplace_back([this, w] { work(w); });
}

WorkerPool::~WorkerPool() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    for (auto& t : m_threads) t.join();
}

// Takes tasks until none are left; called with the lock held, releases it while a task runs.
void WorkerPool::drain(int worker, std::unique_lock<std::mutex>& lock) {
    while (m_next < m_tasks) {
        const int task = m_next++;
        ++m_running;
        lock.unlock();
        try {
            (*m_fn)(task, worker);
        } catch (...) {
            lock.lock();
            if (!m_failure) m_failure = std::current_exception();
            lock.unlock();
        }
        lock.lock();
        if (--m_running == 0 && m_next >= m_tasks) m_done.notify_all();
    }
}

void WorkerPool::work(int worker) {
    long seen = 0;
    std::unique_lock<std::mutex> lock(m_mutex);
    for (;;) {
        m_wake.wait(lock, [&] { return m_stop || m_generation != seen; });
        if (m_stop) return;
        seen = m_generation;
        drain(worker, lock);
    }
}

void WorkerPool::run(int tasks, const std::function<void(int, int)>& fn) {
    if (tasks <= 0) return;
    std::unique_lock<std::mutex> lock(m_mutex);
    m_fn = &fn;
    m_tasks = tasks;
    m_next = 0;
    m_failure = nullptr;
    ++m_generation;
    if (!m_threads.empty() && tasks > 1) m_wake.notify_all();
    drain(0, lock);
    m_done.wait(lock, [&] { return m_running == 0 && m_next >= m_tasks; });
    m_fn = nullptr;
    m_tasks = 0;
    if (m_failure) {
        auto f = m_failure;
        m_failure = nullptr;
        std::rethrow_exception(f);
    }
}

}  // namespace circuits::train
