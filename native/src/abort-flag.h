// Cancellation of a running native call. The JS side (electron/engine/native.ts) passes
// options.abort, an Int32Array over a SharedArrayBuffer, and stores 1 into it when the job's
// AbortSignal fires; worker threads poll it between chunks and stop with CANCELLED. Polling a word
// costs nothing next to a chunk (1 MiB), so a cancel takes effect within one chunk per thread.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace dus {

class AbortFlag {
 public:
  // A flag that is never raised.
  AbortFlag() = default;
  AbortFlag(AbortFlag&&) = default;
  AbortFlag& operator=(AbortFlag&&) = default;
  AbortFlag(const AbortFlag&) = delete;
  AbortFlag& operator=(const AbortFlag&) = delete;

  // options.abort on the JS thread: absent (never raised) or an Int32Array of at least one element.
  // Holds a reference to the array, so its memory outlives the work (the worker is deleted on the
  // JS thread, where the reference is released).
  static AbortFlag FromOptions(const Napi::Object& options);

  bool Raised() const { return word_ != nullptr && __atomic_load_n(word_, __ATOMIC_RELAXED) != 0; }
  // Throws NativeError(CANCELLED) naming `path` once the flag is raised.
  void ThrowIfRaised(const std::string& path) const;

 private:
  const int32_t* word_ = nullptr;
  Napi::Reference<Napi::Int32Array> keep_;
};

}  // namespace dus
