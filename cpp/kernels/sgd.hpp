// SGD with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD).
//
//   d = gmul·g + wd·p                       (gmul carries maximize, unscale and clip)
//   b = d                  on the buffer's first step
//   b = μ·b + (1 − τ)·d    afterwards
//   d = d + μ·b  (Nesterov)   or   d = b
//   p = p − lr·d
// Streams: p (rw), g (r), b (rw, only with momentum), out (w, mixed precision: the rounded p).
// Template parameters: T compute and param type, G grad storage, O output storage (void: none),
// S state storage (T, or bfloat16 rounded to nearest / stochastically).
#pragma once

template <class T, class G, class O, class S, bool kMomentum, bool kNesterov>
void sgd_loop(const SgdScalars& s, T* __restrict p, const storage_t<G>* __restrict g, storage_t<S>* __restrict b,
              storage_t<O>* __restrict out, std::size_t n, std::size_t first, std::uint32_t key) {
  const T gmul = T(s.gmul), wd = T(s.weight_decay), mu = T(s.momentum);
  const T keep = T(1.0 - s.dampening), neg_lr = T(-s.lr);
  const bool has_wd = s.weight_decay != 0.0, first_step = s.first_step;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T d = gmul * T(load<G>(g, i));
    if (has_wd) d = d + wd * p[i];
    if constexpr (kMomentum) {
      const T bi = first_step ? d : mu * T(load<S>(b, i)) + keep * d;
      b[i] = store<S>(bi, weyl(key, first + i));
      d = kNesterov ? d + mu * bi : bi;
    }
    const T pn = p[i] + neg_lr * d;
    p[i] = pn;
    if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
  }
}

template <class T, class G = T, class O = void, class S = T>
void sgd(const void* scalars, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
  const auto& s = *static_cast<const SgdScalars*>(scalars);
  T* p = static_cast<T*>(st[0]);
  const auto* g = static_cast<const storage_t<G>*>(st[1]);
  auto* b = static_cast<storage_t<S>*>(st[2]);
  auto* out = static_cast<storage_t<O>*>(st[kOutStream]);
  if (!s.has_momentum) sgd_loop<T, G, O, S, false, false>(s, p, g, b, out, n, first, key);
  else if (s.nesterov) sgd_loop<T, G, O, S, true, true>(s, p, g, b, out, n, first, key);
  else sgd_loop<T, G, O, S, true, false>(s, p, g, b, out, n, first, key);
}
