// NAdam: Adam with Nesterov momentum and a momentum schedule (torch.optim.NAdam; Dozat 2016).
//
//   d   = gmul·g + wd·p                (L2)   |   p = (1 − lr·wd)·p   (decoupled_weight_decay)
//   μ_t = β1·(1 − ½·0.96^(t·ψ)),  μ_{t+1} likewise,  Π_t = Π_{t−1}·μ_t   (ψ: momentum_decay;
//         Π is the scalar state mu_product, kept in float32 as torch keeps it)
//   m   = lerp(m, d, 1 − β1);   v = β2·v + (1 − β2)·d²
//   den = sqrt(v / (1 − β2^t)) + eps
//   p   = p + c_g·d / den + c_m·m / den,   c_g = −lr·(1 − μ_t)/(1 − Π_t),
//                                          c_m = −lr·μ_{t+1}/(1 − Π_t·μ_{t+1})
// in torch's order of operations (two divisions per element, as torch's for-loop does them).
// Streams: p (rw), g (r), m (rw), v (rw), out (w, mixed precision).

struct nadam {
  static constexpr RuleSpec spec = {
      "nadam",
      {{"lr", Range::kNonNegative}, {"betas[0]", Range::kUnitOpen}, {"betas[1]", Range::kUnitOpen},
       {"eps", Range::kNonNegative}, {"weight_decay", Range::kNonNegative}, {"momentum_decay", Range::kNonNegative}},
      {"decoupled"},
      {{"exp_avg", StateKind::kSigned}, {"exp_avg_sq", StateKind::kNonNegative}},
      {"mu_product"},
      kFormatPlain | kFormatMixed | kFormatBf16State,
  };

  static void check(const double*, const RuleFlags&) {}
  static void structure(const double*, const RuleFlags& f) {
    require_state(spec, f, 0, true, "for NAdam");
    require_state(spec, f, 1, true, "for NAdam");
  }
  static void start(const double*, ScalarState& s) { s.value[0] = 1.0; }

  struct Scalars {
    double gmul, lr, beta1, beta2, eps, weight_decay, bias_correction2, coef_grad, coef_avg;
    bool decoupled;
  };
  static Scalars scalars(const double* h, const RuleFlags& f, std::int64_t step, double gmul, ScalarState& ss) {
    const double t = double(step), beta1 = h[1], psi = h[5];
    const double mu = beta1 * (1.0 - 0.5 * __builtin_pow(0.96, t * psi));
    const double mu_next = beta1 * (1.0 - 0.5 * __builtin_pow(0.96, (t + 1.0) * psi));
    // mu_product *= mu, as torch multiplies its scalar tensor: in float32 when it is float32.
    const double product =
        ss.single[0] ? double(float(ss.value[0]) * float(mu)) : ss.value[0] * mu;
    ss.value[0] = product;
    const double product_next = product * mu_next;
    return Scalars{gmul, h[0], beta1, h[2], h[3], h[4], 1.0 - __builtin_pow(h[2], t),
                   -h[0] * (1.0 - mu) / (1.0 - product), (-h[0] * mu_next) / (1.0 - product_next), f.option[0]};
  }

  template <class T, class G, class O, class S, bool kDecoupled>
  static void loop(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* __restrict p = static_cast<T*>(st[0]);
    const storage_t<G>* __restrict g = static_cast<const storage_t<G>*>(st[1]);
    storage_t<S>* __restrict m = static_cast<storage_t<S>*>(st[2]);
    storage_t<S>* __restrict v = static_cast<storage_t<S>*>(st[3]);
    storage_t<O>* __restrict out = static_cast<storage_t<O>*>(st[kOutStream]);
    const T gmul = T(s.gmul), wd = T(s.weight_decay), decay = T(1.0 - s.lr * s.weight_decay);
    const T w1 = T(1.0 - s.beta1), w1c = T(s.beta1);
    const bool low_weight = (1.0 - s.beta1) < 0.5;
    const T beta2 = T(s.beta2), one_minus_beta2 = T(1.0 - s.beta2), bc2 = T(s.bias_correction2);
    const T eps = T(s.eps), cg = T(s.coef_grad), cm = T(s.coef_avg);
    const bool has_wd = s.weight_decay != 0.0;
    const std::uint32_t key_v = key ^ 0x85ebca6bU;
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
      const T vi = beta2 * T(load<S>(v, i)) + (one_minus_beta2 * d) * d;
      v[i] = store<S>(vi, weyl(key_v, first + i));
      const T denom = root(vi / bc2) + eps;
      const T pn = (pi + (cg * d) / denom) + (cm * mi) / denom;
      p[i] = pn;
      if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
    }
  }

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    if (s.decoupled) loop<T, G, O, S, true>(s, st, n, first, key);
    else loop<T, G, O, S, false>(s, st, n, first, key);
  }

  // lr, betas[0], betas[1], eps, weight_decay, momentum_decay; maximize; decoupled.
  static constexpr RuleExample examples[] = {
      {{2e-3, 0.9, 0.999, 1e-8, 0.0, 4e-3}, false, {false}, {true, true}},
      {{1e-2, 0.8, 0.99, 1e-6, 1e-2, 4e-3}, true, {false}, {true, true}},
      {{5e-3, 0.9, 0.999, 1e-8, 5e-2, 1e-2}, false, {true}, {true, true}},
      {{1e-3, 0.3, 0.5, 1e-7, 0.0, 0.0}, true, {false}, {true, true}},
  };
};
