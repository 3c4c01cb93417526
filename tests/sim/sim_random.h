// The simulator's only source of choices: a seeded PRNG (splitmix64), or fuzz bytes that pick
// each choice directly (one byte per small choice) and, once used up, a PRNG seeded from them.
// Every peer move, fault and chunk size is drawn here, so a seed (or an input) replays exactly.
//
// Thread ownership: one simulator run (one thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace mtp::sim {

class SimRandom {
 public:
  explicit SimRandom(uint64_t seed) : state_(seed) {}
  // Choices come from `bytes` first (not owned: must outlive the run).
  explicit SimRandom(std::span<const uint8_t> bytes) : bytes_(bytes), state_(Hash(bytes)) {}

  // Uniform in [0, bound); bound 0 or 1 gives 0.
  uint32_t Below(uint32_t bound) {
    if (bound <= 1) return 0;
    if (pos_ < bytes_.size()) {
      uint32_t v = bytes_[pos_++];
      if (bound > 256 && pos_ < bytes_.size()) v = (v << 8) | bytes_[pos_++];
      if (bound > 65536 && pos_ < bytes_.size()) v = (v << 8) | bytes_[pos_++];
      return v % bound;
    }
    return static_cast<uint32_t>(((Next() >> 32) * bound) >> 32);
  }
  // In [lo, hi].
  uint32_t Range(uint32_t lo, uint32_t hi) { return lo + Below(hi - lo + 1); }
  // True with probability per_mille / 1000.
  bool Chance(uint32_t per_mille) {
    if (per_mille == 0) return false;
    if (pos_ < bytes_.size()) {
      if (per_mille >= 1000) return true;  // certain: keep the input's bytes for real choices
      return uint32_t{bytes_[pos_++]} * 1000 < per_mille * 256;
    }
    return Below(1000) < per_mille;
  }
  uint64_t Next64() { return (uint64_t{Below(1u << 31)} << 33) ^ Next(); }
  // Fills `out` (from the PRNG: fuzz bytes are kept for choices).
  void Fill(std::span<uint8_t> out) {
    for (size_t i = 0; i < out.size(); i += 8) {
      uint64_t r = Next();
      for (size_t j = 0; j < 8 && i + j < out.size(); ++j)
        out[i + j] = static_cast<uint8_t>(r >> (8 * j));
    }
  }
  // Fuzz mode: true once every input byte has been used.
  bool exhausted() const { return pos_ >= bytes_.size(); }
  bool fuzz_mode() const { return !bytes_.empty(); }

 private:
  static uint64_t Hash(std::span<const uint8_t> bytes) {
    uint64_t h = 0xcbf29ce484222325ull ^ bytes.size();
    for (uint8_t b : bytes) h = (h ^ b) * 0x100000001b3ull;
    return h;
  }
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  uint64_t state_;
};

}  // namespace mtp::sim
