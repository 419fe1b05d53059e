// The one error type of the addon's C++ side. It carries a machine code that
// electron/engine/native.ts maps to a StudioError code, plus the file and offset it concerns.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace dus {

// Codes understood by electron/engine/native.ts (keep both lists in step).
namespace codes {
inline constexpr const char* kInvalidArgument = "INVALID_ARGUMENT";
inline constexpr const char* kOutOfBounds = "OUT_OF_BOUNDS";
inline constexpr const char* kSourceChanged = "SOURCE_CHANGED";
// The caller raised the call's abort flag (abort-flag.h).
inline constexpr const char* kCancelled = "CANCELLED";
inline constexpr const char* kNotFound = "NOT_FOUND";
inline constexpr const char* kNotAFile = "NOT_A_FILE";
inline constexpr const char* kNoSpace = "NO_SPACE";
inline constexpr const char* kPermissionDenied = "PERMISSION_DENIED";
inline constexpr const char* kIoError = "IO_ERROR";
inline constexpr const char* kOutOfMemory = "OUT_OF_MEMORY";
inline constexpr const char* kInternal = "INTERNAL";
// A GGML tensor type the addon cannot dequantise (statistics not available for it).
inline constexpr const char* kUnsupportedType = "UNSUPPORTED_TYPE";
}  // namespace codes

class NativeError : public std::runtime_error {
 public:
  NativeError(std::string code, const std::string& message, std::string path = std::string())
      : std::runtime_error(message), code_(std::move(code)), path_(std::move(path)) {}

  const std::string& code() const { return code_; }
  const std::string& path() const { return path_; }

  // Byte offset the error is about, -1 when none.
  int64_t offset() const { return offset_; }
  // Index of the range in the caller's array, -1 when none.
  int64_t rangeIndex() const { return rangeIndex_; }
  // errno name (ENOENT, ENOSPC, ...) for system-call failures, empty otherwise.
  const std::string& errnoName() const { return errnoName_; }

  NativeError& WithOffset(uint64_t offset) {
    offset_ = static_cast<int64_t>(offset);
    return *this;
  }
  NativeError& WithRangeIndex(size_t index) {
    rangeIndex_ = static_cast<int64_t>(index);
    return *this;
  }
  NativeError& WithErrno(std::string name) {
    errnoName_ = std::move(name);
    return *this;
  }

 private:
  std::string code_;
  std::string path_;
  int64_t offset_ = -1;
  int64_t rangeIndex_ = -1;
  std::string errnoName_;
};

}  // namespace dus
