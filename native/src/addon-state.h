// Everything the addon keeps between calls, one instance per Node environment (main thread and
// each worker thread). Created at module load, deleted by the environment's cleanup hook.
#pragma once

#include <napi.h>

#include "thread-pool.h"

namespace dus {

struct AddonState {
  ThreadPool pool;
  unsigned defaultThreads = AvailableConcurrency();
};

// The state of the environment `env` (set by addon.cc at load).
AddonState& StateOf(Napi::Env env);

}  // namespace dus
