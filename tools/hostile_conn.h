// mtp-hostile's connections: one hostile client connection per HostileConn, driven by the
// tool's single epoll loop. Each mode plays one kind of peer a public proxy must survive:
// a partial frame that is never finished, a header sent a byte at a time, a partial fake-TLS
// ClientHello record, or a client that never reads its answers. The connection records how
// (EOF or RST) and when the proxy closed it. Owned by the thread that runs the loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "tools/client_codec.h"
#include "tools/epoll_loop.h"
#include "tools/net_util.h"

namespace mtp::tools {

enum class HostileMode {
  kPartialFrame,  // obfuscated2 header, a frame announcing `announce` bytes, `bytes` of it
  kSlowHeader,    // the header (or ClientHello) one byte per `byte_delay_ms`
  kPartialHello,  // a TLS handshake record announcing `announce` bytes, `bytes` of it
  kNoRead,        // full handshake, `bytes` of requests of `size`, never reads an answer
};

std::optional<HostileMode> ParseHostileMode(std::string_view name);
std::string_view HostileModeName(HostileMode mode);

struct HostileOptions {
  HostileMode mode = HostileMode::kPartialFrame;
  SocketAddress server;
  ClientCodecConfig codec;
  size_t bytes = 600 * 1024;    // payload bytes sent after the header / record header
  size_t announce = 1044480;    // frame length (or TLS record length) announced
  size_t size = 65536;          // kNoRead: request payload size
  int64_t byte_delay_ms = 100;  // kSlowHeader
};

// How a connection ended (or did not).
enum class HostileState : uint8_t { kConnecting, kOpen, kConnectFailed, kClosedEof, kClosedRst };

class HostileConn : public EpollHandler {
 public:
  HostileConn(const HostileOptions& options, EpollLoop& loop, int64_t start_ms)
      : o_(options), loop_(loop), start_ms_(start_ms) {}
  ~HostileConn() override;

  // Starts the non-blocking connect; false (state kConnectFailed) if it failed at once.
  bool Start();
  void OnEvents(uint32_t events) override;
  // Periodic work (the slow header's next byte); `now_ms` is MonotonicMillis().
  void Tick(int64_t now_ms);

  HostileState state() const { return state_; }
  bool open() const { return state_ == HostileState::kOpen; }
  // Connected and everything this mode sends is written (the slow header: its first byte).
  bool settled() const;
  int64_t closed_at_ms() const { return closed_at_ms_; }  // since start; -1 while open
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t bytes_received() const { return bytes_received_; }

 private:
  void OnConnected();
  // Appends the next piece of what this mode sends, when the queue is empty.
  void Produce();
  void Flush();
  void Read();
  void Close(HostileState how);
  void UpdateInterest();

  const HostileOptions& o_;
  EpollLoop& loop_;
  const int64_t start_ms_;
  UniqueFd fd_;
  std::optional<ClientCodec> codec_;
  SendQueue out_;
  HostileState state_ = HostileState::kConnecting;
  bool started_ = false;       // codec Start() / record header appended
  size_t produced_ = 0;        // payload bytes appended after the header
  std::vector<uint8_t> slow_;  // kSlowHeader: the header (or ClientHello) still to trickle
  size_t slow_pos_ = 0;
  uint64_t seq_ = 0;  // kNoRead: frames appended
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
  int64_t next_byte_ms_ = 0;  // kSlowHeader
  int64_t closed_at_ms_ = -1;
  uint32_t interest_ = 0;
};

}  // namespace mtp::tools
