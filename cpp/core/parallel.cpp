// fastoptim's own thread pool (std::thread), instead of an OpenMP runtime:
// * fork-safe: a child process forked at any moment (multiprocessing's fork start method,
//   Pool.map) gets a fresh, empty pool and starts its own workers on its first parallel step;
//   libgomp's pool, inherited without its threads, hangs the child's first parallel region;
// * it coexists with the OpenMP runtime of torch or NumPy's BLAS in one process: its workers
//   spin only briefly after a step and then sleep, so they never hold a core for long
//   against another runtime's threads;
// * the same on every compiler and platform (no OpenMP needed to build).
// A parallel step splits into chunks (kChunksPerThread per thread) that the calling thread and
// the workers claim one at a time until none is left (see Pool::run). One step at a time uses the pool: a step that finds it busy
// (another Python thread stepping another optimizer) runs its ranges on its own thread, which
// gives the same bits.
#include "parallel.hpp"

#if !defined(_WIN32)
#include <pthread.h>
#endif
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#endif

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
// short enough that a worker never competes for long with the threads of another runtime
// (torch's OpenMP pool). 200 µs measured best of 50-1000 on the 2-core dev machine
// (bench/small_models.py with torch in the process, steps with 0.5 ms gaps, and interleaved
// with torch's fused step); FASTOPTIM_SPIN_US overrides it.
std::chrono::microseconds spin_time() {
  static const std::chrono::microseconds t = [] {
    const char* env = std::getenv("FASTOPTIM_SPIN_US");
    return std::chrono::microseconds(env ? std::atol(env) : 200);
  }();
  return t;
}

class Pool {
 public:
  // Runs body(ctx, c) for every chunk c in [0, nchunks) once, on the calling thread and up
  // to n - 1 workers, each claiming the next unclaimed chunk as it becomes free: a worker
  // that is asleep or descheduled (the machine busy with other processes) delays nothing,
  // it just finds fewer chunks left. A chunk gives the same bits whichever thread runs it.
  void run(int n, int nchunks, void (*body)(void*, int), void* ctx) {
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock()) {  // another step is using the pool: run serially, same bits
      for (int c = 0; c < nchunks; ++c) body(ctx, c);
      return;
    }
    try {
      start_workers(n - 1);
    } catch (...) {  // no more threads to be had: the same chunks, serially
      for (int c = 0; c < nchunks; ++c) body(ctx, c);
      return;
    }
    body_.store(body, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    seq_ = (seq_ + 1) & 0xffffffffU;
    claim_.store(seq_ << 32, std::memory_order_relaxed);
    // The sizes travel in the generation word, so that a worker learns them from the one
    // value that tells it a step exists.
    generation_.store(seq_ << 32 | std::uint64_t(nchunks) << 16 | std::uint64_t(n));  // seq_cst
    if (sleepers_.load() > 0) wake_sleepers();
    const int mine = run_claimed(seq_, nchunks, body, ctx);
    const auto until = std::chrono::steady_clock::now() + spin_time();
    for (unsigned i = 0; done_.load(std::memory_order_acquire) + mine < nchunks; ++i) {
      FASTOPTIM_PAUSE();  // chunks another thread is running right now
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) std::this_thread::yield();
    }
  }

 private:
  // Claims chunks of step `seq` one by one and runs them; returns how many it ran. A claim
  // succeeds only while `seq` is the current step, so a late thread never runs a chunk of a
  // step that is over (nor one of the next with the old body).
  int run_claimed(std::uint64_t seq, int nchunks, void (*body)(void*, int), void* ctx) {
    int ran = 0;
    std::uint64_t c = claim_.load(std::memory_order_acquire);
    while ((c >> 32) == seq && int(c & 0xffff) < nchunks) {
      if (claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) {
        body(ctx, int(c & 0xffff));
        ++ran;
        c = claim_.load(std::memory_order_acquire);
      }
    }
    return ran;
  }

  // Wakes the workers that sleep (not a syscall per step while they spin).
  void wake_sleepers() {
#if defined(__linux__)
    wake_word_.fetch_add(1);
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&wake_word_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
#else
    { std::lock_guard<std::mutex> lock(sleep_mu_); }  // a worker is now either waiting or sees the step
    wake_.notify_all();  // outside the lock: the woken worker does not block on it again
#endif
  }

  // Sleeps until a step newer than `seen` is published.
  void sleep_until_step(std::uint64_t seen) {
#if defined(__linux__)
    for (;;) {
      const std::uint32_t word = wake_word_.load();
      sleepers_.fetch_add(1);  // seq_cst: ordered before the re-read of generation_
      if (generation_.load() != seen) {
        sleepers_.fetch_sub(1);
        return;
      }
      syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&wake_word_), FUTEX_WAIT_PRIVATE, word, nullptr,
              nullptr, 0);
      sleepers_.fetch_sub(1);
      if (generation_.load() != seen) return;
    }
#else
    std::unique_lock<std::mutex> lock(sleep_mu_);
    sleepers_.fetch_add(1);  // seq_cst: ordered before the re-read of generation_
    wake_.wait(lock, [&] { return generation_.load() != seen; });
    sleepers_.fetch_sub(1);
#endif
  }

  void start_workers(int want) {
    while (int(workers_) < want) {
      const int id = int(workers_) + 1;
      // The worker starts from the generation before the step that needs it is published.
      const std::uint64_t seen = generation_.load();
      std::thread([this, id, seen] { worker(id, seen); }).detach();  // the pool outlives them
      ++workers_;
    }
  }

  void worker(int id, std::uint64_t seen) {
    for (;;) {
      std::uint64_t now = generation_.load(std::memory_order_acquire);
      const auto until = std::chrono::steady_clock::now() + spin_time();
      for (unsigned i = 0; now == seen; ++i) {
        FASTOPTIM_PAUSE();
        if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) sleep_until_step(seen);
        now = generation_.load(std::memory_order_acquire);
      }
      seen = now;
      if (id >= int(now & 0xffff)) continue;  // this step asked for fewer threads
      const int ran = run_claimed(now >> 32, int((now >> 16) & 0xffff), body_.load(std::memory_order_relaxed),
                                  ctx_.load(std::memory_order_relaxed));
      if (ran) done_.fetch_add(ran, std::memory_order_release);
    }
  }

  std::mutex run_mu_;
  std::atomic<std::uint64_t> generation_{0};  // (step sequence << 32) | (chunks << 16) | threads
  std::atomic<std::uint64_t> claim_{0};       // (step sequence << 32) | next unclaimed chunk
  std::atomic<int> done_{0};                  // chunks finished by workers in this step
  std::atomic<int> sleepers_{0};
  std::atomic<std::uint32_t> wake_word_{0};  // futex word: advanced when sleepers are woken
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

#if !defined(_WIN32)
void after_fork_in_child() { g_pool.store(new Pool); }
#endif

#if defined(_WIN32)
const bool g_fork_handler = false;  // no fork() there
#else
const bool g_fork_handler = [] { return pthread_atfork(nullptr, nullptr, after_fork_in_child) == 0; }();
#endif

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

void run_parallel(int nthreads, int nchunks, void (*body)(void*, int), void* ctx) {
  g_pool.load(std::memory_order_acquire)->run(nthreads, nchunks, body, ctx);
}

}  // namespace fastoptim
