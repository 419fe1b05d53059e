#include "ggml-dequantise.h"

#include <string>

#include "arguments.h"
#include "ggml-blocks.h"
#include "native-error.h"
#include "promise-worker.h"

namespace dus {

namespace {

// Bigger inputs belong to tensorStats, which reads files on many threads.
constexpr size_t kMaxInputBytes = 64 << 20;

}  // namespace

Napi::Value GgmlDequantise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw NativeError(codes::kInvalidArgument, "bytes must be a Uint8Array");
    }
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    const TensorFormat format = ReadTensorFormat(info[1], "bytes", 0);
    if (!format.blocked) throw NativeError(codes::kInvalidArgument, "type must be a GGML block type");
    const uint64_t blockBytes = BlockBytes(format);
    if (bytes.ByteLength() % blockBytes != 0 || bytes.ByteLength() > kMaxInputBytes) {
      throw NativeError(codes::kInvalidArgument, "bytes must be a whole number of " + std::to_string(blockBytes) +
                                                     "-byte blocks, at most " + std::to_string(kMaxInputBytes));
    }
    const size_t blocks = bytes.ByteLength() / blockBytes;
    Napi::Float32Array out = Napi::Float32Array::New(env, blocks * BlockElements(format));
    DequantiseBlocks(format.block, bytes.Data(), blocks, out.Data());
    return out;
  } catch (const NativeError& error) {
    ToJsError(env, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

}  // namespace dus
