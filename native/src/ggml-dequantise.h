#pragma once

#include <napi.h>

namespace dus {

// ggmlDequantise(bytes: Uint8Array, type: string) → Float32Array: the dequantised values of a whole
// number of blocks of a GGML block type, NaN and ±Inf kept. Synchronous and for small inputs (tests,
// spot checks of a few blocks); the input is a JS-owned copy, never mapped memory.
Napi::Value GgmlDequantise(const Napi::CallbackInfo& info);

}  // namespace dus
