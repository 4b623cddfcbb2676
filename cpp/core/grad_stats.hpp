// Read-only pass over gradients for the clip/unscale/skip pipeline.
//
//   lanes[j] += Σ g[i]²  over i ≡ j (mod 16), squares and sums in double
//   bad      += Σ (g[i] − g[i])   (0 for finite values, NaN as soon as one is Inf or NaN)
// Sixteen fixed lanes make the summation order independent of the vector width, so every
// ISA (and every thread count, see step_plan.cpp) produces the same bits.
//
// Written with GCC/Clang vector extensions (not intrinsics): the plain lane loop was left
// scalar by the vectorizer (0.85 ns/element with AVX-512 vs 0.14 here, /tmp microbenchmark
// in the closing note of the foundation issue). W lanes per vector register, 16 / W
// registers; the lane of element i is i mod 16 whatever W is.
#pragma once

constexpr std::size_t kStatLanes = 16;

#if defined(__AVX512F__)
constexpr int kStatWidth = 8;
#else
constexpr int kStatWidth = 4;
#endif

template <class T>
struct StatVec {
  typedef double D __attribute__((vector_size(8 * kStatWidth)));
  typedef T G __attribute__((vector_size(sizeof(T) * kStatWidth)));
};

template <class T>
void grad_stats(const void* grad, std::size_t n, double* lanes, double* bad) {
  using D = typename StatVec<T>::D;
  using G = typename StatVec<T>::G;
  constexpr int K = int(kStatLanes) / kStatWidth;
  const T* g = static_cast<const T*>(grad);
  D acc[K];
  G nonfinite[K];
  __builtin_memcpy(acc, lanes, sizeof acc);
  for (int k = 0; k < K; ++k) nonfinite[k] = G{};
  const std::size_t full = n - n % kStatLanes;
  for (std::size_t i = 0; i < full; i += kStatLanes) {
    for (int k = 0; k < K; ++k) {
      G x;
      __builtin_memcpy(&x, g + i + std::size_t(k) * kStatWidth, sizeof x);
      const D xd = __builtin_convertvector(x, D);
      acc[k] += xd * xd;
      nonfinite[k] += x - x;
    }
  }
  __builtin_memcpy(lanes, acc, sizeof acc);
  double nf = 0.0;
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < kStatWidth; ++j) nf += double(nonfinite[k][j]);
  for (std::size_t i = full; i < n; ++i) {
    const double x = double(g[i]);
    lanes[i - full] += x * x;
    nf += double(g[i] - g[i]);
  }
  *bad += nf;
}
