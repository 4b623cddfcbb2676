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

// Calls fn(lo, hi) for ranges [lo, hi) that split [0, total) into equal pieces, rounded up to
// multiples of `align` elements: kChunksPerThread per thread of threads_for(total), shared out
// among the threads of one parallel region as each becomes free (so a thread that starts late
// or is descheduled takes fewer, and nobody waits for it). Any split gives the same bits: the
// kernels are element-wise and reductions go by fixed blocks. Bodies must not throw.
template <class F>
void parallel_ranges(std::size_t total, std::size_t align, F&& fn);

constexpr int kChunksPerThread = 4;

// Implementation detail of parallel_ranges (defined in parallel.cpp, where the pool lives):
// body(ctx, c) for every chunk c in [0, nchunks), on up to nthreads threads.
void run_parallel(int nthreads, int nchunks, void (*body)(void*, int), void* ctx);

template <class F>
void parallel_ranges(std::size_t total, std::size_t align, F&& fn) {
  const int nt = threads_for(total);
  if (nt <= 1) {
    if (total) fn(std::size_t(0), total);
    return;
  }
  const std::size_t pieces = std::size_t(nt) * kChunksPerThread;
  std::size_t chunk = (total + pieces - 1) / pieces;
  chunk = (chunk + align - 1) / align * align;
  const int nchunks = int((total + chunk - 1) / chunk);
  struct Ctx {
    F* fn;
    std::size_t total, chunk;
  } ctx{&fn, total, chunk};
  run_parallel(
      nt, nchunks,
      [](void* p, int c) {
        auto* x = static_cast<Ctx*>(p);
        const std::size_t lo = std::size_t(c) * x->chunk;
        const std::size_t hi = lo + x->chunk < x->total ? lo + x->chunk : x->total;
        if (lo < hi) (*x->fn)(lo, hi);
      },
      &ctx);
}

}  // namespace fastoptim
