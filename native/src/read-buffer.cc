#include "read-buffer.h"

#include <cstdlib>
#include <memory>
#include <new>

namespace dus {

namespace {

constexpr size_t kAlignment = 64;

struct FreeDeleter {
  void operator()(uint8_t* memory) const { std::free(memory); }
};

struct ReadBuffer {
  std::unique_ptr<uint8_t, FreeDeleter> memory;
  size_t capacity = 0;
};

}  // namespace

uint8_t* ThreadReadBuffer(unsigned slot, size_t bytes) {
  thread_local ReadBuffer buffers[kReadBufferSlots];
  ReadBuffer& buffer = buffers[slot];
  if (buffer.capacity < bytes) {
    // A whole multiple of the alignment (as aligned_alloc requires), never zero.
    const size_t capacity = (bytes / kAlignment + 1) * kAlignment;
    auto* memory = static_cast<uint8_t*>(std::aligned_alloc(kAlignment, capacity));
    if (memory == nullptr) throw std::bad_alloc();
    buffer.memory.reset(memory);
    buffer.capacity = capacity;
  }
  return buffer.memory.get();
}

}  // namespace dus
