#include "abort-flag.h"

#include "native-error.h"

namespace dus {

AbortFlag AbortFlag::FromOptions(const Napi::Object& options) {
  AbortFlag flag;
  Napi::Value value = options.Get("abort");
  if (value.IsUndefined()) return flag;
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      value.As<Napi::TypedArray>().ElementLength() < 1) {
    throw NativeError(codes::kInvalidArgument, "options.abort must be an Int32Array of at least one element");
  }
  Napi::Int32Array array = value.As<Napi::Int32Array>();
  flag.word_ = array.Data();
  flag.keep_ = Napi::Persistent(array);
  return flag;
}

void AbortFlag::ThrowIfRaised(const std::string& path) const {
  if (Raised()) throw NativeError(codes::kCancelled, "cancelled while reading " + path, path);
}

}  // namespace dus
