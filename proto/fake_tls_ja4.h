// JA4 fingerprint (FoxIO's TLS client fingerprint, e.g. "t13d1516h2_8daaf6152771_d8a2da3f94cd")
// of a ClientHello record, computed before the secret check so operators can see which client
// stacks (and which probers) reach the proxy. Pure function over the record bytes; any thread.
#pragma once

#include <optional>
#include <string>

#include "core/bytes.h"

namespace mtp {

// `record` is one ClientHello record (5-byte header + handshake message), as the proxy
// validates it (a fragmented hello re-framed first). Unlike ValidateClientHello this parser
// walks every field by its length. nullopt when the record is not a well-formed ClientHello.
//
//   a: "t" + version ("13" from the highest non-GREASE supported_versions entry, else the
//      legacy version) + "d" (SNI present) or "i" + 2-digit cipher count + 2-digit extension
//      count (GREASE excluded, capped at 99) + first and last character of the first ALPN
//      value ("00" without ALPN; its hex digits when a character is not alphanumeric);
//   b: first 12 hex digits of SHA-256 of the sorted cipher suites ("002f,1301,...");
//   c: the same over the sorted extensions without SNI and ALPN, then "_" and the signature
//      algorithms in their order ("000000000000" for an empty list).
std::optional<std::string> Ja4Fingerprint(ByteSpan record);

}  // namespace mtp
