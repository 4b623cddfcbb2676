// Adam and AdamW, optionally AMSGrad (torch.optim.Adam / AdamW).
//
//   d  = gmul·g + wd·p            (Adam: coupled L2)     |  p = (1 − lr·wd)·p   (AdamW)
//   m  = lerp(m, d, 1 − β1)
//   v  = β2·v + (1 − β2)·d²
//   v̂  = max(v̂, v)                (AMSGrad; v̂ replaces v below)
//   p  = p − step_size·m / (sqrt(v) / sqrt(1 − β2^t) + eps),   step_size = lr / (1 − β1^t)
// evaluated in the algebraically equal form with one division per element (the divider is
// the in-cache bottleneck) and the bias correction folded into two per-step scalars:
//   p  = p − (step_size·c)·m / (sqrt(v) + eps·c),   c = sqrt(1 − β2^t)
// Streams: p (rw), g (r), m (rw), v (rw), v̂ (rw, AMSGrad only), out (w, mixed precision:
// the rounded p). Template parameters as in sgd.hpp.
#pragma once

template <class T, class G, class O, class S, bool kDecoupled, bool kAmsgrad>
void adam_loop(const AdamScalars& s, T* __restrict p, const storage_t<G>* __restrict g, storage_t<S>* __restrict m,
               storage_t<S>* __restrict v, storage_t<S>* __restrict vmax, storage_t<O>* __restrict out, std::size_t n,
               std::size_t first, std::uint32_t key) {
  const T gmul = T(s.gmul), wd = T(s.weight_decay), decay = T(1.0 - s.lr * s.weight_decay);
  const T w1 = T(1.0 - s.beta1), w1c = T(s.beta1);  // lerp weight 1 − β1 and its complement β1
  const bool low_weight = (1.0 - s.beta1) < 0.5;
  const T beta2 = T(s.beta2), one_minus_beta2 = T(1.0 - s.beta2);
  const T neg_step = T(-s.step_size * s.bias_correction2_sqrt);
  const T eps = T(s.eps * s.bias_correction2_sqrt);
  const bool has_wd = s.weight_decay != 0.0;
  const std::uint32_t key_v = key ^ 0x85ebca6bU, key_max = key ^ 0xc2b2ae35U;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T d = gmul * T(load<G>(g, i));
    T pi = p[i];
    if constexpr (kDecoupled) {
      if (has_wd) pi = pi * decay;
    } else {
      if (has_wd) d = d + wd * pi;
    }
    const T mi = lerp(T(load<S>(m, i)), d, w1, w1c, low_weight);
    m[i] = store<S>(mi, weyl(key, first + i));
    T vi = beta2 * T(load<S>(v, i)) + (one_minus_beta2 * d) * d;
    v[i] = store<S>(vi, weyl(key_v, first + i));
    if constexpr (kAmsgrad) {
      vi = max_nan(T(load<S>(vmax, i)), vi);
      vmax[i] = store<S>(vi, weyl(key_max, first + i));
    }
    const T denom = root(vi) + eps;
    const T pn = pi + (neg_step * mi) / denom;
    p[i] = pn;
    if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
  }
}

template <class T, class G = T, class O = void, class S = T>
void adam(const void* scalars, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
  const auto& s = *static_cast<const AdamScalars*>(scalars);
  T* p = static_cast<T*>(st[0]);
  const auto* g = static_cast<const storage_t<G>*>(st[1]);
  auto* m = static_cast<storage_t<S>*>(st[2]);
  auto* v = static_cast<storage_t<S>*>(st[3]);
  auto* vmax = static_cast<storage_t<S>*>(st[4]);
  auto* out = static_cast<storage_t<O>*>(st[kOutStream]);
  if (s.decoupled) {
    if (s.amsgrad) adam_loop<T, G, O, S, true, true>(s, p, g, m, v, vmax, out, n, first, key);
    else adam_loop<T, G, O, S, true, false>(s, p, g, m, v, vmax, out, n, first, key);
  } else {
    if (s.amsgrad) adam_loop<T, G, O, S, false, true>(s, p, g, m, v, vmax, out, n, first, key);
    else adam_loop<T, G, O, S, false, false>(s, p, g, m, v, vmax, out, n, first, key);
  }
}
