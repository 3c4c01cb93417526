// Bounded JA4 fingerprint counter (see the header).
#include "dataplane/ja4_counter.h"

#include <algorithm>

namespace mtp {

void Ja4Counter::Add(const std::string& ja4) {
  std::lock_guard<std::mutex> lock(mu_);
  ++total_;
  auto it = counts_.find(ja4);
  if (it != counts_.end()) {
    ++it->second;
  } else if (counts_.size() < capacity_) {
    counts_.emplace(ja4, 1);
  } else {
    ++other_;
  }
}

std::vector<std::pair<std::string, uint64_t>> Ja4Counter::Top(size_t n) const {
  std::vector<std::pair<std::string, uint64_t>> top;
  uint64_t other = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    top.assign(counts_.begin(), counts_.end());
    other = other_;
  }
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (top.size() > n) top.resize(n);
  if (other > 0) top.emplace_back(kOther, other);
  return top;
}

uint64_t Ja4Counter::total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

}  // namespace mtp
