// Rprop: resilient backpropagation, sign-based steps with per-element step sizes
// (torch.optim.Rprop; Riedmiller & Braun 1993).
//
//   d  = gmul·g
//   f  = η+ if d·prev > 0,  η− if d·prev < 0,  1 otherwise (also for NaN)
//   s  = clamp(s·f, step_size_min, step_size_max)        (s starts at lr)
//   d  = 0 where f = η−                                   (after a sign change: no step)
//   p  = p − sign(d)·s;   prev = d                         (sign(0) = sign(NaN) = 0)
// lr is used only to start s. Streams: p (rw), g (r), prev (rw), s (rw), out (w, mixed precision).

struct rprop {
  static constexpr RuleSpec spec = {
      "rprop",
      {{"lr", Range::kNonNegative}, {"etas[0]", Range::kFinite}, {"etas[1]", Range::kFinite},
       {"step_sizes[0]", Range::kFinite}, {"step_sizes[1]", Range::kFinite}},
      {},
      {{"prev", StateKind::kSigned}, {"step_size", StateKind::kNonNegative}},
      {},
      kFormatPlain | kFormatMixed | kFormatBf16State,
  };

  static void check(const double* h, const RuleFlags&) {
    if (!(0.0 < h[1] && h[1] < 1.0 && 1.0 < h[2]))
      invalid_setting("invalid etas: must satisfy 0 < etas[0] < 1 < etas[1]");
  }
  static void structure(const double*, const RuleFlags& f) {
    require_state(spec, f, 0, true, "for Rprop");
    require_state(spec, f, 1, true, "for Rprop");
  }

  struct Scalars {
    double gmul, etaminus, etaplus, step_min, step_max;
  };
  static Scalars scalars(const double* h, const RuleFlags&, std::int64_t, double gmul, ScalarState&) {
    return Scalars{gmul, h[1], h[2], h[3], h[4]};
  }

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* __restrict p = static_cast<T*>(st[0]);
    const storage_t<G>* __restrict g = static_cast<const storage_t<G>*>(st[1]);
    storage_t<S>* __restrict prev = static_cast<storage_t<S>*>(st[2]);
    storage_t<S>* __restrict size = static_cast<storage_t<S>*>(st[3]);
    storage_t<O>* __restrict out = static_cast<storage_t<O>*>(st[kOutStream]);
    const T gmul = T(s.gmul), etaminus = T(s.etaminus), etaplus = T(s.etaplus);
    const T lo = T(s.step_min), hi = T(s.step_max);
    const std::uint32_t key_size = key ^ 0x85ebca6bU;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      T d = gmul * T(load<G>(g, i));
      const T agree = d * T(load<S>(prev, i));
      const T f = agree > T(0) ? etaplus : (agree < T(0) ? etaminus : T(1));
      T si = T(load<S>(size, i)) * f;
      si = si < lo ? lo : si;  // torch.clamp: NaN stays NaN
      si = si > hi ? hi : si;
      size[i] = store<S>(si, weyl(key_size, first + i));
      d = f == etaminus ? T(0) : d;
      prev[i] = store<S>(d, weyl(key, first + i));
      const T pn = p[i] + (T(-1) * sign(d)) * si;
      p[i] = pn;
      if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
    }
  }

  // lr, etas[0], etas[1], step_sizes[0], step_sizes[1]; maximize.
  static constexpr RuleExample examples[] = {
      {{1e-2, 0.5, 1.2, 1e-6, 50.0}, false, {}, {true, true}},
      {{1e-3, 0.3, 1.5, 1e-4, 1e-2}, true, {}, {true, true}},
      {{1e-2, 0.5, 1.2, 0.0, 1e30}, false, {}, {true, true}},
      {{5e-2, 0.9, 1.1, 1e-3, 1.0}, true, {}, {true, true}},
  };
};
