#include "parallel.hpp"

#include <omp.h>

#include <atomic>

namespace fastoptim {
namespace {
std::atomic<int> g_threads{0};  // 0: not yet read from OpenMP's default (OMP_NUM_THREADS)
// Measured with bench/thread_threshold.py on a 2-core Zen 4 (results/thread_threshold.json):
// a second thread pays from ~4k float32 elements per thread for Adam and from ~12k for plain
// SGD (fork/join costs ~1 µs); 8k per thread loses at most ~0.3 µs on either side.
std::atomic<std::size_t> g_min_per_thread{1u << 13};
}  // namespace

int num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = omp_get_max_threads();
    g_threads.store(n, std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) { g_threads.store(n, std::memory_order_relaxed); }

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
#pragma omp parallel num_threads(nthreads)
  {
    // OpenMP may give fewer threads than asked; each thread then takes over the ranges of the
    // missing ones, so every range is still run exactly once.
    const int got = omp_get_num_threads();
    for (int t = omp_get_thread_num(); t < nthreads; t += got) body(ctx, t);
  }
}

}  // namespace fastoptim
