// Proxy side of the fake-TLS ClientHello: framing, SNI, and the acceptance algorithm of
// spec client-transports §6.2-§6.4 in its exact order. Pure functions over byte spans; the
// only state (replay cache, clock) comes in as parameters. Any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "proto/fake_tls_common.h"
#include "proto/fake_tls_hello_reassembly.h"
#include "proto/fake_tls_replay_cache.h"

namespace mtp {

// ---- Framing (§6.2) --------------------------------------------------------------------------

enum class HelloFraming : uint8_t {
  kNeedMore,  // wait until `bytes_needed` bytes are buffered in total, then call again
  kNotTls,    // not a ClientHello record prefix: proxy-pass to the default domain
  kComplete,  // the whole record is buffered (maybe followed by more bytes: see validation)
};

struct HelloFrame {
  HelloFraming status = HelloFraming::kNeedMore;
  size_t bytes_needed = 0;  // kNeedMore: total bytes required
  size_t record_size = 0;   // kComplete (and kNeedMore once known): 5 + L
};

// True when `first4` (at least 4 bytes) starts a ClientHello record under the fixed upstream
// rule: `16 03 01` and record length >= 512 (4th byte >= 0x02).
bool IsClientHelloPrefix(ByteSpan first4);

// Framing of the first bytes of a connection in TLS-only mode. Waits for kClassifyMinBytes
// (reference minimum) before deciding anything, then for the whole 5 + L byte record (even when
// 5 + L > kMaxClientHelloBytes: the reference waits and then rejects it as "too big").
HelloFrame CheckClientHelloFraming(ByteSpan buffered);

// ---- SNI (§6.4 step 1) -----------------------------------------------------------------------

// The server name of the first server_name extension, walking extensions from 82 + CL and
// bounded only by `hello.size()` (not by the extensions length, as the reference does).
// nullopt when the walk runs off the end, the list/name lengths are inconsistent, the name
// type is not host_name, or the name contains a NUL byte. The span points into `hello`.
std::optional<ByteSpan> FindSni(ByteSpan hello);

// ---- -D domains: exact names and wildcards --------------------------------------------------

// A -D name is exact ("example.com": the SNI must equal it byte for byte, as the reference
// compares) or a wildcard ("*.example.com"). A wildcard matches an SNI of exactly one more
// label in front of its base: "a.example.com" and "x-1.example.com", not "example.com" and not
// "a.b.example.com" (the certificate rule, RFC 6125 §6.4.3). The label is 1..63 letters,
// digits, '-' or '_'; the base is compared byte for byte, like exact names. A wildcard is never
// an exact name (an SNI of "*.example.com" matches nothing).
bool IsWildcardDomain(std::string_view name);
// "example.com" for "*.example.com"; `name` itself for an exact name.
std::string_view WildcardBase(std::string_view name);
// True when `label` may stand in front of a wildcard's base (1..63 letters, digits, '-', '_').
bool IsWildcardLabel(std::string_view label);

// The index in `domains` of the -D name the SNI selects: an exact name wins over every
// wildcard; otherwise the first matching wildcard in -D order. nullopt when none matches.
std::optional<size_t> MatchSniDomain(ByteSpan sni, std::span<const std::string> domains);

// ---- Timestamp window (§6.4 step 8) ----------------------------------------------------------

// The reference's is_allowed_timestamp: accepted iff ts <= now + 3 and
// (ts > oldest_entry + 3 or ts > now - 600). `oldest_entry_s` is the replay cache's oldest
// entry (nullopt = empty cache, which ValidateClientHello never passes: it inserts first).
bool IsAllowedTimestamp(int32_t ts, int64_t now_s, std::optional<int64_t> oldest_entry_s);

// ---- Acceptance (§6.4) -----------------------------------------------------------------------

// Outcome of ValidateClientHello. Rejections are listed in the order they are checked.
enum class ClientHelloStatus : uint8_t {
  kNeedMore,       // not enough bytes yet (HelloFrame::bytes_needed)
  kAccept,         // send the ServerHello
  kNotTls,         // first bytes are not a ClientHello record prefix (or no secret configured)
  kBadSni,         // SNI missing or malformed                       -> default domain
  kUnknownSni,     // well-formed SNI naming no configured domain    -> default domain
  kPort80,         // connection arrived on local port 80            -> matched domain (port 80)
  kExtraBytes,     // bytes buffered after the record                -> matched domain
  kTooBig,         // 5 + L > 4096                                   -> matched domain
  kReplay,         // client random digest already in the cache      -> matched domain
  kBadDigest,      // no secret's HMAC matches                        -> matched domain
  kBadTimestamp,   // outside the allowed window                     -> matched domain
  kNoTls13Cipher,  // first non-GREASE suite is not 13 01/02/03       -> matched domain
  // Not from ValidateClientHello: a hello fragmented over several records that cannot be
  // reassembled (fake_tls_hello_reassembly.h)                        -> default domain
  kBadFragments,
};

// Short stable name ("bad_sni", "replay", ...) for logs and stats.
const char* ClientHelloStatusName(ClientHelloStatus status);

struct ClientHelloConfig {
  std::span<const ClientSecret> secrets;  // -S order: HMAC tried in this order
  std::span<const std::string> domains;   // -D order: [0] is the default domain; non-empty;
                                          // exact names or wildcards (MatchSniDomain)
};

struct ClientHelloResult {
  ClientHelloStatus status = ClientHelloStatus::kNeedMore;
  size_t bytes_needed = 0;  // kNeedMore: total bytes required before calling again
  // Rejections: index in ClientHelloConfig::domains of the site to proxy-pass to (0 = default).
  // kAccept: the SNI-matched domain, whose probe profile shapes the ServerHello.
  size_t domain_index = 0;

  // Valid for kAccept only:
  size_t record_size = 0;   // bytes the hello occupies (consume exactly these)
  size_t secret_index = 0;  // which -S secret authenticated it (keys the ServerHello HMAC)
  int32_t timestamp = 0;    // the client's unix time
  uint8_t cipher_suite = 0; // second byte of the chosen TLS 1.3 suite 13 xx (1..3)
  TlsRandom client_random{};
  TlsSessionId session_id{};
  // Groups offered with a well-formed key share (KeyShareGroupBit bits, UsableKeyShareGroups):
  // MakeServerHelloParams picks the ServerHello's group from them.
  uint8_t key_share_groups = 0;
  // Set by callers that reassemble fragmented hellos: the records the hello came in (0 = not
  // reassembled) and, for kBadFragments, why reassembly failed.
  uint16_t records = 0;
  HelloReassemblyError fragments_error = HelloReassemblyError::kNone;

  bool accepted() const { return status == ClientHelloStatus::kAccept; }
  bool need_more() const { return status == ClientHelloStatus::kNeedMore; }
  // True for every rejection: the caller proxy-passes to domains[domain_index].
  bool rejected() const { return !accepted() && !need_more(); }
};

// Runs §6.2 framing and the §6.4 algorithm over everything buffered so far on a new TLS-only
// connection. Touches `replay_cache` only once SNI, port and size checks passed, and then
// always inserts before authenticating (as the reference does: unauthenticated hellos also
// populate the cache). Computes one HMAC-SHA256 over the record per secret until one matches.
ClientHelloResult ValidateClientHello(ByteSpan buffered, const ClientHelloConfig& config,
                                      uint16_t local_port, int64_t now_s,
                                      ReplayCache& replay_cache);

}  // namespace mtp
