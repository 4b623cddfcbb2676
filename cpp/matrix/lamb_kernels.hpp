// LAMB's kernels (pytorch_optimizer.Lamb), one copy per ISA: included by core/isa_kernels.cpp
// inside that copy's anonymous namespace, after formats/element_math.hpp (root) and
// core/grad_stats.hpp (16-lane sums of squares). What each computes: matrix/lamb_types.hpp;
// the step that drives them: matrix/lamb_step.cpp.
//
// Per element, in the dtype's arithmetic (each scalar rounded once from double; no FMA):
//   G  = gmul·g
//   m  = β1·m + β3·G;   v = β2·v + ((1 − β2)·G)·G
//   p' = decay·p (decoupled weight decay), else p
//   u  = m/(√v + eps)  (+ wd·p, coupled weight decay)
//   pass 1: Σp'², Σu² (16 lanes: 16 squares per lane summed in the dtype, then in double);   pass 2 (or pass 1 in adam mode): p = p' + coef·u
#pragma once

// Elements whose squares are summed in the dtype before they go into the double lanes: a
// multiple of the lane count, so each element's lane is its offset in the block mod 16.
constexpr std::size_t kLambChunk = 256;
static_assert(kLambChunk % kStatLanes == 0, "chunks keep each element's lane");

template <class T>
struct LambElem {
  T gmul, b1, b3, b2, omb2, eps, decay, wd, coef;
  explicit LambElem(const LambElementScalars& s)
      : gmul(T(s.gmul)), b1(T(s.beta1)), b3(T(s.beta3)), b2(T(s.beta2)), omb2(T(s.one_minus_beta2)),
        eps(T(s.eps)), decay(T(s.decay)), wd(T(s.weight_decay)), coef(T(s.coef)) {}
};

// kWd: 0 none, 1 decoupled (p' = decay·p), 2 coupled (u += wd·p).
template <class T, int kWd>
inline T lamb_update(T mi, T vi, T pi, const LambElem<T>& c) {
  T u = mi / (root(vi) + c.eps);
  if constexpr (kWd == 2) u = u + c.wd * pi;
  return u;
}

// The squares go into 16 lanes of the dtype (lane j: elements j, j + 16, ... of a chunk, added
// in order), flushed into the double lanes after every chunk of 256: per lane 16 squares are
// summed in the dtype, the rest in double; the order is fixed, so every ISA gives the same bits.
template <class T, int kWd, bool kApply>
void lamb_moments_loop(T* p, const T* g, T* m, T* v, std::size_t n, const LambElem<T>& c, double* p_lanes,
                       double* u_lanes) {
  for (std::size_t i0 = 0; i0 < n; i0 += kLambChunk) {
    const std::size_t cnt = n - i0 < kLambChunk ? n - i0 : kLambChunk;
    const std::size_t full = cnt - cnt % kStatLanes;
    T* __restrict pc = p + i0;
    const T* __restrict gc = g + i0;
    T* __restrict mc = m + i0;
    T* __restrict vc = v + i0;
    T ap[kStatLanes] = {}, au[kStatLanes] = {};
    auto element = [&](std::size_t k, std::size_t lane) {
      const T gi = gc[k] * c.gmul;
      const T mi = mc[k] * c.b1 + c.b3 * gi;
      const T vi = vc[k] * c.b2 + (c.omb2 * gi) * gi;
      mc[k] = mi;
      vc[k] = vi;
      const T pi = pc[k];
      const T pd = kWd == 1 ? pi * c.decay : pi;
      const T u = lamb_update<T, kWd>(mi, vi, pi, c);
      ap[lane] = ap[lane] + pd * pd;
      au[lane] = au[lane] + u * u;
      if constexpr (kApply) pc[k] = pd + c.coef * u;
    };
    for (std::size_t k0 = 0; k0 < full; k0 += kStatLanes) {
#pragma omp simd
      for (std::size_t j = 0; j < kStatLanes; ++j) element(k0 + j, j);
    }
    for (std::size_t k = full; k < cnt; ++k) element(k, k - full);
    for (std::size_t j = 0; j < kStatLanes; ++j) {
      p_lanes[j] += double(ap[j]);
      u_lanes[j] += double(au[j]);
    }
  }
}

template <class T>
void lamb_moments(void* param, const void* grad, void* exp_avg, void* exp_avg_sq, std::size_t n,
                  const LambElementScalars& s, bool apply, double* p_lanes, double* u_lanes) {
  T* p = static_cast<T*>(param);
  const T* g = static_cast<const T*>(grad);
  T* m = static_cast<T*>(exp_avg);
  T* v = static_cast<T*>(exp_avg_sq);
  const LambElem<T> c(s);
  const int wd = s.decouple ? 1 : s.coupled ? 2 : 0;
  if (apply) {
    if (wd == 1) lamb_moments_loop<T, 1, true>(p, g, m, v, n, c, p_lanes, u_lanes);
    else if (wd == 2) lamb_moments_loop<T, 2, true>(p, g, m, v, n, c, p_lanes, u_lanes);
    else lamb_moments_loop<T, 0, true>(p, g, m, v, n, c, p_lanes, u_lanes);
  } else {
    if (wd == 1) lamb_moments_loop<T, 1, false>(p, g, m, v, n, c, p_lanes, u_lanes);
    else if (wd == 2) lamb_moments_loop<T, 2, false>(p, g, m, v, n, c, p_lanes, u_lanes);
    else lamb_moments_loop<T, 0, false>(p, g, m, v, n, c, p_lanes, u_lanes);
  }
}

template <class T, int kWd>
void lamb_apply_loop(T* __restrict p, const T* __restrict m, const T* __restrict v, std::size_t n,
                     const LambElem<T>& c) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const T pi = p[i];
    const T pd = kWd == 1 ? pi * c.decay : pi;
    p[i] = pd + c.coef * lamb_update<T, kWd>(m[i], v[i], pi, c);
  }
}

template <class T>
void lamb_apply(void* param, const void* exp_avg, const void* exp_avg_sq, std::size_t n, const LambElementScalars& s) {
  T* p = static_cast<T*>(param);
  const T* m = static_cast<const T*>(exp_avg);
  const T* v = static_cast<const T*>(exp_avg_sq);
  const LambElem<T> c(s);
  if (s.decouple) lamb_apply_loop<T, 1>(p, m, v, n, c);
  else if (s.coupled) lamb_apply_loop<T, 2>(p, m, v, n, c);
  else lamb_apply_loop<T, 0>(p, m, v, n, c);
}

template <int kRw>
void lamb_probe_loop(float* const* rw, const float* __restrict r0, const float* __restrict r1, std::size_t n) {
  float* __restrict a0 = rw[0];
  float* __restrict a1 = kRw > 1 ? rw[1] : nullptr;
  const float c = 0.5f;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const float r = r0[i] + r1[i];
    a0[i] = c * a0[i] + r;
    if constexpr (kRw > 1) a1[i] = c * a1[i] + r;
  }
}

inline void lamb_probe(float* const* rw, int n_rw, const float* r0, const float* r1, std::size_t n) {
  if (n_rw == 1) lamb_probe_loop<1>(rw, r0, r1, n);
  else lamb_probe_loop<2>(rw, r0, r1, n);
}

template <class T>
constexpr LambKernels lamb_kernels() {
  return {lamb_moments<T>, lamb_apply<T>};
}
