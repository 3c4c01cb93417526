// The fake-TLS stage of a client session (-D, spec client-transports §6): ClientHello
// validation over the buffered input, the ServerHello, unwrapping of client records in place,
// and wrapping of the server's output into records at flush time. The session keeps its
// obfuscated2 logic unchanged: this stage sits in front of it.
//
// Output framing. The session appends CTR ciphertext to its output chain as usual. At flush,
// when everything framed before has been sent, WrapTlsOutput() rewrites the whole chain as
// records (one copy) sized by the connection's TlsRecordSizer, so a flush's worth of output is
// cut the way the reference cuts it (per flush) or the way real TLS servers do (adaptive).
// Bytes appended after that are framed at a later flush; sends never go past the framed
// prefix (TlsSendableBytes).
//
// Thread ownership: FakeTlsConfig is immutable and shared by all shards (its registry and
// replay cache are thread-safe); TlsSessionState and the functions below belong to the shard
// that owns the session.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "proto/fake_tls_key_share.h"
#include "proto/fake_tls.h"
#include "crypto/secret.h"
#include "dataplane/buffer_chain.h"
#include "dataplane/ja4_counter.h"
#include "dataplane/tls_domains.h"

namespace mtp {

struct FakeTlsConfig {
  // -D domains in order ([0] = default); empty = fake-TLS off (plain obfuscated2 ports).
  std::vector<std::string> domains;
  // Probe results and fronting targets per domain, owned by the control plane.
  const TlsDomainRegistry* registry = nullptr;
  // The process-wide replay filter (SharedReplayCache), owned by the control plane.
  ReplayCache* replay_cache = nullptr;
  // Complete ClientHellos by JA4 fingerprint, before any secret check (null = not counted);
  // owned by the control plane.
  Ja4Counter* ja4_counter = nullptr;
  TlsRecordSizing record_sizing = TlsRecordSizing::kAdaptive;
  // From accept until the inner obfuscated2 header is accepted; then proxy-pass (reference).
  uint32_t handshake_timeout_ms = 10000;
  // Bound on one fronting connect (then the client is closed).
  uint32_t front_connect_timeout_ms = 10000;
  // --tls-pq-key-share: which key_share group the ServerHello may answer with.
  KeySharePolicy key_share;
  // --tls-handshake-fragment: when > 0, the ServerHello flight (ServerHello, CCS and the first
  // application-data record) leaves in sends of at most this many bytes, one after the other
  // (each completes before the next is submitted; client sockets have TCP_NODELAY), so each
  // piece is a TCP segment of its own. Later output is sent as usual: the MSS is untouched.
  uint32_t handshake_fragment_bytes = 0;
  // --tls-pq-follow-site: a hello offering X25519MLKEM768 gets that group exactly when the
  // domain's probed site answered it to such a hello (TlsDomainProfile::pq_answer_group);
  // key_share.post_quantum still forces it for every domain.
  bool pq_follow_site = false;

  bool enabled() const { return !domains.empty(); }
};

enum class TlsPhase : uint8_t {
  kOff,          // plain obfuscated2 connection (no -D)
  kClientHello,  // collecting and validating the ClientHello
  kRecords,      // ServerHello sent: input is records (CCS + first record, then records)
};

// Per-session state; embedded in the session, default = off.
struct TlsSessionState {
  TlsPhase phase = TlsPhase::kOff;
  uint8_t domain_index = 0;    // SNI-matched domain (its profile shaped the ServerHello)
  uint32_t framed_bytes = 0;   // bytes at the front of the output chain already framed
  // Bytes of the ServerHello flight still to send in pieces of fragment_bytes
  // (FakeTlsConfig::handshake_fragment_bytes); 0 once sent or when fragmentation is off.
  uint32_t flight_left = 0;
  uint32_t fragment_bytes = 0;
  TlsRecordReader reader{TlsRecordReader::Start::kAfterServerHello};
  TlsRecordSizer sizer{TlsRecordSizing::kReference};

  bool on() const { return phase != TlsPhase::kOff; }
};

// Starts the TLS stage of a freshly accepted connection.
void BeginTlsSession(const FakeTlsConfig& config, TlsSessionState& tls);

// Runs the §6.2-§6.4 checks over everything buffered in `in` (raw client bytes). `scratch`
// linearises the bytes when they straddle buffers (grown up to 5 + 65535 bytes) and holds a
// hello fragmented over several records once re-framed as the single record the client signed
// (then kBadFragments when it cannot be reassembled, and on kAccept `record_size` is the raw
// bytes its records occupy). Once the hello is complete, counts its JA4 fingerprint in
// config.ja4_counter (the call after which the answer is no longer need-more: once per hello).
ClientHelloResult CheckBufferedClientHello(const BufferChains& chains, const BufferChain& in,
                                           std::vector<uint8_t>& scratch,
                                           const FakeTlsConfig& config,
                                           std::span<const ClientSecret> secrets,
                                           uint16_t local_port, int64_t now_unix_s);

// For an accepted hello: consumes it from `in`, appends the ServerHello (shaped by the
// domain's current profile, keyed by the secret that validated the hello) to `out` as framed
// bytes, and moves `tls` to kRecords. `scratch` holds the ServerHello while it is built.
// False if the buffer budget cannot take it (close the session).
bool AcceptClientHello(BufferChains& chains, BufferChain& in, BufferChain& out,
                       std::vector<uint8_t>& scratch, const ClientHelloResult& hello,
                       const FakeTlsConfig& config, std::span<const ClientSecret> secrets,
                       TlsSessionState& tls);

// Strips record framing from `data` (one receive) in place; returns the payload size now at
// data[0..n). On a framing error returns 0 and sets *error (the session must be closed).
uint32_t UnwrapTlsInput(TlsSessionState& tls, MutableByteSpan data, TlsReadError* error);

// At flush: if everything framed so far has been sent and unframed bytes wait in `out`, frames
// them all as records (see the header comment). False if the buffer budget cannot take the
// framed copy (close). No-op for kOff.
bool WrapTlsOutput(BufferChains& chains, BufferChain& out, TlsSessionState& tls, int64_t now_ms);

// How many bytes of a `front_size`-byte front segment may be sent now: the framed prefix,
// and while the ServerHello flight is being fragmented, one piece of it.
inline uint32_t TlsSendableBytes(const TlsSessionState& tls, uint32_t front_size) {
  if (!tls.on()) return front_size;
  uint32_t n = front_size < tls.framed_bytes ? front_size : tls.framed_bytes;
  if (tls.flight_left > 0) {
    const uint32_t piece =
        tls.fragment_bytes < tls.flight_left ? tls.fragment_bytes : tls.flight_left;
    if (piece < n) n = piece;
  }
  return n;
}

// After `n` bytes of the output chain were sent.
inline void TlsOnSent(TlsSessionState& tls, uint32_t n) {
  if (!tls.on()) return;
  tls.framed_bytes -= n <= tls.framed_bytes ? n : tls.framed_bytes;
  tls.flight_left -= n <= tls.flight_left ? n : tls.flight_left;
}

}  // namespace mtp
