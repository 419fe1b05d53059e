#include "thread-pool.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <system_error>

#if defined(__linux__)
#include <sched.h>
#endif

namespace dus {

struct ThreadPool::Job {
  const std::function<void(size_t)>* body = nullptr;
  size_t count = 0;
  unsigned maxHelpers = 0;
  // Guarded by the pool's mutex.
  unsigned joinedHelpers = 0;
  unsigned activeHelpers = 0;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex errorMutex;
  std::exception_ptr error;
};

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void ThreadPool::RunTasks(Job& job) {
  while (!job.failed.load(std::memory_order_relaxed)) {
    const size_t index = job.next.fetch_add(1, std::memory_order_relaxed);
    if (index >= job.count) return;
    try {
      (*job.body)(index);
    } catch (...) {
      std::lock_guard<std::mutex> lock(job.errorMutex);
      if (!job.error) job.error = std::current_exception();
      job.failed.store(true, std::memory_order_relaxed);
    }
  }
}

std::shared_ptr<ThreadPool::Job> ThreadPool::FindOpenJob() {
  for (const auto& job : jobs_) {
    if (job->joinedHelpers < job->maxHelpers && job->next.load(std::memory_order_relaxed) < job->count &&
        !job->failed.load(std::memory_order_relaxed)) {
      return job;
    }
  }
  return nullptr;
}

void ThreadPool::StartThreads(unsigned wanted) {
  wanted = std::min(wanted, kMaxThreads);
  while (threads_.size() < wanted) {
    try {
      threads_.emplace_back([this] { WorkerLoop(); });
    } catch (const std::system_error&) {
      // Out of threads: the caller still works through the job, just with fewer helpers.
      return;
    }
  }
}

void ThreadPool::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    std::shared_ptr<Job> job;
    wake_.wait(lock, [&] {
      if (stopping_) return true;
      job = FindOpenJob();
      return job != nullptr;
    });
    if (stopping_) return;
    ++job->joinedHelpers;
    ++job->activeHelpers;
    lock.unlock();
    RunTasks(*job);
    lock.lock();
    if (--job->activeHelpers == 0) helperDone_.notify_all();
  }
}

void ThreadPool::ParallelFor(size_t count, unsigned parallelism, const std::function<void(size_t)>& body) {
  if (count == 0) return;
  const size_t helpers = std::min<size_t>(parallelism > 0 ? parallelism - 1 : 0, count - 1);
  if (helpers == 0) {
    for (size_t index = 0; index < count; ++index) body(index);
    return;
  }
  auto job = std::make_shared<Job>();
  job->body = &body;
  job->count = count;
  job->maxHelpers = static_cast<unsigned>(std::min<size_t>(helpers, kMaxThreads));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    StartThreads(job->maxHelpers);
    jobs_.push_back(job);
  }
  wake_.notify_all();
  RunTasks(*job);
  {
    // Every index is claimed once the caller's loop ends; after the job leaves the queue no
    // helper can join, so waiting for the active ones is enough.
    std::unique_lock<std::mutex> lock(mutex_);
    jobs_.erase(std::find(jobs_.begin(), jobs_.end(), job));
    helperDone_.wait(lock, [&] { return job->activeHelpers == 0; });
  }
  if (job->error) std::rethrow_exception(job->error);
}

unsigned AvailableConcurrency() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return static_cast<unsigned>(count);
  }
#endif
  const unsigned count = std::thread::hardware_concurrency();
  return count > 0 ? count : 1;
}

}  // namespace dus
