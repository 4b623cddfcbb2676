// RMSprop, optionally centered and with momentum (torch.optim.RMSprop; eps outside the sqrt).
//
//   d   = gmul·g + wd·p
//   sq  = α·sq + (1 − α)·d²
//   ga  = lerp(ga, d, 1 − α)                        (centered only)
//   avg = sqrt(sq − ga²) + eps   (centered)   or   sqrt(sq) + eps
//   b   = μ·b + d / avg;  p = p − lr·b              (momentum > 0)
//   p   = p − lr·d / avg                            (otherwise)
// Streams: p (rw), g (r), sq (rw), ga (rw, centered), b (rw, momentum), out (w, mixed
// precision: the rounded p).

struct rmsprop {
  static constexpr RuleSpec spec = {
      "rmsprop",
      {{"lr", Range::kNonNegative}, {"alpha", Range::kNonNegative}, {"eps", Range::kNonNegative},
       {"weight_decay", Range::kNonNegative}, {"momentum", Range::kNonNegative}},
      {},
      {{"square_avg", StateKind::kNonNegative}, {"grad_avg", StateKind::kCentered},
       {"momentum_buffer", StateKind::kSigned}},
      {},
      kFormatPlain | kFormatMixed | kFormatBf16State | kFormatBlock8,
  };

  static void check(const double*, const RuleFlags&) {}
  static void structure(const double* h, const RuleFlags& f) {
    require_state(spec, f, 0, true, "for RMSprop");
    require_state(spec, f, 2, h[4] != 0, h[4] != 0 ? "when momentum != 0" : "when momentum == 0");
  }

  struct Scalars {
    double gmul, lr, alpha, eps, weight_decay, momentum;
    bool centered, has_momentum;
  };
  static Scalars scalars(const double* h, const RuleFlags& f, std::int64_t, double gmul, ScalarState&) {
    return Scalars{gmul, h[0], h[1], h[2], h[3], h[4], f.state_present[1], f.state_present[2]};
  }

  template <class T, class G, class O, class S, bool kCentered, bool kMomentum>
  static void loop(const Scalars& s, T* __restrict p, const storage_t<G>* __restrict g, storage_t<S>* __restrict sq,
                   storage_t<S>* __restrict ga, storage_t<S>* __restrict b, storage_t<O>* __restrict out,
                   std::size_t n, std::size_t first, std::uint32_t key) {
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

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* p = static_cast<T*>(st[0]);
    const auto* g = static_cast<const storage_t<G>*>(st[1]);
    auto* sq = static_cast<storage_t<S>*>(st[2]);
    auto* ga = static_cast<storage_t<S>*>(st[3]);
    auto* b = static_cast<storage_t<S>*>(st[4]);
    auto* out = static_cast<storage_t<O>*>(st[kOutStream]);
    if (s.centered) {
      if (s.has_momentum) loop<T, G, O, S, true, true>(s, p, g, sq, ga, b, out, n, first, key);
      else loop<T, G, O, S, true, false>(s, p, g, sq, ga, b, out, n, first, key);
    } else {
      if (s.has_momentum) loop<T, G, O, S, false, true>(s, p, g, sq, ga, b, out, n, first, key);
      else loop<T, G, O, S, false, false>(s, p, g, sq, ga, b, out, n, first, key);
    }
  }

  // 8 bits: u = sqrt(square_avg) (unsigned) and, with momentum, the buffer (signed); the same
  // formula (not centered). Weight decay is a template parameter, as for SGD.
  template <bool kMomentum, bool kWd>
  static void loop8(const Scalars& s, const Block8& b, std::size_t n, std::uint32_t key) {
    float u_new[kBlock8], b_new[kBlock8];
    decode_block<false>(b.codes[0], u_new, n);  // decoded in place of the new values
    if constexpr (kMomentum) decode_block<true>(b.codes[2], b_new, n);
    const float gmul = float(s.gmul), wd = float(s.weight_decay), alpha = float(s.alpha);
    const float one_minus_alpha = float(1.0 - s.alpha), eps = float(s.eps), mu = float(s.momentum);
    const float neg_lr = float(-s.lr);
    const float us = saturated_float(*b.scale[0]), bs = kMomentum ? saturated_float(*b.scale[2]) : 0.0f;
    float* __restrict p = b.p;
    const float* __restrict g = b.g;
    float umax = 0.0f, bmax = 0.0f;
#pragma omp simd reduction(max : umax, bmax)
    for (std::size_t i = 0; i < n; ++i) {
      const float pi = p[i];
      float d = gmul * g[i];
      if constexpr (kWd) d = d + wd * pi;
      const float u_old = u_new[i] * us;
      const float sqi = alpha * (u_old * u_old) + (one_minus_alpha * d) * d;
      const float ui = root(sqi);
      const float avg = ui + eps;
      if constexpr (kMomentum) {
        const float bi = mu * (b_new[i] * bs) + d / avg;
        p[i] = pi + neg_lr * bi;
        b_new[i] = bi;
        const float ab = __builtin_fabsf(bi);
        bmax = ab > bmax ? ab : bmax;
      } else {
        p[i] = pi + (neg_lr * d) / avg;
      }
      u_new[i] = ui;
      umax = ui > umax ? ui : umax;
    }
    requantize<false>(u_new, umax, b.codes[0], b.scale[0], n, key);
    if constexpr (kMomentum) requantize<true>(b_new, bmax, b.codes[2], b.scale[2], n, mix32(key ^ 0x85ebca6bU));
  }

  static constexpr const char* block8_variants = "RMSprop without centered";
  static bool block8_supports(const RuleFlags& f) { return f.state_present[0] && !f.state_present[1]; }
  static void block8(const Scalars& s, const Block8Run& run) {
    for_each_block(run, [&](const Block8& b, std::size_t n, std::uint32_t key) {
      const bool wd = s.weight_decay != 0.0;
      if (s.has_momentum) wd ? loop8<true, true>(s, b, n, key) : loop8<true, false>(s, b, n, key);
      else wd ? loop8<false, true>(s, b, n, key) : loop8<false, false>(s, b, n, key);
    });
  }

  // lr, alpha, eps, weight_decay, momentum; maximize; square_avg, grad_avg (centered), momentum_buffer.
  static constexpr RuleExample examples[] = {
      {{0.01, 0.99, 1e-8, 0.0, 0.0}, false, {}, {true, false, false}},
      {{0.001, 0.9, 1e-6, 1e-2, 0.9}, false, {}, {true, false, true}},
      {{0.005, 0.95, 1e-8, 0.0, 0.5}, false, {}, {true, true, true}},
      {{0.01, 0.3, 1e-8, 1e-3, 0.0}, true, {}, {true, true, false}},
      {{0.01, 0.99, 1e-8, 1e-3, 0.0}, false, {}, {true, false, false}},
      {{0.002, 0.8, 1e-7, 0.0, 0.7}, true, {}, {true, false, true}},
  };
};
