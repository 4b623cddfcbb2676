// SGD with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD).
//
//   d = gmul·g + wd·p                       (gmul carries maximize, unscale and clip)
//   b = d                  on the buffer's first step
//   b = μ·b + (1 − τ)·d    afterwards
//   d = d + μ·b  (Nesterov)   or   d = b
//   p = p − lr·d
// Streams: p (rw), g (r), b (rw, only with momentum), out (w, mixed precision: the rounded p).
//
// Every rule header has this shape (see core/isa_kernels.cpp for how it is used): `spec` (names,
// hyperparameters in order with their ranges, options, state, formats), check() and structure()
// for what the ranges cannot say, Scalars and scalars() (once per step, in double), the element
// kernel over any element types (T compute and param type, G grad storage, O output storage or
// void, S state storage: T, or bfloat16 rounded to nearest / stochastically), optionally the
// 8-bit block kernel block8(), and `examples` that reach every branch (digest driver).

struct sgd {
  static constexpr RuleSpec spec = {
      "sgd",
      {{"lr", Range::kNonNegative}, {"momentum", Range::kNonNegative}, {"dampening", Range::kFinite},
       {"weight_decay", Range::kNonNegative}},
      {"nesterov"},
      {{"momentum_buffer", StateKind::kSigned}},
      {},
      kFormatPlain | kFormatMixed | kFormatBf16State | kFormatBlock8,
  };

  static void check(const double* h, const RuleFlags& f) {
    if (f.option[0] && (h[1] <= 0 || h[2] != 0))
      invalid_setting("invalid nesterov: Nesterov momentum requires momentum > 0 and dampening == 0");
  }
  static void structure(const double* h, const RuleFlags& f) {
    require_state(spec, f, 0, h[1] != 0, h[1] != 0 ? "when momentum != 0" : "when momentum == 0");
  }

  struct Scalars {
    double gmul, lr, momentum, dampening, weight_decay;
    bool has_momentum, nesterov, first_step;
  };
  static Scalars scalars(const double* h, const RuleFlags& f, std::int64_t step, double gmul, ScalarState&) {
    return Scalars{gmul, h[0], h[1], h[2], h[3], f.state_present[0], f.option[0], step == 1};
  }

  template <class T, class G, class O, class S, bool kMomentum, bool kNesterov>
  static void loop(const Scalars& s, T* __restrict p, const storage_t<G>* __restrict g, storage_t<S>* __restrict b,
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

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* p = static_cast<T*>(st[0]);
    const auto* g = static_cast<const storage_t<G>*>(st[1]);
    auto* b = static_cast<storage_t<S>*>(st[2]);
    auto* out = static_cast<storage_t<O>*>(st[kOutStream]);
    if (!s.has_momentum) loop<T, G, O, S, false, false>(s, p, g, b, out, n, first, key);
    else if (s.nesterov) loop<T, G, O, S, true, true>(s, p, g, b, out, n, first, key);
    else loop<T, G, O, S, true, false>(s, p, g, b, out, n, first, key);
  }

  // 8-bit (signed) momentum buffer; the same formula. The first step (the buffer is the
  // gradient) and weight decay are template parameters: as run-time conditions they kept this
  // loop scalar.
  template <bool kNesterov, bool kFirst, bool kWd>
  static void loop8(const Scalars& s, const Block8& b, std::size_t n, std::uint32_t key) {
    float b_new[kBlock8];
    if constexpr (!kFirst) decode_block<true>(b.codes[0], b_new, n);  // decoded in place of the new buffer
    const float gmul = float(s.gmul), wd = float(s.weight_decay), mu = float(s.momentum);
    const float keep = float(1.0 - s.dampening), neg_lr = float(-s.lr);
    const float bs = saturated_float(*b.scale[0]);
    float* __restrict p = b.p;
    const float* __restrict g = b.g;
    float bmax = 0.0f;
#pragma omp simd reduction(max : bmax)
    for (std::size_t i = 0; i < n; ++i) {
      float d = gmul * g[i];
      if constexpr (kWd) d = d + wd * p[i];
      float bi = d;
      if constexpr (!kFirst) bi = mu * (b_new[i] * bs) + keep * d;
      d = kNesterov ? d + mu * bi : bi;
      p[i] = p[i] + neg_lr * d;
      b_new[i] = bi;
      const float ab = __builtin_fabsf(bi);
      bmax = ab > bmax ? ab : bmax;
    }
    requantize<true>(b_new, bmax, b.codes[0], b.scale[0], n, key);
  }

  template <bool kNesterov>
  static void block8_of(const Scalars& s, const Block8& b, std::size_t n, std::uint32_t key) {
    const bool wd = s.weight_decay != 0.0;
    if (s.first_step) wd ? loop8<kNesterov, true, true>(s, b, n, key) : loop8<kNesterov, true, false>(s, b, n, key);
    else wd ? loop8<kNesterov, false, true>(s, b, n, key) : loop8<kNesterov, false, false>(s, b, n, key);
  }

  static constexpr const char* block8_variants = "SGD with momentum";
  static bool block8_supports(const RuleFlags& f) { return f.state_present[0]; }
  static void block8(const Scalars& s, const Block8Run& run) {
    for_each_block(run, [&](const Block8& b, std::size_t n, std::uint32_t key) {
      if (s.nesterov) block8_of<true>(s, b, n, key);
      else block8_of<false>(s, b, n, key);
    });
  }

  // lr, momentum, dampening, weight_decay; maximize; nesterov; momentum_buffer present.
  static constexpr RuleExample examples[] = {
      {{0.1, 0.0, 0.0, 0.0}, false, {false}, {false}},
      {{0.01, 0.9, 0.0, 1e-4}, false, {false}, {true}},
      {{0.05, 0.9, 0.0, 5e-3}, false, {true}, {true}},
      {{0.02, 0.5, 0.3, 0.01}, true, {false}, {true}},
      {{0.1, 0.9, 0.0, 0.0}, false, {false}, {true}},
      {{0.03, 0.8, 0.0, 0.0}, true, {true}, {true}},
  };
};
