// One fake middle-end link: the server side of the ME TCP-RPC protocol over a connected socket
// (handshake via RpcLink in the server role), echoing every RPC_PROXY_REQ payload back as
// RPC_PROXY_ANS on the same ext_conn_id, with optional RPC_SIMPLE_ACK, RPC_CLOSE_EXT and link
// drop injection. Runs on its own thread with blocking IO (one thread per link).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "tools/event_log.h"
#include "tools/json_line.h"
#include "tools/net_util.h"

namespace mtp::tools {

struct FakeMeOptions {
  std::vector<uint8_t> secret;    // the proxy-secret file (--aes-pwd)
  uint64_t close_ext_after = 0;   // send RPC_CLOSE_EXT after N requests of a connection (0: no)
  uint64_t drop_link_after = 0;   // close the TCP link after N requests on it (0: no)
  bool crc32c = true;             // grant CRC32C when the proxy offers it
  bool check_peer_pid = true;     // reject a handshake whose peer_pid is not ours
  bool log_requests = true;       // one event line per RPC_PROXY_REQ
  int32_t clock_offset_s = 0;     // added to the crypto_ts we send (clock-skew tests)
  int64_t start_unix = 0;         // our PID's utime
  // Misbehaviour (adversarial tests). stop_reading_after and half_close_after_ms apply to the
  // first `misbehave_links` links accepted (0: to every link).
  uint64_t misbehave_links = 0;
  uint64_t stop_reading_after = 0;  // bytes received on a link, then no more reads (0: never)
  int64_t half_close_after_ms = 0;  // shutdown(SHUT_WR) this long after accept (0: never)
  // A request whose client payload is exactly flood_on_size bytes is answered, besides its
  // echo, with flood_bytes of unsolicited RPC_PROXY_ANS (64 KiB each) on its ext_conn_id.
  uint64_t flood_on_size = 0;
  uint64_t flood_bytes = 0;
};

// Process-wide counters, updated by every link thread (relaxed atomics).
struct FakeMeStats {
  std::atomic<uint64_t> links_accepted{0};
  std::atomic<uint64_t> links_ready{0};
  std::atomic<uint64_t> links_failed{0};
  std::atomic<uint64_t> links_dropped{0};  // by --drop-link-after
  std::atomic<uint64_t> links_open{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> request_bytes{0};  // client payload bytes received
  std::atomic<uint64_t> answers{0};
  std::atomic<uint64_t> simple_acks{0};
  std::atomic<uint64_t> close_ext_sent{0};
  std::atomic<uint64_t> close_conn_received{0};
  std::atomic<uint64_t> pongs_received{0};
  std::atomic<uint64_t> unknown_messages{0};
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> links_stopped_reading{0};
  std::atomic<uint64_t> links_half_closed{0};
  std::atomic<uint64_t> flood_answers{0};

  JsonLine ToJson() const;
};

// Serves one accepted link until the peer closes, a protocol error occurs, the link is
// dropped on purpose, or StopRequested(). `link_id` numbers links in the event log.
void ServeFakeMeLink(UniqueFd fd, uint64_t link_id, const FakeMeOptions& options,
                     FakeMeStats& stats, EventLog& log);

// "a.b.c.d:port" for an IPv4-mapped address, "[v6]:port" otherwise.
std::string FormatIpv6Endpoint(const std::array<uint8_t, 16>& ip, uint32_t port);

}  // namespace mtp::tools
