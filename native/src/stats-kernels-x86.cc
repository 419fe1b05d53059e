#include "stats-kernels-x86.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DUS_STATS_X86 1
#include <cpuid.h>
// GCC 12 reports its own AVX-512 intrinsics (the _mm512_undefined_* placeholders) as "maybe
// uninitialized" once inlined (GCC bug 105593); the warning is about the header, not this code.
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#else
#define DUS_STATS_X86 0
#endif

#include <algorithm>
#include <cmath>
#include <cstring>

namespace dus {

#if DUS_STATS_X86

// Each vector function names the instructions it may use; the rest of the addon stays baseline
// x86-64, and stats-kernels.cc calls in here only after the CPU checks below said yes.
#define DUS_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,popcnt")))
#define DUS_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,popcnt")))
#define DUS_ALWAYS_INLINE inline __attribute__((always_inline))

namespace {

// CPUID leaf 1, ECX bit 29. Read directly: not every compiler's __builtin_cpu_supports knows "f16c".
bool CpuHasF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}

}  // namespace

bool CpuRunsAvx2() {
  // libgcc / compiler-rt also check that the OS saves the YMM and ZMM registers (XGETBV), which
  // F16C needs too (it writes YMM registers), so "avx2" covers that for it.
  static const bool runs = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("popcnt") &&
           CpuHasF16c();
  }();
  return runs;
}

bool CpuRunsAvx512() {
  static const bool runs = [] {
    __builtin_cpu_init();
    return CpuRunsAvx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  }();
  return runs;
}

namespace {

// How the kernels below work, for every ISA and dtype:
// - An element's magnitude bits (sign cleared) order like its |value| for every finite value, and
//   NaN/Inf are exactly the magnitudes at or above the dtype's infinity pattern. So maxAbs is an
//   unsigned integer max of magnitude bits, and one compare of a block's max tells whether the
//   block holds any NaN or Inf.
// - Blocks are summed optimistically: each element widens exactly to f64 and goes into one of
//   four (vector) accumulators for Σx and four for Σx², which keeps the add latency off the
//   critical path. A block whose max shows a NaN or Inf (rare) is undone and summed again with
//   those lanes zeroed and counted, so results do not depend on whether a block was redone.
// - The last, partial vector is copied into a zeroed one: zeros change no sum and no maximum.
// - Accumulators are added up in one fixed order at the end, so a chunk's figures depend only on
//   its bytes and the ISA, never on threads or timing.
constexpr size_t kBlockVectors = 64;  // 2 KiB (AVX2) or 4 KiB (AVX-512): redone from L1
constexpr size_t kF8Block = 4096;     // F8 elements widened to half at a time

inline float BitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// |x| from the magnitude bits of a finite half (exact: subnormals included).
inline double HalfMagnitude(uint32_t bits) {
  const uint32_t exponent = bits >> 10;
  const uint32_t mantissa = bits & 0x3FFu;
  return exponent == 0 ? std::ldexp(static_cast<double>(mantissa), -24)
                       : std::ldexp(static_cast<double>(1024 + mantissa), static_cast<int>(exponent) - 25);
}

// F8 widened to IEEE half bits, exactly: both F8 formats fit in half (E5M2 is the upper byte of a
// half; E4M3's range 2^-9..448 lies inside half's normal range). E4M3's NaN (S.1111.111) becomes a
// half NaN and it has no infinities, so the half kernel's counts are the F8 counts.
uint16_t E4M3ToHalf(uint32_t byte) {
  const uint32_t sign = (byte & 0x80u) << 8;
  const uint32_t magnitude = byte & 0x7Fu;
  if (magnitude == 0x7Fu) return static_cast<uint16_t>(sign | 0x7E00u);
  if (magnitude >= 0x08u) return static_cast<uint16_t>(sign | ((magnitude << 7) + (8u << 10)));  // exponent + 8
  if (magnitude == 0) return static_cast<uint16_t>(sign);
  // Subnormal m·2^-9 (m = 1..7): normalise to 1.f·2^e, e = -9..-7, a normal half.
  uint32_t mantissa = magnitude;
  int exponent = -9 + 3;
  while (mantissa < 8) {
    mantissa <<= 1;
    --exponent;
  }
  return static_cast<uint16_t>(sign | static_cast<uint32_t>(exponent + 15) << 10 | (mantissa - 8) << 7);
}

struct E4M3Table {
  uint16_t half[256];
  E4M3Table() {
    for (uint32_t byte = 0; byte < 256; ++byte) half[byte] = E4M3ToHalf(byte);
  }
};

const E4M3Table& E4M3Halves() {
  static const E4M3Table table;
  return table;
}

// Statistics of `count` F8 elements through a half kernel, kF8Block elements at a time.
StatsPartial AccumulateF8(StatsDtype dtype, const uint8_t* data, size_t count,
                          StatsPartial (*accumulateHalves)(const uint8_t*, size_t)) {
  alignas(64) uint16_t halves[kF8Block];
  const uint16_t* table = E4M3Halves().half;
  StatsPartial total;
  for (size_t start = 0; start < count; start += kF8Block) {
    const size_t length = std::min(kF8Block, count - start);
    if (dtype == StatsDtype::kF8E4M3) {
      for (size_t index = 0; index < length; ++index) halves[index] = table[data[start + index]];
    } else {
      for (size_t index = 0; index < length; ++index) halves[index] = static_cast<uint16_t>(data[start + index] << 8);
    }
    CombinePartial(total, accumulateHalves(reinterpret_cast<const uint8_t*>(halves), length));
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// AVX2: 32-byte vectors, 4 × 4 f64 lanes per sum.

DUS_TARGET_AVX2 DUS_ALWAYS_INLINE __m256i LoadAvx2(const uint8_t* at) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
}

struct Avx2Sums {
  __m256d sum[4];
  __m256d squares[4];
};

DUS_TARGET_AVX2 DUS_ALWAYS_INLINE void AddAvx2(Avx2Sums& sums, int slot, __m256d values) {
  sums.sum[slot] = _mm256_add_pd(sums.sum[slot], values);
  sums.squares[slot] = _mm256_fmadd_pd(values, values, sums.squares[slot]);
}

// 16-bit formats: magnitudes fit in 15 bits, so signed 16-bit compares order them correctly.
struct Avx2Bits16 {
  static constexpr size_t kElementBytes = 2;
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE __m256i Magnitude(__m256i v) {
    return _mm256_and_si256(v, _mm256_set1_epi16(0x7FFF));
  }
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE __m256i Max(__m256i a, __m256i b) { return _mm256_max_epu16(a, b); }
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE __m256i AtLeast(__m256i magnitude, uint32_t bits) {
    return _mm256_cmpgt_epi16(magnitude, _mm256_set1_epi16(static_cast<short>(bits - 1)));
  }
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE uint64_t Count(__m256i lanes) {
    return static_cast<uint64_t>(__builtin_popcount(static_cast<unsigned>(_mm256_movemask_epi8(lanes)))) / 2;
  }
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE uint32_t MaxLane(__m256i v) {
    alignas(32) uint16_t lanes[16];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), v);
    return *std::max_element(lanes, lanes + 16);
  }
};

struct Bf16Avx2 : Avx2Bits16 {
  static constexpr bool kPairs = false;
  static constexpr uint32_t kInfinity = 0x7F80;
  static double MagnitudeValue(uint32_t bits) { return BitsToFloat(bits << 16); }
  // bf16 is the upper half of an f32: interleaving with zeros widens 16 elements to f32.
  template <int kParity>
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE void Add(__m256i v, Avx2Sums& sums) {
    const __m256i zero = _mm256_setzero_si256();
    const __m256 low = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, v));
    const __m256 high = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, v));
    AddAvx2(sums, 0, _mm256_cvtps_pd(_mm256_castps256_ps128(low)));
    AddAvx2(sums, 1, _mm256_cvtps_pd(_mm256_extractf128_ps(low, 1)));
    AddAvx2(sums, 2, _mm256_cvtps_pd(_mm256_castps256_ps128(high)));
    AddAvx2(sums, 3, _mm256_cvtps_pd(_mm256_extractf128_ps(high, 1)));
  }
};

struct F16Avx2 : Avx2Bits16 {
  static constexpr bool kPairs = false;
  static constexpr uint32_t kInfinity = 0x7C00;
  static double MagnitudeValue(uint32_t bits) { return HalfMagnitude(bits); }
  template <int kParity>
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE void Add(__m256i v, Avx2Sums& sums) {
    const __m256 low = _mm256_cvtph_ps(_mm256_castsi256_si128(v));
    const __m256 high = _mm256_cvtph_ps(_mm256_extracti128_si256(v, 1));
    AddAvx2(sums, 0, _mm256_cvtps_pd(_mm256_castps256_ps128(low)));
    AddAvx2(sums, 1, _mm256_cvtps_pd(_mm256_extractf128_ps(low, 1)));
    AddAvx2(sums, 2, _mm256_cvtps_pd(_mm256_castps256_ps128(high)));
    AddAvx2(sums, 3, _mm256_cvtps_pd(_mm256_extractf128_ps(high, 1)));
  }
};

struct F32Avx2 {
  static constexpr size_t kElementBytes = 4;
  // One vector fills only two accumulators, so vectors go in pairs (Add<0>, Add<1>).
  static constexpr bool kPairs = true;
  static constexpr uint32_t kInfinity = 0x7F800000;
  static double MagnitudeValue(uint32_t bits) { return BitsToFloat(bits); }
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE __m256i Magnitude(__m256i v) {
    return _mm256_and_si256(v, _mm256_set1_epi32(0x7FFFFFFF));
  }
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE __m256i Max(__m256i a, __m256i b) { return _mm256_max_epu32(a, b); }
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE __m256i AtLeast(__m256i magnitude, uint32_t bits) {
    return _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(static_cast<int>(bits - 1)));
  }
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE uint64_t Count(__m256i lanes) {
    return static_cast<uint64_t>(__builtin_popcount(static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(lanes)))));
  }
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE uint32_t MaxLane(__m256i v) {
    alignas(32) uint32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), v);
    return *std::max_element(lanes, lanes + 8);
  }
  template <int kParity>
  DUS_TARGET_AVX2 static DUS_ALWAYS_INLINE void Add(__m256i v, Avx2Sums& sums) {
    const __m256 values = _mm256_castsi256_ps(v);
    AddAvx2(sums, 2 * kParity, _mm256_cvtps_pd(_mm256_castps256_ps128(values)));
    AddAvx2(sums, 2 * kParity + 1, _mm256_cvtps_pd(_mm256_extractf128_ps(values, 1)));
  }
};

struct Avx2State {
  Avx2Sums sums;
  __m256i maximum;
  uint64_t nonFinite = 0;
  uint64_t nan = 0;
};

// One vector with its NaN and Inf lanes counted and zeroed.
template <typename Format, int kParity>
DUS_TARGET_AVX2 DUS_ALWAYS_INLINE void CarefulStepAvx2(__m256i v, Avx2State& state) {
  __m256i magnitude = Format::Magnitude(v);
  const __m256i bad = Format::AtLeast(magnitude, Format::kInfinity);
  if (!_mm256_testz_si256(bad, bad)) {
    state.nonFinite += Format::Count(bad);
    state.nan += Format::Count(Format::AtLeast(magnitude, Format::kInfinity + 1));
    v = _mm256_andnot_si256(bad, v);
    magnitude = _mm256_andnot_si256(bad, magnitude);
  }
  state.maximum = Format::Max(state.maximum, magnitude);
  Format::template Add<kParity>(v, state.sums);
}

template <typename Format>
DUS_TARGET_AVX2 StatsPartial AccumulateAvx2(const uint8_t* data, size_t count) {
  constexpr size_t kVectorBytes = 32;
  constexpr size_t kPerVector = kVectorBytes / Format::kElementBytes;
  Avx2State state;
  for (int slot = 0; slot < 4; ++slot) {
    state.sums.sum[slot] = _mm256_setzero_pd();
    state.sums.squares[slot] = _mm256_setzero_pd();
  }
  state.maximum = _mm256_setzero_si256();
  const size_t vectors = count / kPerVector;
  for (size_t start = 0; start < vectors; start += kBlockVectors) {
    const size_t end = std::min(vectors, start + kBlockVectors);
    const Avx2Sums before = state.sums;
    __m256i blockMaximum = _mm256_setzero_si256();
    size_t index = start;
    if constexpr (Format::kPairs) {
      for (; index + 2 <= end; index += 2) {
        const __m256i first = LoadAvx2(data + index * kVectorBytes);
        const __m256i second = LoadAvx2(data + (index + 1) * kVectorBytes);
        blockMaximum = Format::Max(blockMaximum, Format::Max(Format::Magnitude(first), Format::Magnitude(second)));
        Format::template Add<0>(first, state.sums);
        Format::template Add<1>(second, state.sums);
      }
    }
    for (; index < end; ++index) {
      const __m256i v = LoadAvx2(data + index * kVectorBytes);
      blockMaximum = Format::Max(blockMaximum, Format::Magnitude(v));
      Format::template Add<0>(v, state.sums);
    }
    const __m256i bad = Format::AtLeast(blockMaximum, Format::kInfinity);
    if (_mm256_testz_si256(bad, bad)) {
      state.maximum = Format::Max(state.maximum, blockMaximum);
      continue;
    }
    state.sums = before;
    for (index = start; index + 2 <= end; index += 2) {
      CarefulStepAvx2<Format, 0>(LoadAvx2(data + index * kVectorBytes), state);
      CarefulStepAvx2<Format, 1>(LoadAvx2(data + (index + 1) * kVectorBytes), state);
    }
    if (index < end) CarefulStepAvx2<Format, 0>(LoadAvx2(data + index * kVectorBytes), state);
  }
  const size_t rest = count - vectors * kPerVector;
  if (rest > 0) {
    alignas(32) uint8_t tail[kVectorBytes] = {};
    std::memcpy(tail, data + vectors * kVectorBytes, rest * Format::kElementBytes);
    CarefulStepAvx2<Format, 0>(_mm256_load_si256(reinterpret_cast<const __m256i*>(tail)), state);
  }

  StatsPartial result;
  result.elements = count;
  result.nanCount = state.nan;
  result.infCount = state.nonFinite - state.nan;
  alignas(32) double lanes[4];
  for (int slot = 0; slot < 4; ++slot) {
    _mm256_store_pd(lanes, state.sums.sum[slot]);
    for (double lane : lanes) result.sum += lane;
  }
  for (int slot = 0; slot < 4; ++slot) {
    _mm256_store_pd(lanes, state.sums.squares[slot]);
    for (double lane : lanes) result.sumSquares += lane;
  }
  result.maxAbs = Format::MagnitudeValue(Format::MaxLane(state.maximum));
  return result;
}

StatsPartial AccumulateHalvesAvx2(const uint8_t* data, size_t count) { return AccumulateAvx2<F16Avx2>(data, count); }

// ---------------------------------------------------------------------------------------------
// AVX-512: 64-byte vectors, 4 × 8 f64 lanes per sum, NaN/Inf lanes found with mask compares.

DUS_TARGET_AVX512 DUS_ALWAYS_INLINE __m512i LoadAvx512(const uint8_t* at) { return _mm512_loadu_si512(at); }

struct Avx512Sums {
  __m512d sum[4];
  __m512d squares[4];
};

DUS_TARGET_AVX512 DUS_ALWAYS_INLINE void AddAvx512(Avx512Sums& sums, int slot, __m512d values) {
  sums.sum[slot] = _mm512_add_pd(sums.sum[slot], values);
  sums.squares[slot] = _mm512_fmadd_pd(values, values, sums.squares[slot]);
}

struct Avx512Bits16 {
  static constexpr size_t kElementBytes = 2;
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE __m512i Magnitude(__m512i v) {
    return _mm512_and_si512(v, _mm512_set1_epi16(0x7FFF));
  }
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE __m512i Max(__m512i a, __m512i b) { return _mm512_max_epu16(a, b); }
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE uint64_t AtLeast(__m512i magnitude, uint32_t bits) {
    return _mm512_cmpge_epu16_mask(magnitude, _mm512_set1_epi16(static_cast<short>(bits)));
  }
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE __m512i ZeroLanes(__m512i v, uint64_t lanes) {
    return _mm512_maskz_mov_epi16(static_cast<__mmask32>(~lanes), v);
  }
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE uint32_t MaxLane(__m512i v) {
    alignas(64) uint16_t lanes[32];
    _mm512_store_si512(lanes, v);
    return *std::max_element(lanes, lanes + 32);
  }
};

struct Bf16Avx512 : Avx512Bits16 {
  static constexpr bool kPairs = false;
  static constexpr uint32_t kInfinity = 0x7F80;
  static double MagnitudeValue(uint32_t bits) { return BitsToFloat(bits << 16); }
  template <int kParity>
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE void Add(__m512i v, Avx512Sums& sums) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512 low = _mm512_castsi512_ps(_mm512_unpacklo_epi16(zero, v));
    const __m512 high = _mm512_castsi512_ps(_mm512_unpackhi_epi16(zero, v));
    AddAvx512(sums, 0, _mm512_cvtps_pd(_mm512_castps512_ps256(low)));
    AddAvx512(sums, 1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(low, 1)));
    AddAvx512(sums, 2, _mm512_cvtps_pd(_mm512_castps512_ps256(high)));
    AddAvx512(sums, 3, _mm512_cvtps_pd(_mm512_extractf32x8_ps(high, 1)));
  }
};

struct F16Avx512 : Avx512Bits16 {
  static constexpr bool kPairs = false;
  static constexpr uint32_t kInfinity = 0x7C00;
  static double MagnitudeValue(uint32_t bits) { return HalfMagnitude(bits); }
  template <int kParity>
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE void Add(__m512i v, Avx512Sums& sums) {
    const __m512 low = _mm512_cvtph_ps(_mm512_castsi512_si256(v));
    const __m512 high = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v, 1));
    AddAvx512(sums, 0, _mm512_cvtps_pd(_mm512_castps512_ps256(low)));
    AddAvx512(sums, 1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(low, 1)));
    AddAvx512(sums, 2, _mm512_cvtps_pd(_mm512_castps512_ps256(high)));
    AddAvx512(sums, 3, _mm512_cvtps_pd(_mm512_extractf32x8_ps(high, 1)));
  }
};

struct F32Avx512 {
  static constexpr size_t kElementBytes = 4;
  static constexpr bool kPairs = true;
  static constexpr uint32_t kInfinity = 0x7F800000;
  static double MagnitudeValue(uint32_t bits) { return BitsToFloat(bits); }
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE __m512i Magnitude(__m512i v) {
    return _mm512_and_si512(v, _mm512_set1_epi32(0x7FFFFFFF));
  }
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE __m512i Max(__m512i a, __m512i b) { return _mm512_max_epu32(a, b); }
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE uint64_t AtLeast(__m512i magnitude, uint32_t bits) {
    return _mm512_cmpge_epu32_mask(magnitude, _mm512_set1_epi32(static_cast<int>(bits)));
  }
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE __m512i ZeroLanes(__m512i v, uint64_t lanes) {
    return _mm512_maskz_mov_epi32(static_cast<__mmask16>(~lanes), v);
  }
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE uint32_t MaxLane(__m512i v) {
    alignas(64) uint32_t lanes[16];
    _mm512_store_si512(lanes, v);
    return *std::max_element(lanes, lanes + 16);
  }
  template <int kParity>
  DUS_TARGET_AVX512 static DUS_ALWAYS_INLINE void Add(__m512i v, Avx512Sums& sums) {
    const __m512 values = _mm512_castsi512_ps(v);
    AddAvx512(sums, 2 * kParity, _mm512_cvtps_pd(_mm512_castps512_ps256(values)));
    AddAvx512(sums, 2 * kParity + 1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(values, 1)));
  }
};

struct Avx512State {
  Avx512Sums sums;
  __m512i maximum;
  uint64_t nonFinite = 0;
  uint64_t nan = 0;
};

template <typename Format, int kParity>
DUS_TARGET_AVX512 DUS_ALWAYS_INLINE void CarefulStepAvx512(__m512i v, Avx512State& state) {
  __m512i magnitude = Format::Magnitude(v);
  const uint64_t bad = Format::AtLeast(magnitude, Format::kInfinity);
  if (bad != 0) {
    state.nonFinite += static_cast<uint64_t>(__builtin_popcountll(bad));
    state.nan += static_cast<uint64_t>(__builtin_popcountll(Format::AtLeast(magnitude, Format::kInfinity + 1)));
    v = Format::ZeroLanes(v, bad);
    magnitude = Format::ZeroLanes(magnitude, bad);
  }
  state.maximum = Format::Max(state.maximum, magnitude);
  Format::template Add<kParity>(v, state.sums);
}

template <typename Format>
DUS_TARGET_AVX512 StatsPartial AccumulateAvx512(const uint8_t* data, size_t count) {
  constexpr size_t kVectorBytes = 64;
  constexpr size_t kPerVector = kVectorBytes / Format::kElementBytes;
  Avx512State state;
  for (int slot = 0; slot < 4; ++slot) {
    state.sums.sum[slot] = _mm512_setzero_pd();
    state.sums.squares[slot] = _mm512_setzero_pd();
  }
  state.maximum = _mm512_setzero_si512();
  const size_t vectors = count / kPerVector;
  for (size_t start = 0; start < vectors; start += kBlockVectors) {
    const size_t end = std::min(vectors, start + kBlockVectors);
    const Avx512Sums before = state.sums;
    __m512i blockMaximum = _mm512_setzero_si512();
    size_t index = start;
    if constexpr (Format::kPairs) {
      for (; index + 2 <= end; index += 2) {
        const __m512i first = LoadAvx512(data + index * kVectorBytes);
        const __m512i second = LoadAvx512(data + (index + 1) * kVectorBytes);
        blockMaximum = Format::Max(blockMaximum, Format::Max(Format::Magnitude(first), Format::Magnitude(second)));
        Format::template Add<0>(first, state.sums);
        Format::template Add<1>(second, state.sums);
      }
    }
    for (; index < end; ++index) {
      const __m512i v = LoadAvx512(data + index * kVectorBytes);
      blockMaximum = Format::Max(blockMaximum, Format::Magnitude(v));
      Format::template Add<0>(v, state.sums);
    }
    if (Format::AtLeast(blockMaximum, Format::kInfinity) == 0) {
      state.maximum = Format::Max(state.maximum, blockMaximum);
      continue;
    }
    state.sums = before;
    for (index = start; index + 2 <= end; index += 2) {
      CarefulStepAvx512<Format, 0>(LoadAvx512(data + index * kVectorBytes), state);
      CarefulStepAvx512<Format, 1>(LoadAvx512(data + (index + 1) * kVectorBytes), state);
    }
    if (index < end) CarefulStepAvx512<Format, 0>(LoadAvx512(data + index * kVectorBytes), state);
  }
  const size_t rest = count - vectors * kPerVector;
  if (rest > 0) {
    alignas(64) uint8_t tail[kVectorBytes] = {};
    std::memcpy(tail, data + vectors * kVectorBytes, rest * Format::kElementBytes);
    CarefulStepAvx512<Format, 0>(_mm512_load_si512(tail), state);
  }

  StatsPartial result;
  result.elements = count;
  result.nanCount = state.nan;
  result.infCount = state.nonFinite - state.nan;
  alignas(64) double lanes[8];
  for (int slot = 0; slot < 4; ++slot) {
    _mm512_store_pd(lanes, state.sums.sum[slot]);
    for (double lane : lanes) result.sum += lane;
  }
  for (int slot = 0; slot < 4; ++slot) {
    _mm512_store_pd(lanes, state.sums.squares[slot]);
    for (double lane : lanes) result.sumSquares += lane;
  }
  result.maxAbs = Format::MagnitudeValue(Format::MaxLane(state.maximum));
  return result;
}

StatsPartial AccumulateHalvesAvx512(const uint8_t* data, size_t count) {
  return AccumulateAvx512<F16Avx512>(data, count);
}

}  // namespace

StatsPartial AccumulateChunkAvx2(StatsDtype dtype, const uint8_t* data, size_t bytes) {
  switch (dtype) {
    case StatsDtype::kF32: return AccumulateAvx2<F32Avx2>(data, bytes / 4);
    case StatsDtype::kF16: return AccumulateAvx2<F16Avx2>(data, bytes / 2);
    case StatsDtype::kBF16: return AccumulateAvx2<Bf16Avx2>(data, bytes / 2);
    case StatsDtype::kF8E4M3:
    case StatsDtype::kF8E5M2: return AccumulateF8(dtype, data, bytes, AccumulateHalvesAvx2);
  }
  return StatsPartial{};
}

StatsPartial AccumulateChunkAvx512(StatsDtype dtype, const uint8_t* data, size_t bytes) {
  switch (dtype) {
    case StatsDtype::kF32: return AccumulateAvx512<F32Avx512>(data, bytes / 4);
    case StatsDtype::kF16: return AccumulateAvx512<F16Avx512>(data, bytes / 2);
    case StatsDtype::kBF16: return AccumulateAvx512<Bf16Avx512>(data, bytes / 2);
    case StatsDtype::kF8E4M3:
    case StatsDtype::kF8E5M2: return AccumulateF8(dtype, data, bytes, AccumulateHalvesAvx512);
  }
  return StatsPartial{};
}

#else  // not x86-64 with GCC or Clang: only the portable kernel exists.

bool CpuRunsAvx2() { return false; }
bool CpuRunsAvx512() { return false; }

StatsPartial AccumulateChunkAvx2(StatsDtype dtype, const uint8_t* data, size_t bytes) {
  return AccumulateChunk(dtype, data, bytes, StatsKernel::kPortable);
}

StatsPartial AccumulateChunkAvx512(StatsDtype dtype, const uint8_t* data, size_t bytes) {
  return AccumulateChunk(dtype, data, bytes, StatsKernel::kPortable);
}

#endif

}  // namespace dus
