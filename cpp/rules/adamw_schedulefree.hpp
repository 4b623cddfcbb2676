// Schedule-free AdamW (Defazio et al. 2024, "The Road Less Scheduled"), with the arguments and
// the order of operations of the schedulefree package's AdamWScheduleFree (its train-mode step;
// the params hold y, state 'z' the base sequence; x, the average, is what eval() shows).
//
//   per step (k = t − 1):  lr_k = lr·min(1, (k + 1)/warmup_steps),  lr_max = max(lr_max, lr_k)
//                          w = (k + 1)^r · lr_max^weight_lr_power,  W = W + w,  c = w / W
//   v  = β2·v + (1 − β2)·d²,   d = gmul·g
//   ĝ  = d / (sqrt(v / (1 − β2^(k+1))) + eps) + wd·y
//   y  = lerp(y, z, c) + lr_k·(β1·(1 − c) − 1)·ĝ
//   z  = z − lr_k·ĝ
// lr_max and W are the scalar state (schedulefree keeps them in the param group).
// Streams: y (rw), g (r), z (rw), v (rw), out (w, mixed precision).

struct adamw_schedulefree {
  static constexpr RuleSpec spec = {
      "adamw_schedulefree",
      {{"lr", Range::kNonNegative}, {"betas[0]", Range::kUnitOpen}, {"betas[1]", Range::kUnitOpen},
       {"eps", Range::kNonNegative}, {"weight_decay", Range::kNonNegative}, {"warmup_steps", Range::kNonNegative},
       {"r", Range::kFinite}, {"weight_lr_power", Range::kFinite}},
      {},
      {{"z", StateKind::kSigned}, {"exp_avg_sq", StateKind::kNonNegative}},
      {"lr_max", "weight_sum"},
      kFormatPlain | kFormatMixed | kFormatBf16State,
  };

  static void check(const double*, const RuleFlags&) {}
  static void structure(const double*, const RuleFlags& f) {
    require_state(spec, f, 0, true, "for schedule-free AdamW");
    require_state(spec, f, 1, true, "for schedule-free AdamW");
  }
  static void start(const double*, ScalarState& s) {
    s.value[0] = -1.0;  // lr_max
    s.value[1] = 0.0;   // weight_sum
  }

  struct Scalars {
    double gmul, beta2, eps, weight_decay, bias_correction2, ckp1, lr, y_lr;
  };
  static Scalars scalars(const double* h, const RuleFlags&, std::int64_t step, double gmul, ScalarState& ss) {
    const double k = double(step - 1), warmup = h[5];
    const double sched = k < warmup ? (k + 1.0) / warmup : 1.0;
    const double lr = h[0] * sched;
    const double lr_max = lr > ss.value[0] ? lr : ss.value[0];
    const double weight = __builtin_pow(k + 1.0, h[6]) * __builtin_pow(lr_max, h[7]);
    const double weight_sum = ss.value[1] + weight;
    const double ckp1 = weight_sum != 0.0 ? weight / weight_sum : 0.0;
    ss.value[0] = lr_max;
    ss.value[1] = weight_sum;
    return Scalars{gmul, h[2], h[3], h[4], 1.0 - __builtin_pow(h[2], k + 1.0), ckp1, lr,
                   lr * (h[1] * (1.0 - ckp1) - 1.0)};
  }

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* __restrict y = static_cast<T*>(st[0]);
    const storage_t<G>* __restrict g = static_cast<const storage_t<G>*>(st[1]);
    storage_t<S>* __restrict z = static_cast<storage_t<S>*>(st[2]);
    storage_t<S>* __restrict v = static_cast<storage_t<S>*>(st[3]);
    storage_t<O>* __restrict out = static_cast<storage_t<O>*>(st[kOutStream]);
    const T gmul = T(s.gmul), beta2 = T(s.beta2), one_minus_beta2 = T(1.0 - s.beta2), bc2 = T(s.bias_correction2);
    const T eps = T(s.eps), wd = T(s.weight_decay), c = T(s.ckp1), c_comp = T(1.0 - s.ckp1);
    const bool low_c = s.ckp1 < 0.5;
    const T lr = T(s.lr), y_lr = T(s.y_lr);
    const bool has_wd = s.weight_decay != 0.0;
    const std::uint32_t key_v = key ^ 0x85ebca6bU;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T d = gmul * T(load<G>(g, i));
      const T vi = T(load<S>(v, i)) * beta2 + (one_minus_beta2 * d) * d;
      v[i] = store<S>(vi, weyl(key_v, first + i));
      T gn = d / (root(vi / bc2) + eps);
      const T yi = y[i];
      if (has_wd) gn = gn + wd * yi;
      const T zi = T(load<S>(z, i));
      const T yn = lerp(yi, zi, c, c_comp, low_c) + y_lr * gn;
      y[i] = yn;
      z[i] = store<S>(zi - lr * gn, weyl(key, first + i));
      if constexpr (!std::is_void_v<O>) out[i] = store<O>(yn, weyl(key ^ 0x27d4eb2fU, first + i));
    }
  }

  // lr, betas[0], betas[1], eps, weight_decay, warmup_steps, r, weight_lr_power; maximize.
  static constexpr RuleExample examples[] = {
      {{2.5e-3, 0.9, 0.999, 1e-8, 0.0, 0.0, 0.0, 2.0}, false, {}, {true, true}},
      {{1e-2, 0.8, 0.99, 1e-6, 1e-2, 2.0, 0.5, 1.0}, true, {}, {true, true}},
      {{5e-3, 0.9, 0.999, 1e-8, 5e-2, 10.0, 0.0, 2.0}, false, {}, {true, true}},
      {{1e-3, 0.5, 0.9, 1e-7, 0.0, 0.0, 1.0, 0.0}, true, {}, {true, true}},
  };
};
