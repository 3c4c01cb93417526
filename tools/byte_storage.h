// Growable receive storage for the peers' codecs: unlike std::vector it never zero-fills, and
// it can be released while a connection is idle. Owned by one connection's thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace mtp::tools {

class ByteStorage {
 public:
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

  // Makes the storage at least `n` bytes (at least doubling), keeping bytes [0, keep).
  void Grow(size_t n, size_t keep) {
    if (n <= size_) return;
    size_t cap = std::max(n, size_ * 2);
    std::unique_ptr<uint8_t[]> bigger(new uint8_t[cap]);
    if (keep > 0) std::memcpy(bigger.get(), data_.get(), keep);
    data_ = std::move(bigger);
    size_ = cap;
  }

  void Release() {
    data_.reset();
    size_ = 0;
  }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

}  // namespace mtp::tools
