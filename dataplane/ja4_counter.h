// Process-wide, bounded count of ClientHellos by JA4 fingerprint (mtproxy_tls_client_hellos_by
// _ja4_total). The first `capacity` distinct fingerprints get their own counter for the life of
// the process; hellos with any other fingerprint count as "other", so memory and label
// cardinality stay bounded whatever a prober sends. Top() reports the most frequent ones.
// Thread-safe: shards call Add() once per complete ClientHello (a short critical section on
// the cold handshake path); the control thread calls Top() when rendering stats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace mtp {

class Ja4Counter {
 public:
  static constexpr size_t kDefaultCapacity = 256;
  static constexpr const char* kOther = "other";

  explicit Ja4Counter(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  void Add(const std::string& ja4);

  // The `n` most counted fingerprints (ties by name), then ("other", n) when hellos fell
  // outside the table. Each reported value only grows.
  std::vector<std::pair<std::string, uint64_t>> Top(size_t n) const;

  uint64_t total() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, uint64_t> counts_;  // at most capacity_ entries
  uint64_t other_ = 0;
  uint64_t total_ = 0;
};

}  // namespace mtp
