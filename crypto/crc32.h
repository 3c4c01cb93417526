// CRC-32 (IEEE, reflected 0xEDB88320) and CRC-32C (Castagnoli, reflected 0x82F63B78), both
// with init/final XOR 0xFFFFFFFF, as used by the ME TCP-RPC framing. Incremental form: pass the
// previous result as `crc` to continue over a split buffer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/bytes.h"

namespace mtp {

uint32_t Crc32(ByteSpan data, uint32_t crc = 0);
uint32_t Crc32c(ByteSpan data, uint32_t crc = 0);

// Inputs this long and longer take the carry-less multiply folding path, where the CPU has
// VPCLMULQDQ and AVX-512; shorter ones the SSE4.2 crc32 instruction (CRC-32C, which is as fast
// as folding up to about 128 bytes) or the tables (CRC-32).
inline constexpr size_t kCrc32cFoldMinBytes = 128;
inline constexpr size_t kCrc32FoldMinBytes = 64;
// True if long inputs take the folding path on this CPU (and it is not disabled).
bool CrcUsesFold();
// Tests and benchmarks only: true keeps both CRCs off the folding path.
void SetCrcFoldDisabledForTesting(bool disabled);

}  // namespace mtp
