// Per-tensor statistics of many ranges of one file, read with pread into per-thread buffers (see
// read-buffer.h for why not a mapping). Every range is checked against the file's real size first;
// a file that shrinks afterwards fails with SOURCE_CHANGED naming it.
#include "tensor-stats.h"

#include <fcntl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "abort-flag.h"
#include "addon-state.h"
#include "arguments.h"
#include "file-io.h"
#include "ggml-blocks.h"
#include "promise-worker.h"
#include "read-buffer.h"
#include "stats-kernels.h"

namespace dus {

namespace {

// Work unit of a full pass: big enough that scheduling costs nothing, small enough that one huge
// tensor spreads over every thread. Chunk boundaries are fixed offsets from the tensor's start,
// which is what makes the sums independent of the thread count.
constexpr uint64_t kChunkBytes = 1 << 20;
// Sampling unit: options.sampleBlocks = k reads blocks 0, k, 2k, ... of every tensor.
constexpr uint64_t kSampleBlockBytes = 64 << 10;
// Consecutive small chunks (many tiny tensors) are handed out together, about this much at once.
constexpr uint64_t kTaskBytes = 1 << 20;

struct StatsRequest {
  uint64_t offset;
  uint64_t bytes;
  TensorFormat format;
};

struct Chunk {
  size_t range;
  uint64_t offset;  // in the file
  uint64_t bytes;
};

// Chunks [first, last) of a task, read in runs of adjacent bytes (one pread per run: a layer's
// many small tensors usually sit back to back) into the calling thread's buffer.
template <typename Visit>
void ReadChunkRuns(const FileDescriptor& file, const std::vector<Chunk>& chunks, size_t first, size_t last,
                   Visit visit) {
  for (size_t runStart = first; runStart < last;) {
    size_t runEnd = runStart + 1;
    while (runEnd < last && chunks[runEnd].offset == chunks[runEnd - 1].offset + chunks[runEnd - 1].bytes) ++runEnd;
    const uint64_t runBytes = chunks[runEnd - 1].offset + chunks[runEnd - 1].bytes - chunks[runStart].offset;
    uint8_t* buffer = ThreadReadBuffer(0, static_cast<size_t>(runBytes));
    file.ReadExactly(buffer, static_cast<size_t>(runBytes), chunks[runStart].offset);
    for (size_t index = runStart; index < runEnd; ++index) {
      visit(index, buffer + (chunks[index].offset - chunks[runStart].offset));
    }
    runStart = runEnd;
  }
}

class TensorStatsWorker : public PromiseWorker {
 public:
  TensorStatsWorker(Napi::Env env, AddonState& state, std::string file, std::vector<StatsRequest> ranges,
                    unsigned threads, uint64_t sampleEvery, StatsKernel kernel, AbortFlag abort)
      : PromiseWorker(env, "dus.tensorStats"),
        state_(state),
        file_(std::move(file)),
        ranges_(std::move(ranges)),
        threads_(threads),
        sampleEvery_(sampleEvery),
        kernel_(kernel),
        abort_(std::move(abort)) {}

 protected:
  void Run() override {
    abort_.ThrowIfRaised(file_);
    FileDescriptor file(file_, O_RDONLY, "tensor file");
    const uint64_t size = file.RegularFileSize();
    uint64_t spanStart = UINT64_MAX;
    uint64_t spanEnd = 0;
    for (size_t index = 0; index < ranges_.size(); ++index) {
      const StatsRequest& range = ranges_[index];
      uint64_t end = 0;
      if (AddOverflows(range.offset, range.bytes, &end) || end > size) {
        throw NativeError(codes::kOutOfBounds,
                          "range " + std::to_string(index) + " (offset " + std::to_string(range.offset) + ", " +
                              std::to_string(range.bytes) + " bytes) lies beyond the end of " + file_ + " (" +
                              std::to_string(size) + " bytes)",
                          file_)
            .WithOffset(range.offset)
            .WithRangeIndex(index);
      }
      if (range.bytes == 0) continue;
      spanStart = std::min(spanStart, range.offset);
      spanEnd = std::max(spanEnd, end);
    }
    results_.assign(ranges_.size(), StatsPartial{});
    sampled_.assign(ranges_.size(), false);
    if (spanEnd == 0) return;

    const bool sampling = sampleEvery_ > 1;
    std::vector<Chunk> chunks;
    for (size_t index = 0; index < ranges_.size(); ++index) {
      const StatsRequest& range = ranges_[index];
      // GGML block types: chunks of whole blocks.
      const uint64_t step = WholeBlockBytes(range.format, sampling ? kSampleBlockBytes : kChunkBytes);
      for (uint64_t start = 0, block = 0; start < range.bytes; start += step, ++block) {
        if (sampling && block % sampleEvery_ != 0) {
          sampled_[index] = true;
          continue;
        }
        chunks.push_back({index, range.offset + start, std::min(step, range.bytes - start)});
      }
    }

    // Advice only: a failure changes speed, never results. A sampled pass reads a fraction of the
    // span, so it asks for read-ahead of exactly the sampled blocks.
    if (sampling) {
      for (const Chunk& chunk : chunks) {
        ::posix_fadvise(file.get(), static_cast<off_t>(chunk.offset), static_cast<off_t>(chunk.bytes),
                        POSIX_FADV_WILLNEED);
      }
    } else {
      ::posix_fadvise(file.get(), static_cast<off_t>(spanStart), static_cast<off_t>(spanEnd - spanStart),
                      POSIX_FADV_SEQUENTIAL);
    }

    // Tasks are runs of consecutive chunks of about kTaskBytes.
    std::vector<size_t> taskStarts;
    uint64_t taskBytes = kTaskBytes;
    for (size_t index = 0; index < chunks.size(); ++index) {
      if (taskBytes >= kTaskBytes) {
        taskStarts.push_back(index);
        taskBytes = 0;
      }
      taskBytes += chunks[index].bytes;
    }
    taskStarts.push_back(chunks.size());

    std::vector<StatsPartial> partials(chunks.size());
    state_.pool.ParallelFor(taskStarts.size() - 1, threads_, [&](size_t task) {
      abort_.ThrowIfRaised(file_);
      ReadChunkRuns(file, chunks, taskStarts[task], taskStarts[task + 1], [&](size_t index, const uint8_t* data) {
        const Chunk& chunk = chunks[index];
        partials[index] = AccumulateFormat(ranges_[chunk.range].format, data, chunk.bytes, kernel_);
      });
    });
    for (size_t index = 0; index < chunks.size(); ++index) {
      CombinePartial(results_[chunks[index].range], partials[index]);
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Float64Array out = Napi::Float64Array::New(env, results_.size() * kStatsFields);
    for (size_t index = 0; index < results_.size(); ++index) {
      const StatsPartial& stats = results_[index];
      double* row = out.Data() + index * kStatsFields;
      row[0] = static_cast<double>(stats.elements);
      row[1] = stats.sum;
      row[2] = stats.sumSquares;
      row[3] = stats.maxAbs;
      row[4] = static_cast<double>(stats.nanCount);
      row[5] = static_cast<double>(stats.infCount);
      row[6] = sampled_[index] ? 1 : 0;
    }
    return out;
  }

 private:
  AddonState& state_;
  std::string file_;
  std::vector<StatsRequest> ranges_;
  unsigned threads_;
  uint64_t sampleEvery_;
  StatsKernel kernel_;
  AbortFlag abort_;
  std::vector<StatsPartial> results_;
  std::vector<bool> sampled_;
};

// options.kernel: one of RunnableStatsKernels() by name (tests hold each to the reference);
// default the fastest.
StatsKernel ReadKernel(const Napi::Object& options) {
  Napi::Value value = options.Get("kernel");
  if (value.IsUndefined()) return FastestStatsKernel();
  StatsKernel kernel = StatsKernel::kPortable;
  const std::vector<StatsKernel> runnable = RunnableStatsKernels();
  std::string names;
  for (StatsKernel candidate : runnable) names += std::string(names.empty() ? "" : ", ") + StatsKernelName(candidate);
  if (!value.IsString() || !ParseStatsKernel(value.As<Napi::String>().Utf8Value(), &kernel) ||
      std::find(runnable.begin(), runnable.end(), kernel) == runnable.end()) {
    throw NativeError(codes::kInvalidArgument, "options.kernel must be one this CPU runs: " + names);
  }
  return kernel;
}

}  // namespace

Napi::Value TensorStats(const Napi::CallbackInfo& info) {
  return StartPromise(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    AddonState& state = StateOf(env);
    std::string file = ReadPath(info[0], "file");
    Napi::Array array = ReadArray(info[1], "ranges");
    Napi::Object options = ReadOptions(env, info[2]);

    std::vector<StatsRequest> ranges;
    ranges.reserve(array.Length());
    for (uint32_t index = 0; index < array.Length(); ++index) {
      Napi::Value item = array.Get(index);
      if (!item.IsObject()) {
        throw NativeError(codes::kInvalidArgument, "range " + std::to_string(index) + " must be an object")
            .WithRangeIndex(index);
      }
      Napi::Object object = item.As<Napi::Object>();
      StatsRequest range{};
      range.offset = ReadIntegerField(object, "offset", index);
      range.bytes = ReadIntegerField(object, "bytes", index);
      range.format = ReadTensorFormat(object.Get("dtype"), "range " + std::to_string(index), index);
      if (range.bytes % BlockBytes(range.format) != 0) {
        throw NativeError(codes::kInvalidArgument, "range " + std::to_string(index) + " has " +
                                                       std::to_string(range.bytes) +
                                                       (range.format.blocked ? " bytes, not a whole number of blocks" : " bytes, not a whole number of elements"))
            .WithRangeIndex(index);
      }
      ranges.push_back(range);
    }

    const unsigned threads = ReadThreads(options, state.defaultThreads);
    const uint64_t sampleEvery = ReadSampleBlocks(options);
    const StatsKernel kernel = ReadKernel(options);
    AbortFlag abort = AbortFlag::FromOptions(options);

    auto* worker = new TensorStatsWorker(env, state, std::move(file), std::move(ranges), threads, sampleEvery, kernel,
                                         std::move(abort));
    Napi::Value promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace dus
