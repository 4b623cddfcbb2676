// Adam with 8-bit state, written out in AVX-512 (F, BW, VL) for the avx512 copy of the kernels.
//
// Same arithmetic, in the same order, as adam8_loop in blockwise8.hpp, so the bits match the
// portable copies exactly (tests/test_quantized_state.py runs every ISA and thread count and
// compares). Why by hand: on Zen 4 this loop is bound by the vector pipes, not by the divider,
// and the compiler's copy spent them on code conversion: it widened the byte codes through
// word and dword unpacks with extracts and narrowed them one dword vector at a time. Here the
// codes go through the float16 converters (vcvtph2ps / vcvtps2ph, one instruction per 16
// codes each way, see the code format in blockwise8.hpp) on 16-bit lanes, and blocks are
// software-pipelined (Adam8Avx512). Measured in cache on Zen 4 (one core, a run of 64 blocks,
// a harness calling these headers): 0.49 ns/element, against 0.53 with integer code arithmetic
// on 32-bit lanes, 0.64 for that block by block, 0.74 for the compiler's copy of adam8_loop,
// and 0.79 for the loop before the block scales were folded into the coefficients. The square
// root and division alone take 0.27 ns/element on that core.
#pragma once

// Lanes [0, left) of a 16-lane vector.
inline __mmask16 lanes16(std::size_t left) {
  return left >= 16 ? __mmask16(0xffff) : __mmask16((1U << left) - 1);
}

// decode_unsigned / decode_signed of 16 codes (lanes outside k read as code 0): the float16
// bit patterns, widened by vcvtph2ps.
inline __m512 decode_unsigned16(const std::uint8_t* codes, __mmask16 k) {
  return _mm512_cvtph_ps(_mm256_slli_epi16(_mm256_cvtepu8_epi16(_mm_maskz_loadu_epi8(k, codes)), 6));
}
inline __m512 decode_signed16(const std::uint8_t* codes, __mmask16 k) {
  // Sign-extended, << 7: the sign lands in bit 15 and its copy in bit 14, which is cleared.
  const __m256i c = _mm256_slli_epi16(_mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(k, codes)), 7);
  return _mm512_cvtph_ps(_mm256_and_si256(c, _mm256_set1_epi16(std::int16_t(0xbfff))));
}

// Weyl noise key + i * 0x9e3779b9 for lanes i = first .. first + 15.
inline __m512i weyl16(std::uint32_t key) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  return _mm512_add_epi32(_mm512_set1_epi32(std::int32_t(key)),
                          _mm512_mullo_epi32(lane, _mm512_set1_epi32(std::int32_t(0x9e3779b9U))));
}

// encode_unsigned / encode_signed of 16 values of x with 16 lanes of noise:
// vcvtps2ph rounding toward zero after the noise was added to the float32 bits.
inline __m128i encode_unsigned16(__m512 x, __m512i noise) {
  x = _mm512_max_ps(x, _mm512_setzero_ps());  // x > 0 ? x : 0 (maxps returns its 2nd operand for NaN)
  const __m512i dithered = _mm512_add_epi32(_mm512_castps_si512(x), _mm512_srli_epi32(noise, 13));
  const __m256i h = _mm512_cvtps_ph(_mm512_castsi512_ps(dithered), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  return _mm256_cvtepi16_epi8(_mm256_srli_epi16(h, 6));
}
inline __m128i encode_signed16(__m512 x, __m512i noise) {
  const __m512i dithered = _mm512_add_epi32(_mm512_castps_si512(x), _mm512_and_si512(noise, _mm512_set1_epi32(0xfffff)));
  const __m256i h = _mm512_cvtps_ph(_mm512_castsi512_ps(dithered), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  // (h >> 7) & 0x7f | (h >> 8) & 0x80: ternary-logic table 0xe4 is C ? A : B, bit by bit
  return _mm256_cvtepi16_epi8(
      _mm256_ternarylogic_epi32(_mm256_srli_epi16(h, 7), _mm256_srli_epi16(h, 8), _mm256_set1_epi16(0x7f), 0xe4));
}

// First half of a block: the update of p and of both moments (kept as floats in m_new, u_new)
// and the moments' new block maxima (returned as the new scales).
template <int kWd>
inline std::pair<float, float> adam8_update(const AdamScalars& s, const Block8& b, std::size_t n,
                                            float* __restrict m_new, float* __restrict u_new) {
  const Adam8Coefficients c(s, *b.scale[0], *b.scale[1], kWd == kL2Decay);
  float* __restrict p = b.p;
  const float* __restrict g = b.g;
  const std::uint8_t* __restrict mq = b.codes[0];
  const std::uint8_t* __restrict uq = b.codes[1];
  const __m512 gmul = _mm512_set1_ps(c.gmul), wd = _mm512_set1_ps(c.wd), decay = _mm512_set1_ps(c.decay);
  const __m512 cm = _mm512_set1_ps(c.cm), cu = _mm512_set1_ps(c.cu), cg = _mm512_set1_ps(c.cg);
  const __m512 cv = _mm512_set1_ps(c.cv), neg_step = _mm512_set1_ps(c.neg_step), eps = _mm512_set1_ps(c.eps);
  const __m512 magnitude = _mm512_castsi512_ps(_mm512_set1_epi32(INT32_MAX));
  __m512 mmax = _mm512_setzero_ps(), umax = _mm512_setzero_ps();
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 k = lanes16(n - i);
    __m512 pi = _mm512_maskz_loadu_ps(k, p + i);
    __m512 d = _mm512_maskz_loadu_ps(k, g + i);
    if constexpr (kWd == kL2Decay) d = _mm512_add_ps(_mm512_mul_ps(gmul, d), _mm512_mul_ps(wd, pi));
    if constexpr (kWd == kDecoupledDecay) pi = _mm512_mul_ps(pi, decay);
    const __m512 ud = decode_unsigned16(uq + i, k);
    const __m512 mi = _mm512_add_ps(_mm512_mul_ps(cm, decode_signed16(mq + i, k)), _mm512_mul_ps(cg, d));
    const __m512 ui =
        _mm512_sqrt_ps(_mm512_add_ps(_mm512_mul_ps(cu, _mm512_mul_ps(ud, ud)), _mm512_mul_ps(_mm512_mul_ps(cv, d), d)));
    const __m512 step = _mm512_div_ps(_mm512_mul_ps(neg_step, mi), _mm512_add_ps(ui, eps));
    _mm512_mask_storeu_ps(p + i, k, _mm512_add_ps(pi, step));
    _mm512_store_ps(m_new + i, mi);
    _mm512_store_ps(u_new + i, ui);
    // max(a, b) returns b when a is NaN, as the portable loop's a > b ? a : b does.
    mmax = _mm512_mask_max_ps(mmax, k, _mm512_and_ps(mi, magnitude), mmax);
    umax = _mm512_mask_max_ps(umax, k, ui, umax);
  }
  return {_mm512_reduce_max_ps(mmax), _mm512_reduce_max_ps(umax)};
}

// Second half: stores the new scales and requantizes m_new, u_new (requantize_pair).
inline void adam8_requantize(const float* __restrict m_new, const float* __restrict u_new, std::pair<float, float> scales,
                             const Block8& b, std::size_t n, std::uint32_t key) {
  *b.scale[0] = scales.first;
  *b.scale[1] = scales.second;
  const __m512 inv_m = _mm512_set1_ps(inverse_scale(scales.first)), inv_u = _mm512_set1_ps(inverse_scale(scales.second));
  const __m512i stride = _mm512_set1_epi32(std::int32_t(16U * 0x9e3779b9U));
  __m512i noise = weyl16(key);
  for (std::size_t i = 0; i < n; i += 16) {
    const __mmask16 k = lanes16(n - i);
    const __m128i cu = encode_unsigned16(_mm512_mul_ps(_mm512_maskz_load_ps(k, u_new + i), inv_u), noise);
    const __m128i cm = encode_signed16(_mm512_mul_ps(_mm512_maskz_load_ps(k, m_new + i), inv_m), noise);
    _mm_mask_storeu_epi8(b.codes[1] + i, k, cu);
    _mm_mask_storeu_epi8(b.codes[0] + i, k, _mm_maskz_mov_epi8(_mm_test_epi8_mask(cu, cu), cm));  // u code 0: m code 0
    noise = _mm512_add_epi32(noise, stride);
  }
}

// A run of blocks, software-pipelined: block j + 1 is updated before block j is requantized,
// so the requantization never waits for the block maxima (a reduction at the end of the
// update's long square-root and division chains): 0.53 ns/element in cache on Zen 4 against
// 0.64 block by block (with the integer code arithmetic this file used before).
struct Adam8Avx512 {
  template <int kWd>
  static void run(const AdamScalars& s, const Block8Run& blocks) {
    alignas(64) float m_new[2][kBlock8];
    alignas(64) float u_new[2][kBlock8];
    const std::size_t nb = blocks_in(blocks);
    if (nb == 0) return;
    std::pair<float, float> scales = adam8_update<kWd>(s, block_of(blocks, 0), block_size(blocks, 0), m_new[0], u_new[0]);
    for (std::size_t j = 0; j < nb; ++j) {
      std::pair<float, float> next{};
      if (j + 1 < nb)
        next = adam8_update<kWd>(s, block_of(blocks, j + 1), block_size(blocks, j + 1), m_new[(j + 1) & 1],
                                 u_new[(j + 1) & 1]);
      adam8_requantize(m_new[j & 1], u_new[j & 1], scales, block_of(blocks, j), block_size(blocks, j), key_of(blocks, j));
      scales = next;
    }
  }
};
