// SGD with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD).
//
//   d = gmul·g + wd·p                       (gmul carries maximize, unscale and clip)
//   b = d                  on the buffer's first step
//   b = μ·b + (1 − τ)·d    afterwards
//   d = d + μ·b  (Nesterov)   or   d = b
//   p = p − lr·d
// Streams: p (rw), g (r), b (rw, only with momentum).
#pragma once

template <class T, bool kMomentum, bool kNesterov>
void sgd_loop(const SgdScalars& s, T* __restrict p, const T* __restrict g, T* __restrict b,
              std::size_t n) {
  const T gmul = T(s.gmul), wd = T(s.weight_decay), mu = T(s.momentum);
  const T keep = T(1.0 - s.dampening), neg_lr = T(-s.lr);
  const bool has_wd = s.weight_decay != 0.0, first = s.first_step;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T d = gmul * g[i];
    if (has_wd) d = d + wd * p[i];
    if constexpr (kMomentum) {
      const T bi = first ? d : mu * b[i] + keep * d;
      b[i] = bi;
      d = kNesterov ? d + mu * bi : bi;
    }
    p[i] = p[i] + neg_lr * d;
  }
}

template <class T>
void sgd(const void* scalars, void* const* st, std::size_t n) {
  const auto& s = *static_cast<const SgdScalars*>(scalars);
  T* p = static_cast<T*>(st[0]);
  const T* g = static_cast<const T*>(st[1]);
  T* b = static_cast<T*>(st[2]);
  if (!s.has_momentum) sgd_loop<T, false, false>(s, p, g, b, n);
  else if (s.nesterov) sgd_loop<T, true, true>(s, p, g, b, n);
  else sgd_loop<T, true, false>(s, p, g, b, n);
}
