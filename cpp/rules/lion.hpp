// Lion: evolved sign momentum (Chen et al. 2023, "Symbolic Discovery of Optimization
// Algorithms"), with pytorch-optimizer's arguments (its Lion is the reference the tests use).
//
//   d = gmul·g + wd·p                      (weight_decouple=False: coupled L2)
//   p = (1 − lr·wd)·p                      (weight_decouple=True;  fixed_decay: (1 − wd)·p)
//   u = sign(lerp(m, d, 1 − β1))           (sign(0) = sign(NaN) = 0, as torch.sign)
//   p = p − lr·u
//   m = lerp(m, d, 1 − β2)
// One pass: p (rw), g (r), m (rw), out (w, mixed precision). The 8-bit variant keeps m (signed)
// in 8 bits.

struct lion {
  static constexpr RuleSpec spec = {
      "lion",
      {{"lr", Range::kNonNegative}, {"betas[0]", Range::kUnitClosed}, {"betas[1]", Range::kUnitClosed},
       {"weight_decay", Range::kNonNegative}},
      {"decoupled", "fixed_decay"},
      {{"exp_avg", StateKind::kSigned}},
      {},
      kFormatPlain | kFormatMixed | kFormatBf16State | kFormatBlock8,
  };

  static void check(const double*, const RuleFlags&) {}
  static void structure(const double*, const RuleFlags& f) { require_state(spec, f, 0, true, "for Lion"); }

  struct Scalars {
    double gmul, lr, beta1, beta2, weight_decay, decay;  // decay: the decoupled factor on p
    bool decoupled;
  };
  static Scalars scalars(const double* h, const RuleFlags& f, std::int64_t, double gmul, ScalarState&) {
    const double lr = h[0], wd = h[3];
    return Scalars{gmul, lr, h[1], h[2], wd, 1.0 - wd * (f.option[1] ? 1.0 : lr), f.option[0]};
  }

  template <class T, class G, class O, class S, bool kDecoupled>
  static void loop(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* __restrict p = static_cast<T*>(st[0]);
    const storage_t<G>* __restrict g = static_cast<const storage_t<G>*>(st[1]);
    storage_t<S>* __restrict m = static_cast<storage_t<S>*>(st[2]);
    storage_t<O>* __restrict out = static_cast<storage_t<O>*>(st[kOutStream]);
    const T gmul = T(s.gmul), wd = T(s.weight_decay), decay = T(s.decay), neg_lr = T(-s.lr);
    const T w1 = T(1.0 - s.beta1), w1c = T(s.beta1), w2 = T(1.0 - s.beta2), w2c = T(s.beta2);
    const bool low1 = (1.0 - s.beta1) < 0.5, low2 = (1.0 - s.beta2) < 0.5;
    const bool has_wd = s.weight_decay != 0.0;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      T d = gmul * T(load<G>(g, i));
      T pi = p[i];
      if constexpr (kDecoupled) {
        if (has_wd) pi = pi * decay;
      } else {
        if (has_wd) d = d + wd * pi;
      }
      const T mi = T(load<S>(m, i));
      const T u = sign(lerp(mi, d, w1, w1c, low1));
      const T pn = pi + neg_lr * u;
      p[i] = pn;
      m[i] = store<S>(lerp(mi, d, w2, w2c, low2), weyl(key, first + i));
      if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
    }
  }

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    if (s.decoupled) loop<T, G, O, S, true>(s, st, n, first, key);
    else loop<T, G, O, S, false>(s, st, n, first, key);
  }

  // 8 bits: m (signed) decoded, stepped by the same formula, requantized against its new maximum.
  template <bool kDecoupled>
  static void loop8(const Scalars& s, const Block8& b, std::size_t n, std::uint32_t key) {
    float m_new[kBlock8];
    decode_block<true>(b.codes[0], m_new, n);  // decoded in place of the new moment
    const float gmul = float(s.gmul), wd = float(s.weight_decay), decay = float(s.decay), neg_lr = float(-s.lr);
    const float w1 = float(1.0 - s.beta1), w1c = float(s.beta1), w2 = float(1.0 - s.beta2), w2c = float(s.beta2);
    const bool low1 = (1.0 - s.beta1) < 0.5, low2 = (1.0 - s.beta2) < 0.5, has_wd = s.weight_decay != 0.0;
    const float ms = saturated_float(*b.scale[0]);
    float* __restrict p = b.p;
    const float* __restrict g = b.g;
    float mmax = 0.0f;
#pragma omp simd reduction(max : mmax)
    for (std::size_t i = 0; i < n; ++i) {
      float d = gmul * g[i];
      float pi = p[i];
      if constexpr (kDecoupled) {
        if (has_wd) pi = pi * decay;
      } else {
        if (has_wd) d = d + wd * pi;
      }
      const float mi = m_new[i] * ms;
      p[i] = pi + neg_lr * sign(lerp(mi, d, w1, w1c, low1));
      const float mn = lerp(mi, d, w2, w2c, low2);
      m_new[i] = mn;
      const float am = __builtin_fabsf(mn);
      mmax = am > mmax ? am : mmax;
    }
    requantize<true>(m_new, mmax, b.codes[0], b.scale[0], n, key);
  }

  static constexpr const char* block8_variants = "Lion";
  static bool block8_supports(const RuleFlags& f) { return f.state_present[0]; }
  static void block8(const Scalars& s, const Block8Run& run) {
    for_each_block(run, [&](const Block8& b, std::size_t n, std::uint32_t key) {
      if (s.decoupled) loop8<true>(s, b, n, key);
      else loop8<false>(s, b, n, key);
    });
  }

  // lr, betas[0], betas[1], weight_decay; maximize; decoupled, fixed_decay.
  static constexpr RuleExample examples[] = {
      {{1e-4, 0.9, 0.99, 0.0}, false, {true, false}, {true}},
      {{1e-3, 0.8, 0.95, 1e-2}, true, {true, false}, {true}},
      {{3e-4, 0.9, 0.99, 1e-2}, false, {false, false}, {true}},
      {{1e-3, 0.3, 0.6, 1e-3}, true, {true, true}, {true}},
  };
};
