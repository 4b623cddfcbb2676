// RMSprop, optionally centered and with momentum (torch.optim.RMSprop; eps outside the sqrt).
//
//   d   = gmul·g + wd·p
//   sq  = α·sq + (1 − α)·d²
//   ga  = lerp(ga, d, 1 − α)                        (centered only)
//   avg = sqrt(sq − ga²) + eps   (centered)   or   sqrt(sq) + eps
//   b   = μ·b + d / avg;  p = p − lr·b              (momentum > 0)
//   p   = p − lr·d / avg                            (otherwise)
// Streams: p (rw), g (r), sq (rw), ga (rw, centered), b (rw, momentum).
#pragma once

template <class T, bool kCentered, bool kMomentum>
void rmsprop_loop(const RmspropScalars& s, T* __restrict p, const T* __restrict g,
                  T* __restrict sq, T* __restrict ga, T* __restrict b, std::size_t n) {
  const T gmul = T(s.gmul), wd = T(s.weight_decay), alpha = T(s.alpha);
  const T one_minus_alpha = T(1.0 - s.alpha), w_alpha = T(s.alpha);  // lerp weight 1 − α and its complement α
  const bool low_weight = (1.0 - s.alpha) < 0.5;
  const T eps = T(s.eps), mu = T(s.momentum), neg_lr = T(-s.lr);
  const bool has_wd = s.weight_decay != 0.0;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T d = gmul * g[i];
    if (has_wd) d = d + wd * p[i];
    const T sqi = alpha * sq[i] + (one_minus_alpha * d) * d;
    sq[i] = sqi;
    T avg;
    if constexpr (kCentered) {
      const T gai = lerp(ga[i], d, one_minus_alpha, w_alpha, low_weight);
      ga[i] = gai;
      avg = root(sqi - gai * gai) + eps;
    } else {
      avg = root(sqi) + eps;
    }
    if constexpr (kMomentum) {
      const T bi = mu * b[i] + d / avg;
      b[i] = bi;
      p[i] = p[i] + neg_lr * bi;
    } else {
      p[i] = p[i] + (neg_lr * d) / avg;
    }
  }
}

template <class T>
void rmsprop(const void* scalars, void* const* st, std::size_t n) {
  const auto& s = *static_cast<const RmspropScalars*>(scalars);
  T* p = static_cast<T*>(st[0]);
  const T* g = static_cast<const T*>(st[1]);
  T* sq = static_cast<T*>(st[2]);
  T* ga = static_cast<T*>(st[3]);
  T* b = static_cast<T*>(st[4]);
  if (s.centered) {
    if (s.has_momentum) rmsprop_loop<T, true, true>(s, p, g, sq, ga, b, n);
    else rmsprop_loop<T, true, false>(s, p, g, sq, ga, b, n);
  } else {
    if (s.has_momentum) rmsprop_loop<T, false, true>(s, p, g, sq, ga, b, n);
    else rmsprop_loop<T, false, false>(s, p, g, sq, ga, b, n);
  }
}
