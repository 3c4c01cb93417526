// Domain probing codecs (spec client-transports §6.10): the probe ClientHello, the parser of a
// real TLS 1.3 server's answer, and the rule that turns N answers into a TlsDomainProfile.
// The probing I/O lives elsewhere. Pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/bytes.h"
#include "proto/fake_tls_common.h"
#include "proto/fake_tls_server_hello.h"

namespace mtp {

// Number of probe connections and their deadline in the reference.
inline constexpr int kProbeConnections = 20;
inline constexpr int kProbeDeadlineMs = 5000;

// A 517-byte legacy hello (fresh GREASE, session id, X25519 key, random client random) with
// SNI = `domain`. Its session id is bytes [44, 76) (kHelloSessionIdOffset).
absl::StatusOr<std::vector<uint8_t>> BuildProbeClientHello(std::string_view domain);

enum class ProbeParseStatus : uint8_t { kNeedMore, kOk, kFailed };

struct ProbeAnswer {
  bool reversed_extension_order = false;  // supported_versions (0x2b) came first
  int app_data_length = 0;                // first application-data record length (> 0)
};

struct ProbeParse {
  ProbeParseStatus status = ProbeParseStatus::kNeedMore;
  size_t bytes_needed = 0;  // kNeedMore: total bytes required (read exactly up to this)
  size_t size = 0;          // kOk: bytes the answer occupied (later bytes are ignored)
  ProbeAnswer answer;       // kOk
  const char* error = "";   // kFailed: why (reference wording)
};

// Checks the bytes a server answered to a probe hello whose session id is `session_id`:
// a `16 03 03` ServerHello record (not a HelloRetryRequest) echoing the session id, choosing
// 13 01 with null compression, with exactly the extensions key_share (36 bytes) and
// supported_versions (2 bytes) in either order; then `14 03 03 00 01 01` and a `17 03 03`
// record of non-zero length. Only that first application-data record is read.
ProbeParse ParseProbeResponse(ByteSpan received, const TlsSessionId& session_id);

// ---- The post-quantum probe: what the site answers to a hello offering X25519MLKEM768 ----

// A current-app hello (BuildModernClientHello: key shares for X25519MLKEM768, a valid ML-KEM-768
// encapsulation key, and x25519) with SNI = `domain` and a random client random. Its session
// id is bytes [44, 76) too.
absl::StatusOr<std::vector<uint8_t>> BuildPqProbeClientHello(std::string_view domain);

struct PqProbeAnswer {
  uint16_t group = 0;          // the ServerHello's key_share group (0x11ec, 0x001d, ...)
  int server_hello_size = 0;   // the ServerHello record's length field (its payload bytes)
};

struct PqProbeParse {
  ProbeParseStatus status = ProbeParseStatus::kNeedMore;
  size_t bytes_needed = 0;  // kNeedMore: total bytes required
  PqProbeAnswer answer;     // kOk
  const char* error = "";   // kFailed: why
};

// Reads the ServerHello record a server answered to a BuildPqProbeClientHello hello (session id
// `session_id`): a TLS 1.3 ServerHello (not a HelloRetryRequest) echoing the session id, with
// any TLS 1.3 suite and a well-formed key_share extension; other extensions are skipped. Only
// the ServerHello record is read (what follows it does not matter here).
PqProbeParse ParsePqProbeResponse(ByteSpan received, const TlsSessionId& session_id);

// Aggregates successful answers (non-empty): reversed order only if every answer was reversed;
// size: all equal -> that size, fixed; max - min <= 3 -> max - 1, randomised; else the
// rounded mean, randomised. `mixed_order` reports disagreeing answers (worth a warning).
TlsDomainProfile AggregateProbeAnswers(std::span<const ProbeAnswer> answers,
                                       bool* mixed_order = nullptr);

// The profile used when probing failed: normal order, randomised, size 2500 + r % 1120.
TlsDomainProfile FallbackDomainProfile(uint32_t random_bits);
TlsDomainProfile FallbackDomainProfile();

}  // namespace mtp
