// Thread control: one parallel region per step (fastoptim's own thread pool, parallel.cpp),
// over equal, cache-line-aligned ranges of the concatenated elements of all tensors in a
// step. Below a measured size the step runs on the calling thread (no fork/join).
#pragma once
#include <cstddef>

namespace fastoptim {

// The most threads a step may use (set_num_threads refuses more).
constexpr int kMaxThreads = 1024;

int num_threads();
void set_num_threads(int n);  // std::invalid_argument unless 1 <= n <= kMaxThreads
// Whether a forked child is given a fresh pool (pthread_atfork registered).
bool fork_handler_installed();
// A thread is given at least this many elements; smaller steps use fewer threads.
std::size_t min_elements_per_thread();
void set_min_elements_per_thread(std::size_t n);

// Number of threads a step over `total` elements will use.
int threads_for(std::size_t total);

// Calls fn(lo, hi) for the ranges [lo, hi) that split [0, total) into threads_for(total)
// pieces of equal length, rounded up to multiples of `align` elements, each in its own
// thread of one parallel region. Bodies must not throw.
template <class F>
void parallel_ranges(std::size_t total, std::size_t align, F&& fn);

// Implementation detail of parallel_ranges (defined in parallel.cpp, where the pool lives).
void run_parallel(int nthreads, void (*body)(void*, int), void* ctx);

template <class F>
void parallel_ranges(std::size_t total, std::size_t align, F&& fn) {
  const int nt = threads_for(total);
  if (nt <= 1) {
    if (total) fn(std::size_t(0), total);
    return;
  }
  std::size_t chunk = (total + std::size_t(nt) - 1) / std::size_t(nt);
  chunk = (chunk + align - 1) / align * align;
  struct Ctx {
    F* fn;
    std::size_t total, chunk;
  } ctx{&fn, total, chunk};
  run_parallel(
      nt,
      [](void* p, int t) {
        auto* c = static_cast<Ctx*>(p);
        const std::size_t lo = std::size_t(t) * c->chunk;
        const std::size_t hi = lo + c->chunk < c->total ? lo + c->chunk : c->total;
        if (lo < hi) (*c->fn)(lo, hi);
      },
      &ctx);
}

}  // namespace fastoptim
