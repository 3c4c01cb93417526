// SessionGuard: the per-session timers, checked from the 0.1-s tick (a tenth of the slots per
// tick, so each about once a second): the service (handshake) deadline, the idle timeout, and
// client and direct-mode DC write stalls. The relay path only stores timestamps.
//
// Thread ownership: the shard thread.
#pragma once

#include <cstdint>

#include "dataplane/shard/shard_context.h"

namespace mtp {

class ClientSessions;

class SessionGuard {
 public:
  explicit SessionGuard(ShardContext& ctx) : ctx_(ctx) {}
  void Connect(ClientSessions& clients) { clients_ = &clients; }

  void Tick();

 private:
  void GuardSession(uint32_t slot, ClientSession& s);

  ShardContext& ctx_;
  ClientSessions* clients_ = nullptr;
  uint32_t guard_cursor_ = 0;  // next session slot Tick visits
};

}  // namespace mtp
