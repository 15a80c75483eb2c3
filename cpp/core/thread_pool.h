// The core's one thread pool. Several callers (concurrent async ops, concurrent model runs)
// share it; each parallel_for caps how many threads it uses and the caller always works too,
// so a call never waits for a pool thread that another call keeps busy.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fcn {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);  // total threads including the caller
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(i, thread_slot) for i in [0, n), on at most max_threads threads (<= 0: all).
  // thread_slot is in [0, used_threads) and unique among concurrently running chunks of
  // this call, so callers can give each slot its own scratch buffer.
  void parallel_for(int64_t n, int max_threads, const std::function<void(int64_t, int)>& fn);

  // Threads a call with this cap will use for n items.
  int threads_for(int64_t n, int max_threads) const;

  // The process-wide pool, created on first use with the CPUs this process may run on.
  static ThreadPool& global();

 private:
  void worker_loop();
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
};

// CPUs in this process's affinity mask (sched_getaffinity), at least 1.
int available_cpus();

}  // namespace fcn
