#include "core/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>

namespace fcn {

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? static_cast<int>(hc) : 1;
}

ThreadPool::ThreadPool(int num_threads) {
  num_threads = std::max(1, num_threads);
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_ && queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

int ThreadPool::threads_for(int64_t n, int max_threads) const {
  int t = num_threads();
  if (max_threads > 0) t = std::min(t, max_threads);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(t, n)));
}

namespace {
// Shared between the caller and its helpers. Helpers that start after the work is claimed
// only touch the counters (they hold the state alive), never fn, which lives on the caller's
// stack.
struct ForState {
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::atomic<int> slots{1};
  int64_t n = 0;
  const std::function<void(int64_t, int)>* fn = nullptr;
  std::mutex mu;
  std::condition_variable cv;
};

void drain(ForState& s, int slot) {
  int64_t finished = 0;
  for (;;) {
    int64_t i = s.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= s.n) break;
    (*s.fn)(i, slot);
    ++finished;
  }
  if (finished && s.done.fetch_add(finished, std::memory_order_acq_rel) + finished == s.n) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.cv.notify_all();
  }
}
}  // namespace

void ThreadPool::parallel_for(int64_t n, int max_threads,
                              const std::function<void(int64_t, int)>& fn) {
  if (n <= 0) return;
  int threads = threads_for(n, max_threads);
  if (threads == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  auto state = std::make_shared<ForState>();
  state->n = n;
  state->fn = &fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int h = 1; h < threads; ++h) {
      queue_.emplace_back([state] {
        if (state->next.load(std::memory_order_relaxed) >= state->n) return;
        int slot = state->slots.fetch_add(1);
        drain(*state, slot);
      });
    }
  }
  cv_.notify_all();
  drain(*state, 0);
  std::unique_lock<std::mutex> lock(state->mu);
  state->cv.wait(lock, [&] { return state->done.load(std::memory_order_acquire) == n; });
}

ThreadPool& ThreadPool::global() {
  static ThreadPool* pool = [] {
    int n = available_cpus();
    if (const char* env = std::getenv("FCNKIT_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) n = v;
    }
    return new ThreadPool(n);  // never destroyed: workers may outlive static destructors' order
  }();
  return *pool;
}

}  // namespace fcn
