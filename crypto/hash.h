// One-shot hashes over one or more byte spans: SHA-1, SHA-256, MD5, HMAC-SHA256.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>

#include "core/bytes.h"

namespace mtp {

using Sha256Digest = std::array<uint8_t, 32>;
using Sha1Digest = std::array<uint8_t, 20>;
using Md5Digest = std::array<uint8_t, 16>;

// Each function hashes the concatenation of `parts`.
Sha256Digest Sha256(std::initializer_list<ByteSpan> parts);
Sha1Digest Sha1(std::initializer_list<ByteSpan> parts);
Md5Digest Md5(std::initializer_list<ByteSpan> parts);
Sha256Digest HmacSha256(ByteSpan key, std::initializer_list<ByteSpan> parts);

inline Sha256Digest Sha256(ByteSpan data) { return Sha256({data}); }
inline Sha1Digest Sha1(ByteSpan data) { return Sha1({data}); }
inline Md5Digest Md5(ByteSpan data) { return Md5({data}); }

}  // namespace mtp
