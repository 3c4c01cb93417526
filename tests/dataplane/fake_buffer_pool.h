// A plain BufferPool for unit tests of the dataplane: heap buffers, free stack, counts.
#pragma once

#include <cassert>
#include <cstdint>
#include <vector>

#include "core/buffer_pool.h"

namespace mtp {

class FakeBufferPool final : public BufferPool {
 public:
  FakeBufferPool(uint32_t count, uint32_t size)
      : size_(size), data_(size_t{count} * size), held_(count, false) {
    for (uint32_t i = count; i > 0; --i) free_.push_back(static_cast<int32_t>(i - 1));
  }
  uint32_t buffer_size() const override { return size_; }
  uint32_t buffer_count() const override { return static_cast<uint32_t>(held_.size()); }
  uint8_t* Data(int32_t id) override { return data_.data() + size_t(id) * size_; }
  int32_t Acquire() override {
    if (free_.empty()) return -1;
    int32_t id = free_.back();
    free_.pop_back();
    held_[id] = true;
    return id;
  }
  void Release(int32_t id) override {
    assert(held_[id]);
    held_[id] = false;
    free_.push_back(id);
  }
  uint32_t in_use() const override { return buffer_count() - static_cast<uint32_t>(free_.size()); }

 private:
  uint32_t size_;
  std::vector<uint8_t> data_;
  std::vector<bool> held_;
  std::vector<int32_t> free_;
};

}  // namespace mtp
