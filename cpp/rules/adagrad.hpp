// Adagrad (torch.optim.Adagrad).
//
//   d = gmul·g + wd·p
//   s = s + d·d                          (s starts at initial_accumulator_value)
//   p = p − clr·d / (sqrt(s) + eps),     clr = lr / (1 + (t − 1)·lr_decay)
// Streams: p (rw), g (r), s (rw), out (w, mixed precision: the rounded p).
// No 8-bit variant: the sum only grows, so a block-scaled 8-bit code would hold the small sums
// of a block at its largest one's precision (bfloat16 state is offered instead).

struct adagrad {
  static constexpr RuleSpec spec = {
      "adagrad",
      {{"lr", Range::kNonNegative}, {"lr_decay", Range::kNonNegative}, {"weight_decay", Range::kNonNegative},
       {"eps", Range::kNonNegative}},
      {},
      {{"sum", StateKind::kNonNegative}},
      {},
      kFormatPlain | kFormatMixed | kFormatBf16State,
  };

  static void check(const double*, const RuleFlags&) {}
  static void structure(const double*, const RuleFlags& f) { require_state(spec, f, 0, true, "for Adagrad"); }

  struct Scalars {
    double gmul, clr, weight_decay, eps;  // clr = lr / (1 + (t - 1) * lr_decay)
  };
  static Scalars scalars(const double* h, const RuleFlags&, std::int64_t step, double gmul, ScalarState&) {
    return Scalars{gmul, h[0] / (1.0 + double(step - 1) * h[1]), h[2], h[3]};
  }

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* __restrict p = static_cast<T*>(st[0]);
    const storage_t<G>* __restrict g = static_cast<const storage_t<G>*>(st[1]);
    storage_t<S>* __restrict sum = static_cast<storage_t<S>*>(st[2]);
    storage_t<O>* __restrict out = static_cast<storage_t<O>*>(st[kOutStream]);
    const T gmul = T(s.gmul), wd = T(s.weight_decay), eps = T(s.eps), neg_clr = T(-s.clr);
    const bool has_wd = s.weight_decay != 0.0;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      T d = gmul * T(load<G>(g, i));
      if (has_wd) d = d + wd * p[i];
      const T si = T(load<S>(sum, i)) + d * d;
      sum[i] = store<S>(si, weyl(key, first + i));
      const T pn = p[i] + (neg_clr * d) / (root(si) + eps);
      p[i] = pn;
      if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
    }
  }

  // lr, lr_decay, weight_decay, eps; maximize; sum present.
  static constexpr RuleExample examples[] = {
      {{0.01, 0.0, 0.0, 1e-10}, false, {}, {true}},
      {{0.1, 0.01, 1e-3, 1e-8}, false, {}, {true}},
      {{0.05, 0.001, 0.0, 1e-6}, true, {}, {true}},
      {{0.3, 0.1, 0.02, 1e-10}, false, {}, {true}},
  };
};
