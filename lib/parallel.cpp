// The worker pool: one mutex, a generation counter per run, tasks taken in order.
#include "lib/parallel.hpp"

namespace circuits {

WorkerPool::WorkerPool(int threads) : m_size(resolve_threads(threads)) {
    for (int w = 1; w < m_size; ++w) m_threads.emplace_back([this, w] { work(w); });
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
        const std::int64_t task = m_next++;
        ++m_running;
        lock.unlock();
        try {
            (*m_fn)(worker, task);
        } catch (...) {
            lock.lock();
            if (!m_failure) m_failure = std::current_exception();
            m_next = m_tasks;  // start nothing more
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

void WorkerPool::run(std::int64_t tasks, const Task& fn) {
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

}  // namespace circuits
