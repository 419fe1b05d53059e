#include "arguments.h"

#include <algorithm>
#include <cmath>

#include "native-error.h"
#include "thread-pool.h"

namespace dus {

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 − 1

}  // namespace

std::string ReadPath(const Napi::Value& value, const char* what) {
  if (!value.IsString()) throw NativeError(codes::kInvalidArgument, std::string(what) + " must be a path string");
  std::string path = value.As<Napi::String>().Utf8Value();
  if (path.empty() || path.find('\0') != std::string::npos || path[0] != '/') {
    throw NativeError(codes::kInvalidArgument, std::string(what) + " must be an absolute path", path);
  }
  return path;
}

uint64_t ReadSafeInteger(const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) throw NativeError(codes::kInvalidArgument, std::string(what) + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number < 0 || number > kMaxSafeInteger || std::floor(number) != number) {
    throw NativeError(codes::kInvalidArgument, std::string(what) + " must be a non-negative safe integer");
  }
  return static_cast<uint64_t>(number);
}

uint64_t ReadIntegerField(const Napi::Object& object, const char* key, size_t index) {
  const std::string what = "range " + std::to_string(index) + " " + key;
  try {
    return ReadSafeInteger(object.Get(key), what.c_str());
  } catch (NativeError& error) {
    error.WithRangeIndex(index);
    throw;
  }
}

Napi::Array ReadArray(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw NativeError(codes::kInvalidArgument, std::string(what) + " must be an array");
  return value.As<Napi::Array>();
}

Napi::Object ReadOptions(const Napi::Env& env, const Napi::Value& value) {
  if (value.IsUndefined() || value.IsNull()) return Napi::Object::New(env);
  if (!value.IsObject()) throw NativeError(codes::kInvalidArgument, "options must be an object");
  return value.As<Napi::Object>();
}

unsigned ReadThreads(const Napi::Object& options, unsigned fallback) {
  Napi::Value value = options.Get("threads");
  if (value.IsUndefined()) return fallback;
  const uint64_t wanted = ReadSafeInteger(value, "options.threads");
  if (wanted < 1) throw NativeError(codes::kInvalidArgument, "options.threads must be at least 1");
  return static_cast<unsigned>(std::min<uint64_t>(wanted, ThreadPool::kMaxThreads + 1));
}

uint64_t ReadSampleBlocks(const Napi::Object& options) {
  Napi::Value value = options.Get("sampleBlocks");
  if (value.IsUndefined()) return 1;
  const uint64_t every = ReadSafeInteger(value, "options.sampleBlocks");
  if (every < 1) throw NativeError(codes::kInvalidArgument, "options.sampleBlocks must be at least 1");
  return every;
}

TensorFormat ReadTensorFormat(const Napi::Value& value, const std::string& what, size_t index) {
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string();
  TensorFormat format;
  if (ParseTensorFormat(name, &format)) return format;
  if (IsOtherGgmlType(name)) {
    throw NativeError(codes::kUnsupportedType, "statistics not available for " + name).WithRangeIndex(index);
  }
  throw NativeError(codes::kInvalidArgument,
                    what + " dtype must be F32, F16, BF16, F8_E4M3, F8_E5M2 or a GGML block type (Q4_0, Q4_1, Q5_0, "
                           "Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)")
      .WithRangeIndex(index);
}

}  // namespace dus
