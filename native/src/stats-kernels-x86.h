// x86-64 vector variants of the statistics kernels, compiled with per-function target attributes
// (the addon itself is built for baseline x86-64) and chosen at run time by stats-kernels.cc.
// Elsewhere the functions exist but are never called: the CPU checks answer false.
#pragma once

#include <cstddef>
#include <cstdint>

#include "stats-kernels.h"

namespace dus {

// Whether this CPU (and the operating system, which must save the wider registers) runs the
// AVX2 + FMA + F16C kernel, and the AVX-512 (F, BW, DQ, VL) kernel.
bool CpuRunsAvx2();
bool CpuRunsAvx512();

// AccumulateChunk's contract, on 256-bit and on 512-bit vectors.
StatsPartial AccumulateChunkAvx2(StatsDtype dtype, const uint8_t* data, size_t bytes);
StatsPartial AccumulateChunkAvx512(StatsDtype dtype, const uint8_t* data, size_t bytes);

}  // namespace dus
