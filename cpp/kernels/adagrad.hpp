// Adagrad (torch.optim.Adagrad).
//
//   d = gmul·g + wd·p
//   s = s + d·d
//   p = p − clr·d / (sqrt(s) + eps),     clr = lr / (1 + (t − 1)·lr_decay)
// Streams: p (rw), g (r), s (rw).
#pragma once

template <class T>
void adagrad(const void* scalars, void* const* st, std::size_t n) {
  const auto& s = *static_cast<const AdagradScalars*>(scalars);
  T* __restrict p = static_cast<T*>(st[0]);
  const T* __restrict g = static_cast<const T*>(st[1]);
  T* __restrict sum = static_cast<T*>(st[2]);
  const T gmul = T(s.gmul), wd = T(s.weight_decay), eps = T(s.eps), neg_clr = T(-s.clr);
  const bool has_wd = s.weight_decay != 0.0;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T d = gmul * g[i];
    if (has_wd) d = d + wd * p[i];
    const T si = sum[i] + d * d;
    sum[i] = si;
    p[i] = p[i] + (neg_clr * d) / (root(si) + eps);
  }
}
