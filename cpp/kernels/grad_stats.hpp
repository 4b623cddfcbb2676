// Read-only pass over gradients for the clip/unscale/skip pipeline.
//
//   lanes[j] += Σ g[i]²  over i ≡ j (mod 16), in double
//   bad      += Σ (g[i] − g[i])   (0 for finite values, NaN as soon as one is Inf or NaN)
// Sixteen fixed lanes make the summation order independent of the vector width, so every
// ISA (and every thread count, see parallel.hpp) produces the same bits.
#pragma once

constexpr std::size_t kStatLanes = 16;

template <class T>
void grad_stats(const void* grad, std::size_t n, double* lanes, double* bad) {
  const T* __restrict g = static_cast<const T*>(grad);
  double acc[kStatLanes];
  for (std::size_t j = 0; j < kStatLanes; ++j) acc[j] = lanes[j];
  T nonfinite = T(0);
  const std::size_t full = n - n % kStatLanes;
  for (std::size_t i = 0; i < full; i += kStatLanes) {
#pragma omp simd reduction(+ : nonfinite)
    for (std::size_t j = 0; j < kStatLanes; ++j) {
      const double x = double(g[i + j]);
      acc[j] += x * x;
      nonfinite += g[i + j] - g[i + j];
    }
  }
  for (std::size_t i = full; i < n; ++i) {
    const double x = double(g[i]);
    acc[i - full] += x * x;
    nonfinite += g[i] - g[i];
  }
  for (std::size_t j = 0; j < kStatLanes; ++j) lanes[j] = acc[j];
  *bad += double(nonfinite);
}
