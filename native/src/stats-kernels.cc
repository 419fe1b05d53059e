#include "stats-kernels.h"

#include <cmath>
#include <cstring>

#include "stats-kernels-x86.h"

namespace dus {

bool ParseStatsDtype(const std::string& name, StatsDtype* dtype) {
  if (name == "F32") *dtype = StatsDtype::kF32;
  else if (name == "F16") *dtype = StatsDtype::kF16;
  else if (name == "BF16") *dtype = StatsDtype::kBF16;
  else if (name == "F8_E4M3") *dtype = StatsDtype::kF8E4M3;
  else if (name == "F8_E5M2") *dtype = StatsDtype::kF8E5M2;
  else return false;
  return true;
}

size_t ElementSize(StatsDtype dtype) {
  switch (dtype) {
    case StatsDtype::kF32: return 4;
    case StatsDtype::kF16:
    case StatsDtype::kBF16: return 2;
    case StatsDtype::kF8E4M3:
    case StatsDtype::kF8E5M2: return 1;
  }
  return 1;
}

namespace {

// Independent accumulators: lane j takes elements j, j + kLanes, ... This lets the compiler keep
// them in vector registers without reordering any one sum (no -ffast-math needed), and the fixed
// lane order keeps results reproducible.
constexpr size_t kLanes = 8;

// Each decoder turns element `index` of `data` into its value (0 for NaN/Inf) and its class.
// Byte-wise little-endian loads compile to plain loads on little-endian hosts.
inline uint32_t Load16(const uint8_t* p) { return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8; }
inline uint32_t Load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
inline float BitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline uint32_t FloatToBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}
// All ones when `condition` holds, else zero: selects by masking, so random signs and exponents
// cost no branch mispredictions.
inline uint32_t MaskIf(bool condition) { return 0u - static_cast<uint32_t>(condition); }

struct Decoded {
  float value;  // exact (every stats dtype widens to float without rounding); 0 when not finite
  bool nonFinite;
  bool nan;
};

struct F32Decoder {
  static constexpr size_t kSize = 4;
  static inline Decoded Decode(const uint8_t* data, size_t index) {
    const uint32_t bits = Load32(data + index * 4);
    const bool nonFinite = (bits & 0x7F800000u) == 0x7F800000u;
    const bool nan = nonFinite && (bits & 0x007FFFFFu) != 0;
    return {BitsToFloat(bits & ~MaskIf(nonFinite)), nonFinite, nan};
  }
};

struct BF16Decoder {
  static constexpr size_t kSize = 2;
  static inline Decoded Decode(const uint8_t* data, size_t index) {
    const uint32_t bits = Load16(data + index * 2);
    const bool nonFinite = (bits & 0x7F80u) == 0x7F80u;
    const bool nan = nonFinite && (bits & 0x007Fu) != 0;
    return {BitsToFloat((bits << 16) & ~MaskIf(nonFinite)), nonFinite, nan};
  }
};

// IEEE half → float bits. Subnormals are rebuilt as (2^-14 + m·2^-24) − 2^-14 in float, which
// avoids subnormal float arithmetic (slow on many x86 cores); NaN/Inf become 0.
inline Decoded DecodeHalfBits(uint32_t bits) {
  const uint32_t magnitude = (bits & 0x7FFFu) << 13;
  const uint32_t sign = (bits & 0x8000u) << 16;
  const uint32_t normal = magnitude + 0x38000000u;
  const uint32_t subnormal = FloatToBits(BitsToFloat(magnitude + 0x38800000u) - 0x1p-14f);
  const uint32_t isSubnormal = MaskIf((bits & 0x7C00u) == 0);
  const bool nonFinite = (bits & 0x7C00u) == 0x7C00u;
  const bool nan = nonFinite && (bits & 0x03FFu) != 0;
  const uint32_t floatBits = (((subnormal & isSubnormal) | (normal & ~isSubnormal)) | sign) & ~MaskIf(nonFinite);
  return {BitsToFloat(floatBits), nonFinite, nan};
}

struct F16Decoder {
  static constexpr size_t kSize = 2;
  static inline Decoded Decode(const uint8_t* data, size_t index) { return DecodeHalfBits(Load16(data + index * 2)); }
};

// F8_E5M2 is the upper byte of an IEEE half (same exponent width and bias, Inf and NaN).
struct F8E5M2Decoder {
  static constexpr size_t kSize = 1;
  static inline Decoded Decode(const uint8_t* data, size_t index) {
    return DecodeHalfBits(static_cast<uint32_t>(data[index]) << 8);
  }
};

// F8_E4M3 is the FN variant (torch.float8_e4m3fn): bias 7, no infinities, NaN only at S.1111.111,
// largest finite 448. Widened like a half, with 3 mantissa bits and exponents rebased by 120.
struct F8E4M3Decoder {
  static constexpr size_t kSize = 1;
  static inline Decoded Decode(const uint8_t* data, size_t index) {
    const uint32_t bits = data[index];
    const uint32_t magnitude = (bits & 0x7Fu) << 20;
    const uint32_t sign = (bits & 0x80u) << 24;
    const uint32_t normal = magnitude + (120u << 23);
    const uint32_t subnormal = FloatToBits(BitsToFloat(magnitude + (121u << 23)) - 0x1p-6f);
    const uint32_t isSubnormal = MaskIf((bits & 0x78u) == 0);
    const bool nan = (bits & 0x7Fu) == 0x7Fu;
    const uint32_t floatBits = (((subnormal & isSubnormal) | (normal & ~isSubnormal)) | sign) & ~MaskIf(nan);
    return {BitsToFloat(floatBits), nan, nan};
  }
};

// The portable kernel (any CPU; stats-kernels-x86.cc has the AVX2 and AVX-512 ones).
// Two passes per block: decode into floats and count NaN/Inf (integer work the compiler
// vectorises), then widen to f64 and accumulate into kLanes independent lanes. Element i always
// lands in lane i % kLanes, and lanes are summed in lane order at the end.
template <typename Decoder>
StatsPartial Accumulate(const uint8_t* data, size_t bytes) {
  constexpr size_t kBlock = 1024;
  static_assert(kBlock % kLanes == 0, "blocks hold whole lane rows");
  const size_t count = bytes / Decoder::kSize;
  alignas(64) float values[kBlock];
  double sum[kLanes] = {};
  double squares[kLanes] = {};
  double maxAbs[kLanes] = {};
  uint64_t nonFinite = 0;
  uint64_t nan = 0;
  for (size_t start = 0; start < count; start += kBlock) {
    const size_t length = count - start < kBlock ? count - start : kBlock;
    uint32_t blockNonFinite = 0;
    uint32_t blockNan = 0;
    for (size_t index = 0; index < length; ++index) {
      const Decoded element = Decoder::Decode(data, start + index);
      values[index] = element.value;
      blockNonFinite += element.nonFinite ? 1 : 0;
      blockNan += element.nan ? 1 : 0;
    }
    nonFinite += blockNonFinite;
    nan += blockNan;
    // Zeros complete the last row; they change no sum and no maximum.
    const size_t rows = (length + kLanes - 1) / kLanes * kLanes;
    for (size_t index = length; index < rows; ++index) values[index] = 0;
    for (size_t row = 0; row < rows; row += kLanes) {
      for (size_t lane = 0; lane < kLanes; ++lane) {
        const double value = values[row + lane];
        sum[lane] += value;
        squares[lane] += value * value;
        const double absolute = std::fabs(value);
        maxAbs[lane] = absolute > maxAbs[lane] ? absolute : maxAbs[lane];
      }
    }
  }
  StatsPartial result;
  result.elements = count;
  result.nanCount = nan;
  result.infCount = nonFinite - nan;
  for (size_t lane = 0; lane < kLanes; ++lane) {
    result.sum += sum[lane];
    result.sumSquares += squares[lane];
    result.maxAbs = maxAbs[lane] > result.maxAbs ? maxAbs[lane] : result.maxAbs;
  }
  return result;
}

template <typename Decoder>
uint64_t DecodeInto(const uint8_t* data, size_t count, float* out) {
  uint64_t nonFinite = 0;
  for (size_t index = 0; index < count; ++index) {
    const Decoded element = Decoder::Decode(data, index);
    out[index] = element.value;
    nonFinite += element.nonFinite ? 1 : 0;
  }
  return nonFinite;
}

}  // namespace

uint64_t DecodeFloats(StatsDtype dtype, const uint8_t* data, size_t count, float* out) {
  switch (dtype) {
    case StatsDtype::kF32: return DecodeInto<F32Decoder>(data, count, out);
    case StatsDtype::kF16: return DecodeInto<F16Decoder>(data, count, out);
    case StatsDtype::kBF16: return DecodeInto<BF16Decoder>(data, count, out);
    case StatsDtype::kF8E4M3: return DecodeInto<F8E4M3Decoder>(data, count, out);
    case StatsDtype::kF8E5M2: return DecodeInto<F8E5M2Decoder>(data, count, out);
  }
  return 0;
}

std::vector<StatsKernel> RunnableStatsKernels() {
  std::vector<StatsKernel> kernels;
  if (CpuRunsAvx512()) kernels.push_back(StatsKernel::kAvx512);
  if (CpuRunsAvx2()) kernels.push_back(StatsKernel::kAvx2);
  kernels.push_back(StatsKernel::kPortable);
  return kernels;
}

StatsKernel FastestStatsKernel() {
  static const StatsKernel fastest = RunnableStatsKernels().front();
  return fastest;
}

const char* StatsKernelName(StatsKernel kernel) {
  switch (kernel) {
    case StatsKernel::kPortable: return "portable";
    case StatsKernel::kAvx2: return "avx2";
    case StatsKernel::kAvx512: return "avx512";
  }
  return "portable";
}

bool ParseStatsKernel(const std::string& name, StatsKernel* kernel) {
  for (StatsKernel candidate : {StatsKernel::kPortable, StatsKernel::kAvx2, StatsKernel::kAvx512}) {
    if (name == StatsKernelName(candidate)) {
      *kernel = candidate;
      return true;
    }
  }
  return false;
}

StatsPartial AccumulateChunk(StatsDtype dtype, const uint8_t* data, size_t bytes, StatsKernel kernel) {
  if (kernel == StatsKernel::kAvx512) return AccumulateChunkAvx512(dtype, data, bytes);
  if (kernel == StatsKernel::kAvx2) return AccumulateChunkAvx2(dtype, data, bytes);
  switch (dtype) {
    case StatsDtype::kF32: return Accumulate<F32Decoder>(data, bytes);
    case StatsDtype::kF16: return Accumulate<F16Decoder>(data, bytes);
    case StatsDtype::kBF16: return Accumulate<BF16Decoder>(data, bytes);
    case StatsDtype::kF8E4M3: return Accumulate<F8E4M3Decoder>(data, bytes);
    case StatsDtype::kF8E5M2: return Accumulate<F8E5M2Decoder>(data, bytes);
  }
  return StatsPartial{};
}

void CombinePartial(StatsPartial& into, const StatsPartial& next) {
  into.elements += next.elements;
  into.nanCount += next.nanCount;
  into.infCount += next.infCount;
  into.sum += next.sum;
  into.sumSquares += next.sumSquares;
  into.maxAbs = next.maxAbs > into.maxAbs ? next.maxAbs : into.maxAbs;
}

}  // namespace dus
