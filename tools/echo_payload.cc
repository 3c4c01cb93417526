// Deterministic payload generation and verification for the echo peers.
#include "tools/echo_payload.h"

#include <cstring>

#include "crypto/crc32.h"
#include "crypto/random.h"

namespace mtp::tools {
namespace {

constexpr uint32_t kReqPqMultiConstructor = 0xbe7e8ef1;

// splitmix64: a counter-mode generator, so any 8-byte word of the payload is computable alone.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The 16-byte header and the keystream word at byte offset `off` (multiple of 8, >= 16).
inline uint64_t BodyWord(uint64_t key, size_t off) { return Mix(key + off); }

inline uint64_t StreamKey(uint64_t stream_seed, uint64_t seq) {
  return Mix(stream_seed ^ Mix(seq));
}

void FillHeader(uint64_t auth_key_id, uint64_t seq, uint32_t size, uint8_t* out) {
  StoreLe64(out, auth_key_id);
  StoreLe64(out + 8, seq);
  StoreLe32(out + 16, size);
}

}  // namespace

uint64_t RandomAuthKeyId() {
  uint64_t id = 0;
  do {
    SecureRandom(MutableByteSpan(reinterpret_cast<uint8_t*>(&id), sizeof(id)));
  } while (id == 0 || static_cast<uint32_t>(id) == kRpcPingConstructor);
  return id;
}

void FillPayload(uint64_t auth_key_id, uint64_t stream_seed, uint64_t seq,
                 MutableByteSpan out) {
  const size_t n = out.size();
  if (n < 20) {
    // Too short for the header; still deterministic.
    uint8_t tmp[20];
    FillHeader(auth_key_id, seq, static_cast<uint32_t>(n), tmp);
    std::memcpy(out.data(), tmp, n);
    return;
  }
  FillHeader(auth_key_id, seq, static_cast<uint32_t>(n), out.data());
  const uint64_t key = StreamKey(stream_seed, seq);
  size_t off = 20;
  // Bytes 20..24 complete the first 8-byte-aligned word.
  uint64_t w = BodyWord(key, 16);
  std::memcpy(out.data() + 20, reinterpret_cast<uint8_t*>(&w) + 4, n >= 24 ? 4 : n - 20);
  off = 24;
  for (; off + 8 <= n; off += 8) {
    uint64_t v = BodyWord(key, off);
    std::memcpy(out.data() + off, &v, 8);
  }
  if (off < n) {
    uint64_t v = BodyWord(key, off);
    std::memcpy(out.data() + off, &v, n - off);
  }
}

bool VerifyPayload(uint64_t auth_key_id, uint64_t stream_seed, uint64_t seq,
                   size_t expected_size, ByteSpan got, size_t* first_bad_offset) {
  auto fail = [&](size_t at) {
    if (first_bad_offset != nullptr) *first_bad_offset = at;
    return false;
  };
  if (got.size() != expected_size) return fail(expected_size);
  // Compare in 256-byte chunks regenerated on the stack.
  uint8_t chunk[256 + 24];
  const size_t n = got.size();
  if (n < 24) {
    uint8_t all[24];
    FillPayload(auth_key_id, stream_seed, seq, MutableByteSpan(all, n));
    for (size_t i = 0; i < n; ++i) {
      if (all[i] != got[i]) return fail(i);
    }
    return true;
  }
  FillPayload(auth_key_id, stream_seed, seq, MutableByteSpan(chunk, 24));
  // The header encodes the full size, which the 24-byte prefix fill cannot know: patch it.
  StoreLe32(chunk + 16, static_cast<uint32_t>(n));
  if (std::memcmp(chunk, got.data(), 24) != 0) {
    for (size_t i = 0; i < 24; ++i) {
      if (chunk[i] != got[i]) return fail(i);
    }
  }
  const uint64_t key = StreamKey(stream_seed, seq);
  for (size_t off = 24; off < n; off += 256) {
    size_t len = n - off < 256 ? n - off : 256;
    for (size_t w = 0; w < len; w += 8) {
      uint64_t v = BodyWord(key, off + w);
      std::memcpy(chunk + w, &v, 8);
    }
    if (std::memcmp(chunk, got.data() + off, len) != 0) {
      for (size_t i = 0; i < len; ++i) {
        if (chunk[i] != got[off + i]) return fail(off + i);
      }
    }
  }
  return true;
}

bool PeekPayloadHeader(ByteSpan payload, uint64_t* auth_key_id, uint64_t* seq, uint32_t* size) {
  if (payload.size() < 20) return false;
  *auth_key_id = LoadLe64(payload.data());
  *seq = LoadLe64(payload.data() + 8);
  *size = LoadLe32(payload.data() + 16);
  return true;
}

std::array<uint8_t, kReqPqMultiBytes> BuildReqPqMulti(uint64_t msg_id,
                                                      std::span<const uint8_t, 16> nonce) {
  std::array<uint8_t, kReqPqMultiBytes> out{};
  StoreLe64(out.data(), 0);
  StoreLe64(out.data() + 8, msg_id);
  StoreLe32(out.data() + 16, 20);
  StoreLe32(out.data() + 20, kReqPqMultiConstructor);
  std::memcpy(out.data() + 24, nonce.data(), 16);
  return out;
}

uint32_t EchoQuickAckToken(ByteSpan payload) { return Crc32c(payload) | 0x80000000u; }

}  // namespace mtp::tools
