// Muon (torch.optim.Muon, torch 2.13): the element-wise passes around the Newton–Schulz
// orthogonalisation, whose matrix products the caller runs with the BLAS it already has
// (torch's matmul for fastoptim.torch, NumPy's for the NumPy API). Not a rule of the
// element-wise registry (cpp/rules/): the step of a param needs its whole update matrix between
// the two passes. Included by core/isa_kernels.cpp inside each ISA's anonymous namespace, after
// formats/element_math.hpp; plain loops, no FMA contraction: every ISA gives the same bits.
//
// The update storage U is the bfloat16 matrix Newton–Schulz starts from and returns: either its
// bits (std::uint16_t; fastoptim.torch hands them to torch as a bfloat16 tensor) or the same
// values held in float (MuonF32; the NumPy API multiplies float32 matrices).
#pragma once

struct MuonF32 {};  // update held as float32 values that are bfloat16 numbers
template <class U> struct MuonUpdate { using type = std::uint16_t; };
template <> struct MuonUpdate<MuonF32> { using type = float; };

// x rounded to bfloat16 (nearest even) and stored as U. float64 goes through float32 first,
// as torch's Tensor.bfloat16() converts a double.
template <class U>
inline typename MuonUpdate<U>::type muon_store(float x) {
  if constexpr (std::is_same_v<U, MuonF32>)
    return widen(BF16{}, narrow(BF16{}, x));
  else
    return narrow(BF16{}, x);
}
template <class U>
inline float muon_load(typename MuonUpdate<U>::type u) {
  if constexpr (std::is_same_v<U, MuonF32>)
    return u;
  else
    return widen(BF16{}, u);
}

// Momentum pass, one read of G, one read and write of B, one write of u:
//   B = lerp(B, G, 1 − μ)                         (torch.lerp's two branches, weights in T)
//   U = nesterov ? lerp(G, B, μ) : B
//   u = bfloat16(U)                               (Newton–Schulz's input, as torch's .bfloat16())
template <class T, class U>
void muon_momentum(void* buf, const void* grad, void* update, std::size_t n, double momentum, bool nesterov) {
  using S = typename MuonUpdate<U>::type;
  T* __restrict b = static_cast<T*>(buf);
  const T* __restrict g = static_cast<const T*>(grad);
  S* __restrict u = static_cast<S*>(update);
  const T w = T(1.0 - momentum), wc = T(1) - w;  // torch's lerp weight 1 − μ and its complement in T
  const bool low = (w < T(0) ? -w : w) < T(0.5);
  const T v = T(momentum), vc = T(1) - v;  // the Nesterov blend's weight μ
  const bool low_v = (v < T(0) ? -v : v) < T(0.5);
  if (nesterov) {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T gi = g[i];
      const T bi = lerp(b[i], gi, w, wc, low);
      b[i] = bi;
      u[i] = muon_store<U>(float(lerp(gi, bi, v, vc, low_v)));
    }
  } else {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T bi = lerp(b[i], g[i], w, wc, low);
      b[i] = bi;
      u[i] = muon_store<U>(float(bi));
    }
  }
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#define FASTOPTIM_MUON_AVX512BF16 1
// The same momentum pass for float32 params on CPUs with AVX512_BF16 (the avx512bf16 table of
// core/isa_kernels.cpp): VCVTNE2PS2BF16 rounds 32 floats to bfloat16 in one instruction, where
// narrow(BF16)'s integer rounding (shift, mask, two adds, shift, NaN select) costs more than the
// memory traffic saves on one core (bench/matrix_roof.py at one thread, 4096², 1024² and a
// 768-wide block: 91, 64 and 94 % of the pass's probe with it, 100, 103 and 100 % with the
// instruction, Zen 4).
// The instruction rounds to nearest even and makes a NaN quiet keeping its sign and payload's
// top, as narrow() does; it reads subnormal inputs as zero, where narrow() rounds them: a group
// of 32 holding a subnormal (VFPCLASSPS) takes narrow() instead. Same bits on every input.
typedef float MuonVec __attribute__((vector_size(64)));

__attribute__((target("avx512bf16"))) inline __m512i muon_round_bf16x32(MuonVec lo, MuonVec hi) {
  const __m512 a = __m512(lo), b = __m512(hi);
  const __mmask16 sub = _mm512_fpclass_ps_mask(a, 0x20) | _mm512_fpclass_ps_mask(b, 0x20);
  if (__builtin_expect(sub == 0, 1)) return __m512i(_mm512_cvtne2ps_pbh(b, a));
  std::uint16_t out[32];
  for (int i = 0; i < 16; ++i) {
    out[i] = narrow(BF16{}, lo[i]);
    out[16 + i] = narrow(BF16{}, hi[i]);
  }
  __m512i r;
  __builtin_memcpy(&r, out, sizeof r);
  return r;
}

template <class U>
__attribute__((target("avx512bf16"))) void muon_momentum_avx512bf16(void* buf, const void* grad, void* update,
                                                                      std::size_t n, double momentum,
                                                                      bool nesterov) {
  using S = typename MuonUpdate<U>::type;
  float* b = static_cast<float*>(buf);
  const float* g = static_cast<const float*>(grad);
  S* u = static_cast<S*>(update);
  const float w1 = float(1.0 - momentum), v1 = float(momentum);
  const bool low = (w1 < 0.0f ? -w1 : w1) < 0.5f, low_v = (v1 < 0.0f ? -v1 : v1) < 0.5f;
  const MuonVec w = MuonVec{} + w1, wc = MuonVec{} + (1.0f - w1);  // as muon_momentum's weights
  const MuonVec v = MuonVec{} + v1, vc = MuonVec{} + (1.0f - v1);
  const std::size_t full = n - n % 32;
  for (std::size_t i = 0; i < full; i += 32) {
    MuonVec x[2];
    for (int k = 0; k < 2; ++k) {
      MuonVec gi, bi;
      __builtin_memcpy(&gi, g + i + 16 * k, sizeof gi);
      __builtin_memcpy(&bi, b + i + 16 * k, sizeof bi);
      bi = lerp(bi, gi, w, wc, low);
      __builtin_memcpy(b + i + 16 * k, &bi, sizeof bi);
      x[k] = nesterov ? lerp(gi, bi, v, vc, low_v) : bi;
    }
    const __m512i h = muon_round_bf16x32(x[0], x[1]);
    if constexpr (std::is_same_v<U, MuonF32>) {  // the bfloat16 bits as the top of float32 values
      const __m512i lo = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16);
      const __m512i hi = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16);
      _mm512_storeu_si512(u + i, lo);
      _mm512_storeu_si512(u + i + 16, hi);
    } else {
      _mm512_storeu_si512(u + i, h);
    }
  }
  muon_momentum<float, U>(b + full, g + full, u + full, n - full, momentum, nesterov);
}
#endif

// Apply pass, one read of u, one read and write of θ (torch's mul_ then add_, each rounded to T):
//   θ = θ·(1 − γλ)                               (decoupled weight decay; `decay` = 1 − γλ)
//   θ = θ + (−γ')·u                              (γ' = AdjustLR(γ, shape); `neg_lr` = −γ')
template <class T, class U>
void muon_apply(void* param, const void* update, std::size_t n, double decay, double neg_lr) {
  using S = typename MuonUpdate<U>::type;
  T* __restrict p = static_cast<T*>(param);
  const S* __restrict u = static_cast<const S*>(update);
  const T c = T(decay), a = T(neg_lr);
  if (c == T(1)) {  // no weight decay: θ·1 is θ
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) p[i] = p[i] + a * T(muon_load<U>(u[i]));
  } else {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T pi = p[i] * c;
      p[i] = pi + a * T(muon_load<U>(u[i]));
    }
  }
}

// The NumPy API's Newton–Schulz in float32 with every intermediate matrix rounded to bfloat16
// where torch's bfloat16 arithmetic rounds it:
//   out = bfloat16(β·base + α·prod)              (torch.addmm(base, A, B, beta=β, alpha=α))
// out may be prod or base (element by element, in place).
inline void muon_blend_bf16(float* out, const float* prod, const float* base, std::size_t n, double alpha,
                            double beta) {
  const float a = float(alpha), b = float(beta);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) out[i] = widen(BF16{}, narrow(BF16{}, b * base[i] + a * prod[i]));
}
//   x = bfloat16(x / d)                          (the division by the clamped Frobenius norm)
inline void muon_div_bf16(float* x, std::size_t n, double divisor) {
  const float d = float(divisor);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) x[i] = widen(BF16{}, narrow(BF16{}, x[i] / d));
}
