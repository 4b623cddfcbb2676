// Adam and AdamW, optionally AMSGrad (torch.optim.Adam / AdamW).
//
//   d  = gmul·g + wd·p            (Adam: coupled L2)     |  p = (1 − lr·wd)·p   (AdamW)
//   m  = lerp(m, d, 1 − β1)
//   v  = β2·v + (1 − β2)·d²
//   v̂  = max(v̂, v)                (AMSGrad; v̂ replaces v below)
//   p  = p − step_size·m / (sqrt(v) / sqrt(1 − β2^t) + eps),   step_size = lr / (1 − β1^t)
// evaluated in the algebraically equal form with one division per element (the divider is
// the in-cache bottleneck) and the bias correction folded into two per-step scalars:
//   p  = p − (step_size·c)·m / (sqrt(v) + eps·c),   c = sqrt(1 − β2^t)
// Streams: p (rw), g (r), m (rw), v (rw), v̂ (rw, AMSGrad only), out (w, mixed precision:
// the rounded p). The 8-bit variant keeps m (signed) and u = sqrt(v) (unsigned) in 8 bits;
// its AVX-512 copy is in adam/adam8_avx512.hpp.

struct AdamScalars {
  double gmul, lr, beta1, beta2, eps, weight_decay;
  double step_size;              // lr / (1 - beta1^t)
  double bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  bool decoupled, amsgrad;       // AdamW-style weight decay; keep max of second moments
};

// Adam's per-block coefficients, with the block's old scales folded in (ms, us) so that the
// decoded codes enter unscaled:
//   m = (beta1 ms) m_code + (1 - beta1) d,   v = (beta2 us^2) u_code^2 + (1 - beta2) d^2
// where d is the gradient times gmul (folded into cg and cv) plus, for L2 weight decay, wd p.
struct Adam8Coefficients {
  float cm, cu, cg, cv, gmul, wd, decay, neg_step, eps;
  Adam8Coefficients(const AdamScalars& s, double ms, double us, bool l2)
      : cm(saturated_float(s.beta1 * ms)),
        cu(saturated_float(s.beta2 * us * us)),
        cg(float(l2 ? 1.0 - s.beta1 : (1.0 - s.beta1) * s.gmul)),
        cv(saturated_float(l2 ? 1.0 - s.beta2 : (1.0 - s.beta2) * s.gmul * s.gmul)),
        gmul(float(s.gmul)),
        wd(float(s.weight_decay)),
        decay(float(1.0 - s.lr * s.weight_decay)),
        neg_step(float(-s.step_size * s.bias_correction2_sqrt)),
        eps(float(s.eps * s.bias_correction2_sqrt)) {}
};

enum Adam8WeightDecay { kNoDecay, kL2Decay, kDecoupledDecay };

// Adam/AdamW with m (signed) and u = sqrt(v) (unsigned) in 8 bits; same formula as adam.hpp:
//   p <- p - step_size m / (sqrt(v) + eps)   (in the one-division form of adam.hpp)
// then both moments are requantized against their new block maxima.
template <int kWd>
void adam8_loop(const AdamScalars& s, const Block8& b, std::size_t n, std::uint32_t key) {
  float m_new[kBlock8], u_new[kBlock8];
  decode_block<true>(b.codes[0], m_new, n);  // decoded in place of the new moments
  decode_block<false>(b.codes[1], u_new, n);
  const Adam8Coefficients c(s, *b.scale[0], *b.scale[1], kWd == kL2Decay);
  float* __restrict p = b.p;
  const float* __restrict g = b.g;
  float mmax = 0.0f, umax = 0.0f;
#pragma omp simd reduction(max : mmax, umax)
  for (std::size_t i = 0; i < n; ++i) {
    float pi = p[i];
    const float d = kWd == kL2Decay ? c.gmul * g[i] + c.wd * pi : g[i];
    if constexpr (kWd == kDecoupledDecay) pi = pi * c.decay;
    const float ud = u_new[i];
    const float mi = c.cm * m_new[i] + c.cg * d;
    const float ui = root(c.cu * (ud * ud) + (c.cv * d) * d);
    p[i] = pi + (c.neg_step * mi) / (ui + c.eps);
    m_new[i] = mi;
    u_new[i] = ui;
    const float am = __builtin_fabsf(mi);
    mmax = am > mmax ? am : mmax;
    umax = ui > umax ? ui : umax;
  }
  requantize_pair(m_new, mmax, u_new, umax, b, n, key);
}

struct Adam8Portable {
  template <int kWd>
  static void run(const AdamScalars& s, const Block8Run& blocks) {
    for_each_block(blocks, [&](const Block8& b, std::size_t n, std::uint32_t key) { adam8_loop<kWd>(s, b, n, key); });
  }
};

#ifdef FASTOPTIM_ADAM8_AVX512
#include "rules/adam/adam8_avx512.hpp"
using Adam8Loop = Adam8Avx512;
#else
using Adam8Loop = Adam8Portable;
#endif

struct adam {
  static constexpr RuleSpec spec = {
      "adam",
      {{"lr", Range::kNonNegative}, {"betas[0]", Range::kUnitOpen}, {"betas[1]", Range::kUnitOpen},
       {"eps", Range::kNonNegative}, {"weight_decay", Range::kNonNegative}},
      {"decoupled"},
      {{"exp_avg", StateKind::kSigned}, {"exp_avg_sq", StateKind::kNonNegative},
       {"max_exp_avg_sq", StateKind::kNonNegative}},
      {},
      kFormatPlain | kFormatMixed | kFormatBf16State | kFormatBlock8,
  };

  static void check(const double*, const RuleFlags&) {}
  static void structure(const double*, const RuleFlags& f) {
    require_state(spec, f, 0, true, "for Adam");
    require_state(spec, f, 1, true, "for Adam");
  }

  using Scalars = AdamScalars;
  static Scalars scalars(const double* h, const RuleFlags& f, std::int64_t step, double gmul, ScalarState&) {
    // As torch.optim computes them: in double, once per step.
    const double t = double(step);
    const double bc1 = 1.0 - __builtin_pow(h[1], t);
    const double bc2 = 1.0 - __builtin_pow(h[2], t);
    return Scalars{gmul, h[0], h[1], h[2], h[3], h[4], h[0] / bc1, __builtin_pow(bc2, 0.5), f.option[0],
                   f.state_present[2]};
  }

  template <class T, class G, class O, class S, bool kDecoupled, bool kAmsgrad>
  static void loop(const Scalars& s, T* __restrict p, const storage_t<G>* __restrict g, storage_t<S>* __restrict m,
                   storage_t<S>* __restrict v, storage_t<S>* __restrict vmax, storage_t<O>* __restrict out,
                   std::size_t n, std::size_t first, std::uint32_t key) {
    const T gmul = T(s.gmul), wd = T(s.weight_decay), decay = T(1.0 - s.lr * s.weight_decay);
    const T w1 = T(1.0 - s.beta1), w1c = T(s.beta1);  // lerp weight 1 − β1 and its complement β1
    const bool low_weight = (1.0 - s.beta1) < 0.5;
    const T beta2 = T(s.beta2), one_minus_beta2 = T(1.0 - s.beta2);
    const T neg_step = T(-s.step_size * s.bias_correction2_sqrt);
    const T eps = T(s.eps * s.bias_correction2_sqrt);
    const bool has_wd = s.weight_decay != 0.0;
    const std::uint32_t key_v = key ^ 0x85ebca6bU, key_max = key ^ 0xc2b2ae35U;
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
      T vi = beta2 * T(load<S>(v, i)) + (one_minus_beta2 * d) * d;
      v[i] = store<S>(vi, weyl(key_v, first + i));
      if constexpr (kAmsgrad) {
        vi = max_nan(T(load<S>(vmax, i)), vi);
        vmax[i] = store<S>(vi, weyl(key_max, first + i));
      }
      const T denom = root(vi) + eps;
      const T pn = pi + (neg_step * mi) / denom;
      p[i] = pn;
      if constexpr (!std::is_void_v<O>) out[i] = store<O>(pn, weyl(key ^ 0x27d4eb2fU, first + i));
    }
  }

  template <class T, class G, class O, class S>
  static void kernel(const Scalars& s, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
    T* p = static_cast<T*>(st[0]);
    const auto* g = static_cast<const storage_t<G>*>(st[1]);
    auto* m = static_cast<storage_t<S>*>(st[2]);
    auto* v = static_cast<storage_t<S>*>(st[3]);
    auto* vmax = static_cast<storage_t<S>*>(st[4]);
    auto* out = static_cast<storage_t<O>*>(st[kOutStream]);
    if (s.decoupled) {
      if (s.amsgrad) loop<T, G, O, S, true, true>(s, p, g, m, v, vmax, out, n, first, key);
      else loop<T, G, O, S, true, false>(s, p, g, m, v, vmax, out, n, first, key);
    } else {
      if (s.amsgrad) loop<T, G, O, S, false, true>(s, p, g, m, v, vmax, out, n, first, key);
      else loop<T, G, O, S, false, false>(s, p, g, m, v, vmax, out, n, first, key);
    }
  }

  static constexpr const char* block8_variants = "Adam/AdamW without amsgrad";
  static bool block8_supports(const RuleFlags& f) {
    return f.state_present[0] && f.state_present[1] && !f.state_present[2];
  }
  static void block8(const Scalars& s, const Block8Run& run) {
    if (s.weight_decay == 0.0) Adam8Loop::run<kNoDecay>(s, run);
    else if (s.decoupled) Adam8Loop::run<kDecoupledDecay>(s, run);
    else Adam8Loop::run<kL2Decay>(s, run);
  }

  // lr, betas[0], betas[1], eps, weight_decay; maximize; decoupled (AdamW); exp_avg, exp_avg_sq,
  // max_exp_avg_sq (amsgrad).
  static constexpr RuleExample examples[] = {
      {{1e-3, 0.9, 0.999, 1e-8, 0.0}, false, {false}, {true, true, false}},
      {{1e-3, 0.9, 0.999, 1e-8, 1e-2}, false, {true}, {true, true, false}},
      {{3e-3, 0.8, 0.99, 1e-6, 1e-3}, false, {false}, {true, true, true}},
      {{1e-2, 0.3, 0.5, 1e-8, 0.1}, true, {true}, {true, true, true}},
      {{2e-3, 0.9, 0.99, 1e-8, 5e-3}, false, {false}, {true, true, false}},
      {{5e-3, 0.6, 0.9, 1e-7, 0.0}, true, {false}, {true, true, false}},
  };
};
