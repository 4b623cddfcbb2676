// RAdam: Adam with the variance of the adaptive rate rectified (torch.optim.RAdam; Liu et al.
// 2020, "On the Variance of the Adaptive Learning Rate and Beyond").
//
//   d   = gmul·g + wd·p                (L2)   |   p = (1 − lr·wd)·p   (decoupled_weight_decay)
//   m   = lerp(m, d, 1 − β1);   v = β2·v + (1 − β2)·d²
//   ρ∞  = 2/(1 − β2) − 1,   ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t)
//   ρ_t > 5:  p = p − ((m/(1 − β1^t))·lr · (1/(sqrt(v) + eps))·sqrt(1 − β2^t)) · r_t,
//             r_t = sqrt((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t))
//   else:     p = p − (m/(1 − β1^t))·lr
// in torch's order of operations (its scalar / tensor is a reciprocal times the scalar).
// Streams: p (rw), g (r), m (rw), v (rw), out (w, mixed precision).

struct radam {
  static constexpr RuleSpec spec = {
      "radam",
      {{"lr", Range::kNonNegative}, {"betas[0]", Range::kUnitOpen}, {"betas[1]", Range::kUnitOpen},
       {"eps", Range::kNonNegative}, {"weight_decay", Range::kNonNegative}},
      {"decoupled"},
      {{"exp_avg", StateKind::kSigned}, {"exp_avg_sq", StateKind::kNonNegative}},
      {},
      kFormatPlain | kFormatMixed | kFormatBf16State,
  };

  static void check(const double*, const RuleFlags&) {}
  static void structure(const double*, const RuleFlags& f) {
    require_state(spec, f, 0, true, "for RAdam");
    require_state(spec, f, 1, true, "for RAdam");
  }

  struct Scalars {
    double gmul, lr, beta1, beta2, weight_decay, eps, bias_correction1, bias_correction2_sqrt, rect;
    bool decoupled, rectified;
  };
  static Scalars scalars(const double* h, const RuleFlags& f, std::int64_t step, double gmul, ScalarState&) {
    const double t = double(step), beta1 = h[1], beta2 = h[2];
    const double bc1 = 1.0 - __builtin_pow(beta1, t), bc2 = 1.0 - __builtin_pow(beta2, t);
    const double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    const double rho_t = rho_inf - 2.0 * t * __builtin_pow(beta2, t) / bc2;
    const bool rectified = rho_t > 5.0;
    const double rect = rectified ? __builtin_pow((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                                                      ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t),
                                                  0.5)
                                  : 0.0;
    return Scalars{gmul, h[0], beta1, beta2, h[4], h[3], bc1, __builtin_pow(bc2, 0.5), rect, f.option[0], rectified};
  }

  template <class T, class G, class O, class S, bool kDecoupled, bool kRectified>
  static void loop(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* __restrict p = static_cast<T*>(st[0]);
    const storage_t<G>* __restrict g = static_cast<const storage_t<G>*>(st[1]);
    storage_t<S>* __restrict m = static_cast<storage_t<S>*>(st[2]);
    storage_t<S>* __restrict v = static_cast<storage_t<S>*>(st[3]);
    storage_t<O>* __restrict out = static_cast<storage_t<O>*>(st[kOutStream]);
    const T gmul = T(s.gmul), wd = T(s.weight_decay), decay = T(1.0 - s.lr * s.weight_decay);
    const T w1 = T(1.0 - s.beta1), w1c = T(s.beta1);
    const bool low_weight = (1.0 - s.beta1) < 0.5;
    const T beta2 = T(s.beta2), one_minus_beta2 = T(1.0 - s.beta2);
    const T bc1 = T(s.bias_correction1), lr = T(s.lr), eps = T(s.eps);
    const T bc2_sqrt = T(s.bias_correction2_sqrt), rect = T(s.rect);
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
      T update = (mi / bc1) * lr;
      if constexpr (kRectified) update = (update * ((T(1) / (root(vi) + eps)) * bc2_sqrt)) * rect;
      const T pn = pi - update;
      p[i] = pn;
      if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
    }
  }

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    if (s.decoupled) {
      if (s.rectified) loop<T, G, O, S, true, true>(s, st, n, first, key);
      else loop<T, G, O, S, true, false>(s, st, n, first, key);
    } else {
      if (s.rectified) loop<T, G, O, S, false, true>(s, st, n, first, key);
      else loop<T, G, O, S, false, false>(s, st, n, first, key);
    }
  }

  // lr, betas[0], betas[1], eps, weight_decay; maximize; decoupled. Set 1 (resumed at step 5,
  // β2 = 0.99) crosses the rectification switch: ρ_t = 5.0 at step 5, 5.9 at step 6.
  static constexpr RuleExample examples[] = {
      {{1e-3, 0.9, 0.999, 1e-8, 0.0}, false, {false}, {true, true}},
      {{1e-2, 0.8, 0.99, 1e-6, 1e-2}, true, {false}, {true, true}},
      {{5e-3, 0.9, 0.9, 1e-8, 5e-2}, false, {true}, {true, true}},
      {{1e-3, 0.3, 0.5, 1e-7, 1e-2}, true, {true}, {true, true}},
  };
};
