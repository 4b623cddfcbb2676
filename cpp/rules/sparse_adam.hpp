// SparseAdam (torch.optim.SparseAdam): Adam over the rows a sparse gradient names, in torch's
// order of operations (the moments moved by their differences, eps added to sqrt(v) itself and
// the bias corrections folded into one step size):
//
//   d  = gmul·g
//   m  = m + (d − m)·(1 − β1)
//   v  = v + (d² − v)·(1 − β2)
//   p  = p + (−step_size)·(m / (sqrt(v) + eps)),   step_size = lr·sqrt(1 − β2^t) / (1 − β1^t)
// Streams: p (rw), g (r), m (rw), v (rw). fastoptim.torch steps it from sparse COO gradients
// only, as torch does; the NumPy API also takes dense ones (every row named).

struct sparse_adam {
  static constexpr RuleSpec spec = {
      "sparse_adam",
      {{"lr", Range::kNonNegative}, {"betas[0]", Range::kUnitOpen}, {"betas[1]", Range::kUnitOpen},
       {"eps", Range::kNonNegative}},
      {},
      {{"exp_avg", StateKind::kSigned}, {"exp_avg_sq", StateKind::kNonNegative}},
      {},
      kFormatPlain | kFormatBf16State,
  };

  static void check(const double*, const RuleFlags&) {}
  static void structure(const double*, const RuleFlags& f) {
    require_state(spec, f, 0, true, "for SparseAdam");
    require_state(spec, f, 1, true, "for SparseAdam");
  }

  struct Scalars {
    double gmul, beta1, beta2, eps, step_size;
  };
  static Scalars scalars(const double* h, const RuleFlags&, std::int64_t step, double gmul, ScalarState&) {
    // As torch computes them: in double, once per step.
    const double t = double(step);
    const double bc1 = 1.0 - __builtin_pow(h[1], t), bc2 = 1.0 - __builtin_pow(h[2], t);
    return Scalars{gmul, h[1], h[2], h[3], h[0] * __builtin_sqrt(bc2) / bc1};
  }

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* __restrict p = static_cast<T*>(st[0]);
    const storage_t<G>* __restrict g = static_cast<const storage_t<G>*>(st[1]);
    storage_t<S>* __restrict m = static_cast<storage_t<S>*>(st[2]);
    storage_t<S>* __restrict v = static_cast<storage_t<S>*>(st[3]);
    storage_t<O>* __restrict out = static_cast<storage_t<O>*>(st[kOutStream]);
    const T gmul = T(s.gmul), w1 = T(1.0 - s.beta1), w2 = T(1.0 - s.beta2), eps = T(s.eps);
    const T neg_step = T(-s.step_size);
    const std::uint32_t key_v = key ^ 0x85ebca6bU;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T d = gmul * T(load<G>(g, i));
      const T mo = T(load<S>(m, i)), vo = T(load<S>(v, i));
      const T mi = mo + (d - mo) * w1;
      const T vi = vo + (d * d - vo) * w2;
      m[i] = store<S>(mi, weyl(key, first + i));
      v[i] = store<S>(vi, weyl(key_v, first + i));
      const T pn = p[i] + neg_step * (mi / (root(vi) + eps));
      p[i] = pn;
      if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
    }
  }

  // lr, betas[0], betas[1], eps; maximize; both moments present.
  static constexpr RuleExample examples[] = {
      {{1e-3, 0.9, 0.999, 1e-8}, false, {}, {true, true}},
      {{0.05, 0.8, 0.99, 1e-6}, true, {}, {true, true}},
      {{0.3, 0.0, 0.5, 1e-3}, false, {}, {true, true}},
  };
};
