#include "file-io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace dus {

std::string ErrnoName(int error) {
  switch (error) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EROFS: return "EROFS";
    case ENOSPC: return "ENOSPC";
#ifdef EDQUOT
    case EDQUOT: return "EDQUOT";
#endif
    case EIO: return "EIO";
    case EISDIR: return "EISDIR";
    case ENOTDIR: return "ENOTDIR";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case EFBIG: return "EFBIG";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EXDEV: return "EXDEV";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
#if defined(ENOTSUP) && ENOTSUP != EOPNOTSUPP
    case ENOTSUP: return "ENOTSUP";
#endif
    case ESPIPE: return "ESPIPE";
    case ETXTBSY: return "ETXTBSY";
    case EOVERFLOW: return "EOVERFLOW";
    default: return "errno " + std::to_string(error);
  }
}

NativeError ErrnoError(int error, const std::string& what, const std::string& path) {
  const char* code = codes::kIoError;
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      code = codes::kNotFound;
      break;
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
    case EFBIG:
      code = codes::kNoSpace;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = codes::kPermissionDenied;
      break;
    case ENOMEM:
      code = codes::kOutOfMemory;
      break;
    default:
      break;
  }
  NativeError result(code, what + " " + path + ": " + std::strerror(error), path);
  result.WithErrno(ErrnoName(error));
  return result;
}

FileDescriptor::FileDescriptor(const std::string& path, int flags, const char* role) : path_(path) {
  do {
    fd_ = ::open(path.c_str(), flags | O_CLOEXEC);
  } while (fd_ < 0 && errno == EINTR);
  if (fd_ < 0) throw ErrnoError(errno, std::string("cannot open ") + role, path);
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

FileDescriptor::FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

uint64_t FileDescriptor::RegularFileSize() const {
  struct stat info;
  if (::fstat(fd_, &info) != 0) throw ErrnoError(errno, "cannot stat", path_);
  if (!S_ISREG(info.st_mode)) {
    throw NativeError(codes::kNotAFile, path_ + " is not a regular file", path_);
  }
  return static_cast<uint64_t>(info.st_size);
}

void FileDescriptor::ReadExactly(void* buffer, size_t length, uint64_t offset) const {
  auto* bytes = static_cast<uint8_t*>(buffer);
  while (length > 0) {
    const ssize_t got = ::pread(fd_, bytes, length, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw ErrnoError(errno, "cannot read", path_).WithOffset(offset);
    }
    if (got == 0) {
      throw NativeError(codes::kSourceChanged,
                        path_ + " ended at byte " + std::to_string(offset) +
                            ", before the range being read: the file changed since it was opened",
                        path_)
          .WithOffset(offset);
    }
    bytes += got;
    length -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

void FileDescriptor::WriteExactly(const void* buffer, size_t length, uint64_t offset) const {
  const auto* bytes = static_cast<const uint8_t*>(buffer);
  while (length > 0) {
    const ssize_t put = ::pwrite(fd_, bytes, length, static_cast<off_t>(offset));
    if (put < 0) {
      if (errno == EINTR) continue;
      throw ErrnoError(errno, "cannot write", path_).WithOffset(offset);
    }
    if (put == 0) throw ErrnoError(EIO, "cannot write", path_).WithOffset(offset);
    bytes += put;
    length -= static_cast<size_t>(put);
    offset += static_cast<uint64_t>(put);
  }
}

uint64_t PageSize() {
  const long size = ::sysconf(_SC_PAGESIZE);
  return size > 0 ? static_cast<uint64_t>(size) : 4096;
}

MappedRegion::MappedRegion(const FileDescriptor& file, uint64_t offset, uint64_t length, Access access)
    : length_(length) {
  if (length == 0) return;
  const uint64_t page = PageSize();
  const uint64_t start = offset - offset % page;
  const uint64_t lead = offset - start;
  if (length > std::numeric_limits<size_t>::max() - lead ||
      start > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) {
    throw NativeError(codes::kOutOfMemory, "cannot map " + file.path() + ": the range is larger than the address space",
                      file.path());
  }
  mappedLength_ = static_cast<size_t>(lead + length);
  int flags = MAP_SHARED;
#if defined(MAP_POPULATE)
  if (access == Access::kPopulate) flags |= MAP_POPULATE;
#endif
  base_ = ::mmap(nullptr, mappedLength_, PROT_READ, flags, file.get(), static_cast<off_t>(start));
  if (base_ == MAP_FAILED) {
    base_ = nullptr;
    throw ErrnoError(errno, "cannot map", file.path()).WithOffset(offset);
  }
  data_ = static_cast<const uint8_t*>(base_) + lead;
  // Advice only: a failure changes speed, never results. SEQUENTIAL and WILLNEED are separate
  // advice values (not flags), hence two calls; a sampled read touches a fraction of the pages, so
  // it asks for read-ahead per sampled block instead (Prefetch).
  if (access == Access::kSequential) {
    ::madvise(base_, mappedLength_, MADV_SEQUENTIAL);
    ::madvise(base_, mappedLength_, MADV_WILLNEED);
  } else if (access == Access::kSampled) {
    ::madvise(base_, mappedLength_, MADV_RANDOM);
  }
}

MappedRegion::~MappedRegion() {
  if (base_ != nullptr) ::munmap(base_, mappedLength_);
}

void MappedRegion::Prefetch(uint64_t offset, uint64_t length) const {
  if (base_ == nullptr || length == 0) return;
  const uint64_t page = PageSize();
  const uintptr_t address = reinterpret_cast<uintptr_t>(data_) + offset;
  const uintptr_t aligned = address - address % page;
  ::madvise(reinterpret_cast<void*>(aligned), static_cast<size_t>(length + (address - aligned)), MADV_WILLNEED);
}

}  // namespace dus
