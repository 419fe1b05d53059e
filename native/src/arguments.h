// Reading JavaScript arguments into C++ values on the JS thread. electron/engine/native.ts checks
// them first; these checks guard the addon against any caller (INVALID_ARGUMENT, never a crash).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "ggml-blocks.h"

namespace dus {

// A non-empty absolute path without NUL bytes.
std::string ReadPath(const Napi::Value& value, const char* what);
// A safe non-negative integer (0 ≤ n ≤ 2^53 − 1) given as a Number.
uint64_t ReadSafeInteger(const Napi::Value& value, const char* what);
// `object[key]` as a safe non-negative integer; `index` names the range in the message.
uint64_t ReadIntegerField(const Napi::Object& object, const char* key, size_t index);
Napi::Array ReadArray(const Napi::Value& value, const char* what);
// An options object (undefined or null read as empty).
Napi::Object ReadOptions(const Napi::Env& env, const Napi::Value& value);
// options.threads (≥ 1, capped at what the pool can run), or `fallback` when absent.
unsigned ReadThreads(const Napi::Object& options, unsigned fallback);
// options.sampleBlocks (≥ 1; 1 = read everything), or 1 when absent.
uint64_t ReadSampleBlocks(const Napi::Object& options);
// A range's dtype: a float dtype or a GGML block type (ParseTensorFormat). Another GGML type is
// UNSUPPORTED_TYPE ("statistics not available for IQ2_XXS"); anything else INVALID_ARGUMENT.
// `what` names the range ("range 3", "pair 2 a") and `index` is its place in the caller's array.
TensorFormat ReadTensorFormat(const Napi::Value& value, const std::string& what, size_t index);

}  // namespace dus
