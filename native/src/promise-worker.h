// Base of the addon's async functions: runs Execute() on the libuv pool and settles a Promise on
// the JS thread. A NativeError thrown by the work rejects with an Error carrying its code, path,
// offset, range index and errno name as properties.
#pragma once

#include <napi.h>

#include <optional>

#include "native-error.h"

namespace dus {

// Error object for `error`: message plus code/path/offset/rangeIndex/errno properties.
Napi::Error ToJsError(Napi::Env env, const NativeError& error);

class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* resourceName);
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // The work, on a pool thread: no JS values may be touched here.
  virtual void Run() = 0;
  // The resolution value, on the JS thread after Run() returned normally.
  virtual Napi::Value Result(Napi::Env env) = 0;

 private:
  void Execute() final;
  void OnOK() final;
  void OnError(const Napi::Error& error) final;

  Napi::Promise::Deferred deferred_;
  std::optional<NativeError> failure_;
};

// Calls `start` (parse arguments, create and queue a worker, return its promise); a NativeError
// thrown while parsing becomes a rejected promise instead of a synchronous throw.
template <typename Start>
Napi::Value StartPromise(const Napi::CallbackInfo& info, Start start) {
  try {
    return start(info);
  } catch (const NativeError& error) {
    auto deferred = Napi::Promise::Deferred::New(info.Env());
    deferred.Reject(ToJsError(info.Env(), error).Value());
    return deferred.Promise();
  }
}

}  // namespace dus
