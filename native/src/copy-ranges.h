#pragma once

#include <napi.h>

namespace dus {

// copyRanges(source, target, ranges, options) → Promise<{ bytes, method }>; see copy-ranges.cc.
Napi::Value CopyRanges(const Napi::CallbackInfo& info);

}  // namespace dus
