// ext_conn_id values: the 64-bit id of one client connection on the proxy <-> ME link
// (middle-end-rpc.md §8.1). Ours encodes the owning shard and the client session's slot and
// generation, so an incoming RPC_PROXY_ANS finds its session in O(1) with no table, and an id
// is not reused until its slot has been recycled 2^24 times.
#pragma once

#include <cstdint>

#include "dataplane/op_tag.h"

namespace mtp {

inline constexpr uint32_t kMaxShards = 127;

struct ExtConnIdParts {
  uint32_t shard = 0;
  uint32_t generation = 0;
  uint32_t slot = 0;
};

// Layout (bit 63 always 0 so the id is positive as an int64):
//   [62..56] shard + 1 (never 0, so no id is 0) | [55..32] generation | [31..0] slot
constexpr uint64_t MakeExtConnId(uint32_t shard, uint32_t generation, uint32_t slot) {
  return (uint64_t{(shard + 1) & 0x7f} << 56) | (uint64_t{generation & kGenerationMask} << 32) |
         slot;
}

// False for ids we never issue (shard field 0).
constexpr bool ParseExtConnId(uint64_t id, ExtConnIdParts* out) {
  uint32_t shard_plus_one = static_cast<uint32_t>(id >> 56) & 0x7f;
  if (shard_plus_one == 0 || (id >> 63) != 0) return false;
  out->shard = shard_plus_one - 1;
  out->generation = static_cast<uint32_t>(id >> 32) & kGenerationMask;
  out->slot = static_cast<uint32_t>(id);
  return true;
}

}  // namespace mtp
