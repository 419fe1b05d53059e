// Copies byte ranges from one file into an existing file at given offsets, by one of three paths:
// the kernel's copy_file_range (no trip through user space; reflinks on btrfs/XFS), one pwrite from
// a populated read-only mapping of the source, or pread/pwrite through one reusable 1 MiB buffer.
// Which is fastest depends on the machine, the kernel and the file systems (measured 2.5x apart in
// both directions on two machines of the same kind), so the caller names the path it wants
// (electron/engine/copy-path-calibration.ts measures them on real work) and this file reports the
// time the copy took. A path the files do not allow (EXDEV, ENOSYS, EINVAL on the first call; a
// file system that cannot map) hands the rest of the call to the next one: kernel, mapping, buffer.
#include "copy-ranges.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include "arguments.h"
#include "file-io.h"
#include "promise-worker.h"

namespace dus {

namespace {

// 1 MiB: the buffer is allocated per call, and each fresh page costs a fault (70 ms for 4 MiB on a
// busy VM here), while one pread and one pwrite per MiB cost microseconds.
constexpr size_t kBufferBytes = 1 << 20;
// A mapped write maps at most this much of the source at a time, so resident memory stays bounded:
// the populated window counts in the process's RSS, and two copy calls run at once, so 64 MiB
// windows took an export's peak RSS from 79 to 190 MB. 16 MiB keeps it near 110 MB; a window is
// still thousands of pages, so the mmap and munmap per window stay small beside the copy.
constexpr uint64_t kMapWindow = 16 << 20;
// The kernel copies at most about 2 GiB per call anyway; asking for 1 GiB keeps every count in
// ssize_t on 32-bit systems too.
constexpr uint64_t kKernelCopyStep = 1 << 30;

#if defined(__linux__)
// The system call itself, not the libc wrapper: glibc before 2.27 and older musl lack the wrapper,
// and glibc 2.27–2.29 emulated it in user space where the kernel had none (ENOSYS is what the
// buffered fallback should see instead).
ssize_t KernelCopyFileRange(int in, loff_t* inOffset, int out, loff_t* outOffset, size_t length) {
#if defined(SYS_copy_file_range)
  return static_cast<ssize_t>(::syscall(SYS_copy_file_range, in, inOffset, out, outOffset, length, 0u));
#else
  (void)in;
  (void)inOffset;
  (void)out;
  (void)outOffset;
  (void)length;
  errno = ENOSYS;
  return -1;
#endif
}
#endif

// The paths in the order a refusal falls through them; the names are what JS passes and receives.
enum class CopyPath { kKernel = 0, kMapped = 1, kBuffer = 2 };
constexpr const char* kCopyPathNames[] = {"copy_file_range", "mapped-write", "read-write"};

CopyPath ReadCopyPath(const Napi::Object& options) {
  if (options.Get("forceFallback").ToBoolean().Value()) return CopyPath::kBuffer;
  Napi::Value value = options.Get("method");
  if (value.IsUndefined()) return CopyPath::kKernel;
  if (value.IsString()) {
    const std::string name = value.As<Napi::String>().Utf8Value();
    for (int path = 0; path < 3; ++path) {
      if (name == kCopyPathNames[path]) return static_cast<CopyPath>(path);
    }
  }
  throw NativeError(codes::kInvalidArgument, "options.method must be copy_file_range, mapped-write or read-write");
}

struct CopyRequest {
  uint64_t sourceOffset;
  uint64_t targetOffset;
  uint64_t length;
};

class CopyRangesWorker : public PromiseWorker {
 public:
  CopyRangesWorker(Napi::Env env, std::string source, std::string target, std::vector<CopyRequest> ranges,
                   CopyPath preferred)
      : PromiseWorker(env, "dus.copyRanges"),
        sourcePath_(std::move(source)),
        targetPath_(std::move(target)),
        ranges_(std::move(ranges)),
        useKernel_(KernelCopyAvailable() && preferred == CopyPath::kKernel),
        useMapping_(preferred != CopyPath::kBuffer) {}

 protected:
  void Run() override {
    FileDescriptor source(sourcePath_, O_RDONLY, "source");
    const uint64_t sourceSize = source.RegularFileSize();
    // The target must exist (the exporter creates and sizes it); it is never truncated here.
    FileDescriptor target(targetPath_, O_WRONLY, "target");
    target.RegularFileSize();
    constexpr uint64_t kMaxOffset = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
    for (size_t index = 0; index < ranges_.size(); ++index) {
      const CopyRequest& range = ranges_[index];
      uint64_t sourceEnd = 0;
      if (AddOverflows(range.sourceOffset, range.length, &sourceEnd) || sourceEnd > sourceSize) {
        throw NativeError(codes::kSourceChanged,
                          "the source range at offset " + std::to_string(range.sourceOffset) + " (" +
                              std::to_string(range.length) + " bytes) lies beyond the end of " + sourcePath_ + " (" +
                              std::to_string(sourceSize) + " bytes): the file changed since it was read",
                          sourcePath_)
            .WithOffset(range.sourceOffset)
            .WithRangeIndex(index);
      }
      uint64_t targetEnd = 0;
      if (AddOverflows(range.targetOffset, range.length, &targetEnd) || targetEnd > kMaxOffset) {
        throw NativeError(codes::kInvalidArgument,
                          "the target range at offset " + std::to_string(range.targetOffset) + " is too large",
                          targetPath_)
            .WithOffset(range.targetOffset)
            .WithRangeIndex(index);
      }
    }
    // Only the copying is timed: opening and checking cost every path the same.
    const auto started = std::chrono::steady_clock::now();
    for (const CopyRequest& range : ranges_) {
      uint64_t done = 0;
      if (useKernel_) {
        done = KernelCopy(source, target, range);
        bytesByPath_[static_cast<int>(CopyPath::kKernel)] += done;
      }
      if (done < range.length && useMapping_) {
        const uint64_t mapped =
            MappedCopy(source, target, range.sourceOffset + done, range.targetOffset + done, range.length - done);
        bytesByPath_[static_cast<int>(CopyPath::kMapped)] += mapped;
        done += mapped;
      }
      if (done < range.length) {
        BufferCopy(source, target, range.sourceOffset + done, range.targetOffset + done, range.length - done);
        bytesByPath_[static_cast<int>(CopyPath::kBuffer)] += range.length - done;
      }
      copied_ += range.length;
    }
    nanoseconds_ = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
    StartWriteback(target);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("bytes", Napi::Number::New(env, static_cast<double>(copied_)));
    // The last path in the fall-through order that carried any byte (the preferred one when the
    // call copied nothing): "read-write" means at least one byte went through the buffer.
    int last = useKernel_ ? 0 : useMapping_ ? 1 : 2;
    Napi::Object byPath = Napi::Object::New(env);
    for (int path = 0; path < 3; ++path) {
      byPath.Set(kCopyPathNames[path], Napi::Number::New(env, static_cast<double>(bytesByPath_[path])));
      if (bytesByPath_[path] > 0) last = path;
    }
    result.Set("method", Napi::String::New(env, kCopyPathNames[last]));
    result.Set("bytesByMethod", byPath);
    result.Set("nanoseconds", Napi::Number::New(env, static_cast<double>(nanoseconds_)));
    return result;
  }

 private:
  static constexpr bool KernelCopyAvailable() {
#if defined(__linux__)
    return true;
#else
    return false;
#endif
  }

  // Asks the kernel to start writing the bytes just copied to disk, without waiting. Left alone,
  // it starts only when dirty pages pass a share of memory (gigabytes) or after 30 s, so for an
  // export smaller than that every byte would wait for the shard's final fsync: copy time plus
  // disk time, as `cp` + `sync` takes. Started per call, the disk writes while the next ranges are
  // copied, and the fsync waits only for the tail. Advice only: the exporter's fsync still decides
  // durability and reports errors, so a failure here is ignored. Not timed: it costs every path alike.
  void StartWriteback(const FileDescriptor& target) const {
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
    uint64_t first = std::numeric_limits<uint64_t>::max();
    uint64_t end = 0;
    for (const CopyRequest& range : ranges_) {
      if (range.length == 0) continue;
      first = std::min(first, range.targetOffset);
      end = std::max(end, range.targetOffset + range.length);
    }
    if (end > first) {
      ::sync_file_range(target.get(), static_cast<off_t>(first), static_cast<off_t>(end - first), SYNC_FILE_RANGE_WRITE);
    }
#else
    (void)target;
#endif
  }

  // Copies as much of `range` as copy_file_range will; returns the bytes done. When the kernel
  // cannot copy between these files, switches this call to the buffer for good.
  uint64_t KernelCopy(const FileDescriptor& source, const FileDescriptor& target, const CopyRequest& range) {
#if defined(__linux__)
    loff_t in = static_cast<loff_t>(range.sourceOffset);
    loff_t out = static_cast<loff_t>(range.targetOffset);
    uint64_t done = 0;
    while (done < range.length) {
      const size_t step = static_cast<size_t>(std::min(range.length - done, kKernelCopyStep));
      const ssize_t copied = KernelCopyFileRange(source.get(), &in, target.get(), &out, step);
      if (copied > 0) {
        done += static_cast<uint64_t>(copied);
        kernelCopied_ = true;
        continue;
      }
      if (copied == 0) {
        // End of the source: it shrank, or the file system reports 0 instead of an error (some
        // pseudo and network file systems do). The buffer copy tells the two apart.
        useKernel_ = false;
        return done;
      }
      const int error = errno;
      if (error == EINTR) continue;
      const bool unsupported = error == EXDEV || error == ENOSYS || error == EOPNOTSUPP
#if defined(ENOTSUP) && ENOTSUP != EOPNOTSUPP
                               || error == ENOTSUP
#endif
          ;
      // EINVAL/EBADF on the very first call mean "not for these files" (special files, O_APPEND,
      // an old kernel); after a successful copy they are real errors.
      if (unsupported || (!kernelCopied_ && (error == EINVAL || error == EBADF))) {
        useKernel_ = false;
        return done;
      }
      throw ErrnoError(error, "cannot copy from " + sourcePath_ + " into", targetPath_)
          .WithOffset(static_cast<uint64_t>(out));
    }
    return done;
#else
    (void)source;
    (void)target;
    (void)range;
    useKernel_ = false;
    return 0;
#endif
  }

  // pwrite straight from a populated read-only mapping of the source, one window at a time;
  // returns the bytes done. A file system that cannot map switches this call to the buffer.
  uint64_t MappedCopy(const FileDescriptor& source, const FileDescriptor& target, uint64_t sourceOffset,
                      uint64_t targetOffset, uint64_t length) {
    uint64_t done = 0;
    while (done < length) {
      const uint64_t step = std::min(length - done, kMapWindow);
      try {
        MappedRegion region(source, sourceOffset + done, step, MappedRegion::Access::kPopulate);
        WriteFromMapping(target, region, targetOffset + done);
      } catch (const NativeError& error) {
        if (error.errnoName() == ErrnoName(ENODEV) || error.errnoName() == ErrnoName(EACCES) || error.errnoName() == ErrnoName(EINVAL)) {
          useMapping_ = false;  // mmap is not possible for this file: the buffer copy takes over
          return done;
        }
        throw;
      }
      done += step;
    }
    return done;
  }

  // A source truncated while mapped makes the kernel's copy from the mapping fail with EFAULT (in
  // kernel mode: no SIGBUS): that is the source changing under the export.
  void WriteFromMapping(const FileDescriptor& target, const MappedRegion& region, uint64_t targetOffset) {
    try {
      target.WriteExactly(region.data(), static_cast<size_t>(region.length()), targetOffset);
    } catch (const NativeError& error) {
      if (error.errnoName() != ErrnoName(EFAULT)) throw;
      throw NativeError(codes::kSourceChanged, sourcePath_ + " shrank while it was copied: the file changed since it was read",
                        sourcePath_);
    }
  }

  void BufferCopy(const FileDescriptor& source, const FileDescriptor& target, uint64_t sourceOffset,
                  uint64_t targetOffset, uint64_t length) {
    if (buffer_.empty()) buffer_.resize(kBufferBytes);
    while (length > 0) {
      const size_t step = static_cast<size_t>(std::min<uint64_t>(length, buffer_.size()));
      source.ReadExactly(buffer_.data(), step, sourceOffset);
      target.WriteExactly(buffer_.data(), step, targetOffset);
      sourceOffset += step;
      targetOffset += step;
      length -= step;
    }
  }

  std::string sourcePath_;
  std::string targetPath_;
  std::vector<CopyRequest> ranges_;
  bool useKernel_;
  bool kernelCopied_ = false;
  bool useMapping_;
  std::vector<uint8_t> buffer_;
  uint64_t copied_ = 0;
  uint64_t bytesByPath_[3] = {0, 0, 0};
  uint64_t nanoseconds_ = 0;
};

}  // namespace

Napi::Value CopyRanges(const Napi::CallbackInfo& info) {
  return StartPromise(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    std::string source = ReadPath(info[0], "source");
    std::string target = ReadPath(info[1], "target");
    Napi::Array array = ReadArray(info[2], "ranges");
    Napi::Object options = ReadOptions(env, info[3]);
    std::vector<CopyRequest> ranges;
    ranges.reserve(array.Length());
    for (uint32_t index = 0; index < array.Length(); ++index) {
      Napi::Value item = array.Get(index);
      if (!item.IsObject()) {
        throw NativeError(codes::kInvalidArgument, "range " + std::to_string(index) + " must be an object")
            .WithRangeIndex(index);
      }
      Napi::Object object = item.As<Napi::Object>();
      ranges.push_back({ReadIntegerField(object, "sourceOffset", index), ReadIntegerField(object, "targetOffset", index),
                        ReadIntegerField(object, "length", index)});
    }
    auto* worker = new CopyRangesWorker(env, std::move(source), std::move(target), std::move(ranges), ReadCopyPath(options));
    Napi::Value promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace dus
