#include "ggml-blocks.h"

#include <cmath>
#include <cstring>

#include "stats-kernels-x86.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DUS_GGML_X86 1
#include <immintrin.h>
#else
#define DUS_GGML_X86 0
#endif

// Every dequantised value must be rounded exactly as gguf-py rounds it: a product, then a sum, each
// to f32. A fused multiply-add would round once and change the last bit of Q4_1, Q5_1, Q2_K, Q4_K
// and Q5_K values. GCC never contracts in ISO C++ mode (-std=c++17); clang would within an
// expression, so it is told not to.
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

namespace dus {

namespace {

constexpr size_t kQK = 32;    // elements per block of the 32-element types
constexpr size_t kQKK = 256;  // elements per "super-block" of the K and IQ4_XS types

// IQ4_NL's and IQ4_XS's 16 non-linear levels (ggml's kvalues_iq4nl).
constexpr int8_t kIq4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

struct Layout {
  const char* name;
  GgmlBlockType type;
  uint32_t elements;
  uint32_t bytes;
};

// Block sizes as gguf-py's GGML_QUANT_SIZES gives them.
constexpr Layout kLayouts[] = {
    {"Q4_0", GgmlBlockType::kQ4_0, 32, 18},     {"Q4_1", GgmlBlockType::kQ4_1, 32, 20},
    {"Q5_0", GgmlBlockType::kQ5_0, 32, 22},     {"Q5_1", GgmlBlockType::kQ5_1, 32, 24},
    {"Q8_0", GgmlBlockType::kQ8_0, 32, 34},     {"Q2_K", GgmlBlockType::kQ2_K, 256, 84},
    {"Q3_K", GgmlBlockType::kQ3_K, 256, 110},   {"Q4_K", GgmlBlockType::kQ4_K, 256, 144},
    {"Q5_K", GgmlBlockType::kQ5_K, 256, 176},   {"Q6_K", GgmlBlockType::kQ6_K, 256, 210},
    {"IQ4_NL", GgmlBlockType::kIQ4_NL, 32, 18}, {"IQ4_XS", GgmlBlockType::kIQ4_XS, 256, 136},
};

// GGML block types this file does not dequantise (gguf-py's spelling). The plain number types
// (I8 ... I64, F64) are left out: they are dtypes without statistics, as in safetensors.
constexpr const char* kOtherGgmlTypes[] = {"Q8_1",  "Q8_K",  "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
                                           "IQ3_S", "IQ2_S", "IQ1_M",   "TQ1_0",  "TQ2_0",   "MXFP4"};

const Layout& LayoutOf(GgmlBlockType type) { return kLayouts[static_cast<size_t>(type)]; }

inline uint32_t Load16(const uint8_t* p) { return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8; }
inline uint32_t Load32(const uint8_t* p) { return Load16(p) | Load16(p + 2) << 16; }

// IEEE half → float, exactly, keeping NaN and ±Inf (a broken scale must show up as NaN/Inf).
inline float HalfToFloat(uint32_t half) {
  const uint32_t sign = (half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1Fu;
  const uint32_t mantissa = half & 0x3FFu;
  uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | mantissa << 13;
  } else if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;  // exact: 10 bits times a power of two
    return sign != 0 ? -magnitude : magnitude;
  } else {
    bits = sign | (exponent + 112) << 23 | mantissa << 13;
  }
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}
inline float HalfAt(const uint8_t* p) { return HalfToFloat(Load16(p)); }

// Small non-negative integers to float through int32: x86 has a vector conversion from int32 but
// none from uint32 before AVX-512, so this keeps the loops below vectorised. Exact either way.
inline float SmallToFloat(uint32_t value) { return static_cast<float>(static_cast<int32_t>(value)); }

// The 32-element types keep element j in the low nibble of byte j and element j + 16 in its high
// nibble; the 5-bit ones add bit j of a 32-bit word as the fifth bit.
void Q4_0Block(const uint8_t* block, float* out) {
  const float scale = HalfAt(block);
  const uint8_t* nibbles = block + 2;
  for (size_t j = 0; j < kQK / 2; ++j) {
    out[j] = scale * static_cast<float>(static_cast<int>(nibbles[j] & 0x0F) - 8);
    out[j + 16] = scale * static_cast<float>(static_cast<int>(nibbles[j] >> 4) - 8);
  }
}

void Q4_1Block(const uint8_t* block, float* out) {
  const float scale = HalfAt(block);
  const float minimum = HalfAt(block + 2);
  const uint8_t* nibbles = block + 4;
  for (size_t j = 0; j < kQK / 2; ++j) {
    out[j] = scale * SmallToFloat(nibbles[j] & 0x0F) + minimum;
    out[j + 16] = scale * SmallToFloat(nibbles[j] >> 4) + minimum;
  }
}

void Q5_0Block(const uint8_t* block, float* out) {
  const float scale = HalfAt(block);
  const uint32_t high = Load32(block + 2);
  const uint8_t* nibbles = block + 6;
  for (size_t j = 0; j < kQK / 2; ++j) {
    const int low = static_cast<int>((nibbles[j] & 0x0F) | ((high >> j) & 1) << 4);
    const int upper = static_cast<int>((nibbles[j] >> 4) | ((high >> (j + 16)) & 1) << 4);
    out[j] = scale * static_cast<float>(low - 16);
    out[j + 16] = scale * static_cast<float>(upper - 16);
  }
}

void Q5_1Block(const uint8_t* block, float* out) {
  const float scale = HalfAt(block);
  const float minimum = HalfAt(block + 2);
  const uint32_t high = Load32(block + 4);
  const uint8_t* nibbles = block + 8;
  for (size_t j = 0; j < kQK / 2; ++j) {
    const uint32_t low = (nibbles[j] & 0x0F) | ((high >> j) & 1) << 4;
    const uint32_t upper = (nibbles[j] >> 4) | ((high >> (j + 16)) & 1) << 4;
    out[j] = scale * SmallToFloat(low) + minimum;
    out[j + 16] = scale * SmallToFloat(upper) + minimum;
  }
}

void Q8_0Block(const uint8_t* block, float* out) {
  const float scale = HalfAt(block);
  for (size_t j = 0; j < kQK; ++j) out[j] = static_cast<float>(static_cast<int8_t>(block[2 + j])) * scale;
}

void IQ4_NLBlock(const uint8_t* block, float* out) {
  const float scale = HalfAt(block);
  const uint8_t* nibbles = block + 2;
  for (size_t j = 0; j < kQK / 2; ++j) {
    out[j] = scale * static_cast<float>(kIq4Levels[nibbles[j] & 0x0F]);
    out[j + 16] = scale * static_cast<float>(kIq4Levels[nibbles[j] >> 4]);
  }
}

// Q2_K: 16 scale bytes (low nibble scales, high nibble mins of 16 groups of 16), 64 bytes of 2-bit
// values, then d and dmin. Byte l of each 32-byte half holds elements l, l + 32, l + 64, l + 96 of
// that half, two bits each from the bottom.
void Q2_KBlock(const uint8_t* block, float* out) {
  const uint8_t* scales = block;
  const uint8_t* values = block + 16;
  const float d = HalfAt(block + 80);
  const float dmin = HalfAt(block + 82);
  for (size_t group = 0; group < kQKK / 16; ++group) {
    const float scale = d * SmallToFloat(scales[group] & 0x0F);
    const float minimum = dmin * SmallToFloat(scales[group] >> 4);
    const size_t half = group / 8;
    const unsigned shift = static_cast<unsigned>((group / 2) % 4) * 2;
    const uint8_t* source = values + half * 32 + (group % 2) * 16;
    float* target = out + group * 16;
    for (size_t l = 0; l < 16; ++l) {
      target[l] = scale * SmallToFloat((source[l] >> shift) & 3) - minimum;
    }
  }
}

// Q3_K: a 32-byte high-bit mask (bit b of byte l is element 32b + l), 64 bytes of 2-bit low parts
// laid out as Q2_K's, 12 bytes of 16 six-bit signed scales, then d. A clear mask bit subtracts 4.
void Q3_KBlock(const uint8_t* block, float* out) {
  const uint8_t* mask = block;
  const uint8_t* values = block + 32;
  const uint8_t* packed = block + 96;
  const float d = HalfAt(block + 108);
  for (size_t group = 0; group < kQKK / 16; ++group) {
    const uint32_t low = (packed[group % 8] >> (4 * (group / 8))) & 0x0F;
    const uint32_t high = (packed[8 + group % 4] >> (2 * (group / 4))) & 0x03;
    const float scale = d * static_cast<float>(static_cast<int>(low | high << 4) - 32);
    const size_t half = group / 8;
    const unsigned shift = static_cast<unsigned>((group / 2) % 4) * 2;
    const unsigned maskBit = static_cast<unsigned>(group / 2);
    const size_t first = (group % 2) * 16;
    const uint8_t* source = values + half * 32 + first;
    float* target = out + group * 16;
    for (size_t l = 0; l < 16; ++l) {
      const int lowBits = (source[l] >> shift) & 3;
      const int subtract = ((mask[first + l] >> maskBit) & 1) != 0 ? 0 : 4;
      target[l] = scale * static_cast<float>(lowBits - subtract);
    }
  }
}

// d·scale and dmin·min of group `group` (32 elements) of a Q4_K or Q5_K block, which both start
// with d, dmin (passed in, widened once per block) and 12 bytes of eight 6-bit scales and eight
// 6-bit mins. Groups 0-3 sit in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); groups 4-7
// take their low 4 bits from the nibbles of bytes 8-11 and their top 2 bits from the top of bytes
// 0-3 (scales) and 4-7 (mins).
inline void KGroupScaleAndMin(const uint8_t* block, float d, float dmin, size_t group, float* scale, float* minimum) {
  const uint8_t* packed = block + 4;
  uint32_t scaleBits, minimumBits;
  if (group < 4) {
    scaleBits = packed[group] & 0x3F;
    minimumBits = packed[group + 4] & 0x3F;
  } else {
    scaleBits = (packed[group + 4] & 0x0F) | (packed[group - 4] >> 6) << 4;
    minimumBits = (packed[group + 4] >> 4) | (packed[group] >> 6) << 4;
  }
  *scale = d * SmallToFloat(scaleBits);
  *minimum = dmin * SmallToFloat(minimumBits);
}

// Q4_K: then 128 bytes of nibbles: byte l of each 32-byte quarter holds element l (low nibble) and
// l + 32 (high nibble) of that 64-element quarter. Value = scale·q − min. Q5_K (kFifthBit) has a
// 32-byte high-bit mask before the nibbles: bit g of byte l is the fifth bit of element 32g + l.
template <bool kFifthBit>
void KQuantBlock(const uint8_t* block, float* out) {
  const float d = HalfAt(block);
  const float dmin = HalfAt(block + 2);
  const uint8_t* mask = block + 16;
  const uint8_t* nibbles = block + (kFifthBit ? 48 : 16);
  for (size_t group = 0; group < kQKK / 32; ++group) {
    float scale, minimum;
    KGroupScaleAndMin(block, d, dmin, group, &scale, &minimum);
    const uint8_t* source = nibbles + (group / 2) * 32;
    const unsigned shift = (group % 2) * 4;
    float* target = out + group * 32;
    for (size_t l = 0; l < 32; ++l) {
      const uint32_t fifth = kFifthBit ? ((mask[l] >> group) & 1) << 4 : 0;
      target[l] = scale * SmallToFloat(((source[l] >> shift) & 0x0F) | fifth) - minimum;
    }
  }
}

// Q6_K: 128 bytes of low nibbles (byte l of each 64-byte half: element l low, l + 64 high), 64
// bytes of 2-bit high parts (byte l of each 32-byte half: elements l, l + 32, l + 64, l + 96),
// 16 signed 8-bit scales of groups of 16, then d. Value = (d·scale)·(q − 32).
void Q6_KBlock(const uint8_t* block, float* out) {
  const uint8_t* lows = block;
  const uint8_t* highs = block + 128;
  const uint8_t* scales = block + 192;
  const float d = HalfAt(block + 208);
  for (size_t group = 0; group < kQKK / 16; ++group) {
    const float scale = d * static_cast<float>(static_cast<int8_t>(scales[group]));
    const size_t half = group / 8;
    const size_t within = (group % 8) * 16;  // element offset inside the 128-element half
    const uint8_t* lowSource = lows + half * 64 + within % 64;
    const unsigned lowShift = within >= 64 ? 4 : 0;
    const uint8_t* highSource = highs + half * 32 + within % 32;
    const unsigned highShift = static_cast<unsigned>(within / 32) * 2;
    float* target = out + group * 16;
    for (size_t l = 0; l < 16; ++l) {
      const int q = static_cast<int>(((lowSource[l] >> lowShift) & 0x0F) | ((highSource[l] >> highShift) & 3) << 4);
      target[l] = scale * static_cast<float>(q - 32);
    }
  }
}

// IQ4_XS: d, 16 bits of scale high parts (2 per group), 4 bytes of scale low nibbles, 128 bytes of
// level indexes: byte l of each 16-byte run holds element l (low nibble) and l + 16 (high) of its
// 32-element group. Value = (d·(scale − 32))·level.
void IQ4_XSBlock(const uint8_t* block, float* out) {
  const float d = HalfAt(block);
  const uint32_t highs = Load16(block + 2);
  const uint8_t* lows = block + 4;
  const uint8_t* nibbles = block + 8;
  for (size_t group = 0; group < kQKK / 32; ++group) {
    const uint32_t low = (lows[group / 2] >> (4 * (group % 2))) & 0x0F;
    const uint32_t high = (highs >> (2 * group)) & 0x03;
    const float scale = d * static_cast<float>(static_cast<int>(low | high << 4) - 32);
    const uint8_t* source = nibbles + group * 16;
    float* target = out + group * 32;
    for (size_t l = 0; l < 16; ++l) {
      target[l] = scale * static_cast<float>(kIq4Levels[source[l] & 0x0F]);
      target[l + 16] = scale * static_cast<float>(kIq4Levels[source[l] >> 4]);
    }
  }
}

#if DUS_GGML_X86
// Q4_K on 256-bit vectors (the statistics' hot path for Q4_K_M files): the same products and
// differences as KQuantBlock<false>, eight at a time, so the values are identical. Only "avx2" is
// enabled, so no multiply and subtract can fuse. Called only where CpuRunsAvx2() holds.
__attribute__((target("avx2"))) void Q4_KBlocksAvx2(const uint8_t* data, size_t blocks, float* out) {
  const __m256i lowNibbles = _mm256_set1_epi8(0x0F);
  for (size_t index = 0; index < blocks; ++index) {
    const uint8_t* block = data + index * 144;
    const float d = HalfAt(block);
    const float dmin = HalfAt(block + 2);
    for (size_t run = 0; run < 4; ++run) {
      const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 16 + run * 32));
      // A 16-bit shift moves each byte's high nibble down; the mask drops what crossed bytes.
      const __m256i nibbles[2] = {_mm256_and_si256(bytes, lowNibbles),
                                  _mm256_and_si256(_mm256_srli_epi16(bytes, 4), lowNibbles)};
      for (size_t half = 0; half < 2; ++half) {
        const size_t group = run * 2 + half;
        float scale, minimum;
        KGroupScaleAndMin(block, d, dmin, group, &scale, &minimum);
        const __m256 scales = _mm256_set1_ps(scale);
        const __m256 minimums = _mm256_set1_ps(minimum);
        const __m128i quarters[2] = {_mm256_castsi256_si128(nibbles[half]), _mm256_extracti128_si256(nibbles[half], 1)};
        float* target = out + index * kQKK + group * 32;
        for (size_t part = 0; part < 4; ++part) {
          const __m128i eight = part % 2 == 0 ? quarters[part / 2] : _mm_srli_si128(quarters[part / 2], 8);
          const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(eight));
          _mm256_storeu_ps(target + part * 8, _mm256_sub_ps(_mm256_mul_ps(scales, q), minimums));
        }
      }
    }
  }
}
#endif

// ---------------------------------------------------------------------------------------------
// Statistics from integer sums of the codes. Within a group of a block every value is
// x = fl(fl(a·s) − b): an f32 scale a, an f32 offset b (0 for the symmetric types) and a small
// integer code s. So Σx and Σx² follow from n, Σs and Σs² (exact integers) in f64:
//   Σx  = a·Σs − n·b
//   Σx² = a²·(n·Σs² − (Σs)²)/n + (Σx)²/n      (two non-negative terms: no cancellation)
// These are the sums of the exact values a·s − b; each dequantised value differs from its exact
// value only by its f32 rounding (relative 2^-24), far inside the statistics' tolerance. The
// maximum |x| is exact: x is monotonic in s, so it is |x| at the group's smallest or largest code,
// computed with the dequantiser's own f32 operations, and only for groups that could raise the
// maximum at all. Blocks with a NaN or infinite scale go through the dequantiser, element by
// element, so NaN and Inf are counted exactly as before.

// The dequantised value of code s, rounded exactly as the dequantisers round it.
inline float CodeValue(float a, float b, int32_t s) { return a * static_cast<float>(s) - b; }

class GroupMoments {
 public:
  // A group of `count` values with codes summing to `codeSum`, their squares to `codeSquares`.
  void Add(float a, float b, uint32_t count, int64_t codeSum, int64_t codeSquares) {
    const double scale = a;
    const double n = count;
    // Groups have 16 or 32 values: multiplying by 1/n is exact, and far cheaper than dividing.
    const double perValue = 1.0 / n;
    const double sumX = scale * static_cast<double>(codeSum) - n * static_cast<double>(b);
    const int64_t spread = static_cast<int64_t>(count) * codeSquares - codeSum * codeSum;
    sum_ += sumX;
    squares_ += (scale * scale * static_cast<double>(spread) + sumX * sumX) * perValue;
    elements_ += count;
  }
  // Whether a group whose codes lie in [lowest, highest] could raise the maximum |x|.
  bool CouldRaiseMax(float a, float b, int32_t lowest, int32_t highest) const {
    return std::fabs(CodeValue(a, b, lowest)) > maxAbs_ || std::fabs(CodeValue(a, b, highest)) > maxAbs_;
  }
  // The group's actual smallest and largest codes.
  void AddExtremes(float a, float b, int32_t low, int32_t high) {
    maxAbs_ = std::fmax(maxAbs_, std::fmax(std::fabs(CodeValue(a, b, low)), std::fabs(CodeValue(a, b, high))));
  }
  float MaxAbs() const { return maxAbs_; }
  // Sums taken elsewhere (the vector paths' lanes, in their fixed order).
  void AddSums(double sum, double squares, uint64_t elements) {
    sum_ += sum;
    squares_ += squares;
    elements_ += elements;
  }
  StatsPartial Finish() const {
    StatsPartial result;
    result.elements = elements_;
    result.sum = sum_;
    result.sumSquares = squares_;
    result.maxAbs = maxAbs_;
    return result;
  }

 private:
  double sum_ = 0;
  double squares_ = 0;
  float maxAbs_ = 0;
  uint64_t elements_ = 0;
};

inline bool HalfIsFinite(const uint8_t* p) { return (Load16(p) & 0x7C00u) != 0x7C00u; }

// Q4_K: codes 0..15 in 8 groups of 32; a = d·scale, b = dmin·min.
bool Q4_KScalesFinite(const uint8_t* block) { return HalfIsFinite(block) && HalfIsFinite(block + 2); }

// The smallest and largest code of group `group` of a Q4_K block (the low nibbles of its 32-byte
// run for an even group, the high ones for an odd group).
void Q4_KGroupExtremes(const uint8_t* block, size_t group, int32_t* low, int32_t* high) {
  const uint8_t* bytes = block + 16 + (group / 2) * 32;
  const unsigned shift = (group % 2) * 4;
  *low = 15;
  *high = 0;
  for (size_t l = 0; l < 32; ++l) {
    const int32_t q = (bytes[l] >> shift) & 0x0F;
    *low = q < *low ? q : *low;
    *high = q > *high ? q : *high;
  }
}

void Q4_KGroup(const uint8_t* block, float d, float dmin, size_t group, int32_t codeSum, int32_t codeSquares, GroupMoments& moments) {
  float a, b;
  KGroupScaleAndMin(block, d, dmin, group, &a, &b);
  moments.Add(a, b, 32, codeSum, codeSquares);
  if (moments.CouldRaiseMax(a, b, 0, 15)) {
    int32_t low, high;
    Q4_KGroupExtremes(block, group, &low, &high);
    moments.AddExtremes(a, b, low, high);
  }
}

void Q4_KMoments(const uint8_t* block, GroupMoments& moments) {
  const float d = HalfAt(block);
  const float dmin = HalfAt(block + 2);
  for (size_t run = 0; run < 4; ++run) {
    const uint8_t* bytes = block + 16 + run * 32;
    int32_t sums[2] = {0, 0};
    int32_t squares[2] = {0, 0};
    for (size_t l = 0; l < 32; ++l) {
      const int32_t low = bytes[l] & 0x0F;
      const int32_t high = bytes[l] >> 4;
      sums[0] += low;
      squares[0] += low * low;
      sums[1] += high;
      squares[1] += high * high;
    }
    for (size_t half = 0; half < 2; ++half) Q4_KGroup(block, d, dmin, run * 2 + half, sums[half], squares[half], moments);
  }
}

// Q6_K: codes q − 32 in −32..31 in 16 groups of 16; a = d·scale, b = 0. Element e of each
// 128-element half: low nibble from byte e % 64 (high nibble for e ≥ 64), top two bits from byte
// e % 32 of the highs, at bit 2·(e / 32).
bool Q6_KScalesFinite(const uint8_t* block) { return HalfIsFinite(block + 208); }

inline int32_t Q6_KCode(const uint8_t* block, size_t element) {
  const size_t half = element / 128;
  const size_t within = element % 128;
  const uint32_t low = (block[half * 64 + within % 64] >> (within >= 64 ? 4 : 0)) & 0x0F;
  const uint32_t high = (block[128 + half * 32 + within % 32] >> (2 * (within / 32))) & 0x03;
  return static_cast<int32_t>(low | high << 4) - 32;
}

void Q6_KGroupExtremes(const uint8_t* block, size_t group, int32_t* low, int32_t* high) {
  *low = 31;
  *high = -32;
  for (size_t l = 0; l < 16; ++l) {
    const int32_t s = Q6_KCode(block, group * 16 + l);
    *low = s < *low ? s : *low;
    *high = s > *high ? s : *high;
  }
}

void Q6_KGroup(const uint8_t* block, float d, size_t group, int32_t codeSum, int32_t codeSquares, GroupMoments& moments) {
  const float a = d * static_cast<float>(static_cast<int8_t>(block[192 + group]));
  moments.Add(a, 0.0f, 16, codeSum, codeSquares);
  if (moments.CouldRaiseMax(a, 0.0f, -32, 31)) {
    int32_t low, high;
    Q6_KGroupExtremes(block, group, &low, &high);
    moments.AddExtremes(a, 0.0f, low, high);
  }
}

void Q6_KMoments(const uint8_t* block, GroupMoments& moments) {
  const float d = HalfAt(block + 208);
  for (size_t group = 0; group < kQKK / 16; ++group) {
    int32_t sum = 0, squares = 0;
    for (size_t l = 0; l < 16; ++l) {
      const int32_t s = Q6_KCode(block, group * 16 + l);
      sum += s;
      squares += s * s;
    }
    Q6_KGroup(block, d, group, sum, squares, moments);
  }
}

#if DUS_GGML_X86
// The same integer sums on 256-bit vectors, for codes held as unsigned bytes below 64: a byte
// multiply-add of the codes with ones and with themselves gives 16-bit pair sums, a 16-bit
// multiply-add with ones 32-bit sums, and horizontal adds the totals. Integers throughout, so
// equal to the portable sums. Per 128-bit lane of the result: [Σ c of `first`, Σ c² of `first`,
// Σ c of `second`, Σ c² of `second`], over that lane's 16 bytes of each.
__attribute__((target("avx2"))) inline __m256i LaneCodeSumsAvx2(__m256i first, __m256i second) {
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  const __m256i sumsFirst = _mm256_madd_epi16(_mm256_maddubs_epi16(first, ones8), ones16);
  const __m256i squaresFirst = _mm256_madd_epi16(_mm256_maddubs_epi16(first, first), ones16);
  const __m256i sumsSecond = _mm256_madd_epi16(_mm256_maddubs_epi16(second, ones8), ones16);
  const __m256i squaresSecond = _mm256_madd_epi16(_mm256_maddubs_epi16(second, second), ones16);
  // [s01 s23 q01 q23 | …] then [S Q S' Q' | …] per lane.
  return _mm256_hadd_epi32(_mm256_hadd_epi32(sumsFirst, squaresFirst), _mm256_hadd_epi32(sumsSecond, squaresSecond));
}

// GroupMoments::Add for eight groups at once, on f64 lanes kept across a run of blocks and summed
// in lane order at its end (the same formulas, another order of addition).
class LaneMomentsAvx2 {
 public:
  __attribute__((target("avx2"))) LaneMomentsAvx2() {
    for (int half = 0; half < 2; ++half) sums_[half] = squares_[half] = _mm256_setzero_pd();
  }
  // Groups of `count` values (a power of two) with scales `a`, offsets `b`, code sums `codeSum`
  // and n·Σs² − (Σs)² `spread`.
  __attribute__((target("avx2"))) void Add(__m256 a, __m256 b, __m256i codeSum, __m256i spread, double count) {
    const __m256d n = _mm256_set1_pd(count);
    const __m256d perValue = _mm256_set1_pd(1.0 / count);  // exact: a power of two
    for (int half = 0; half < 2; ++half) {
      const __m128 aQuarter = half == 0 ? _mm256_castps256_ps128(a) : _mm256_extractf128_ps(a, 1);
      const __m128 bQuarter = half == 0 ? _mm256_castps256_ps128(b) : _mm256_extractf128_ps(b, 1);
      const __m128i sumQuarter = half == 0 ? _mm256_castsi256_si128(codeSum) : _mm256_extracti128_si256(codeSum, 1);
      const __m128i spreadQuarter = half == 0 ? _mm256_castsi256_si128(spread) : _mm256_extracti128_si256(spread, 1);
      const __m256d scale = _mm256_cvtps_pd(aQuarter);
      const __m256d sumX = _mm256_sub_pd(_mm256_mul_pd(scale, _mm256_cvtepi32_pd(sumQuarter)), _mm256_mul_pd(n, _mm256_cvtps_pd(bQuarter)));
      const __m256d groupSquares =
          _mm256_mul_pd(_mm256_add_pd(_mm256_mul_pd(_mm256_mul_pd(scale, scale), _mm256_cvtepi32_pd(spreadQuarter)), _mm256_mul_pd(sumX, sumX)), perValue);
      sums_[half] = _mm256_add_pd(sums_[half], sumX);
      squares_[half] = _mm256_add_pd(squares_[half], groupSquares);
    }
  }
  __attribute__((target("avx2"))) void FinishInto(GroupMoments& moments, uint64_t elements) const {
    alignas(32) double laneSums[8];
    alignas(32) double laneSquares[8];
    _mm256_store_pd(laneSums, sums_[0]);
    _mm256_store_pd(laneSums + 4, sums_[1]);
    _mm256_store_pd(laneSquares, squares_[0]);
    _mm256_store_pd(laneSquares + 4, squares_[1]);
    double sum = 0, squares = 0;
    for (size_t lane = 0; lane < 8; ++lane) {
      sum += laneSums[lane];
      squares += laneSquares[lane];
    }
    moments.AddSums(sum, squares, elements);
  }

 private:
  __m256d sums_[2];
  __m256d squares_[2];
};

// Which of eight groups could raise the maximum: a bit per group whose `bound` on |x| exceeds it.
__attribute__((target("avx2"))) inline int RaisingGroupsAvx2(__m256 bound, const GroupMoments& moments) {
  return _mm256_movemask_ps(_mm256_cmp_ps(bound, _mm256_set1_ps(moments.MaxAbs()), _CMP_GT_OQ));
}

// A run of Q4_K blocks, all with finite scales. Per block the eight groups' code sums come from
// the vector integer sums, their scales from the packed 6-bit fields eight at a time, and the f64
// arithmetic runs on four groups at a time. The bound on each
// group's |x| (its values at codes 0 and 15) is checked for all eight at once; the rare groups
// that could raise the maximum get their exact extremes as in the portable path.
__attribute__((target("avx2"))) void Q4_KRunMomentsAvx2(const uint8_t* data, size_t blocks, GroupMoments& moments) {
  const __m256i lowNibbles = _mm256_set1_epi8(0x0F);
  const __m256 absolute = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256 fifteen = _mm256_set1_ps(15.0f);
  LaneMomentsAvx2 lanes;
  for (size_t index = 0; index < blocks; ++index) {
    const uint8_t* block = data + index * 144;
    const float d = HalfAt(block);
    const float dmin = HalfAt(block + 2);
    alignas(32) float scales[8];
    alignas(32) float minimums[8];
    alignas(32) int32_t codeSums[8];
    alignas(32) int32_t codeSquares[8];
    for (size_t run = 0; run < 4; ++run) {
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 16 + run * 32));
      const __m256i totals = LaneCodeSumsAvx2(_mm256_and_si256(packed, lowNibbles), _mm256_and_si256(_mm256_srli_epi16(packed, 4), lowNibbles));
      // Both 128-bit lanes hold half of each 32-element group: [Σ, Σ², Σ, Σ²] of groups 2·run, 2·run + 1.
      alignas(16) int32_t group[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(group), _mm_add_epi32(_mm256_castsi256_si128(totals), _mm256_extracti128_si256(totals, 1)));
      codeSums[run * 2] = group[0];
      codeSquares[run * 2] = group[1];
      codeSums[run * 2 + 1] = group[2];
      codeSquares[run * 2 + 1] = group[3];
    }
    // KGroupScaleAndMin for all eight groups, four 6-bit fields per 32-bit word: groups 0-3 are the
    // low 6 bits of bytes 0-3 (scales) and 4-7 (mins); groups 4-7 the nibbles of bytes 8-11 below
    // the top 2 bits of bytes 0-3 and 4-7. Widened and multiplied in f32 as the dequantiser does.
    const uint32_t first = Load32(block + 4);
    const uint32_t second = Load32(block + 8);
    const uint32_t third = Load32(block + 12);
    const uint32_t scaleBits[2] = {first & 0x3F3F3F3Fu, (third & 0x0F0F0F0Fu) | ((first >> 2) & 0x30303030u)};
    const uint32_t minimumBits[2] = {second & 0x3F3F3F3Fu, ((third >> 4) & 0x0F0F0F0Fu) | ((second >> 2) & 0x30303030u)};
    const __m256 widenedScales = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, static_cast<int>(scaleBits[1]), static_cast<int>(scaleBits[0]))));
    const __m256 widenedMinimums = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, static_cast<int>(minimumBits[1]), static_cast<int>(minimumBits[0]))));
    const __m256 a = _mm256_mul_ps(_mm256_set1_ps(d), widenedScales);
    const __m256 b = _mm256_mul_ps(_mm256_set1_ps(dmin), widenedMinimums);
    _mm256_store_ps(scales, a);
    _mm256_store_ps(minimums, b);
    const __m256i codeSum = _mm256_load_si256(reinterpret_cast<const __m256i*>(codeSums));
    // n·Σs² − (Σs)² in 32 bits: at most 32·32·225.
    const __m256i squares = _mm256_load_si256(reinterpret_cast<const __m256i*>(codeSquares));
    lanes.Add(a, b, codeSum, _mm256_sub_epi32(_mm256_slli_epi32(squares, 5), _mm256_mullo_epi32(codeSum, codeSum)), 32.0);
    // |x| at code 15 and at code 0 (= |b|), as the dequantiser rounds them.
    const __m256 bound = _mm256_max_ps(_mm256_and_ps(_mm256_sub_ps(_mm256_mul_ps(a, fifteen), b), absolute), _mm256_and_ps(b, absolute));
    const int raising = RaisingGroupsAvx2(bound, moments);
    for (size_t group = 0; raising != 0 && group < 8; ++group) {
      if ((raising >> group & 1) == 0) continue;
      int32_t low, high;
      Q4_KGroupExtremes(block, group, &low, &high);
      moments.AddExtremes(scales[group], minimums[group], low, high);
    }
  }
  lanes.FinishInto(moments, blocks * kQKK);
}

// A run of Q6_K blocks, all with finite scales: per half, the four 32-byte code vectors (elements
// 0-31, 32-63, 64-95, 96-127), each two 16-element groups, one per 128-bit lane. Codes are summed
// unsigned (q in 0..63) and moved to s = q − 32 after: Σs = Σq − 512, Σs² = Σq² − 64·Σq + 16384.
// The sixteen scales are d·scale as the dequantiser rounds them; |x| is at most |a|·32.
__attribute__((target("avx2"))) void Q6_KRunMomentsAvx2(const uint8_t* data, size_t blocks, GroupMoments& moments) {
  const __m256i lowNibbles = _mm256_set1_epi8(0x0F);
  const __m256i twoBits = _mm256_set1_epi8(0x03);
  const __m256 absolute = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256 thirtyTwo = _mm256_set1_ps(32.0f);
  LaneMomentsAvx2 lanes;
  for (size_t index = 0; index < blocks; ++index) {
    const uint8_t* block = data + index * 210;
    const __m256 d = _mm256_set1_ps(HalfAt(block + 208));
    alignas(32) int32_t codeSums[16];
    alignas(32) int32_t codeSquares[16];
    for (size_t half = 0; half < 2; ++half) {
      const __m256i lowsFirst = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + half * 64));
      const __m256i lowsSecond = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + half * 64 + 32));
      const __m256i highs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 128 + half * 32));
      __m256i codes[4];
      for (int quarter = 0; quarter < 4; ++quarter) {
        const __m256i lows = quarter % 2 == 0 ? lowsFirst : lowsSecond;
        const __m256i nibble = quarter < 2 ? _mm256_and_si256(lows, lowNibbles) : _mm256_and_si256(_mm256_srli_epi16(lows, 4), lowNibbles);
        const __m256i top = _mm256_and_si256(_mm256_srli_epi16(highs, 2 * quarter), twoBits);
        codes[quarter] = _mm256_or_si256(nibble, _mm256_slli_epi16(top, 4));
      }
      for (int pair = 0; pair < 2; ++pair) {
        alignas(32) int32_t totals[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(totals), LaneCodeSumsAvx2(codes[pair * 2], codes[pair * 2 + 1]));
        // Lane k of quarter c is group half·8 + c·2 + k.
        for (int lane = 0; lane < 2; ++lane) {
          for (int which = 0; which < 2; ++which) {
            const int32_t sum = totals[lane * 4 + which * 2];
            const int32_t squares = totals[lane * 4 + which * 2 + 1];
            const size_t group = half * 8 + static_cast<size_t>((pair * 2 + which) * 2 + lane);
            codeSums[group] = sum - 512;
            codeSquares[group] = squares - 64 * sum + 16384;
          }
        }
      }
    }
    for (size_t eighth = 0; eighth < 2; ++eighth) {
      const __m128i signedScales = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 192 + eighth * 8));
      const __m256 a = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(signedScales)));
      const __m256i codeSum = _mm256_load_si256(reinterpret_cast<const __m256i*>(codeSums + eighth * 8));
      const __m256i squares = _mm256_load_si256(reinterpret_cast<const __m256i*>(codeSquares + eighth * 8));
      lanes.Add(a, _mm256_setzero_ps(), codeSum, _mm256_sub_epi32(_mm256_slli_epi32(squares, 4), _mm256_mullo_epi32(codeSum, codeSum)), 16.0);
      const int raising = RaisingGroupsAvx2(_mm256_and_ps(_mm256_mul_ps(a, thirtyTwo), absolute), moments);
      alignas(32) float scales[8];
      _mm256_store_ps(scales, a);
      for (size_t group = 0; raising != 0 && group < 8; ++group) {
        if ((raising >> group & 1) == 0) continue;
        int32_t low, high;
        Q6_KGroupExtremes(block, eighth * 8 + group, &low, &high);
        moments.AddExtremes(scales[group], 0.0f, low, high);
      }
    }
  }
  lanes.FinishInto(moments, blocks * kQKK);
}
#endif

// Statistics of whole blocks of a type that has code moments (Q4_K, Q6_K); false for the others.
bool HasMoments(GgmlBlockType type) { return type == GgmlBlockType::kQ4_K || type == GgmlBlockType::kQ6_K; }

template <void (*Block)(const uint8_t*, float*)>
void EachBlock(const uint8_t* data, size_t blocks, size_t blockBytes, size_t blockElements, float* out) {
  for (size_t index = 0; index < blocks; ++index) Block(data + index * blockBytes, out + index * blockElements);
}

// Quantised chunks are dequantised this many elements at a time (16 KiB of floats, in L1 cache)
// and summed by the F32 kernel; partial sums are combined in order.
constexpr size_t kDequantisedElements = 4096;

}  // namespace

bool ParseTensorFormat(const std::string& name, TensorFormat* format) {
  StatsDtype dtype;
  if (ParseStatsDtype(name, &dtype)) {
    *format = TensorFormat{false, dtype, GgmlBlockType::kQ4_0};
    return true;
  }
  for (const Layout& layout : kLayouts) {
    if (name == layout.name) {
      *format = TensorFormat{true, StatsDtype::kF32, layout.type};
      return true;
    }
  }
  return false;
}

bool IsOtherGgmlType(const std::string& name) {
  for (const char* other : kOtherGgmlTypes) {
    if (name == other) return true;
  }
  return false;
}

uint64_t BlockBytes(const TensorFormat& format) {
  return format.blocked ? LayoutOf(format.block).bytes : ElementSize(format.dtype);
}

uint64_t BlockElements(const TensorFormat& format) { return format.blocked ? LayoutOf(format.block).elements : 1; }

uint64_t WholeBlockBytes(const TensorFormat& format, uint64_t target) {
  const uint64_t block = BlockBytes(format);
  return target < block ? block : target / block * block;
}

void DequantiseBlocks(GgmlBlockType type, const uint8_t* data, size_t blocks, float* out) {
  const Layout& layout = LayoutOf(type);
  const size_t bytes = layout.bytes;
  const size_t elements = layout.elements;
  switch (type) {
    case GgmlBlockType::kQ4_0: return EachBlock<Q4_0Block>(data, blocks, bytes, elements, out);
    case GgmlBlockType::kQ4_1: return EachBlock<Q4_1Block>(data, blocks, bytes, elements, out);
    case GgmlBlockType::kQ5_0: return EachBlock<Q5_0Block>(data, blocks, bytes, elements, out);
    case GgmlBlockType::kQ5_1: return EachBlock<Q5_1Block>(data, blocks, bytes, elements, out);
    case GgmlBlockType::kQ8_0: return EachBlock<Q8_0Block>(data, blocks, bytes, elements, out);
    case GgmlBlockType::kQ2_K: return EachBlock<Q2_KBlock>(data, blocks, bytes, elements, out);
    case GgmlBlockType::kQ3_K: return EachBlock<Q3_KBlock>(data, blocks, bytes, elements, out);
    case GgmlBlockType::kQ4_K: return EachBlock<KQuantBlock<false>>(data, blocks, bytes, elements, out);
    case GgmlBlockType::kQ5_K: return EachBlock<KQuantBlock<true>>(data, blocks, bytes, elements, out);
    case GgmlBlockType::kQ6_K: return EachBlock<Q6_KBlock>(data, blocks, bytes, elements, out);
    case GgmlBlockType::kIQ4_NL: return EachBlock<IQ4_NLBlock>(data, blocks, bytes, elements, out);
    case GgmlBlockType::kIQ4_XS: return EachBlock<IQ4_XSBlock>(data, blocks, bytes, elements, out);
  }
}

namespace {

// Statistics of whole blocks of a type with code moments: each block with finite scales through
// its moments (AVX2 where `kernel` is a vector one), the others dequantised and summed value by
// value; the two parts combined in a fixed order, so the figures depend only on the chunk.
StatsPartial AccumulateMoments(GgmlBlockType type, const uint8_t* data, size_t blocks, StatsKernel kernel) {
  const Layout& layout = LayoutOf(type);
  GroupMoments moments;
  StatsPartial irregular;
#if DUS_GGML_X86
  const bool vector = kernel != StatsKernel::kPortable;
#endif
  for (size_t index = 0; index < blocks; ++index) {
    const uint8_t* block = data + index * layout.bytes;
    const bool finite = type == GgmlBlockType::kQ4_K ? Q4_KScalesFinite(block) : Q6_KScalesFinite(block);
#if DUS_GGML_X86
    if (vector && finite) {
      size_t run = 1;
      const auto runFinite = type == GgmlBlockType::kQ4_K ? Q4_KScalesFinite : Q6_KScalesFinite;
      while (index + run < blocks && runFinite(block + run * layout.bytes)) ++run;
      if (type == GgmlBlockType::kQ4_K) Q4_KRunMomentsAvx2(block, run, moments);
      else Q6_KRunMomentsAvx2(block, run, moments);
      index += run - 1;
      continue;
    }
#endif
    if (!finite) {
      alignas(64) float values[kQKK];
      DequantiseBlocks(type, block, 1, values);
      CombinePartial(irregular, AccumulateChunk(StatsDtype::kF32, reinterpret_cast<const uint8_t*>(values), layout.elements * sizeof(float), kernel));
      continue;
    }
    if (type == GgmlBlockType::kQ4_K) Q4_KMoments(block, moments);
    else Q6_KMoments(block, moments);
  }
  StatsPartial result = moments.Finish();
  CombinePartial(result, irregular);
  return result;
}

}  // namespace

StatsPartial AccumulateFormat(const TensorFormat& format, const uint8_t* data, size_t bytes, StatsKernel kernel) {
  if (!format.blocked) return AccumulateChunk(format.dtype, data, bytes, kernel);
  const Layout& layout = LayoutOf(format.block);
  if (HasMoments(format.block)) return AccumulateMoments(format.block, data, bytes / layout.bytes, kernel);
  const size_t blocksPerBatch = kDequantisedElements / layout.elements;
  const size_t blocks = bytes / layout.bytes;
  alignas(64) float values[kDequantisedElements];
  StatsPartial result;
  for (size_t first = 0; first < blocks; first += blocksPerBatch) {
    const size_t count = blocks - first < blocksPerBatch ? blocks - first : blocksPerBatch;
#if DUS_GGML_X86
    // The vector statistics kernels are offered only where AVX2 runs.
    if (format.block == GgmlBlockType::kQ4_K && kernel != StatsKernel::kPortable) {
      Q4_KBlocksAvx2(data + first * layout.bytes, count, values);
    } else {
      DequantiseBlocks(format.block, data + first * layout.bytes, count, values);
    }
#else
    DequantiseBlocks(format.block, data + first * layout.bytes, count, values);
#endif
    // The float buffer is read as little-endian F32 bytes, which it is on every host the addon
    // builds for (x86-64, arm64).
    CombinePartial(result, AccumulateChunk(StatsDtype::kF32, reinterpret_cast<const uint8_t*>(values),
                                           count * layout.elements * sizeof(float), kernel));
  }
  return result;
}

uint64_t DecodeFormat(const TensorFormat& format, const uint8_t* data, size_t count, float* out) {
  if (!format.blocked) return DecodeFloats(format.dtype, data, count, out);
  const Layout& layout = LayoutOf(format.block);
  DequantiseBlocks(format.block, data, count / layout.elements, out);
  uint64_t nonFinite = 0;
  for (size_t index = 0; index < count; ++index) {
    const bool finite = std::isfinite(out[index]);
    nonFinite += finite ? 0 : 1;
    out[index] = finite ? out[index] : 0.0f;
  }
  return nonFinite;
}

}  // namespace dus
