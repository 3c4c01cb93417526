// Sans-IO state machine of ONE encrypted TCP-RPC connection (middle-end-rpc.md §2-§6), for both
// roles: client (the proxy towards an ME) and server (our fake ME). It turns received ciphertext
// into messages and outgoing messages into ciphertext; it never touches a socket or a clock.
//
// Threading: a link is owned by exactly one thread (the shard that owns the ME connection, or
// fake-me's connection loop); no method is thread-safe.
//
// Life cycle
//   client: Create -> Start(now) queues RPC_NONCE -> flush -> Feed(server nonce) derives keys and
//           queues the encrypted RPC_HANDSHAKE -> flush -> Feed(server handshake) -> ready.
//   server: Create -> Start(now) -> Feed(client nonce) queues our RPC_NONCE -> flush ->
//           Feed(client handshake) queues our RPC_HANDSHAKE (echoing the client's PID) -> ready.
//   Ready: Send*/BeginMessage+CommitMessage append packets (seq 0, 1, ...); Flush/FlushTo pad to
//   16 bytes with `04 00 00 00` words and AES-256-CBC encrypt, continuing one CBC chain per
//   direction. Incoming RPC_PING is answered with RPC_PONG automatically.
//   Any Feed error fails the link for good (error() keeps the first one); a handshake error may
//   queue RPC_HANDSHAKE_ERROR: flush pending output, then close the socket.
//
// Buffer ownership
//   * Feed(ciphertext): the link never keeps a pointer into `ciphertext`; it decrypts straight
//     into its own input buffer (one pass) so the caller may recycle its receive buffer as soon as
//     Feed returns. Payload spans given to the visitor point into that input buffer and are valid
//     only during the callback.
//   * Output: packets are assembled as plaintext in the link's output buffer.
//     - FlushTo(out) encrypts everything pending into the caller's buffer (e.g. a send buffer
//       from the shard's pool, kept by the caller until the send completes) and empties the
//       output buffer at once. This is the io_uring path.
//     - Flush() encrypts in place and returns a span into the output buffer, valid until the
//       next non-const call on the link. This is the blocking-loop path (write it all, then go
//       on).
//   * BeginMessage(n) returns a span inside the output buffer for the caller to fill (e.g. an
//     RPC_PROXY_REQ header plus the client frame, without an intermediate copy); it is valid
//     until CommitMessage()/AbortMessage() and no other output call may happen in between.
//   * Buffers grow on demand (no zero-fill) up to bounds fixed at Create and are then reused:
//     no allocation per packet once warm.
//   * The visitor may call the output methods (SendMessage, BeginMessage/CommitMessage,
//     Flush, FlushTo) from its callbacks, but never Feed or Start.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "core/bytes.h"
#include "crypto/aes.h"
#include "crypto/rpc_keys.h"
#include "proto/rpc_messages.h"
#include "proto/rpc_packet.h"

namespace mtp {

struct RpcLinkConfig {
  RpcRole role = RpcRole::kClient;
  // The proxy secret (32..256 bytes); copied at Create.
  ByteSpan secret;
  // Addresses of this TCP connection from the proxy's point of view (client = proxy end,
  // server = ME end) in BOTH roles, as seen by the local socket.
  RpcLinkAddresses addresses;
  // --nat-info rules for the key derivation (client role). Not owned; must outlive the link.
  const RpcNatRules* nat = nullptr;
  // Our PID. Client role: if own_pid.ip is 0 the local IPv4 is used unless it is 127.0.0.1
  // (init_client_PID).
  ProcessId own_pid;
  // Client: offer CRC32C (flag 0x800) in our handshake; the peer's reply decides.
  // Server: grant CRC32C when the client offers it.
  bool use_crc32c = true;
  // Server role: reject a client whose handshake peer_pid does not match own_pid. (The client
  // role always checks, like the reference.) The proxy names {ME IPv4 or 0 for loopback/IPv6,
  // ME port, 0, 0}, so a fake ME sets own_pid.port to its listening port.
  bool check_peer_pid = true;
  uint32_t max_clock_skew_s = kRpcMaxClockSkewSeconds;
  // Largest accepted incoming packet (0 is not allowed: everything is bounded). Input buffer
  // capacity is bounded by max_packet_bytes + kRpcLinkFeedChunkBytes.
  uint32_t max_packet_bytes = 16u << 20;
  // Bound of pending (unflushed) output; SendMessage/BeginMessage fail with kBufferLimit above.
  size_t max_output_bytes = 16u << 20;

  // Test and fault-injection knobs (tools/fake-me, tests). Leave unset in production.
  std::optional<RpcNonceBytes> fixed_nonce;        // instead of SecureRandom
  std::optional<uint32_t> handshake_flags;          // flags word we send, verbatim
  std::optional<ProcessId> handshake_peer_pid;      // peer_pid we send, verbatim
  int32_t nonce_ts_offset_s = 0;                    // added to the crypto_ts we send
};

enum class RpcLinkState : uint8_t {
  kIdle,            // created, Start() not called
  kAwaitNonce,      // waiting for the peer's RPC_NONCE
  kAwaitHandshake,  // keys derived, waiting for the peer's RPC_HANDSHAKE
  kReady,           // data messages may flow
  kFailed,          // see error()
};

// Fills RpcLinkAddresses from the two socket addresses of a connected TCP socket
// (getsockname / getpeername). `role` says which of them is the proxy end: the client role's
// local address is the proxy, the server role's local address is the ME. IPv4-mapped IPv6
// addresses (dual-stack listeners) count as IPv4. False for other address families.
bool MakeRpcLinkAddresses(RpcRole role, const sockaddr* local, const sockaddr* remote,
                          RpcLinkAddresses* out);

class RpcLink;

// Receives the events of RpcLink::Feed. Callbacks run synchronously inside Feed.
class RpcLinkVisitor {
 public:
  virtual ~RpcLinkVisitor() = default;
  // The handshake completed; `peer` is the peer's handshake (sender pid already fixed up).
  virtual void OnRpcLinkReady(RpcLink& link, const RpcHandshake& peer) {
    (void)link;
    (void)peer;
  }
  // One incoming message with seq >= 0 other than RPC_PING (answered by the link). `payload`
  // starts with the type word (`type`) and is valid only during the call.
  virtual void OnRpcMessage(RpcLink& link, uint32_t type, ByteSpan payload) = 0;
};

// Ciphertext is decrypted in slices of at most this many bytes between parse passes, which
// bounds the input buffer to one packet plus one slice.
inline constexpr size_t kRpcLinkFeedChunkBytes = 64 * 1024;

class RpcLink {
 public:
  // Fails on a secret outside 32..256 bytes or max_packet_bytes < 16.
  static absl::StatusOr<std::unique_ptr<RpcLink>> Create(const RpcLinkConfig& config);

  RpcLink(const RpcLink&) = delete;
  RpcLink& operator=(const RpcLink&) = delete;
  ~RpcLink();

  // Starts the exchange at `now_unix` (seconds). Client: queues our RPC_NONCE (crypto_ts =
  // now + nonce_ts_offset_s) - flush it right after the TCP connect. Server: remembers `now` as
  // the time our nonce carries and the peer's crypto_ts is checked against.
  void Start(int64_t now_unix);

  // Consumes received bytes (plaintext nonce, then ciphertext) and reports events to
  // `visitor`. Returns kOk or the error that failed the link. Check HasPendingOutput() after
  // every Feed: handshake packets and PONGs are queued by it.
  RpcError Feed(ByteSpan bytes, RpcLinkVisitor& visitor);

  // ---- Output (data messages only when ready(); else kNotReady) ----
  // Appends one packet with this payload (type first, size % 4 == 0, >= 4: else kBadLength).
  RpcError SendMessage(ByteSpan payload);
  // Reserves `payload_bytes` (% 4 == 0, >= 4) for one packet's payload; empty span on error
  // (see last_output_error()). Finish with CommitMessage() or AbortMessage().
  MutableByteSpan BeginMessage(size_t payload_bytes);
  void CommitMessage();
  void AbortMessage();
  RpcError last_output_error() const { return last_output_error_; }
  // Convenience senders.
  RpcError SendPing(uint64_t ping_id);

  bool HasPendingOutput() const;
  // Ciphertext bytes the next Flush/FlushTo produces (pending plaintext + padding).
  size_t PendingOutputBytes() const;
  // Ciphertext bytes the next BeginFlush(job, max_bytes) produces: all of the above if that is
  // at most `max_bytes` (or a plaintext prefix is pending), else `max_bytes` rounded down to
  // whole 16-byte blocks (at least one).
  size_t PendingOutputBytes(size_t max_bytes) const;
  // Encrypts pending output in place; the span is valid until the next non-const call.
  ByteSpan Flush();
  // Encrypts pending output into `out` (out.size() >= PendingOutputBytes(), asserted) and
  // returns the bytes written; the link's output buffer is empty afterwards.
  size_t FlushTo(MutableByteSpan out);
  // Flush() in two steps, so a caller can batch the CBC work of several links
  // (AesCbc::ProcessBatch): pads the pending output and returns the span Flush() would return,
  // but its encrypted part is still plaintext until the caller runs `*job` (job->n == 0: nothing
  // to encrypt). Run the job before any other call on this link.
  // With `max_bytes` below PendingOutputBytes() (and no plaintext prefix pending) only the
  // first PendingOutputBytes(max_bytes) bytes are flushed: whole 16-byte blocks cut anywhere in
  // the packet stream, unpadded; the CBC chain continues from them and the rest stays pending
  // (HasPendingOutput()) for the next flush, which pads the end. The peer decrypts one
  // continuous stream of blocks, so the bytes on the wire are a valid split of what one
  // uncapped flush would have sent. Lets a caller even out the chains of one CBC batch.
  ByteSpan BeginFlush(AesCbc::Job* job, size_t max_bytes = SIZE_MAX);
  // Gives back the memory of an empty input or output buffer larger than `keep_bytes` (a burst
  // of large packets grows them up to their bounds; an idle link should not keep that). Call
  // when no span from Flush()/BeginFlush() is still in use. Returns the bytes given back.
  size_t Trim(size_t keep_bytes);
  // Bytes allocated for the input and output buffers now.
  size_t buffer_capacity() const;
  // Pending output bytes copied to the front of the output buffer so far (the rest of capped
  // flushes); at most about the bytes flushed, by design.
  uint64_t output_bytes_moved() const { return output_bytes_moved_; }

  // ---- State ----
  RpcRole role() const { return role_; }
  RpcLinkState state() const { return state_; }
  bool ready() const { return state_ == RpcLinkState::kReady; }
  RpcError error() const { return error_; }
  RpcCrc crc() const { return crc_; }
  // After the handshake: the peer's handshake as received (sender pid fixed up: ip 0 -> ME ip).
  const RpcHandshake& peer_handshake() const { return peer_handshake_; }
  // Our nonce time (client: Start time; server: time of the peer nonce check).
  int64_t nonce_time() const { return nonce_time_; }
  int32_t out_seq() const { return out_seq_; }
  int32_t in_seq() const { return decoder_.expected_seq(); }

 private:
  class Buffer;

  explicit RpcLink(const RpcLinkConfig& config);

  RpcError Fail(RpcError error);
  RpcError FeedPlain(ByteSpan* bytes, RpcLinkVisitor& visitor);
  RpcError FeedCipher(ByteSpan bytes, RpcLinkVisitor& visitor);
  RpcError ParseInput(RpcLinkVisitor& visitor);
  RpcError OnPacket(const RpcPacketView& packet, RpcLinkVisitor& visitor);
  RpcError OnPeerNonce(ByteSpan payload);
  RpcError OnPeerHandshake(ByteSpan payload, RpcLinkVisitor& visitor);
  RpcError DeriveKeys(const RpcNonceBytes& nonce_server, const RpcNonceBytes& nonce_client,
                      uint32_t client_timestamp);
  void QueueNonce();
  void QueueHandshake(uint32_t flags, const ProcessId& peer_pid);
  void QueueHandshakeError(int32_t code);
  MutableByteSpan Reserve(size_t payload_bytes, RpcError* error);
  void Seal(size_t payload_bytes, bool plaintext);
  void DropFlushed();
  size_t EncryptPending(uint8_t* out, AesCbc::Job* defer = nullptr);

  RpcRole role_;
  RpcLinkConfig config_;
  std::array<uint8_t, kRpcSecretMaxBytes> secret_{};
  size_t secret_bytes_ = 0;
  ProcessId own_pid_;

  RpcLinkState state_ = RpcLinkState::kIdle;
  RpcError error_ = RpcError::kOk;
  RpcCrc crc_ = RpcCrc::kCrc32;
  int64_t nonce_time_ = 0;
  RpcNonceBytes own_nonce_{};
  RpcHandshake peer_handshake_;

  AesCbc encryptor_;
  AesCbc decryptor_;
  bool decrypting_ = false;  // input is ciphertext from now on
  bool encrypting_ = false;  // output after out_plain_bytes_ is encrypted
  std::array<uint8_t, kRpcBlockBytes> in_carry_{};  // partial ciphertext block
  size_t in_carry_bytes_ = 0;

  RpcPacketDecoder decoder_;
  std::unique_ptr<Buffer> in_;   // plaintext input [in_begin_, in_end_)
  size_t in_begin_ = 0;
  size_t in_end_ = 0;

  // [0, out_begin_) ciphertext already flushed (the span last returned is its tail), then the
  // pending plaintext [out_begin_, out_end_).
  std::unique_ptr<Buffer> out_;
  size_t out_begin_ = 0;
  size_t out_plain_bytes_ = 0;   // bytes at the start of the pending region sent in clear
  size_t out_end_ = 0;
  size_t reserved_payload_ = 0;  // BeginMessage in progress when > 0
  int32_t out_seq_ = kRpcSeqNonce;
  RpcError last_output_error_ = RpcError::kOk;
  uint64_t output_bytes_moved_ = 0;
};

}  // namespace mtp
