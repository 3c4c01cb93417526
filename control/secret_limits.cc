// The control thread's side of the named secrets' limits (see secret_limits.h).
#include "control/secret_limits.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/log.h"

namespace mtp {
namespace {

constexpr char kStateHeader[] =
    "# mtproxy-ng named secrets: quota bytes used (written by the proxy)";
constexpr size_t kMaxStateBytes = 1 << 20;

}  // namespace

SecretLimits::SecretLimits(SecretBoard& board, SecretLimitsOptions options)
    : board_(board), options_(std::move(options)), slots_(kMaxLimitSlots) {}

absl::Status SecretLimits::LoadState() {
  if (options_.state_file.empty()) return absl::OkStatus();
  std::ifstream in(options_.state_file, std::ios::binary);
  if (!in) {
    if (access(options_.state_file.c_str(), F_OK) != 0) return absl::OkStatus();
    return absl::PermissionDeniedError(
        absl::StrCat("cannot read the secret state file ", options_.state_file));
  }
  std::string content(kMaxStateBytes + 1, '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<size_t>(in.gcount()));
  if (content.size() > kMaxStateBytes) {
    return absl::InvalidArgumentError(absl::StrCat(options_.state_file, ": larger than 1 MiB"));
  }
  std::map<std::string, uint64_t> loaded;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t used = 0;
    if (words.size() != 2 || !absl::SimpleAtoi(words[1], &used)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s:%d: expected '<secret name> <quota bytes used>' (fix or delete the file; "
          "deleting it starts every quota from zero)",
          options_.state_file, line_no));
    }
    loaded[std::string(words[0])] = used;
  }
  kept_used_ = loaded;
  saved_ = std::move(loaded);
  return absl::OkStatus();
}

int SecretLimits::FindOrAssign(const std::string& name, const std::vector<std::string>& keep) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].name == name) return static_cast<int>(i);
  }
  auto start = [&](size_t i) {
    Slot& s = slots_[i];
    if (!s.name.empty()) kept_used_[s.name] = QuotaUsed(i);  // evicted: its quota is kept
    s = Slot{};
    s.name = name;
    s.bytes_offset = board_.SlotBytes(i);
    if (auto it = kept_used_.find(name); it != kept_used_.end()) {
      s.used_base = it->second;
      kept_used_.erase(it);
    }
    return static_cast<int>(i);
  };
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].name.empty()) return start(i);
  }
  // A slot of a name gone from this configuration and the one before, with no client left.
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (std::find(keep.begin(), keep.end(), s.name) != keep.end() ||
        std::find(previous_names_.begin(), previous_names_.end(), s.name) !=
            previous_names_.end() ||
        board_.slot(i).live.load(std::memory_order_relaxed) != 0) {
      continue;
    }
    return start(i);
  }
  return -1;
}

absl::StatusOr<std::vector<int8_t>> SecretLimits::Configure(
    const std::vector<std::string>& names, const std::vector<SecretLimitsSpec>& limits,
    int64_t now_unix) {
  std::vector<int8_t> result(names.size(), -1);
  std::vector<int> assigned(names.size(), -1);
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) continue;
    assigned[i] = FindOrAssign(names[i], names);
    if (assigned[i] < 0) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "secret '%s': no limit slot left (%d named secrets still have clients or were in the "
          "previous configuration); reload again once their clients are gone",
          names[i], kMaxLimitSlots));
    }
  }
  for (Slot& s : slots_) s.configured = false;
  for (size_t i = 0; i < names.size(); ++i) {
    if (assigned[i] < 0) continue;
    Slot& s = slots_[assigned[i]];
    s.configured = true;
    s.spec = i < limits.size() ? limits[i] : SecretLimitsSpec{};
    if (s.spec.max_unique_ips == 0 && !s.ips.empty()) {
      s.ips.clear();
      s.ips_changed = true;
    }
    result[i] = static_cast<int8_t>(assigned[i]);
  }
  running_ = result;
  previous_names_ = names;
  Republish(now_unix, /*force=*/true);
  return result;
}

uint64_t SecretLimits::QuotaUsed(size_t slot) const {
  const Slot& s = slots_[slot];
  return s.used_base + (board_.SlotBytes(slot) - s.bytes_offset);
}

SecretSlotAdmission SecretLimits::Admission(size_t slot, int64_t now_unix) const {
  SecretSlotAdmission a;
  const Slot& s = slots_[slot];
  if (s.name.empty() || !s.configured) return a;  // removed: its clients stay, no new ones map
  const SecretLimitsSpec& spec = s.spec;
  a.max_connections = spec.max_connections;
  a.max_unique_ips = spec.max_unique_ips;
  if (!spec.enabled) {
    a.gate = options_.disable_drains ? SecretGate::kRefuseNew : SecretGate::kCloseAll;
    a.reason = SecretRefusal::kDisabled;
  } else if (spec.expires_unix != 0 && now_unix >= spec.expires_unix) {
    a.gate = SecretGate::kCloseAll;
    a.reason = SecretRefusal::kExpired;
  } else if (spec.quota_bytes != 0 && QuotaUsed(slot) >= spec.quota_bytes) {
    a.gate = SecretGate::kCloseAll;
    a.reason = SecretRefusal::kQuota;
  }
  if (spec.max_unique_ips != 0) a.window_ips = s.sorted_ips;
  return a;
}

void SecretLimits::Republish(int64_t now_unix, bool force) {
  for (Slot& s : slots_) {
    if (!s.ips_changed) continue;
    s.ips_changed = false;
    s.sorted_ips.clear();
    for (const auto& [ip, seen] : s.ips) s.sorted_ips.push_back(ip);
    std::sort(s.sorted_ips.begin(), s.sorted_ips.end());
  }
  auto next = std::make_shared<SecretAdmission>();
  bool changed = force || published_ == nullptr;
  for (size_t i = 0; i < kMaxLimitSlots; ++i) {
    next->slots[i] = Admission(i, now_unix);
    if (changed) continue;
    const SecretSlotAdmission& a = next->slots[i];
    const SecretSlotAdmission& b = published_->slots[i];
    changed = a.gate != b.gate || a.reason != b.reason || a.max_connections != b.max_connections ||
              a.max_unique_ips != b.max_unique_ips || a.window_ips != b.window_ips;
  }
  if (!changed) return;
  published_ = next;
  board_.admission().Publish(std::move(next));
  ++publications_;
}

void SecretLimits::Tick(int64_t now_unix) {
  for (size_t shard = 0; shard < board_.shard_count(); ++shard) {
    board_.shard(shard).ips.Drain([&](const IpEvent& e) {
      if (e.slot >= kMaxLimitSlots) return;
      Slot& s = slots_[e.slot];
      if (!s.configured || s.spec.max_unique_ips == 0) return;
      auto [it, inserted] = s.ips.try_emplace(e.ip, now_unix);
      it->second = now_unix;
      s.ips_changed = s.ips_changed || inserted;
    });
  }
  for (Slot& s : slots_) {
    if (s.ips.empty()) continue;
    const int64_t oldest = now_unix - static_cast<int64_t>(s.spec.unique_ips_window_s);
    if (absl::erase_if(s.ips, [&](const auto& kv) { return kv.second <= oldest; }) > 0) {
      s.ips_changed = true;
    }
  }
  // Gates move with time (expiry) and traffic (quota); the comparison inside keeps an
  // unchanged tick from publishing anything.
  Republish(now_unix, false);
  if (now_unix >= next_save_unix_) {
    next_save_unix_ = now_unix + options_.save_interval_s;
    if (absl::Status st = Save(/*durable=*/false); !st.ok() && now_unix - save_warned_unix_ >= 60) {
      save_warned_unix_ = now_unix;
      MTP_WARN("%s (quotas are kept in memory; pass --secret-state-file PATH with a writable "
               "directory)",
               st.message());
    }
  }
}

std::map<std::string, uint64_t> SecretLimits::StateToKeep() const {
  std::map<std::string, uint64_t> state = kept_used_;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].name.empty()) continue;
    const uint64_t used = QuotaUsed(i);
    // Secrets with a quota, and those that had one (a quota set again continues from there).
    if (slots_[i].spec.quota_bytes != 0 || slots_[i].used_base != 0) state[slots_[i].name] = used;
  }
  return state;
}

absl::Status SecretLimits::Save(bool durable) {
  if (options_.state_file.empty()) return absl::OkStatus();
  std::map<std::string, uint64_t> state = StateToKeep();
  if (state == saved_) return absl::OkStatus();
  std::string text = absl::StrCat(kStateHeader, "\n");
  for (const auto& [name, used] : state) absl::StrAppend(&text, name, " ", used, "\n");
  const std::string tmp = absl::StrCat(options_.state_file, ".tmp");
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrFormat("cannot write the secret state file %s: %s",
                                                  tmp, strerror(errno)));
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      const int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return absl::UnavailableError(
          absl::StrFormat("cannot write the secret state file %s: %s", tmp, strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = !durable || fsync(fd) == 0;
  close(fd);
  if (!synced || rename(tmp.c_str(), options_.state_file.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrFormat("cannot replace the secret state file %s: %s",
                                                  options_.state_file, strerror(err)));
  }
  saved_ = std::move(state);
  return absl::OkStatus();
}

absl::Status SecretLimits::ResetQuota(std::string_view name, int64_t now_unix) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.name != name || !s.configured) continue;
    s.used_base = 0;
    s.bytes_offset = board_.SlotBytes(i);
    MTP_LOG(0, "secret '%s': quota reset", s.name);
    Republish(now_unix, false);
    return Save();
  }
  return absl::NotFoundError(absl::StrCat("no running secret named '", std::string(name), "'"));
}

std::vector<SecretLimitUsage> SecretLimits::Usage() const {
  std::vector<SecretLimitUsage> out;
  for (int8_t slot : running_) {
    if (slot < 0) continue;
    const Slot& s = slots_[slot];
    SecretLimitUsage u;
    u.name = s.name;
    u.spec = s.spec;
    u.connections = board_.slot(slot).live.load(std::memory_order_relaxed);
    u.quota_used = QuotaUsed(slot);
    u.unique_ips = s.ips.size();
    if (published_ != nullptr) u.closed_for = published_->slots[slot].reason;
    out.push_back(std::move(u));
  }
  return out;
}

uint64_t SecretLimits::dropped_ip_events() const {
  uint64_t n = 0;
  for (size_t i = 0; i < board_.shard_count(); ++i) n += board_.shard(i).ips.dropped();
  return n;
}

}  // namespace mtp
