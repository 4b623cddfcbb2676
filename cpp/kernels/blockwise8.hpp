// 8-bit block-wise optimizer state: dequantize -> update -> requantize in one pass.
//
// Each state buffer is stored as one uint8 code per element plus one float scale per block of
// kBlock8 elements (the block's largest magnitude). A code is a tiny float relative to the
// scale, read straight off the IEEE bits of x = value / scale ∈ [-1, 1] (no table search):
//   signed   (m, momentum, grad average):  sign | E4M3   |x| ∈ [2^-15, 1] -> 1..121, below -> 0
//   unsigned (u = sqrt(v), sqrt(square_avg)): E4M4       x ∈ [2^-15, 1] -> 1..241, below -> 0
// i.e. block-scaled 8-bit floats (the idea of the dynamic/exponent codes of Dettmers et al.,
// 2021, with the exponent taken from the hardware float instead of a code book). Second
// moments are kept as their square root, so their range matches the first moment's and the
// update's denominator needs no extra square root. Rounding is stochastic (unbiased, so a
// moment that changes by less than half a code step per step still moves on average), dithered
// by a Weyl sequence over the block started at a hash of (seed, step, tensor, block): the same
// bits for any thread count and ISA. These loops are compiled in their own translation unit
// (isa_kernels8.cpp) so that the AVX-512 copy can prefer 256-bit vectors: on Zen 4 the
// integer-heavy code ran at 0.97 ns/element in cache that way, 1.13 with 512-bit vectors.
#pragma once

constexpr std::size_t kBlock8 = 256;

// Signed 32-bit integer arithmetic throughout: every ISA has signed compares and min/max.
constexpr std::int32_t kSignedBias = 895;     // (127 - 15) << 3, minus 1 so 2^-15 -> code 1
constexpr std::int32_t kUnsignedBias = 1791;  // (127 - 15) << 4, minus 1
constexpr std::int32_t kSignedMax = 121, kUnsignedMax = 241;

inline std::int32_t clamp_code(std::int32_t q, std::int32_t hi) {
  q = q > 0 ? q : 0;
  return q < hi ? q : hi;
}

// x in [-1, 1] (a little over 1 is clamped); noise: random low bits.
inline std::uint8_t encode_signed(float x, std::uint32_t noise) {
  const std::int32_t bits = std::int32_t(as_bits(x));
  const std::int32_t r = ((bits & 0x7fffffff) + std::int32_t(noise & 0xfffffU)) >> 20;  // 3 mantissa bits
  const std::int32_t q = clamp_code(r - kSignedBias, kSignedMax);
  const std::int32_t sign = (bits >> 24) & 0x80;  // arithmetic shift: 0xffffff80 or 0, masked
  return std::uint8_t(q | sign);  // 0x80 (a signed zero) decodes to -0.0
}
inline float decode_signed(std::uint8_t c) {
  const std::uint32_t q = c & 0x7fU;
  const std::uint32_t bits = ((q + std::uint32_t(kSignedBias)) << 20) | (std::uint32_t(c & 0x80U) << 24);
  return q ? from_bits(bits) : 0.0f;
}
inline std::uint8_t encode_unsigned(float x, std::uint32_t noise) {
  const std::int32_t r = (std::int32_t(as_bits(x)) + std::int32_t(noise & 0x7ffffU)) >> 19;  // 4 mantissa bits
  return std::uint8_t(clamp_code(r - kUnsignedBias, kUnsignedMax));
}
inline float decode_unsigned(std::uint8_t c) {
  const std::int32_t q = c;
  return q ? from_bits(std::uint32_t(q + kUnsignedBias) << 19) : 0.0f;
}

inline float reciprocal_or_zero(float s) { return s > 0.0f ? 1.0f / s : 0.0f; }

// Requantizes values[0, n) of one block: codes and the block's scale (its largest magnitude).
template <bool kSigned>
void requantize(const float* __restrict values, float max_abs, std::uint8_t* __restrict codes, float* scale,
                std::size_t n, std::uint32_t key) {
  *scale = max_abs;
  const float inv = reciprocal_or_zero(max_abs);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t noise = key + std::uint32_t(i) * 0x9e3779b9U;
    codes[i] = kSigned ? encode_signed(values[i] * inv, noise) : encode_unsigned(values[i] * inv, noise);
  }
}

// Adam/AdamW with m (signed) and u = sqrt(v) (unsigned) in 8 bits; same formula as adam.hpp.
template <bool kDecoupled, bool kLowWeight, bool kWd>
void adam8_loop(const AdamScalars& s, const Block8& b, std::size_t n, std::uint32_t key) {
  float m_new[kBlock8], u_new[kBlock8];
  const float gmul = float(s.gmul), wd = float(s.weight_decay), decay = float(1.0 - s.lr * s.weight_decay);
  const float w1 = float(1.0 - s.beta1), w1c = float(s.beta1);
  const float beta2 = float(s.beta2), one_minus_beta2 = float(1.0 - s.beta2);
  const float neg_step = float(-s.step_size * s.bias_correction2_sqrt);
  const float eps = float(s.eps * s.bias_correction2_sqrt);
  const float ms = *b.scale[0], us = *b.scale[1];
  float* __restrict p = b.p;
  const float* __restrict g = b.g;
  const std::uint8_t* __restrict mq = b.codes[0];
  const std::uint8_t* __restrict uq = b.codes[1];
  float mmax = 0.0f, umax = 0.0f;
#pragma omp simd reduction(max : mmax, umax)
  for (std::size_t i = 0; i < n; ++i) {
    float d = gmul * g[i];
    float pi = p[i];
    if constexpr (kWd && kDecoupled) pi = pi * decay;
    if constexpr (kWd && !kDecoupled) d = d + wd * pi;
    const float u_old = decode_unsigned(uq[i]) * us;
    const float m_old = decode_signed(mq[i]) * ms;
    const float mi = kLowWeight ? m_old + w1 * (d - m_old) : d - (d - m_old) * w1c;
    const float vi = beta2 * (u_old * u_old) + (one_minus_beta2 * d) * d;
    const float ui = root(vi);
    p[i] = pi + (neg_step * mi) / (ui + eps);
    m_new[i] = mi;
    u_new[i] = ui;
    const float am = __builtin_fabsf(mi);
    mmax = am > mmax ? am : mmax;
    umax = ui > umax ? ui : umax;
  }
  // Requantize both moments; an element whose u underflows to code 0 gets m = 0 too, so that
  // the next step never divides a surviving first moment by a vanished second one.
  *b.scale[0] = mmax;
  *b.scale[1] = umax;
  const float inv_m = reciprocal_or_zero(mmax), inv_u = reciprocal_or_zero(umax);
  std::uint8_t* __restrict mq_out = b.codes[0];
  std::uint8_t* __restrict uq_out = b.codes[1];
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    // A Weyl sequence from the block's hashed key dithers both roundings (bits 0-19 for m,
    // 13-31 for u): evenly spread within a block, a fresh random key every step.
    const std::uint32_t noise = key + std::uint32_t(i) * 0x9e3779b9U;
    const std::uint8_t cu = encode_unsigned(u_new[i] * inv_u, noise >> 13);
    const std::uint8_t cm = encode_signed(m_new[i] * inv_m, noise);
    uq_out[i] = cu;
    mq_out[i] = cu ? cm : std::uint8_t(0);
  }
}

template <bool kDecoupled>
void adam8_wd(const AdamScalars& s, const Block8& b, std::size_t n, std::uint32_t key) {
  const bool low = (1.0 - s.beta1) < 0.5, wd = s.weight_decay != 0.0;
  if (low && wd) adam8_loop<kDecoupled, true, true>(s, b, n, key);
  else if (low) adam8_loop<kDecoupled, true, false>(s, b, n, key);
  else if (wd) adam8_loop<kDecoupled, false, true>(s, b, n, key);
  else adam8_loop<kDecoupled, false, false>(s, b, n, key);
}

void adam8(const void* scalars, const Block8& b, std::size_t n, std::uint32_t key) {
  const auto& s = *static_cast<const AdamScalars*>(scalars);
  if (s.decoupled) adam8_wd<true>(s, b, n, key);
  else adam8_wd<false>(s, b, n, key);
}

// SGD with an 8-bit (signed) momentum buffer; same formula as sgd.hpp.
template <bool kNesterov>
void sgd8_loop(const SgdScalars& s, const Block8& b, std::size_t n, std::uint32_t key) {
  float b_new[kBlock8];
  const float gmul = float(s.gmul), wd = float(s.weight_decay), mu = float(s.momentum);
  const float keep = float(1.0 - s.dampening), neg_lr = float(-s.lr);
  const bool has_wd = s.weight_decay != 0.0, first = s.first_step;
  const float bs = *b.scale[0];
  float* __restrict p = b.p;
  const float* __restrict g = b.g;
  const std::uint8_t* __restrict bq = b.codes[0];
  float bmax = 0.0f;
#pragma omp simd reduction(max : bmax)
  for (std::size_t i = 0; i < n; ++i) {
    float d = gmul * g[i];
    if (has_wd) d = d + wd * p[i];
    const float bi = first ? d : mu * (decode_signed(bq[i]) * bs) + keep * d;
    d = kNesterov ? d + mu * bi : bi;
    p[i] = p[i] + neg_lr * d;
    b_new[i] = bi;
    const float ab = __builtin_fabsf(bi);
    bmax = ab > bmax ? ab : bmax;
  }
  requantize<true>(b_new, bmax, b.codes[0], b.scale[0], n, key);
}

void sgd8(const void* scalars, const Block8& b, std::size_t n, std::uint32_t key) {
  const auto& s = *static_cast<const SgdScalars*>(scalars);
  if (s.nesterov) sgd8_loop<true>(s, b, n, key);
  else sgd8_loop<false>(s, b, n, key);
}

// RMSprop with u = sqrt(square_avg) (unsigned) and, with momentum, the buffer (signed) in 8
// bits; same formula as rmsprop.hpp (not centered).
template <bool kMomentum>
void rmsprop8_loop(const RmspropScalars& s, const Block8& b, std::size_t n, std::uint32_t key) {
  float u_new[kBlock8], b_new[kBlock8];
  const float gmul = float(s.gmul), wd = float(s.weight_decay), alpha = float(s.alpha);
  const float one_minus_alpha = float(1.0 - s.alpha), eps = float(s.eps), mu = float(s.momentum);
  const float neg_lr = float(-s.lr);
  const bool has_wd = s.weight_decay != 0.0;
  const float us = *b.scale[0], bs = kMomentum ? *b.scale[2] : 0.0f;
  float* __restrict p = b.p;
  const float* __restrict g = b.g;
  const std::uint8_t* __restrict uq = b.codes[0];
  const std::uint8_t* __restrict bq = b.codes[2];
  float umax = 0.0f, bmax = 0.0f;
#pragma omp simd reduction(max : umax, bmax)
  for (std::size_t i = 0; i < n; ++i) {
    float d = gmul * g[i];
    if (has_wd) d = d + wd * p[i];
    const float u_old = decode_unsigned(uq[i]) * us;
    const float sqi = alpha * (u_old * u_old) + (one_minus_alpha * d) * d;
    const float ui = root(sqi);
    const float avg = ui + eps;
    if constexpr (kMomentum) {
      const float bi = mu * (decode_signed(bq[i]) * bs) + d / avg;
      p[i] = p[i] + neg_lr * bi;
      b_new[i] = bi;
      const float ab = __builtin_fabsf(bi);
      bmax = ab > bmax ? ab : bmax;
    } else {
      p[i] = p[i] + (neg_lr * d) / avg;
    }
    u_new[i] = ui;
    umax = ui > umax ? ui : umax;
  }
  requantize<false>(u_new, umax, b.codes[0], b.scale[0], n, key);
  if constexpr (kMomentum) requantize<true>(b_new, bmax, b.codes[2], b.scale[2], n, mix32(key ^ 0x85ebca6bU));
}

void rmsprop8(const void* scalars, const Block8& b, std::size_t n, std::uint32_t key) {
  const auto& s = *static_cast<const RmspropScalars*>(scalars);
  if (s.has_momentum) rmsprop8_loop<true>(s, b, n, key);
  else rmsprop8_loop<false>(s, b, n, key);
}
