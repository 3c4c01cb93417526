// DirectUpstream: a session's upstream leg as a byte pipe. In direct mode (beyond the
// reference) each client gets its own obfuscated2 connection to its DC; bytes are relayed
// without reframing: the client's CTR is removed and the DC leg's applied in place in the
// received buffer, which then moves to the other queue. Under -D, TlsFront reuses the same leg
// without any cipher to pipe a rejected client to the real site. With --upstream-socks5 the DC
// leg connects to the SOCKS5 server and runs its exchange (dataplane/upstream_socks5.h, phase
// in Leg::socks5) while the session is still kConnecting; fronting never does.
//
// Thread ownership: the shard thread.
#pragma once

#include <cstdint>

#include "core/io_engine.h"
#include "dataplane/shard/shard_context.h"

namespace mtp {

class ClientSessions;
class TlsFront;

class DirectUpstream {
 public:
  explicit DirectUpstream(ShardContext& ctx) : ctx_(ctx) {}
  void Connect(ClientSessions& clients, TlsFront& tls) {
    clients_ = &clients;
    tls_ = &tls;
  }

  // After the client's header: the DC's own obfuscated2 header, what the client sent after
  // its header, then the connect.
  void StartDirectUpstream(uint32_t slot, ClientSession& s);
  void OnUpstreamConnect(uint32_t slot, ClientSession& s, const IoCompletion& c);
  void OnUpstreamRecv(uint32_t slot, ClientSession& s, const IoCompletion& c);
  void OnUpstreamSend(uint32_t slot, ClientSession& s, const IoCompletion& c);
  // The flush pass for the upstream leg: re-arms its receive, starts its next send.
  void Flush(uint32_t slot, ClientSession& s);

 private:
  void ArmUpstreamRecv(uint32_t slot, ClientSession& s);
  // Connected (through the SOCKS5 server if any): the session starts relaying.
  void StartRelay(uint32_t slot, ClientSession& s);
  // --upstream-socks5: a receive during the exchange, and a failed exchange (already counted
  // by stage and reason) closing the client.
  void OnSocks5Recv(uint32_t slot, ClientSession& s, const IoCompletion& c);
  void Socks5Failed(uint32_t slot, ClientSession& s);

  ShardContext& ctx_;
  ClientSessions* clients_ = nullptr;
  TlsFront* tls_ = nullptr;
};

}  // namespace mtp
