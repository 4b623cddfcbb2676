// Adamax: Adam with the infinity norm in place of the second moment (torch.optim.Adamax;
// Kingma & Ba 2015, section 7.1).
//
//   d = gmul·g + wd·p
//   m = lerp(m, d, 1 − β1)
//   u = max(β2·u, |d| + eps)          (NaN if either side is NaN, as torch.maximum)
//   p = p − clr·m / u,   clr = lr / (1 − β1^t)
// Streams: p (rw), g (r), m (rw), u (rw), out (w, mixed precision).

struct adamax {
  static constexpr RuleSpec spec = {
      "adamax",
      {{"lr", Range::kNonNegative}, {"betas[0]", Range::kUnitOpen}, {"betas[1]", Range::kUnitOpen},
       {"eps", Range::kNonNegative}, {"weight_decay", Range::kNonNegative}},
      {},
      {{"exp_avg", StateKind::kSigned}, {"exp_inf", StateKind::kNonNegative}},
      {},
      kFormatPlain | kFormatMixed | kFormatBf16State,
  };

  static void check(const double*, const RuleFlags&) {}
  static void structure(const double*, const RuleFlags& f) {
    require_state(spec, f, 0, true, "for Adamax");
    require_state(spec, f, 1, true, "for Adamax");
  }

  struct Scalars {
    double gmul, beta1, beta2, eps, weight_decay, clr;
  };
  static Scalars scalars(const double* h, const RuleFlags&, std::int64_t step, double gmul, ScalarState&) {
    return Scalars{gmul, h[1], h[2], h[3], h[4], h[0] / (1.0 - __builtin_pow(h[1], double(step)))};
  }

  static float magnitude(float x) { return __builtin_fabsf(x); }
  static double magnitude(double x) { return __builtin_fabs(x); }

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* __restrict p = static_cast<T*>(st[0]);
    const storage_t<G>* __restrict g = static_cast<const storage_t<G>*>(st[1]);
    storage_t<S>* __restrict m = static_cast<storage_t<S>*>(st[2]);
    storage_t<S>* __restrict u = static_cast<storage_t<S>*>(st[3]);
    storage_t<O>* __restrict out = static_cast<storage_t<O>*>(st[kOutStream]);
    const T gmul = T(s.gmul), wd = T(s.weight_decay), eps = T(s.eps), neg_clr = T(-s.clr);
    const T w1 = T(1.0 - s.beta1), w1c = T(s.beta1), beta2 = T(s.beta2);
    const bool low_weight = (1.0 - s.beta1) < 0.5;
    const bool has_wd = s.weight_decay != 0.0;
    const std::uint32_t key_u = key ^ 0x85ebca6bU;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      T d = gmul * T(load<G>(g, i));
      if (has_wd) d = d + wd * p[i];
      const T mi = lerp(T(load<S>(m, i)), d, w1, w1c, low_weight);
      m[i] = store<S>(mi, weyl(key, first + i));
      const T ui = max_nan(T(load<S>(u, i)) * beta2, magnitude(d) + eps);
      u[i] = store<S>(ui, weyl(key_u, first + i));
      const T pn = p[i] + (neg_clr * mi) / ui;
      p[i] = pn;
      if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
    }
  }

  // lr, betas[0], betas[1], eps, weight_decay; maximize.
  static constexpr RuleExample examples[] = {
      {{2e-3, 0.9, 0.999, 1e-8, 0.0}, false, {}, {true, true}},
      {{1e-2, 0.8, 0.99, 1e-6, 1e-2}, true, {}, {true, true}},
      {{5e-3, 0.3, 0.5, 1e-8, 0.0}, false, {}, {true, true}},
      {{1e-3, 0.9, 0.9, 1e-7, 5e-2}, true, {}, {true, true}},
  };
};
