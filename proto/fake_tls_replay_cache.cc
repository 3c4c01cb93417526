// SimpleReplayCache: insertion-ordered deque plus a hash set, purged on every insertion.
#include "proto/fake_tls_replay_cache.h"

namespace mtp {

bool SimpleReplayCache::CheckAndInsert(const ReplayKey& key, int64_t now_s) {
  if (!keys_.insert(key).second) return true;
  order_.push_back(Entry{key, now_s});
  // The reference never drops the newest entry, so the oldest time stays meaningful.
  while (order_.size() > 1 && order_.front().time_s <= now_s - retention_s_) {
    keys_.erase(order_.front().key);
    order_.pop_front();
  }
  return false;
}

std::optional<int64_t> SimpleReplayCache::OldestEntryTime() const {
  if (order_.empty()) return std::nullopt;
  return order_.front().time_s;
}

}  // namespace mtp
