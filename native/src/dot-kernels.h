// Dot products of two equally long runs of little-endian float elements (any mix of the stats
// dtypes). Pure functions, no I/O: the caller hands in mapped bytes. Like the statistics kernels,
// partial results are combined in chunk order, so a pair's figures never depend on the threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ggml-blocks.h"

namespace dus {

struct DotPartial {
  uint64_t elements = 0;    // element pairs looked at
  uint64_t nonFiniteA = 0;  // NaN or ±Inf on side a (counted as 0 in every sum)
  uint64_t nonFiniteB = 0;
  double dot = 0;           // Σ a·b, accumulated in f64
  double squaresA = 0;      // Σ a²
  double squaresB = 0;      // Σ b²
};

// Σ a·b, Σ a², Σ b² of `count` elements at `a` (format `formatA`) and at `b` (format `formatB`);
// `count` is a whole number of blocks of both formats.
DotPartial AccumulateDot(const TensorFormat& formatA, const uint8_t* a, const TensorFormat& formatB, const uint8_t* b,
                         size_t count);

// Adds `next` to `into` (the order of calls fixes the rounding of the sums).
void CombineDot(DotPartial& into, const DotPartial& next);

}  // namespace dus
