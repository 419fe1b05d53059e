// Per-thread buffers that chunks of tensor data are read into with pread. Reading instead of
// mapping is what makes a file that shrinks under a running job an error (SOURCE_CHANGED from
// FileDescriptor::ReadExactly) rather than SIGBUS, which would kill the whole process (in the
// desktop app: the main process and the user's unsaved plan).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dus {

// Distinct buffers one thread may hold at once (a dot product reads side a and side b).
inline constexpr unsigned kReadBufferSlots = 2;

// A buffer of at least `bytes` owned by the calling thread, one per `slot` (< kReadBufferSlots),
// 64-byte aligned. Kept for the thread's life and grown on demand, so pool threads reuse warm pages
// from chunk to chunk instead of allocating (and faulting in) fresh megabytes for each.
uint8_t* ThreadReadBuffer(unsigned slot, size_t bytes);

}  // namespace dus
