// RMSprop, optionally centered and with momentum (torch.optim.RMSprop; eps outside the sqrt).
//
//   d   = gmul·g + wd·p
//   sq  = α·sq + (1 − α)·d²
//   ga  = lerp(ga, d, 1 − α)                        (centered only)
//   avg = sqrt(sq − ga²) + eps   (centered)   or   sqrt(sq) + eps
//   b   = μ·b + d / avg;  p = p − lr·b              (momentum > 0)
//   p   = p − lr·d / avg                            (otherwise)
// Streams: p (rw), g (r), sq (rw), ga (rw, centered), b (rw, momentum), out (w, mixed
// precision: the rounded p). Template parameters as in sgd.hpp.
#pragma once

template <class T, class G, class O, class S, bool kCentered, bool kMomentum>
void rmsprop_loop(const RmspropScalars& s, T* __restrict p, const storage_t<G>* __restrict g,
                  storage_t<S>* __restrict sq, storage_t<S>* __restrict ga, storage_t<S>* __restrict b,
                  storage_t<O>* __restrict out, std::size_t n, std::size_t first, std::uint32_t key) {
  const T gmul = T(s.gmul), wd = T(s.weight_decay), alpha = T(s.alpha);
  const T one_minus_alpha = T(1.0 - s.alpha), w_alpha = T(s.alpha);  // lerp weight 1 − α and its complement α
  const bool low_weight = (1.0 - s.alpha) < 0.5;
  const T eps = T(s.eps), mu = T(s.momentum), neg_lr = T(-s.lr);
  const bool has_wd = s.weight_decay != 0.0;
  const std::uint32_t key_ga = key ^ 0x85ebca6bU, key_b = key ^ 0xc2b2ae35U;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    T d = gmul * T(load<G>(g, i));
    if (has_wd) d = d + wd * p[i];
    const T sqi = alpha * T(load<S>(sq, i)) + (one_minus_alpha * d) * d;
    sq[i] = store<S>(sqi, weyl(key, first + i));
    T avg;
    if constexpr (kCentered) {
      const T gai = lerp(T(load<S>(ga, i)), d, one_minus_alpha, w_alpha, low_weight);
      ga[i] = store<S>(gai, weyl(key_ga, first + i));
      avg = root(sqi - gai * gai) + eps;
    } else {
      avg = root(sqi) + eps;
    }
    T pn;
    if constexpr (kMomentum) {
      const T bi = mu * T(load<S>(b, i)) + d / avg;
      b[i] = store<S>(bi, weyl(key_b, first + i));
      pn = p[i] + neg_lr * bi;
    } else {
      pn = p[i] + (neg_lr * d) / avg;
    }
    p[i] = pn;
    if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
  }
}

template <class T, class G = T, class O = void, class S = T>
void rmsprop(const void* scalars, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
  const auto& s = *static_cast<const RmspropScalars*>(scalars);
  T* p = static_cast<T*>(st[0]);
  const auto* g = static_cast<const storage_t<G>*>(st[1]);
  auto* sq = static_cast<storage_t<S>*>(st[2]);
  auto* ga = static_cast<storage_t<S>*>(st[3]);
  auto* b = static_cast<storage_t<S>*>(st[4]);
  auto* out = static_cast<storage_t<O>*>(st[kOutStream]);
  if (s.centered) {
    if (s.has_momentum) rmsprop_loop<T, G, O, S, true, true>(s, p, g, sq, ga, b, out, n, first, key);
    else rmsprop_loop<T, G, O, S, true, false>(s, p, g, sq, ga, b, out, n, first, key);
  } else {
    if (s.has_momentum) rmsprop_loop<T, G, O, S, false, true>(s, p, g, sq, ga, b, out, n, first, key);
    else rmsprop_loop<T, G, O, S, false, false>(s, p, g, sq, ga, b, out, n, first, key);
  }
}
