// Dot products of many pairs of equally long float tensors, for layer × layer cosine similarity.
// Each file is opened once and every range checked against its real size before anything is read;
// chunks are then read with pread into per-thread buffers (read-buffer.h: a file that shrinks
// meanwhile is SOURCE_CHANGED, not SIGBUS). Work is cut into chunks at fixed element offsets from
// each tensor's start and combined in chunk order, so results do not depend on the thread count.
#include "tensor-dot-products.h"

#include <fcntl.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "abort-flag.h"
#include "addon-state.h"
#include "arguments.h"
#include "dot-kernels.h"
#include "file-io.h"
#include "ggml-blocks.h"
#include "promise-worker.h"
#include "read-buffer.h"

namespace dus {

namespace {

// Work unit of a full pass, in elements (1 MiB of a 16-bit dtype).
constexpr uint64_t kChunkElements = 1 << 19;
// Consecutive small chunks are handed out together, about this many bytes (both sides) at once.
constexpr uint64_t kTaskBytes = 1 << 20;

struct DotSide {
  size_t file;
  uint64_t offset;
  uint64_t bytes;
  TensorFormat format;
};

struct DotRequest {
  DotSide a;
  DotSide b;
  uint64_t elements;
};

struct DotChunk {
  size_t pair;
  uint64_t first;  // element index from the start of both tensors
  uint64_t count;
};

std::string PairLabel(size_t index, const char* side) {
  return "pair " + std::to_string(index) + " " + side;
}

DotSide ReadSide(const Napi::Object& pair, const char* side, size_t index, size_t fileCount) {
  Napi::Value value = pair.Get(side);
  const std::string label = PairLabel(index, side);
  if (!value.IsObject()) {
    throw NativeError(codes::kInvalidArgument, label + " must be an object").WithRangeIndex(index);
  }
  Napi::Object object = value.As<Napi::Object>();
  DotSide result{};
  try {
    const uint64_t file = ReadSafeInteger(object.Get("file"), (label + " file").c_str());
    if (file >= fileCount) {
      throw NativeError(codes::kInvalidArgument, label + " file must index the files array (" +
                                                     std::to_string(fileCount) + " files)");
    }
    result.file = static_cast<size_t>(file);
    result.offset = ReadSafeInteger(object.Get("offset"), (label + " offset").c_str());
    result.bytes = ReadSafeInteger(object.Get("bytes"), (label + " bytes").c_str());
  } catch (NativeError& error) {
    error.WithRangeIndex(index);
    throw;
  }
  result.format = ReadTensorFormat(object.Get("dtype"), label, index);
  if (result.bytes % BlockBytes(result.format) != 0) {
    throw NativeError(codes::kInvalidArgument, label + " has " + std::to_string(result.bytes) + " bytes, not a whole number of " +
                                                   (result.format.blocked ? "blocks" : "elements"))
        .WithRangeIndex(index);
  }
  return result;
}

bool SameRange(const DotSide& left, const DotSide& right) {
  return left.file == right.file && left.offset == right.offset && left.bytes == right.bytes &&
         left.format.blocked == right.format.blocked && left.format.dtype == right.format.dtype && left.format.block == right.format.block;
}

// Reads `chunk` of one side into the calling thread's buffer `slot`.
const uint8_t* ReadSideChunk(const FileDescriptor& file, const DotSide& side, const DotChunk& chunk, unsigned slot) {
  const size_t bytes = static_cast<size_t>(BytesOfElements(side.format, chunk.count));
  uint8_t* buffer = ThreadReadBuffer(slot, bytes);
  file.ReadExactly(buffer, bytes, side.offset + BytesOfElements(side.format, chunk.first));
  return buffer;
}

class TensorDotProductsWorker : public PromiseWorker {
 public:
  TensorDotProductsWorker(Napi::Env env, AddonState& state, std::vector<std::string> files,
                          std::vector<DotRequest> pairs, unsigned threads, uint64_t sampleEvery, AbortFlag abort)
      : PromiseWorker(env, "dus.tensorDotProducts"),
        state_(state),
        files_(std::move(files)),
        pairs_(std::move(pairs)),
        threads_(threads),
        sampleEvery_(sampleEvery),
        abort_(std::move(abort)) {}

 protected:
  void Run() override {
    results_.assign(pairs_.size(), DotPartial{});
    sampled_.assign(pairs_.size(), false);

    // Only files some pair reads are opened; each is sized once and every range checked against it.
    std::vector<bool> used(files_.size(), false);
    for (const DotRequest& pair : pairs_) {
      used[pair.a.file] = true;
      used[pair.b.file] = true;
    }
    std::vector<std::unique_ptr<FileDescriptor>> descriptors(files_.size());
    std::vector<uint64_t> sizes(files_.size(), 0);
    for (size_t file = 0; file < files_.size(); ++file) {
      if (!used[file]) continue;
      descriptors[file] = std::make_unique<FileDescriptor>(files_[file], O_RDONLY, "tensor file");
      sizes[file] = descriptors[file]->RegularFileSize();
    }
    for (size_t index = 0; index < pairs_.size(); ++index) {
      for (const DotSide* side : {&pairs_[index].a, &pairs_[index].b}) {
        const std::string& path = files_[side->file];
        const uint64_t size = sizes[side->file];
        uint64_t end = 0;
        if (AddOverflows(side->offset, side->bytes, &end) || end > size) {
          throw NativeError(codes::kOutOfBounds,
                            PairLabel(index, side == &pairs_[index].a ? "a" : "b") + " (offset " +
                                std::to_string(side->offset) + ", " + std::to_string(side->bytes) +
                                " bytes) lies beyond the end of " + path + " (" + std::to_string(size) + " bytes)",
                            path)
              .WithOffset(side->offset)
              .WithRangeIndex(index);
        }
      }
    }

    const bool sampling = sampleEvery_ > 1;
    const uint64_t step = sampling ? kDotSampleBlockElements : kChunkElements;
    std::vector<DotChunk> chunks;
    for (size_t index = 0; index < pairs_.size(); ++index) {
      const uint64_t elements = pairs_[index].elements;
      for (uint64_t first = 0, block = 0; first < elements; first += step, ++block) {
        if (sampling && block % sampleEvery_ != 0) {
          sampled_[index] = true;
          continue;
        }
        chunks.push_back({index, first, std::min(step, elements - first)});
      }
    }
    if (chunks.empty()) return;
    // Chunk position first, pair second: pairs that share a tensor (a row of a similarity matrix
    // shares side a) then follow each other, so a task reads that chunk once for all of them. A
    // pair's own chunks keep their order, which is what fixes the rounding.
    std::stable_sort(chunks.begin(), chunks.end(),
                     [](const DotChunk& left, const DotChunk& right) { return left.first < right.first; });

    // Advice only (a failure changes speed, never results): read-ahead of exactly the bytes the
    // chunks read, once per distinct side-a chunk.
    const DotSide* previousA = nullptr;
    uint64_t previousFirst = 0;
    for (const DotChunk& chunk : chunks) {
      const DotRequest& pair = pairs_[chunk.pair];
      const bool sameA = previousA != nullptr && SameRange(*previousA, pair.a) && previousFirst == chunk.first;
      for (const DotSide* side : {&pair.a, &pair.b}) {
        if (side == &pair.a && sameA) continue;
        ::posix_fadvise(descriptors[side->file]->get(), static_cast<off_t>(side->offset + BytesOfElements(side->format, chunk.first)),
                        static_cast<off_t>(BytesOfElements(side->format, chunk.count)), POSIX_FADV_WILLNEED);
      }
      previousA = &pair.a;
      previousFirst = chunk.first;
    }

    // Tasks are runs of about kTaskBytes, cut only where side a changes, so a run of pairs sharing
    // a chunk of side a lies in one task and reads it once.
    std::vector<size_t> taskStarts;
    uint64_t taskBytes = kTaskBytes;
    for (size_t index = 0; index < chunks.size(); ++index) {
      const DotRequest& pair = pairs_[chunks[index].pair];
      const bool sameA = index > 0 && chunks[index - 1].first == chunks[index].first &&
                         SameRange(pairs_[chunks[index - 1].pair].a, pair.a);
      if (taskBytes >= kTaskBytes && !sameA) {
        taskStarts.push_back(index);
        taskBytes = 0;
      }
      taskBytes += BytesOfElements(pair.a.format, chunks[index].count) + BytesOfElements(pair.b.format, chunks[index].count);
    }
    taskStarts.push_back(chunks.size());

    std::vector<DotPartial> partials(chunks.size());
    state_.pool.ParallelFor(taskStarts.size() - 1, threads_, [&](size_t task) {
      // Side a of the chunk last read into buffer slot 0, to skip reading it again.
      const DotSide* heldA = nullptr;
      uint64_t heldFirst = 0;
      const uint8_t* bufferA = nullptr;
      for (size_t index = taskStarts[task]; index < taskStarts[task + 1]; ++index) {
        const DotChunk& chunk = chunks[index];
        const DotRequest& pair = pairs_[chunk.pair];
        abort_.ThrowIfRaised(files_[pair.a.file]);
        if (heldA == nullptr || !SameRange(*heldA, pair.a) || heldFirst != chunk.first) {
          bufferA = ReadSideChunk(*descriptors[pair.a.file], pair.a, chunk, 0);
          heldA = &pair.a;
          heldFirst = chunk.first;
        }
        const uint8_t* bufferB = ReadSideChunk(*descriptors[pair.b.file], pair.b, chunk, 1);
        partials[index] =
            AccumulateDot(pair.a.format, bufferA, pair.b.format, bufferB, static_cast<size_t>(chunk.count));
      }
    });
    for (size_t index = 0; index < chunks.size(); ++index) CombineDot(results_[chunks[index].pair], partials[index]);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Float64Array out = Napi::Float64Array::New(env, results_.size() * kDotFields);
    for (size_t index = 0; index < results_.size(); ++index) {
      const DotPartial& sums = results_[index];
      double* row = out.Data() + index * kDotFields;
      row[0] = static_cast<double>(sums.elements);
      row[1] = sums.dot;
      row[2] = sums.squaresA;
      row[3] = sums.squaresB;
      row[4] = static_cast<double>(sums.nonFiniteA);
      row[5] = static_cast<double>(sums.nonFiniteB);
      row[6] = sampled_[index] ? 1 : 0;
    }
    return out;
  }

 private:
  AddonState& state_;
  std::vector<std::string> files_;
  std::vector<DotRequest> pairs_;
  unsigned threads_;
  uint64_t sampleEvery_;
  AbortFlag abort_;
  std::vector<DotPartial> results_;
  std::vector<bool> sampled_;
};

}  // namespace

Napi::Value TensorDotProducts(const Napi::CallbackInfo& info) {
  return StartPromise(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    AddonState& state = StateOf(env);
    Napi::Array fileArray = ReadArray(info[0], "files");
    Napi::Array pairArray = ReadArray(info[1], "pairs");
    Napi::Object options = ReadOptions(env, info[2]);

    std::vector<std::string> files;
    files.reserve(fileArray.Length());
    for (uint32_t index = 0; index < fileArray.Length(); ++index) {
      files.push_back(ReadPath(fileArray.Get(index), ("files[" + std::to_string(index) + "]").c_str()));
    }
    std::vector<DotRequest> pairs;
    pairs.reserve(pairArray.Length());
    for (uint32_t index = 0; index < pairArray.Length(); ++index) {
      Napi::Value item = pairArray.Get(index);
      if (!item.IsObject()) {
        throw NativeError(codes::kInvalidArgument, "pair " + std::to_string(index) + " must be an object")
            .WithRangeIndex(index);
      }
      Napi::Object object = item.As<Napi::Object>();
      DotRequest pair{};
      pair.a = ReadSide(object, "a", index, files.size());
      pair.b = ReadSide(object, "b", index, files.size());
      const uint64_t elementsA = pair.a.bytes / BlockBytes(pair.a.format) * BlockElements(pair.a.format);
      const uint64_t elementsB = pair.b.bytes / BlockBytes(pair.b.format) * BlockElements(pair.b.format);
      if (elementsA != elementsB) {
        throw NativeError(codes::kInvalidArgument, "pair " + std::to_string(index) + " has " +
                                                       std::to_string(elementsA) + " elements on side a and " +
                                                       std::to_string(elementsB) + " on side b")
            .WithRangeIndex(index);
      }
      pair.elements = elementsA;
      pairs.push_back(pair);
    }
    const unsigned threads = ReadThreads(options, state.defaultThreads);
    const uint64_t sampleEvery = ReadSampleBlocks(options);

    AbortFlag abort = AbortFlag::FromOptions(options);

    auto* worker = new TensorDotProductsWorker(env, state, std::move(files), std::move(pairs), threads, sampleEvery,
                                               std::move(abort));
    Napi::Value promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace dus
