// Hex encoding/decoding for secrets, tags, logs and test vectors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"

namespace mtp {

// Lower-case hex of `data`.
std::string HexEncode(ByteSpan data);

// Decodes hex (case-insensitive). Whitespace is skipped so multi-line test vectors can be
// pasted verbatim. Returns nullopt on any other character or an odd digit count.
std::optional<std::vector<uint8_t>> HexDecode(std::string_view hex);

}  // namespace mtp
