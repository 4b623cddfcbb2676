// Adadelta (torch.optim.Adadelta; Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method").
//
//   d  = gmul·g + wd·p
//   sq = ρ·sq + (1 − ρ)·d²
//   Δ  = sqrt(acc + eps) / sqrt(sq + eps) · d
//   acc = ρ·acc + (1 − ρ)·Δ²
//   p  = p − lr·Δ
// Streams: p (rw), g (r), sq (rw), acc (rw), out (w, mixed precision).

struct adadelta {
  static constexpr RuleSpec spec = {
      "adadelta",
      {{"lr", Range::kNonNegative}, {"rho", Range::kUnitClosed}, {"eps", Range::kNonNegative},
       {"weight_decay", Range::kNonNegative}},
      {},
      {{"square_avg", StateKind::kNonNegative}, {"acc_delta", StateKind::kNonNegative}},
      {},
      kFormatPlain | kFormatMixed | kFormatBf16State,
  };

  static void check(const double*, const RuleFlags&) {}
  static void structure(const double*, const RuleFlags& f) {
    require_state(spec, f, 0, true, "for Adadelta");
    require_state(spec, f, 1, true, "for Adadelta");
  }

  struct Scalars {
    double gmul, lr, rho, eps, weight_decay;
  };
  static Scalars scalars(const double* h, const RuleFlags&, std::int64_t, double gmul, ScalarState&) {
    return Scalars{gmul, h[0], h[1], h[2], h[3]};
  }

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* __restrict p = static_cast<T*>(st[0]);
    const storage_t<G>* __restrict g = static_cast<const storage_t<G>*>(st[1]);
    storage_t<S>* __restrict sq = static_cast<storage_t<S>*>(st[2]);
    storage_t<S>* __restrict acc = static_cast<storage_t<S>*>(st[3]);
    storage_t<O>* __restrict out = static_cast<storage_t<O>*>(st[kOutStream]);
    const T gmul = T(s.gmul), wd = T(s.weight_decay), rho = T(s.rho), one_minus_rho = T(1.0 - s.rho);
    const T eps = T(s.eps), neg_lr = T(-s.lr);
    const bool has_wd = s.weight_decay != 0.0;
    const std::uint32_t key_acc = key ^ 0x85ebca6bU;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      T d = gmul * T(load<G>(g, i));
      if (has_wd) d = d + wd * p[i];
      const T sqi = T(load<S>(sq, i)) * rho + (one_minus_rho * d) * d;
      sq[i] = store<S>(sqi, weyl(key, first + i));
      const T delta = (root(T(load<S>(acc, i)) + eps) / root(sqi + eps)) * d;
      const T acci = T(load<S>(acc, i)) * rho + (one_minus_rho * delta) * delta;
      acc[i] = store<S>(acci, weyl(key_acc, first + i));
      const T pn = p[i] + neg_lr * delta;
      p[i] = pn;
      if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
    }
  }

  // lr, rho, eps, weight_decay; maximize.
  static constexpr RuleExample examples[] = {
      {{1.0, 0.9, 1e-6, 0.0}, false, {}, {true, true}},
      {{0.5, 0.95, 1e-5, 1e-2}, true, {}, {true, true}},
      {{1.0, 0.0, 1e-6, 0.0}, false, {}, {true, true}},
      {{0.1, 1.0, 1e-4, 5e-2}, true, {}, {true, true}},
  };
};
