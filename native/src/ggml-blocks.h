// GGML's quantised block types (the tensors of GGUF files) for statistics and dot products: block
// sizes, dequantisation of whole blocks to f32, and per-chunk statistics of the dequantised values.
// Pure functions, no I/O. Layouts follow ggml's block structs (ggml-common.h) and gguf-py's
// dequantisation (quants.py); every product and difference is rounded to f32 in the same order as
// gguf-py does it, so the values here equal gguf.quants.dequantize bit for bit.
//
// The statistics and dot-product workers see a tensor as a TensorFormat: a float dtype (one element
// per "block") or a GGML block type. They cut work at whole blocks (WholeBlockBytes) and call
// AccumulateFormat / DecodeFormat; nothing else in them depends on the format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "stats-kernels.h"

namespace dus {

enum class GgmlBlockType { kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ8_0, kQ2_K, kQ3_K, kQ4_K, kQ5_K, kQ6_K, kIQ4_NL, kIQ4_XS };

struct TensorFormat {
  bool blocked = false;
  StatsDtype dtype = StatsDtype::kF32;       // when !blocked
  GgmlBlockType block = GgmlBlockType::kQ4_0;  // when blocked
};

// The float dtypes ParseStatsDtype knows, plus the GGML block types by gguf-py's names ("Q4_K",
// "IQ4_XS", ...). False for anything else.
bool ParseTensorFormat(const std::string& name, TensorFormat* format);
// Whether `name` is a GGML block type that has no statistics here (IQ2_XXS, TQ1_0, MXFP4, ...): the
// caller then says "statistics not available for NAME" instead of "unknown dtype".
bool IsOtherGgmlType(const std::string& name);

// Bytes and elements of one block (1 element for the float dtypes).
uint64_t BlockBytes(const TensorFormat& format);
uint64_t BlockElements(const TensorFormat& format);
// The largest whole number of blocks that fits in `target` bytes, in bytes (at least one block):
// work units must never split a block.
uint64_t WholeBlockBytes(const TensorFormat& format, uint64_t target);
// Bytes taken by `elements` elements (a whole number of blocks).
inline uint64_t BytesOfElements(const TensorFormat& format, uint64_t elements) {
  return elements / BlockElements(format) * BlockBytes(format);
}

// Dequantises `blocks` whole blocks at `data` into `blocks × elements-per-block` floats at `out`,
// NaN and ±Inf kept (a non-finite block scale gives non-finite values).
void DequantiseBlocks(GgmlBlockType type, const uint8_t* data, size_t blocks, float* out);

// Statistics of `bytes` bytes (a whole number of blocks) at `data`; for the float dtypes exactly
// AccumulateChunk. Q4_K and Q6_K blocks with finite scales are summed from integer sums of their
// codes (AVX2 when `kernel` is a vector one): the sums of the exact values a·s − b, max |x| exact.
// Other blocks are dequantised into a small buffer and summed by the F32 kernel `kernel`. Always
// in a fixed order, so the figures depend only on where the chunk starts.
StatsPartial AccumulateFormat(const TensorFormat& format, const uint8_t* data, size_t bytes, StatsKernel kernel);

// DecodeFloats' contract for any format: `count` elements (a whole number of blocks) at `data` to
// floats, NaN and ±Inf written as 0 and counted.
uint64_t DecodeFormat(const TensorFormat& format, const uint8_t* data, size_t count, float* out);

}  // namespace dus
