#include "dot-kernels.h"

namespace dus {

namespace {

// As in the statistics kernels: element i always lands in lane i % kLanes and lanes are summed in
// lane order, so the compiler can vectorise without reordering any one sum.
constexpr size_t kLanes = 8;
// A multiple of every GGML block (32 or 256 elements), so each decode covers whole blocks.
constexpr size_t kBlock = 1024;
static_assert(kBlock % kLanes == 0, "blocks hold whole lane rows");
static_assert(kBlock % 256 == 0, "decodes cover whole GGML blocks");

}  // namespace

DotPartial AccumulateDot(const TensorFormat& formatA, const uint8_t* a, const TensorFormat& formatB, const uint8_t* b,
                         size_t count) {
  alignas(64) float valuesA[kBlock];
  alignas(64) float valuesB[kBlock];
  double dot[kLanes] = {};
  double squaresA[kLanes] = {};
  double squaresB[kLanes] = {};
  DotPartial result;
  // Decode a block of each side to floats, then widen to f64 and accumulate.
  for (size_t start = 0; start < count; start += kBlock) {
    const size_t length = count - start < kBlock ? count - start : kBlock;
    result.nonFiniteA += DecodeFormat(formatA, a + BytesOfElements(formatA, start), length, valuesA);
    result.nonFiniteB += DecodeFormat(formatB, b + BytesOfElements(formatB, start), length, valuesB);
    // Zeros complete the last row; they change no sum.
    const size_t rows = (length + kLanes - 1) / kLanes * kLanes;
    for (size_t index = length; index < rows; ++index) {
      valuesA[index] = 0;
      valuesB[index] = 0;
    }
    for (size_t row = 0; row < rows; row += kLanes) {
      for (size_t lane = 0; lane < kLanes; ++lane) {
        const double x = valuesA[row + lane];
        const double y = valuesB[row + lane];
        dot[lane] += x * y;
        squaresA[lane] += x * x;
        squaresB[lane] += y * y;
      }
    }
  }
  result.elements = count;
  for (size_t lane = 0; lane < kLanes; ++lane) {
    result.dot += dot[lane];
    result.squaresA += squaresA[lane];
    result.squaresB += squaresB[lane];
  }
  return result;
}

void CombineDot(DotPartial& into, const DotPartial& next) {
  into.elements += next.elements;
  into.nonFiniteA += next.nonFiniteA;
  into.nonFiniteB += next.nonFiniteB;
  into.dot += next.dot;
  into.squaresA += next.squaresA;
  into.squaresB += next.squaresB;
}

}  // namespace dus
