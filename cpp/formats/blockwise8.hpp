// 8-bit block-wise optimizer state: dequantize -> update -> requantize in one pass.
//
// Each state buffer is stored as one uint8 code per element plus one float scale per block of
// kBlock8 elements (the block's largest magnitude). A code is a tiny float relative to the
// scale, x = value / scale in [-1, 1], whose bits are a float16's with the low bits dropped:
//   signed   (m, momentum):  float16 bits (c & 0x80) << 8 | (c & 0x7f) << 7: sign, 4-bit exponent,
//            3-bit mantissa, i.e. float8_e4m3fn(c) / 256: 1.0 = 0x78, normal from 2^-14 (0x08),
//            subnormal down to 2^-17 (0x01)
//   unsigned (u = sqrt(v), sqrt(square_avg)):  float16 bits c << 6: 4-bit exponent, 4-bit
//            mantissa: 1.0 = 0xf0, normal from 2^-14 (0x10), subnormal down to 2^-18 (0x01)
// i.e. block-scaled 8-bit floats (the idea of the dynamic/exponent codes of Dettmers et al.,
// 2021, with the exponent taken from the hardware float instead of a code book), converted with
// float16 conversions (one instruction each way on AVX-512 and F16C). Second moments are kept as
// their square root, so their range matches the first moment's and the update's denominator
// needs no extra square root. Rounding is stochastic (unbiased, so a moment that changes by
// less than half a code step per step still moves on average; below 2^-14 the noise is finer
// than the subnormal step and rounds towards zero more often): random bits added below the
// code's last mantissa bit, then truncation. The noise is a Weyl sequence over the block started
// at a hash of (seed, step, tensor, block): the same bits for any thread count and ISA.
// The rules' 8-bit kernels (block8() in cpp/rules/<rule>.hpp) are written on these helpers.
#pragma once

constexpr std::size_t kBlock8 = 256;

// One block (at most kBlock8 elements) of a run: its params, grads, codes and scale.
struct Block8 {
  float* p;
  const float* g;
  std::uint8_t* codes[3];
  float* scale[3];
};

// Block j of a run, and its number of elements.
inline Block8 block_of(const Block8Run& run, std::size_t j) {
  const std::size_t first = j * kBlock8;
  Block8 b{run.p + first, run.g + first, {}, {}};
  for (int k = 0; k < 3; ++k) {
    b.codes[k] = run.codes[k] ? run.codes[k] + first : nullptr;
    b.scale[k] = run.scale[k] ? run.scale[k] + j : nullptr;
  }
  return b;
}
inline std::size_t block_size(const Block8Run& run, std::size_t j) {
  const std::size_t left = run.n - j * kBlock8;
  return left < kBlock8 ? left : kBlock8;
}
inline std::size_t blocks_in(const Block8Run& run) { return (run.n + kBlock8 - 1) / kBlock8; }
inline std::uint32_t key_of(const Block8Run& run, std::size_t j) {
  return block_key(run.step_key, run.tensor, run.first_block + std::uint32_t(j));
}

// Runs loop(block, n, key) over the blocks of a run, one after the other.
template <class BlockLoop>
void for_each_block(const Block8Run& run, BlockLoop&& loop) {
  for (std::size_t j = 0, nb = blocks_in(run); j < nb; ++j) loop(block_of(run, j), block_size(run, j), key_of(run, j));
}

// The float16 conversion, written out for these codes (no Inf or NaN; used without F16C and for
// the last codes of a block): a normal code is the float with the exponent rebiased (+ 112); a
// subnormal one (exponent field 0) is read one binade up, as 2^-14 + q 2^-17 (or 2^-18), and
// 2^-14 subtracted, exactly.
inline float decode_signed(std::uint8_t c) {
  const std::uint32_t q = c & 0x7fU, sub = q < 8U, sign = std::uint32_t(c & 0x80U) << 24;
  const float up = from_bits((q << 20) + ((112U + sub) << 23));
  return from_bits(as_bits(up - from_bits(sub * 0x38800000U)) | sign);  // 0x80: -0.0
}
inline float decode_unsigned(std::uint8_t c) {
  const std::uint32_t q = c, sub = q < 16U;
  return from_bits((q << 19) + ((112U + sub) << 23)) - from_bits(sub * 0x38800000U);
}

// Encoding: random bits are added below the code's last mantissa bit (float32 bit 20 signed,
// 19 unsigned: noise bits 0-19 or 13-31), then the float16 conversion rounding toward zero
// (vcvtps2ph with RZ) keeps the code's bits. Written out here on the float32 bits for x in
// [-1, 1], where the float16 is normal from 2^-14 (rebias: exponent - 112) and subnormal below
// (x * 2^24, truncated); NaN as vcvtps2ph converts it (a quiet NaN with the top of its payload).
constexpr std::uint32_t kF16Normal = 0x38800000U;  // 2^-14, the smallest normal float16

// (Compared as int32: every ISA has signed 32-bit compares; these values are below 2^31.)
inline std::uint8_t encode_signed(float x, std::uint32_t noise) {
  const std::uint32_t bits = as_bits(x) + (noise & 0xfffffU);
  const std::int32_t f = std::int32_t(bits & 0x7fffffffU), normal_min = std::int32_t(kF16Normal);
  const std::int32_t normal = (f >> 20) - (112 << 3);
  const std::int32_t sub = std::int32_t(from_bits(std::uint32_t(f < normal_min ? f : 0)) * 131072.0f);  // · 2^17
  const std::int32_t nan = 0x7c | ((f >> 20) & 7);
  const std::int32_t q = f > 0x7f800000 ? nan : (f < normal_min ? sub : normal);
  return std::uint8_t(std::uint32_t(q & 0x7f) | ((bits >> 24) & 0x80U));
}
// x in [0, 1]; NaN (an overflowed moment, inf * 0) gives code 0, and so m code 0 too.
inline std::uint8_t encode_unsigned(float x, std::uint32_t noise) {
  const std::int32_t f = std::int32_t(as_bits(x > 0.0f ? x : 0.0f) + (noise >> 13)), normal_min = std::int32_t(kF16Normal);
  const std::int32_t normal = (f >> 19) - (112 << 4);
  const std::int32_t sub = std::int32_t(from_bits(std::uint32_t(f < normal_min ? f : 0)) * 262144.0f);  // · 2^18
  return std::uint8_t(f < normal_min ? sub : normal);
}

// 1 / max_abs rounded down if need be, so that |value| * inverse <= 1 for every |value| <= max_abs
// (no code above the top one); 0 for an all-zero (or non-finite) block.
inline float inverse_scale(float max_abs) {
  if (!(max_abs > 0.0f) || max_abs > 3.0e38f) return 0.0f;
  float inv = 1.0f / max_abs;
  if (max_abs * inv > 1.0f) inv = from_bits(as_bits(inv) - 1);
  return inv;
}

// A block's codes at once. With F16C (every CPU with AVX2) the float16 converters do 8 codes per
// instruction, the same conversions the formulas above write out, which the rest of a block
// (the tail, or all of it without F16C) goes through: the same bits either way.
template <bool kSigned>
inline void decode_block(const std::uint8_t* __restrict codes, float* __restrict out, std::size_t n) {
  std::size_t i = 0;
#ifdef __F16C__
  for (; i + 8 <= n; i += 8) {
    const __m128i c = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + i));
    // signed: sign-extended, << 7 puts the sign in bit 15 and a copy in bit 14, cleared
    const __m128i h = kSigned ? _mm_and_si128(_mm_slli_epi16(_mm_cvtepi8_epi16(c), 7), _mm_set1_epi16(std::int16_t(0xbfff)))
                              : _mm_slli_epi16(_mm_cvtepu8_epi16(c), 6);
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) out[i] = kSigned ? decode_signed(codes[i]) : decode_unsigned(codes[i]);
}

// The Weyl noise of element i of a block: both roundings are dithered by it (bits 0-19 for a
// signed code, 13-31 for an unsigned one): evenly spread within a block, a fresh random key
// (seed, step, tensor, block) every step.
inline std::uint32_t block_noise(std::uint32_t key, std::size_t i) { return key + std::uint32_t(i) * 0x9e3779b9U; }

#ifdef __F16C__
// 8 codes from x, rounded by vcvtps2ph toward zero after noise was added to the float32 bits;
// as 16-bit lanes (encode_signed / encode_unsigned).
inline __m128i encode_signed8(__m256 x, __m256i noise) {
  const __m256i dithered = _mm256_add_epi32(_mm256_castps_si256(x), _mm256_and_si256(noise, _mm256_set1_epi32(0xfffff)));
  const __m128i h = _mm256_cvtps_ph(_mm256_castsi256_ps(dithered), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  return _mm_or_si128(_mm_and_si128(_mm_srli_epi16(h, 7), _mm_set1_epi16(0x7f)),
                      _mm_and_si128(_mm_srli_epi16(h, 8), _mm_set1_epi16(0x80)));
}
inline __m128i encode_unsigned8(__m256 x, __m256i noise) {
  x = _mm256_max_ps(x, _mm256_setzero_ps());  // NaN -> 0: maxps returns its 2nd operand
  const __m256i dithered = _mm256_add_epi32(_mm256_castps_si256(x), _mm256_srli_epi32(noise, 13));
  return _mm_srli_epi16(_mm256_cvtps_ph(_mm256_castsi256_ps(dithered), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), 6);
}
inline __m256i block_noise8(std::uint32_t key, std::size_t i) {
  constexpr std::uint32_t k = 0x9e3779b9U;  // lane j adds j k
  const __m256i lanes = _mm256_setr_epi32(0, std::int32_t(k), std::int32_t(2 * k), std::int32_t(3 * k),
                                          std::int32_t(4 * k), std::int32_t(5 * k), std::int32_t(6 * k), std::int32_t(7 * k));
  return _mm256_add_epi32(_mm256_set1_epi32(std::int32_t(block_noise(key, i))), lanes);
}
#endif

// Requantizes values[0, n) of one block: codes and the block's scale (its largest magnitude).
template <bool kSigned>
void requantize(const float* __restrict values, float max_abs, std::uint8_t* __restrict codes, float* scale,
                std::size_t n, std::uint32_t key) {
  *scale = max_abs;
  const float inv = inverse_scale(max_abs);
  std::size_t i = 0;
#ifdef __F16C__
  const __m256 inv8 = _mm256_set1_ps(inv);
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(values + i), inv8);
    const __m128i c16 = kSigned ? encode_signed8(x, block_noise8(key, i)) : encode_unsigned8(x, block_noise8(key, i));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(codes + i), _mm_packus_epi16(c16, c16));
  }
#endif
  std::uint32_t noise = block_noise(key, i);
  for (; i < n; ++i, noise += 0x9e3779b9U)
    codes[i] = kSigned ? encode_signed(values[i] * inv, noise) : encode_unsigned(values[i] * inv, noise);
}

// Requantizes a signed first moment and an unsigned root second moment (codes[0], codes[1]); an
// element whose u underflows to code 0 gets m = 0 too, so that the next step never divides a
// surviving first moment by a vanished second one.
inline void requantize_pair(const float* __restrict m, float mmax, const float* __restrict u, float umax,
                            const Block8& b, std::size_t n, std::uint32_t key) {
  *b.scale[0] = mmax;
  *b.scale[1] = umax;
  const float inv_m = inverse_scale(mmax), inv_u = inverse_scale(umax);
  std::uint8_t* __restrict mq = b.codes[0];
  std::uint8_t* __restrict uq = b.codes[1];
  std::size_t i = 0;
#ifdef __F16C__
  const __m256 inv_m8 = _mm256_set1_ps(inv_m), inv_u8 = _mm256_set1_ps(inv_u);
  for (; i + 8 <= n; i += 8) {
    const __m256i noise = block_noise8(key, i);
    const __m128i cu = encode_unsigned8(_mm256_mul_ps(_mm256_loadu_ps(u + i), inv_u8), noise);
    const __m128i cm = encode_signed8(_mm256_mul_ps(_mm256_loadu_ps(m + i), inv_m8), noise);
    const __m128i codes = _mm_packus_epi16(cu, cm);  // bytes 0-7: u, 8-15: m
    const __m128i u_zero = _mm_cmpeq_epi8(_mm_unpacklo_epi64(codes, codes), _mm_setzero_si128());
    const __m128i kept = _mm_andnot_si128(u_zero, codes);  // its high half: m, 0 where u is 0
    _mm_storel_epi64(reinterpret_cast<__m128i*>(uq + i), codes);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(mq + i), _mm_unpackhi_epi64(kept, kept));
  }
#endif
  std::uint32_t noise = block_noise(key, i);
  for (; i < n; ++i, noise += 0x9e3779b9U) {
    const std::uint8_t cu = encode_unsigned(u[i] * inv_u, noise);
    const std::uint8_t cm = encode_signed(m[i] * inv_m, noise);
    uq[i] = cu;
    mq[i] = cu ? cm : std::uint8_t(0);
  }
}

// A scale or coefficient past the largest float saturates to it rather than to inf, so that a
// zero code (0 * scale) stays 0 instead of NaN after a block's moment overflowed: the block
// restarts from zero moments instead of turning to NaN.
inline float saturated_float(double x) { return x < 3.4028234663852886e38 ? float(x) : 3.4028234663852886e38f; }
