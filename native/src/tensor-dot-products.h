#pragma once

#include <napi.h>

namespace dus {

// tensorDotProducts(files, pairs, options) → Promise<Float64Array> with kDotFields numbers per pair:
// elements, dot, squaresA, squaresB, nonFiniteA, nonFiniteB, sampled (0/1). Each pair is
// { a: { file, offset, bytes, dtype }, b: { ... } } with `file` an index into `files`.
Napi::Value TensorDotProducts(const Napi::CallbackInfo& info);

inline constexpr unsigned kDotFields = 7;
// Sampling unit in elements (64 KiB of a 16-bit dtype): options.sampleBlocks = k reads blocks 0, k,
// 2k, ... of every pair. Counted in elements, not bytes, so both sides of a pair sample the same
// elements even when their dtypes differ.
inline constexpr uint64_t kDotSampleBlockElements = 32768;

}  // namespace dus
