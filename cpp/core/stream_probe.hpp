// Bandwidth probe: the plainest streaming loop with the memory shape of an update rule,
//   a_k[i] = c·a_k[i] + g[i]     for k < n_rw
// i.e. one read-only stream and n_rw read-write streams, like SGD (1), SGD+momentum (2),
// Adam (3), AMSGrad (4). It is the roof each kernel is compared against.
#pragma once

template <int kRw>
void stream_probe_loop(float* const* rw, const float* __restrict g, std::size_t n) {
  float* __restrict a0 = rw[0];
  float* __restrict a1 = kRw > 1 ? rw[1] : nullptr;
  float* __restrict a2 = kRw > 2 ? rw[2] : nullptr;
  float* __restrict a3 = kRw > 3 ? rw[3] : nullptr;
  const float c = 0.5f;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    a0[i] = c * a0[i] + g[i];
    if constexpr (kRw > 1) a1[i] = c * a1[i] + g[i];
    if constexpr (kRw > 2) a2[i] = c * a2[i] + g[i];
    if constexpr (kRw > 3) a3[i] = c * a3[i] + g[i];
  }
}

inline void stream_probe(float* const* rw, int n_rw, const float* g, std::size_t n) {
  switch (n_rw) {
    case 1: stream_probe_loop<1>(rw, g, n); break;
    case 2: stream_probe_loop<2>(rw, g, n); break;
    case 3: stream_probe_loop<3>(rw, g, n); break;
    default: stream_probe_loop<4>(rw, g, n); break;
  }
}
