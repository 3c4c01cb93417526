// The ClientHello replay cache contract (spec §6.5) and a single-threaded implementation.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "proto/fake_tls_common.h"

namespace mtp {

// Key: the first 16 bytes of the 32-byte client random (the digest part).
using ReplayKey = std::array<uint8_t, 16>;

// What ValidateClientHello needs from a replay cache. The cross-shard implementation lives
// elsewhere; implementations document their own thread rules.
class ReplayCache {
 public:
  virtual ~ReplayCache() = default;

  // If `key` is present: returns true (a replay) and changes nothing. Otherwise inserts it
  // stamped `now_s`, drops entries stamped <= now_s - kReplayRetentionS (never the newest) and
  // returns false.
  virtual bool CheckAndInsert(const ReplayKey& key, int64_t now_s) = 0;

  // Insertion time of the oldest entry still held; nullopt when empty. The timestamp rule
  // (IsAllowedTimestamp) relies on: every key inserted after this time is still present.
  // A bounded cache that evicts early must report the time of its oldest surviving entry.
  virtual std::optional<int64_t> OldestEntryTime() const = 0;
};

// Unbounded, insertion-ordered cache exactly like the reference's. Single-threaded: for tests,
// tools and single-shard use. Not for the data path of a multi-shard proxy.
class SimpleReplayCache final : public ReplayCache {
 public:
  explicit SimpleReplayCache(int64_t retention_s = kReplayRetentionS)
      : retention_s_(retention_s) {}

  bool CheckAndInsert(const ReplayKey& key, int64_t now_s) override;
  std::optional<int64_t> OldestEntryTime() const override;

  size_t size() const { return order_.size(); }

 private:
  struct Entry {
    ReplayKey key;
    int64_t time_s;
  };
  int64_t retention_s_;
  std::deque<Entry> order_;  // oldest first
  absl::flat_hash_set<ReplayKey> keys_;
};

}  // namespace mtp
