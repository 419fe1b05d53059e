// Worker threads owned by one addon instance (one per Node environment, so worker_threads each
// get their own). A job is a loop over task indexes; the thread that submits it works on it too,
// so progress never depends on a pool thread being free, and concurrent jobs share the threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace dus {

class ThreadPool {
 public:
  ThreadPool() = default;
  // Stops and joins every thread. The environment's cleanup runs after all queued async work has
  // finished, so no job is in flight by then.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs body(i) once for every i in [0, count) on up to `parallelism` threads, the caller
  // included, and returns when all have run. Which thread runs which index is unspecified, so
  // bodies write to per-index slots. The first exception a body throws is rethrown here; indexes
  // not yet started are then skipped.
  void ParallelFor(size_t count, unsigned parallelism, const std::function<void(size_t)>& body);

  // Threads the pool may start at most (helpers beyond the caller).
  static constexpr unsigned kMaxThreads = 255;

 private:
  struct Job;
  std::shared_ptr<Job> FindOpenJob();
  void StartThreads(unsigned wanted);
  void WorkerLoop();
  static void RunTasks(Job& job);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable helperDone_;
  std::deque<std::shared_ptr<Job>> jobs_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

// CPUs this process may run on (affinity mask where the system has one), at least 1.
unsigned AvailableConcurrency();

}  // namespace dus
