// Byte-equality of ranges in two files, for verifying an export against its sources. Streams
// through two fixed 1 MiB buffers (pread, not a mapping: a file shrinking under a mapping raises
// SIGBUS, under pread it is an error), so memory stays bounded whatever the range sizes.
#include "compare-ranges.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "arguments.h"
#include "file-io.h"
#include "promise-worker.h"

namespace dus {

namespace {

constexpr size_t kBlockBytes = 1 << 20;

struct CompareRequest {
  uint64_t aOffset;
  uint64_t bOffset;
  uint64_t length;
};

void CheckInside(const std::string& path, uint64_t size, uint64_t offset, uint64_t length, size_t index) {
  uint64_t end = 0;
  if (AddOverflows(offset, length, &end) || end > size) {
    throw NativeError(codes::kOutOfBounds,
                      "range " + std::to_string(index) + " (offset " + std::to_string(offset) + ", " +
                          std::to_string(length) + " bytes) lies beyond the end of " + path + " (" +
                          std::to_string(size) + " bytes)",
                      path)
        .WithOffset(offset)
        .WithRangeIndex(index);
  }
}

class CompareRangesWorker : public PromiseWorker {
 public:
  CompareRangesWorker(Napi::Env env, std::string fileA, std::string fileB, std::vector<CompareRequest> ranges)
      : PromiseWorker(env, "dus.compareRanges"),
        pathA_(std::move(fileA)),
        pathB_(std::move(fileB)),
        ranges_(std::move(ranges)) {}

 protected:
  void Run() override {
    FileDescriptor a(pathA_, O_RDONLY, "file");
    FileDescriptor b(pathB_, O_RDONLY, "file");
    const uint64_t sizeA = a.RegularFileSize();
    const uint64_t sizeB = b.RegularFileSize();
    uint64_t longest = 0;
    for (size_t index = 0; index < ranges_.size(); ++index) {
      const CompareRequest& range = ranges_[index];
      CheckInside(pathA_, sizeA, range.aOffset, range.length, index);
      CheckInside(pathB_, sizeB, range.bOffset, range.length, index);
      longest = std::max(longest, range.length);
    }
    const size_t blockBytes = static_cast<size_t>(std::min<uint64_t>(longest, kBlockBytes));
    std::vector<uint8_t> bufferA(blockBytes);
    std::vector<uint8_t> bufferB(blockBytes);
    for (size_t index = 0; index < ranges_.size(); ++index) {
      const CompareRequest& range = ranges_[index];
      for (uint64_t done = 0; done < range.length;) {
        const size_t step = static_cast<size_t>(std::min<uint64_t>(range.length - done, blockBytes));
        a.ReadExactly(bufferA.data(), step, range.aOffset + done);
        b.ReadExactly(bufferB.data(), step, range.bOffset + done);
        if (std::memcmp(bufferA.data(), bufferB.data(), step) != 0) {
          differing_.push_back(index);
          break;
        }
        done += step;
      }
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array result = Napi::Array::New(env, differing_.size());
    for (size_t position = 0; position < differing_.size(); ++position) {
      result.Set(static_cast<uint32_t>(position), Napi::Number::New(env, static_cast<double>(differing_[position])));
    }
    return result;
  }

 private:
  std::string pathA_;
  std::string pathB_;
  std::vector<CompareRequest> ranges_;
  std::vector<size_t> differing_;
};

}  // namespace

Napi::Value CompareRanges(const Napi::CallbackInfo& info) {
  return StartPromise(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    std::string fileA = ReadPath(info[0], "fileA");
    std::string fileB = ReadPath(info[1], "fileB");
    Napi::Array array = ReadArray(info[2], "ranges");
    std::vector<CompareRequest> ranges;
    ranges.reserve(array.Length());
    for (uint32_t index = 0; index < array.Length(); ++index) {
      Napi::Value item = array.Get(index);
      if (!item.IsObject()) {
        throw NativeError(codes::kInvalidArgument, "range " + std::to_string(index) + " must be an object")
            .WithRangeIndex(index);
      }
      Napi::Object object = item.As<Napi::Object>();
      ranges.push_back({ReadIntegerField(object, "aOffset", index), ReadIntegerField(object, "bOffset", index),
                        ReadIntegerField(object, "length", index)});
    }
    auto* worker = new CompareRangesWorker(env, std::move(fileA), std::move(fileB), std::move(ranges));
    Napi::Value promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace dus
