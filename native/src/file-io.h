// POSIX file access shared by the workers: an owning descriptor, a read-only mapping, full
// pread/pwrite loops, and errno → NativeError mapping. Runs on worker threads only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "native-error.h"

namespace dus {

// Name of an errno value (ENOENT, ...), or "errno <n>" for one this table lacks.
std::string ErrnoName(int error);

// NativeError for a failed system call: ENOENT → NOT_FOUND, ENOSPC/EDQUOT → NO_SPACE,
// EACCES/EPERM/EROFS → PERMISSION_DENIED, others → IO_ERROR. The message reads
// "<what> <path>: <strerror>".
NativeError ErrnoError(int error, const std::string& what, const std::string& path);

class FileDescriptor {
 public:
  FileDescriptor() = default;
  // Opens `path` with `flags` (O_CLOEXEC is added) or throws ErrnoError naming `role` ("source", ...).
  FileDescriptor(const std::string& path, int flags, const char* role);
  ~FileDescriptor();
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  FileDescriptor(FileDescriptor&& other) noexcept;
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;

  int get() const { return fd_; }
  const std::string& path() const { return path_; }

  // Size from fstat; throws NOT_A_FILE for anything but a regular file.
  uint64_t RegularFileSize() const;

  // Reads exactly `length` bytes at `offset`; a short file throws SOURCE_CHANGED (it shrank
  // after its size was checked).
  void ReadExactly(void* buffer, size_t length, uint64_t offset) const;
  // Writes all of `length` bytes at `offset`.
  void WriteExactly(const void* buffer, size_t length, uint64_t offset) const;

 private:
  int fd_ = -1;
  std::string path_;
};

// A read-only view of [offset, offset + length) of a file. The mapping starts at the page below
// `offset`; data() points at `offset` itself. A zero length maps nothing.
class MappedRegion {
 public:
  // kPopulate maps every page up front (MAP_POPULATE on Linux): one pass over the page tables
  // instead of a fault per page, for a region that is read whole at once.
  enum class Access { kSequential, kSampled, kPopulate };

  MappedRegion(const FileDescriptor& file, uint64_t offset, uint64_t length, Access access);
  ~MappedRegion();
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t length() const { return length_; }

  // Asks the kernel to read [offset, offset + length) of the region ahead (sampled access).
  void Prefetch(uint64_t offset, uint64_t length) const;

 private:
  void* base_ = nullptr;
  size_t mappedLength_ = 0;
  const uint8_t* data_ = nullptr;
  uint64_t length_ = 0;
};

// The virtual-memory page size.
uint64_t PageSize();

// Adds two sizes, or reports overflow (true) without wrapping.
inline bool AddOverflows(uint64_t a, uint64_t b, uint64_t* sum) {
  if (a > UINT64_MAX - b) return true;
  *sum = a + b;
  return false;
}

}  // namespace dus
