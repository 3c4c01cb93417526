// In-process loopback peers for dataplane tests: a blocking obfuscated2 test client, a fake
// middle-end (server role of RpcLink, echoes RPC_PROXY_REQ as RPC_PROXY_ANS) and a fake DC
// (obfuscated2 server, echoes bytes). All sockets are on 127.0.0.1; every wait is bounded.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/aes.h"
#include "crypto/secret.h"
#include "proto/transport_tag.h"

namespace mtp::testing_peers {

// A listening loopback socket; *port = 0 picks a free port and stores it.
int ListenLoopback(uint16_t* port);
int ConnectLoopback(uint16_t port);

class TestClient {
 public:
  // Connects and sends the obfuscated2 header (with `secret`, or the no-secret derivation).
  static std::optional<TestClient> Connect(uint16_t port, const ClientSecret* secret,
                                           Transport transport, int16_t dc_id);
  TestClient(TestClient&& other) noexcept;
  ~TestClient();

  bool SendFrame(const std::vector<uint8_t>& payload, bool quick_ack = false);
  bool SendRaw(const std::vector<uint8_t>& bytes);  // raw bytes, encrypted
  // Next frame payload (quick acks are reported with `quick_ack` set and the token as payload).
  std::optional<std::vector<uint8_t>> ReadFrame(int timeout_ms, bool* quick_ack = nullptr);
  // True if the proxy closed the connection within the timeout (EOF or reset).
  bool WaitClosed(int timeout_ms);
  // True if nothing at all arrives within the timeout and the socket stays open.
  bool StaysSilent(int timeout_ms);
  int fd() const { return fd_; }

 private:
  TestClient() = default;
  bool Fill(int timeout_ms);
  int fd_ = -1;
  Transport transport_ = Transport::kIntermediate;
  AesCtr encrypt_;
  AesCtr decrypt_;
  std::vector<uint8_t> in_;  // decrypted, not yet consumed
};

struct MeEvent {
  uint32_t type = 0;
  int link = -1;  // which accepted link carried it (0, 1, ... in accept order)
  uint32_t flags = 0;
  uint64_t ext_conn_id = 0;
  std::vector<uint8_t> ad_tag;
  std::vector<uint8_t> data;
};

// Fake middle-end: accepts links on one port, completes the server-side RPC handshake with the
// proxy secret, echoes each RPC_PROXY_REQ's data as RPC_PROXY_ANS (plus an RPC_SIMPLE_ACK when
// the quick-ack flag is set) and records every message it gets.
class FakeMe {
 public:
  // `port` 0 picks a free port; a fixed port lets a test restart an ME at the same address.
  explicit FakeMe(std::vector<uint8_t> secret, uint16_t port = 0);
  ~FakeMe();
  uint16_t port() const { return port_; }
  std::vector<MeEvent> Events();
  // Waits until an event with this type is recorded (bounded).
  bool WaitFor(uint32_t type, int timeout_ms, MeEvent* out = nullptr);
  // Sends RPC_CLOSE_EXT for `ext_conn_id` on every open link.
  void SendCloseExt(uint64_t ext_conn_id);
  // Links whose handshake is done and whose handshake answer has been sent to the proxy.
  int links_ready() const { return links_ready_.load(); }
  void Stop();

 private:
  struct Link;
  void AcceptLoop();
  void Serve(int fd, int index);

  std::vector<uint8_t> secret_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> links_ready_{0};
  int accepted_ = 0;  // guarded by mu_
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::vector<MeEvent> events_;
  std::vector<uint64_t> pending_close_ext_;
};

// Fake DC for direct mode: obfuscated2 server without a secret; echoes every byte.
class FakeDc {
 public:
  FakeDc();
  ~FakeDc();
  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  int last_dc_id() const { return last_dc_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> last_dc_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

}  // namespace mtp::testing_peers
