// Adagrad (torch.optim.Adagrad).
//
//   d = gmul·g + wd·p
//   s = s + d·d
//   p = p − clr·d / (sqrt(s) + eps),     clr = lr / (1 + (t − 1)·lr_decay)
// Streams: p (rw), g (r), s (rw), out (w, mixed precision: the rounded p).
// Template parameters as in sgd.hpp.
#pragma once

template <class T, class G = T, class O = void, class S = T>
void adagrad(const void* scalars, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
  const auto& s = *static_cast<const AdagradScalars*>(scalars);
  T* __restrict p = static_cast<T*>(st[0]);
  const storage_t<G>* __restrict g = static_cast<const storage_t<G>*>(st[1]);
  storage_t<S>* __restrict sum = static_cast<storage_t<S>*>(st[2]);
  storage_t<O>* __restrict out = static_cast<storage_t<O>*>(st[kOutStream]);
  const T gmul = T(s.gmul), wd = T(s.weight_decay), eps = T(s.eps), neg_clr = T(-s.clr);
  const bool has_wd = s.weight_decay != 0.0;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T d = gmul * T(load<G>(g, i));
    if (has_wd) d = d + wd * p[i];
    const T si = T(load<S>(sum, i)) + d * d;
    sum[i] = store<S>(si, weyl(key, first + i));
    const T pn = p[i] + (neg_clr * d) / (root(si) + eps);
    p[i] = pn;
    if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
  }
}
