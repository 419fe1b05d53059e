#include "promise-worker.h"

#include <new>

namespace dus {

Napi::Error ToJsError(Napi::Env env, const NativeError& error) {
  Napi::Error result = Napi::Error::New(env, error.what());
  Napi::Object object = result.Value();
  object.Set("code", Napi::String::New(env, error.code()));
  if (!error.path().empty()) object.Set("path", Napi::String::New(env, error.path()));
  if (error.offset() >= 0) object.Set("offset", Napi::Number::New(env, static_cast<double>(error.offset())));
  if (error.rangeIndex() >= 0) {
    object.Set("rangeIndex", Napi::Number::New(env, static_cast<double>(error.rangeIndex())));
  }
  if (!error.errnoName().empty()) object.Set("errno", Napi::String::New(env, error.errnoName()));
  return result;
}

PromiseWorker::PromiseWorker(Napi::Env env, const char* resourceName)
    : Napi::AsyncWorker(env, resourceName), deferred_(Napi::Promise::Deferred::New(env)) {}

void PromiseWorker::Execute() {
  try {
    Run();
  } catch (const NativeError& error) {
    failure_.emplace(error);
  } catch (const std::bad_alloc&) {
    failure_.emplace(codes::kOutOfMemory, "out of memory");
  } catch (const std::exception& error) {
    failure_.emplace(codes::kInternal, std::string("internal error: ") + error.what());
  }
  // AsyncWorker only calls OnError when an error message is set.
  if (failure_) SetError(failure_->what());
}

void PromiseWorker::OnOK() { deferred_.Resolve(Result(Env())); }

void PromiseWorker::OnError(const Napi::Error& error) {
  if (failure_) {
    deferred_.Reject(ToJsError(Env(), *failure_).Value());
  } else {
    deferred_.Reject(error.Value());
  }
}

}  // namespace dus
