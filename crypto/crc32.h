// CRC-32 (IEEE, reflected 0xEDB88320) and CRC-32C (Castagnoli, reflected 0x82F63B78), both
// with init/final XOR 0xFFFFFFFF, as used by the ME TCP-RPC framing. Incremental form: pass the
// previous result as `crc` to continue over a split buffer.
#pragma once

#include <cstdint>

#include "core/bytes.h"

namespace mtp {

uint32_t Crc32(ByteSpan data, uint32_t crc = 0);
uint32_t Crc32c(ByteSpan data, uint32_t crc = 0);

}  // namespace mtp
