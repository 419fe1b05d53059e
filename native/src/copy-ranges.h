#pragma once

#include <napi.h>

namespace dus {

// copyRanges(source, target, ranges, { method?, forceFallback? }) →
// Promise<{ bytes, method, bytesByMethod, nanoseconds }>; see copy-ranges.cc.
Napi::Value CopyRanges(const Napi::CallbackInfo& info);

}  // namespace dus
