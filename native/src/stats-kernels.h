// Per-chunk statistics of little-endian float tensors. Pure functions, no I/O: the caller hands
// in mapped bytes. Partial results are combined in chunk order, so a tensor's figures depend only
// on where its chunks start, never on which thread ran them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dus {

enum class StatsDtype { kF32, kF16, kBF16, kF8E4M3, kF8E5M2 };

// Parses "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"; false for anything else.
bool ParseStatsDtype(const std::string& name, StatsDtype* dtype);
size_t ElementSize(StatsDtype dtype);

struct StatsPartial {
  uint64_t elements = 0;  // all elements looked at, NaN and Inf included
  uint64_t nanCount = 0;
  uint64_t infCount = 0;
  double sum = 0;         // finite elements only, accumulated in f64
  double sumSquares = 0;  // finite elements only
  double maxAbs = 0;      // finite elements only
};

// The instruction sets the kernels come in. Each gives deterministic figures, but their lanes
// round differently, so figures may differ in the last bits from one kernel to another (always
// within the error bound of f64 summation).
enum class StatsKernel { kPortable, kAvx2, kAvx512 };

// Kernels this CPU runs, fastest first; the portable one is always last.
std::vector<StatsKernel> RunnableStatsKernels();
// The first of RunnableStatsKernels() (checked once per process).
StatsKernel FastestStatsKernel();
const char* StatsKernelName(StatsKernel kernel);
// Parses "avx512", "avx2", "portable"; false for anything else.
bool ParseStatsKernel(const std::string& name, StatsKernel* kernel);

// Statistics of `bytes` bytes (a whole number of elements) at `data`, with `kernel`, which the
// caller has checked this CPU runs.
StatsPartial AccumulateChunk(StatsDtype dtype, const uint8_t* data, size_t bytes, StatsKernel kernel);

// Adds `next` to `into` (the order of calls fixes the rounding of the sums).
void CombinePartial(StatsPartial& into, const StatsPartial& next);

// Widens `count` elements at `data` to float (exact for every stats dtype), writing NaN and ±Inf
// as 0, and returns how many were NaN or ±Inf. The dot-product kernels share these decoders.
uint64_t DecodeFloats(StatsDtype dtype, const uint8_t* data, size_t count, float* out);

}  // namespace dus
