// Per-secret limits, the shards' side: what the control thread and the shards share for the
// named secrets' limits (TOML [[secret]] max-connections, max-unique-ips, quota-bytes, expires,
// enabled), and the admission check a client passes once its secret is known.
//
//   SecretBoard     created by the runner before the shards, lives as long as they do:
//                   * one connection count per limit slot, shared by every shard: a shard
//                     admits with a compare-and-swap below the cap and releases at close (one
//                     contended cache line per new connection of that secret, never per byte);
//                   * per shard, single-writer byte counters per slot (read by the control
//                     thread for the quotas) and a bounded single-producer/single-consumer ring
//                     of "new client address for slot X" events (the unique-address window);
//                   * the mailbox of admission snapshots.
//   SecretAdmission immutable, built by the control thread (control/secret_limits.cc) on its
//                   tick when something changed: per slot, the gate (open, refuse new clients,
//                   or close them all, with the reason), the connection cap and the addresses
//                   in the unique-address window.
//
// A limit slot is the control thread's stable number for a secret name (LiveConfig maps each
// secret index to its slot, -1 for unnamed secrets): a session keeps its slot across reloads
// that reorder, rename or remove secrets.
//
// Thread ownership: SecretShardState belongs to the owning shard thread;
// the board's atomics are read by the control thread; the ring's consumer is the control thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "dataplane/shard_counters.h"
#include "dataplane/snapshot_mailbox.h"

namespace mtp {

inline constexpr size_t kMaxLimitSlots = 32;  // named secrets ever seen by this process
inline constexpr size_t kIpEventRingSize = 4096;

using ClientIp = std::array<uint8_t, 16>;  // IPv6, or IPv4-mapped

// Why a secret refuses (or closes) a client. Counted per reason; names are the /metrics labels.
enum class SecretRefusal : uint8_t {
  kNone,
  kConnLimit,  // max-connections reached
  kIpLimit,    // max-unique-ips reached and the address is not in the window
  kQuota,      // quota-bytes used up
  kExpired,    // past `expires`
  kDisabled,   // enabled = false
};
std::string_view SecretRefusalName(SecretRefusal reason);  // "secret_conn_limit", ...

enum class SecretGate : uint8_t {
  kOpen,       // admit within the caps
  kRefuseNew,  // existing clients stay, new ones are refused (disabled with drain)
  kCloseAll,   // existing clients are closed and new ones refused
};

struct SecretSlotAdmission {
  SecretGate gate = SecretGate::kOpen;
  SecretRefusal reason = SecretRefusal::kNone;  // why the gate is not open
  uint32_t max_connections = 0;                 // 0 = no cap
  uint32_t max_unique_ips = 0;                  // 0 = no cap
  std::vector<ClientIp> window_ips;             // sorted; only with max_unique_ips
};

struct SecretAdmission {
  std::array<SecretSlotAdmission, kMaxLimitSlots> slots;
};

struct IpEvent {
  uint8_t slot = 0;
  ClientIp ip{};
};

// Single producer (one shard), single consumer (the control thread). A full ring drops the
// event and counts it: the address then misses the window until it connects again.
class IpEventRing {
 public:
  bool Push(const IpEvent& e) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_.load(std::memory_order_acquire) >= kIpEventRingSize) {
      dropped_.Add();
      return false;
    }
    events_[head % kIpEventRingSize] = e;
    head_.store(head + 1, std::memory_order_release);
    return true;
  }
  template <typename F>
  void Drain(F&& f) {
    const uint64_t head = head_.load(std::memory_order_acquire);
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    for (; tail != head; ++tail) f(events_[tail % kIpEventRingSize]);
    tail_.store(tail, std::memory_order_release);
  }
  uint64_t dropped() const { return dropped_.Get(); }

 private:
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
  ShardCounter dropped_;
  std::array<IpEvent, kIpEventRingSize> events_{};
};

class SecretBoard {
 public:
  struct alignas(64) SharedSlot {
    std::atomic<uint32_t> live{0};  // open client connections of the slot, all shards
  };
  struct alignas(64) ShardSide {
    std::array<ShardCounter, kMaxLimitSlots> bytes;  // client bytes, both directions
    IpEventRing ips;
  };

  explicit SecretBoard(size_t shards) : shards_(shards), admission_(shards) {}
  SecretBoard(const SecretBoard&) = delete;
  SecretBoard& operator=(const SecretBoard&) = delete;

  size_t shard_count() const { return shards_.size(); }
  SharedSlot& slot(size_t i) { return slots_[i]; }
  const SharedSlot& slot(size_t i) const { return slots_[i]; }
  ShardSide& shard(size_t i) { return shards_[i]; }
  const ShardSide& shard(size_t i) const { return shards_[i]; }
  SnapshotMailbox<SecretAdmission>& admission() { return admission_; }
  // Control thread: the slot's bytes summed over the shards.
  uint64_t SlotBytes(size_t slot) const {
    uint64_t n = 0;
    for (const ShardSide& s : shards_) n += s.bytes[slot].Get();
    return n;
  }

 private:
  std::array<SharedSlot, kMaxLimitSlots> slots_;
  std::vector<ShardSide> shards_;
  SnapshotMailbox<SecretAdmission> admission_;
};

// Takes one connection of the slot's count if it stays within `cap` (0 = no cap). Lock-free;
// any thread. The count never exceeds the cap, whatever the shards do concurrently.
bool TryTakeSecretConnection(SecretBoard::SharedSlot& slot, uint32_t cap);

// The shard's view: the board, its own side of it, the admission snapshot in force and the
// addresses this shard let in since it adopted that snapshot (so its own new addresses count
// against the window before the control thread has seen them). Functions: secret_admission_gate.h.
struct SecretShardState {
  SecretBoard* board = nullptr;  // null: no limits (tests, or no runner)
  SecretBoard::ShardSide* mine = nullptr;
  std::shared_ptr<const SecretAdmission> admission;
  uint64_t seen = 0;
  // Each with the adoption count when it was added: at the next-but-one adoption the control
  // thread has seen it (it is in the window then) unless its event was dropped, so it goes.
  struct NewIp {
    ClientIp ip;
    uint64_t added_at;
  };
  std::array<std::vector<NewIp>, kMaxLimitSlots> new_ips;
  uint64_t adoptions = 0;
  double log_after_s = 0;  // refusal lines: at most one per second
  uint32_t unlogged = 0;
};

}  // namespace mtp
