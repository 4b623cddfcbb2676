// ASGD: averaged stochastic gradient descent (torch.optim.ASGD; Polyak & Juditsky 1992).
//
//   d   = gmul·g + wd·p
//   p   = p·(1 − λ·η) − η·d                   (η, μ: the scalar state, as the previous step left them)
//   ax  = ax + (p − ax)·μ     (μ ≠ 1)   or   ax = p   (μ = 1)
//   then η = lr / (1 + λ·lr·t)^α,   μ = 1 / max(1, t − t0)   (kept in float32, as torch keeps them)
// η starts at lr and μ at 1. Streams: p (rw), g (r), ax (rw), out (w, mixed precision).

struct asgd {
  static constexpr RuleSpec spec = {
      "asgd",
      {{"lr", Range::kNonNegative}, {"lambd", Range::kFinite}, {"alpha", Range::kFinite}, {"t0", Range::kFinite},
       {"weight_decay", Range::kNonNegative}},
      {},
      {{"ax", StateKind::kSigned}},
      {"eta", "mu"},
      kFormatPlain | kFormatMixed | kFormatBf16State,
  };

  static void check(const double*, const RuleFlags&) {}
  static void structure(const double*, const RuleFlags& f) { require_state(spec, f, 0, true, "for ASGD"); }
  static void start(const double* h, ScalarState& s) {
    s.value[0] = h[0];
    s.value[1] = 1.0;
  }

  struct Scalars {
    double gmul, eta, mu, lambd, weight_decay;
    bool average;  // mu != 1
  };
  static Scalars scalars(const double* h, const RuleFlags&, std::int64_t step, double gmul, ScalarState& ss) {
    const double eta = ss.value[0], mu = ss.value[1], lr = h[0], lambd = h[1], alpha = h[2], t0 = h[3];
    const double t = double(step);
    ss.value[0] = lr / __builtin_pow(1.0 + lambd * lr * t, alpha);
    ss.value[1] = 1.0 / (t - t0 > 1.0 ? t - t0 : 1.0);
    return Scalars{gmul, eta, mu, lambd, h[4], mu != 1.0};
  }

  template <class T, class G, class O, class S, bool kAverage>
  static void loop(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* __restrict p = static_cast<T*>(st[0]);
    const storage_t<G>* __restrict g = static_cast<const storage_t<G>*>(st[1]);
    storage_t<S>* __restrict ax = static_cast<storage_t<S>*>(st[2]);
    storage_t<O>* __restrict out = static_cast<storage_t<O>*>(st[kOutStream]);
    const T gmul = T(s.gmul), wd = T(s.weight_decay), decay = T(1.0 - s.lambd * s.eta), neg_eta = T(-s.eta);
    const T mu = T(s.mu);
    const bool has_wd = s.weight_decay != 0.0;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      T d = gmul * T(load<G>(g, i));
      if (has_wd) d = d + wd * p[i];
      const T pn = p[i] * decay + neg_eta * d;
      p[i] = pn;
      if constexpr (kAverage) {
        const T a = T(load<S>(ax, i));
        ax[i] = store<S>(a + (pn - a) * mu, weyl(key, first + i));
      } else {
        ax[i] = store<S>(pn, weyl(key, first + i));
      }
      if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
    }
  }

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    if (s.average) loop<T, G, O, S, true>(s, st, n, first, key);
    else loop<T, G, O, S, false>(s, st, n, first, key);
  }

  // lr, lambd, alpha, t0, weight_decay; maximize. t0 = 1 and 2 reach the averaging (μ ≠ 1) within
  // the driver's steps.
  static constexpr RuleExample examples[] = {
      {{1e-2, 1e-4, 0.75, 1e6, 0.0}, false, {}, {true}},
      {{5e-2, 1e-2, 0.75, 1.0, 1e-2}, true, {}, {true}},
      {{1e-2, 1e-3, 0.5, 2.0, 0.0}, false, {}, {true}},
      {{1e-1, 0.0, 1.0, 0.0, 5e-2}, true, {}, {true}},
  };
};
