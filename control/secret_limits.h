// SecretLimits: the control thread's side of the named secrets' limits (TOML [[secret]]
// max-connections, max-unique-ips + unique-ips-window, quota-bytes, expires, enabled; the
// shards' side and the shared board are in dataplane/session/secret_admission.h).
//
// It gives every secret name a stable limit slot, aggregates what the shards report on each
// tick (bytes per slot, new client addresses), keeps the quotas (in a state file, written
// atomically on an interval, at shutdown and after a reset, read at start-up), and publishes an
// immutable admission snapshot to the shards whenever a gate, a cap or the address window
// changes. The connection caps themselves are enforced by the shards on the board's shared
// counters (never more than the cap, see TryTakeSecretConnection).
//
// Thread ownership: the control thread (all methods).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "control/secret_spec.h"
#include "dataplane/session/secret_admission.h"

namespace mtp {

struct SecretLimitsOptions {
  std::string state_file;       // where quotas are kept; "" = not kept across restarts
  bool disable_drains = false;  // --secret-disable-drain: enabled = false keeps its clients
  int64_t save_interval_s = 10;
};

// One named secret's figures, for /metrics.
struct SecretLimitUsage {
  std::string name;
  SecretLimitsSpec spec;
  uint64_t connections = 0;  // open now, all shards
  uint64_t quota_used = 0;   // bytes counted against quota-bytes (kept across restarts)
  uint64_t unique_ips = 0;   // addresses in the window (with max-unique-ips)
  SecretRefusal closed_for = SecretRefusal::kNone;  // why its gate is not open
};

class SecretLimits {
 public:
  SecretLimits(SecretBoard& board, SecretLimitsOptions options);

  // Start-up: reads the state file (missing = nothing kept yet). An unreadable or malformed
  // file is an error naming its line: starting with quotas silently reset is worse.
  absl::Status LoadState();
  // Start-up and every reload: the running secrets' names ("" = unnamed) and limits, same
  // length. Returns each secret's limit slot (-1 = none) for LiveConfig::secret_slots, having
  // published the admission snapshot the new slots need; ResourceExhausted when more names are
  // alive than there are slots (the reload is refused, nothing changed).
  absl::StatusOr<std::vector<int8_t>> Configure(const std::vector<std::string>& names,
                                                const std::vector<SecretLimitsSpec>& limits,
                                                int64_t now_unix);
  // The control tick: reads the shards' events and counters, republishes when something
  // changed, saves the state file every save_interval_s when quotas moved.
  void Tick(int64_t now_unix);
  // Writes the state file now if what it should hold changed (atomically: a temporary file
  // renamed over it; `durable` also syncs it to disk first: shutdown and resets, not the
  // periodic saves, which must not stall the control thread). OK without a file.
  absl::Status Save(bool durable = true);
  // POST /secrets/<name>/reset-quota: the quota starts from zero again (saved at once).
  // NotFound for a name that is not running.
  absl::Status ResetQuota(std::string_view name, int64_t now_unix);

  // The running named secrets, in configuration order.
  std::vector<SecretLimitUsage> Usage() const;
  // The last admission snapshot published (tests).
  const std::shared_ptr<const SecretAdmission>& published() const { return published_; }
  uint64_t publications() const { return publications_; }
  // Address events the shards could not hand over (their ring was full).
  uint64_t dropped_ip_events() const;

 private:
  struct Slot {
    std::string name;         // "" = free
    bool configured = false;  // in the running configuration
    SecretLimitsSpec spec;
    uint64_t used_base = 0;     // quota used before this process counted (or since a reset)
    uint64_t bytes_offset = 0;  // the board's byte count for the slot when counting started
    absl::flat_hash_map<ClientIp, int64_t> ips;  // address -> last admitted (unix s)
    std::vector<ClientIp> sorted_ips;             // `ips` as published (rebuilt on change)
    bool ips_changed = false;
  };

  uint64_t QuotaUsed(size_t slot) const;
  SecretSlotAdmission Admission(size_t slot, int64_t now_unix) const;
  int FindOrAssign(const std::string& name, const std::vector<std::string>& keep);
  void Republish(int64_t now_unix, bool force);
  std::map<std::string, uint64_t> StateToKeep() const;

  SecretBoard& board_;
  SecretLimitsOptions options_;
  std::vector<Slot> slots_;
  std::vector<int8_t> running_;                 // slot per running secret (config order)
  std::vector<std::string> previous_names_;     // the configuration before the running one
  std::map<std::string, uint64_t> kept_used_;   // quota used of names without a slot
  std::shared_ptr<const SecretAdmission> published_;
  uint64_t publications_ = 0;
  std::map<std::string, uint64_t> saved_;  // what the state file holds (skips idle writes)
  int64_t next_save_unix_ = 0;
  int64_t save_warned_unix_ = 0;
};

}  // namespace mtp
