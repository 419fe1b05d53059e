#pragma once

#include <napi.h>

namespace dus {

// tensorStats(file, ranges, options) → Promise<Float64Array> with kStatsFields numbers per range:
// elements, sum, sumSquares, maxAbs, nanCount, infCount, sampled (0/1).
Napi::Value TensorStats(const Napi::CallbackInfo& info);

inline constexpr unsigned kStatsFields = 7;

}  // namespace dus
