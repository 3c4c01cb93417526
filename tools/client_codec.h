// Client side of one MTProto-proxy connection for the test peers, sans IO: obfuscated2 header,
// optional fake-TLS wrapping (ClientHello, ServerHello check, records), inner framing of sent
// frames and decoding of received frames and quick acks. It only glues the project's codecs
// (proto/obfuscated2.h, proto/fake_tls.h, proto/framing.h) to byte buffers.
// Owned by one thread (the connection's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/bytes.h"
#include "crypto/aes.h"
#include "proto/fake_tls_client.h"
#include "proto/fake_tls_records.h"
#include "crypto/secret.h"
#include "proto/transport_tag.h"
#include "tools/byte_storage.h"

namespace mtp::tools {

// tdlib's largest client->proxy TLS record (MAX_TLS_PACKET_LENGTH).
inline constexpr size_t kTdlibTlsRecordBytes = 2878;

struct ClientCodecConfig {
  Transport transport = Transport::kIntermediate;
  // nullopt: derive keys without a secret (a DC, or a proxy started without -S).
  std::optional<ClientSecret> secret;
  // Non-empty: fake-TLS ("ee") mode towards this SNI domain (requires a secret).
  std::string tls_domain;
  ClientHelloLayout hello_layout = ClientHelloLayout::kLegacy517;
  // Added to the ClientHello timestamp (negative tests: stale / future hellos).
  int32_t tls_timestamp_offset_s = 0;
  // Largest TLS record payload we send.
  size_t tls_record_bytes = kTdlibTlsRecordBytes;
  // The ClientHello cut as DPI-evasion tools do (FragmentClientHello): the first
  // `hello_byte_records` payload bytes as 1-byte records, the rest in `hello_records` records.
  size_t hello_byte_records = 0;
  size_t hello_records = 1;
  int16_t dc_id = 2;
  // No obfuscated2 header and no encryption: frames go out in the clear. Only for the plain
  // TCP echo floor of the benchmarks (mtp-fake-dc --plain mirrors the bytes back).
  bool plain = false;
};

// "abridged" / "intermediate" / "padded".
std::optional<Transport> ParseTransportName(std::string_view name);

class ClientCodec {
 public:
  static absl::StatusOr<ClientCodec> Create(const ClientCodecConfig& config);

  ClientCodec(ClientCodec&&) = default;
  ClientCodec& operator=(ClientCodec&&) = default;

  // Appends what to send right after the TCP connect: the ClientHello (fake-TLS) or the
  // 64-byte obfuscated2 header. Call once.
  void Start(std::vector<uint8_t>* out);

  // Fake-TLS: true until the ServerHello is verified. Frames appended meanwhile are held and
  // released (after the CCS and with the obfuscated2 header) by the CommitReceived call that
  // completes the handshake.
  bool handshake_pending() const { return tls_ && !tls_ready_; }
  bool fake_tls() const { return tls_; }
  Transport transport() const { return config_.transport; }

  // Appends one frame: length prefix (quick-ack bit if asked), `payload_bytes` written by
  // `fill` in place, then `padding` bytes (padded transport only), all encrypted and, in
  // fake-TLS mode, cut into records.
  void AppendFrame(size_t payload_bytes, bool quick_ack, ByteSpan padding,
                   absl::FunctionRef<void(MutableByteSpan)> fill, std::vector<uint8_t>* out);
  void AppendFrame(ByteSpan payload, bool quick_ack, std::vector<uint8_t>* out);
  // Appends arbitrary plaintext into the encrypted stream (malformed-frame tests).
  void AppendRaw(ByteSpan plaintext, std::vector<uint8_t>* out);

  // ---- Receiving ----
  // A span of at least `min_bytes` (and at least what the next frame needs) to receive into.
  MutableByteSpan ReceiveBuffer(size_t min_bytes = 16 * 1024);
  // Frees the receive buffer when nothing is buffered (idle connections then hold no buffer;
  // the next ReceiveBuffer() allocates again).
  void ReleaseIfEmpty();
  // Processes `n` bytes received into ReceiveBuffer(). May append bytes to send to `out` (the
  // fake-TLS CCS + first record once the ServerHello checks out). Errors are fatal: a bad or
  // forged ServerHello (PermissionDenied), a bad record header or undecodable frame
  // (DataLoss).
  absl::Status CommitReceived(size_t n, std::vector<uint8_t>* out);

  enum class EventKind { kNone, kFrame, kQuickAck };
  struct Event {
    EventKind kind = EventKind::kNone;
    ByteSpan payload;     // kFrame: valid until the next Next()/ReceiveBuffer() call
    uint32_t token = 0;   // kQuickAck
  };
  // The next decoded event, kNone when more bytes are needed. DataLoss on a bad frame.
  absl::StatusOr<Event> Next();

  // Bytes of received stream plaintext buffered but not yet decoded.
  size_t buffered_bytes() const { return rx_end_ - rx_begin_; }
  // Wire bytes appended by this codec so far / received.
  uint64_t wire_bytes_out() const { return wire_out_; }
  uint64_t wire_bytes_in() const { return wire_in_; }

 private:
  explicit ClientCodec(const ClientCodecConfig& config) : config_(config) {}
  // Encrypts and emits stream plaintext (or holds it while the TLS handshake is pending).
  void EmitStream(size_t plain_begin, std::vector<uint8_t>* out);
  // Records of at most tls_record_bytes, the first one at least `first_min` bytes.
  void WrapRecords(ByteSpan payload, std::vector<uint8_t>* out, size_t first_min = 0);

  ClientCodecConfig config_;
  bool tls_ = false;
  bool tls_ready_ = false;
  std::vector<uint8_t> header_;  // obfuscated2 header (wire form)
  std::vector<uint8_t> hello_;   // fake-TLS: our ClientHello
  TlsRandom client_random_{};
  AesCtr encrypt_;
  AesCtr decrypt_;
  TlsRecordReader reader_{TlsRecordReader::Start::kRecords};
  std::vector<uint8_t> held_;     // fake-TLS: encrypted stream bytes waiting for the handshake
  std::vector<uint8_t> scratch_;  // fake-TLS: plaintext staging before record wrapping
  ByteStorage rx_;       // received stream plaintext [rx_begin_, rx_end_)
  size_t rx_begin_ = 0;
  size_t rx_end_ = 0;
  size_t rx_wanted_ = 0;          // bytes the next frame needs (from the decoder)
  uint64_t wire_out_ = 0;
  uint64_t wire_in_ = 0;
};

}  // namespace mtp::tools
