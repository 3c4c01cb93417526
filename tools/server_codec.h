// Server side of one client connection for the fake DC, sans IO: optional fake-TLS
// (ClientHello validation, ServerHello, records), the obfuscated2 header (with or without
// secrets, as Telegram DCs accept it), decoding of client frames, and encoding of answers and
// quick acks. Glue over proto/obfuscated2.h, proto/fake_tls.h and proto/framing.h.
// Owned by the connection's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/bytes.h"
#include "crypto/aes.h"
#include "proto/fake_tls.h"
#include "crypto/secret.h"
#include "proto/transport_tag.h"
#include "tools/byte_storage.h"

namespace mtp::tools {

struct ServerCodecConfig {
  std::vector<ClientSecret> secrets;     // empty: keys derived without a secret (a DC)
  std::vector<std::string> tls_domains;  // non-empty: fake-TLS only ([0] = default)
  TlsDomainProfile tls_profile{false, 64, false};
};

class ServerCodec {
 public:
  // `config` and `replay_cache` must outlive the codec.
  ServerCodec(const ServerCodecConfig* config, ReplayCache* replay_cache, uint16_t local_port);

  MutableByteSpan ReceiveBuffer(size_t min_bytes = 16 * 1024);
  // Frees the receive buffer when nothing is buffered (idle connections then hold no buffer;
  // the next ReceiveBuffer() allocates again).
  void ReleaseIfEmpty();
  // Processes `n` received bytes. `out` gets the ServerHello in fake-TLS mode. Errors are fatal
  // (PermissionDenied: hello rejected or no secret matches the header; DataLoss: bad record).
  absl::Status CommitReceived(size_t n, std::vector<uint8_t>* out);

  enum class EventKind { kNone, kHandshake, kFrame };
  struct Event {
    EventKind kind = EventKind::kNone;
    ByteSpan payload;  // kFrame: valid until the next Next()/ReceiveBuffer() call
    bool quick_ack = false;
  };
  // DataLoss on a frame the reference would close the connection for.
  absl::StatusOr<Event> Next();

  // Appends an answer frame / a quick ack (encrypted, and record-wrapped in fake-TLS mode).
  void AppendFrame(ByteSpan payload, std::vector<uint8_t>* out);
  void AppendQuickAck(uint32_t token, std::vector<uint8_t>* out);

  bool handshake_done() const { return header_done_; }
  bool fake_tls() const { return !config_->tls_domains.empty(); }
  Transport transport() const { return transport_; }
  int16_t dc_id() const { return dc_id_; }
  int secret_index() const { return secret_index_; }

 private:
  void Emit(std::vector<uint8_t>* out);

  const ServerCodecConfig* config_;
  ReplayCache* replay_cache_;
  uint16_t local_port_;
  bool hello_done_ = false;
  bool header_done_ = false;
  bool handshake_event_ = false;
  Transport transport_ = Transport::kAbridged;
  int16_t dc_id_ = 0;
  int secret_index_ = -1;
  AesCtr decrypt_;
  AesCtr encrypt_;
  TlsRecordReader reader_{TlsRecordReader::Start::kAfterServerHello};
  TlsRecordSizer sizer_{TlsRecordSizing::kReference};
  ByteStorage rx_;
  size_t rx_begin_ = 0;
  size_t rx_end_ = 0;
  size_t rx_wanted_ = 0;
  std::vector<uint8_t> plain_;  // output staging
};

}  // namespace mtp::tools
