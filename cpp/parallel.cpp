// fastoptim's own thread pool (std::thread), instead of an OpenMP runtime:
// * fork-safe: a child process forked at any moment (multiprocessing's fork start method,
//   Pool.map) gets a fresh, empty pool and starts its own workers on its first parallel step;
//   libgomp's pool, inherited without its threads, hangs the child's first parallel region;
// * it coexists with the OpenMP runtime of torch or NumPy's BLAS in one process: its workers
//   spin only briefly after a step and then sleep, so they never hold a core for long
//   against another runtime's threads;
// * the same on every compiler and platform (no OpenMP needed to build).
// A parallel step splits into n ranges; the calling thread runs range 0, workers claim the
// others, and the caller runs any still unclaimed when it is done (see Pool::run). One step at a time uses the pool: a step that finds it busy
// (another Python thread stepping another optimizer) runs its ranges on its own thread, which
// gives the same bits.
#include "parallel.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#define FASTOPTIM_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define FASTOPTIM_PAUSE() __asm__ __volatile__("yield")
#else
#define FASTOPTIM_PAUSE() ((void)0)
#endif

namespace fastoptim {
namespace {

// How long an idle worker (or the waiting caller) spins before it sleeps: long enough that
// back-to-back steps (a benchmark, a training loop of tiny models) find the workers awake,
// short enough that a worker never competes for long with the threads of another runtime.
constexpr auto kSpin = std::chrono::microseconds(50);

class Pool {
 public:
  // Runs body(ctx, t) for every t in [0, n) once. The caller runs t = 0, then claims any
  // range no worker has claimed yet: a worker that is asleep or descheduled (the machine
  // busy with other processes) delays nothing, it just finds no range left. A range gives
  // the same bits whichever thread runs it.
  void run(int n, void (*body)(void*, int), void* ctx) {
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock()) {  // another step is using the pool: run serially, same bits
      for (int t = 0; t < n; ++t) body(ctx, t);
      return;
    }
    try {
      start_workers(n - 1);
    } catch (...) {  // no more threads to be had: the same ranges, serially
      for (int t = 0; t < n; ++t) body(ctx, t);
      return;
    }
    body_.store(body, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    seq_ = (seq_ + 1) & kSeqMask;
    claim_.store(seq_ << 16 | 1U, std::memory_order_relaxed);
    // The thread count travels in the generation word, so that a worker learns the step's
    // size from the one value that tells it a step exists.
    generation_.store(seq_ << 16 | std::uint64_t(n));  // seq_cst: before the read of sleepers_
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(sleep_mu_);
      wake_.notify_all();
    }
    body(ctx, 0);
    const int mine = run_claimed(seq_, n, body, ctx);
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (unsigned i = 0; done_.load(std::memory_order_acquire) + mine < n - 1; ++i) {
      FASTOPTIM_PAUSE();  // ranges another thread is running right now
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) std::this_thread::yield();
    }
  }

 private:
  static constexpr std::uint64_t kSeqMask = (std::uint64_t(1) << 47) - 1;

  // Claims ranges of step `seq` (of n) one by one and runs them; returns how many it ran.
  // A claim succeeds only while `seq` is the current step, so a late thread never runs a
  // range of a step that is over (nor one of the next with the old body).
  int run_claimed(std::uint64_t seq, int n, void (*body)(void*, int), void* ctx) {
    int ran = 0;
    std::uint64_t c = claim_.load(std::memory_order_acquire);
    while ((c >> 16) == seq && int(c & 0xffff) < n) {
      if (claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) {
        body(ctx, int(c & 0xffff));
        ++ran;
        c = claim_.load(std::memory_order_acquire);
      }
    }
    return ran;
  }

  void start_workers(int want) {
    while (int(workers_) < want) {
      // The worker starts from the generation before the step that needs it is published.
      const std::uint64_t seen = generation_.load();
      std::thread([this, seen] { worker(seen); }).detach();  // the pool outlives them
      ++workers_;
    }
  }

  void worker(std::uint64_t seen) {
    for (;;) {
      std::uint64_t now = generation_.load(std::memory_order_acquire);
      const auto until = std::chrono::steady_clock::now() + kSpin;
      for (unsigned i = 0; now == seen; ++i) {
        FASTOPTIM_PAUSE();
        if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) {
          std::unique_lock<std::mutex> lock(sleep_mu_);
          sleepers_.fetch_add(1);  // seq_cst: ordered before the re-read of generation_
          wake_.wait(lock, [&] { return generation_.load() != seen; });
          sleepers_.fetch_sub(1);
        }
        now = generation_.load(std::memory_order_acquire);
      }
      seen = now;
      const int ran = run_claimed(now >> 16, int(now & 0xffff), body_.load(std::memory_order_relaxed),
                                  ctx_.load(std::memory_order_relaxed));
      if (ran) done_.fetch_add(ran, std::memory_order_release);
    }
  }

  std::mutex run_mu_;
  std::atomic<std::uint64_t> generation_{0};  // (step sequence << 16) | thread count
  std::atomic<std::uint64_t> claim_{0};       // (step sequence << 16) | next unclaimed range
  std::atomic<int> done_{0};                  // ranges finished by workers in this step
  std::atomic<int> sleepers_{0};
  std::mutex sleep_mu_;
  std::condition_variable wake_;
  unsigned workers_ = 0;  // started so far (only the thread holding run_mu_ starts more)
  std::uint64_t seq_ = 0;
  // The current step, written before generation_ is advanced, read after it is seen.
  std::atomic<void (*)(void*, int)> body_{nullptr};
  std::atomic<void*> ctx_{nullptr};
};

// Never destroyed: detached workers may still wait on it while the process exits. A forked
// child replaces it (its workers did not survive the fork) and the old one is leaked.
std::atomic<Pool*> g_pool{new Pool};

std::atomic<int> g_threads{0};  // 0: not yet chosen (OMP_NUM_THREADS, else the usable CPUs)
// Measured with bench/thread_threshold.py on a 2-core Zen 4 (results/thread_threshold.json):
// a second thread pays from ~4k float32 elements per thread for Adam and from ~12k for plain
// SGD (fork/join costs ~1 µs); 8k per thread loses at most ~0.3 µs on either side.
std::atomic<std::size_t> g_min_per_thread{1u << 13};

void after_fork_in_child() { g_pool.store(new Pool); }

const bool g_fork_handler = [] { return pthread_atfork(nullptr, nullptr, after_fork_in_child) == 0; }();

int usable_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

int default_threads() {
  // OMP_NUM_THREADS keeps meaning what it meant when the pool was OpenMP's (its first entry).
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && n >= 1) return int(std::min<long>(n, kMaxThreads));
  }
  return std::min(usable_cpus(), kMaxThreads);
}

}  // namespace

int num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = default_threads();
    g_threads.store(n, std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads)
    throw std::invalid_argument("n: number of threads must be in [1, " + std::to_string(kMaxThreads) + "], got " +
                                std::to_string(n));
  g_threads.store(n, std::memory_order_relaxed);
}

bool fork_handler_installed() { return g_fork_handler; }

std::size_t min_elements_per_thread() { return g_min_per_thread.load(std::memory_order_relaxed); }

void set_min_elements_per_thread(std::size_t n) {
  g_min_per_thread.store(n ? n : 1, std::memory_order_relaxed);
}

int threads_for(std::size_t total) {
  const std::size_t by_size = total / min_elements_per_thread();
  const int nt = num_threads();
  if (by_size < 2) return 1;
  return by_size < std::size_t(nt) ? int(by_size) : nt;
}

void run_parallel(int nthreads, void (*body)(void*, int), void* ctx) {
  g_pool.load(std::memory_order_acquire)->run(nthreads, body, ctx);
}

}  // namespace fastoptim
