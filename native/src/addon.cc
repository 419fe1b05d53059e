// Module entry. Node-API modules are context-aware: Init runs once per environment (main thread,
// each worker thread), and each gets its own AddonState, freed by that environment's cleanup hook.
#include <napi.h>

#include "addon-state.h"
#include "compare-ranges.h"
#include "copy-ranges.h"
#include "ggml-dequantise.h"
#include "stats-kernels.h"
#include "tensor-dot-products.h"
#include "tensor-stats.h"

namespace dus {

namespace {

// Bumped whenever the JS-visible interface changes, so native.ts can refuse a stale build.
constexpr int kInterfaceVersion = 5;

}  // namespace

AddonState& StateOf(Napi::Env env) {
  void* data = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_get_instance_data(env, &data), *static_cast<AddonState*>(nullptr));
  return *static_cast<AddonState*>(data);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* state = new AddonState();
  // The instance data has no finalizer: the cleanup hook owns the state. It runs after the
  // environment's pending async work has completed, so no worker still uses the pool.
  NAPI_THROW_IF_FAILED(env, napi_set_instance_data(env, state, nullptr, nullptr), exports);
  env.AddCleanupHook([state] { delete state; });

  exports.Set("interfaceVersion", Napi::Number::New(env, kInterfaceVersion));
  exports.Set("statsFields", Napi::Number::New(env, kStatsFields));
  exports.Set("defaultThreads", Napi::Number::New(env, state->defaultThreads));
  exports.Set("tensorStats", Napi::Function::New(env, TensorStats, "tensorStats"));
  Napi::Array kernels = Napi::Array::New(env);
  for (StatsKernel kernel : RunnableStatsKernels()) kernels.Set(kernels.Length(), StatsKernelName(kernel));
  exports.Set("statsKernels", kernels);
  exports.Set("copyRanges", Napi::Function::New(env, CopyRanges, "copyRanges"));
  exports.Set("compareRanges", Napi::Function::New(env, CompareRanges, "compareRanges"));
  exports.Set("dotFields", Napi::Number::New(env, kDotFields));
  exports.Set("dotSampleBlockElements", Napi::Number::New(env, static_cast<double>(kDotSampleBlockElements)));
  exports.Set("tensorDotProducts", Napi::Function::New(env, TensorDotProducts, "tensorDotProducts"));
  exports.Set("ggmlDequantise", Napi::Function::New(env, GgmlDequantise, "ggmlDequantise"));
  return exports;
}

}  // namespace dus

// The registration macro pastes the function name into an identifier, so it needs an unqualified one.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return dus::Init(env, exports); }

NODE_API_MODULE(dus_native, InitModule)
