#pragma once

#include <napi.h>

namespace dus {

// compareRanges(fileA, fileB, ranges) → Promise<number[]>: indexes of ranges whose bytes differ.
Napi::Value CompareRanges(const Napi::CallbackInfo& info);

}  // namespace dus
