// Client secrets (-S / --mtproto-secret-file): parsing, link-secret forms, proxy links.
// Pure functions; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mtp {

inline constexpr size_t kClientSecretBytes = 16;
// The reference aborts on the 17th -S; we reject more than this many with an error instead.
inline constexpr size_t kMaxClientSecrets = 16;
// tdlib refuses fake-TLS domains longer than this (bytes after the 17-byte ee-prefix+secret).
inline constexpr size_t kMaxFakeTlsDomainBytes = 182;

// The raw 16 bytes every key derivation uses (never carries a dd/ee prefix).
using ClientSecret = std::array<uint8_t, kClientSecretBytes>;

// Parses the value of -S / --mtproto-secret: exactly 32 hex digits, case-insensitive, nothing
// else (no whitespace, no dd/ee prefix). Error (InvalidArgument) text is the reference's:
// "'S' option requires exactly 32 hex digits".
absl::StatusOr<ClientSecret> ParseClientSecretHex(std::string_view hex);

// Parses the content of a --mtproto-secret-file. Accepted, one secret per line:
//   * 32 hex digits (the -S form);
//   * a link secret (see ParseLinkSecret: dd+32 hex, ee+32 hex+hex(domain), or the base64url
//     encodings of those) — the prefix and domain are stripped, only the 16 key bytes are kept;
//   * blank lines; `#` starts a comment running to the end of the line (also after a secret);
//   * leading/trailing spaces, tabs and a CR before the LF are ignored.
// Errors (InvalidArgument) name the 1-based line. More than kMaxClientSecrets secrets is an
// error. Zero secrets is not an error (the caller decides). Duplicates are kept in order.
absl::StatusOr<std::vector<ClientSecret>> ParseClientSecretFile(std::string_view content);
// Reads `path` (at most 1 MiB) and parses it as above. NotFound if the file does not exist,
// other errors name the path.
absl::StatusOr<std::vector<ClientSecret>> LoadClientSecretFile(const std::string& path);

// 16 bytes from the CSPRNG.
ClientSecret GenerateClientSecret();

// What a client link's secret says (tdlib ProxySecret::from_binary):
enum class SecretMode : uint8_t {
  kPlain,    // 16 bytes: obfuscated2, client picks intermediate (or abridged)
  kPadded,   // 0xdd + 16 bytes: obfuscated2 with padded intermediate
  kFakeTls,  // 0xee + 16 bytes + domain: fake-TLS wrapping padded intermediate
};

struct LinkSecret {
  SecretMode mode = SecretMode::kPlain;
  ClientSecret secret{};
  std::string domain;  // non-empty only for kFakeTls
};

// Parses a link secret given as hex (case-insensitive) or base64url (with or without '='
// padding; '+' and '/' also accepted). Binary forms: 16 bytes; 0xdd + 16; 0xee + 16 + 1..182
// domain bytes (printable ASCII, no spaces). Anything else is InvalidArgument.
absl::StatusOr<LinkSecret> ParseLinkSecret(std::string_view text);

// Lower-case hex of the binary link secret: "<32 hex>", "dd<32 hex>" or "ee<32 hex><hex(domain)>".
std::string FormatLinkSecret(const LinkSecret& secret);
std::string FormatLinkSecret(SecretMode mode, const ClientSecret& secret,
                             std::string_view domain = {});

// "tg://proxy?server=H&port=P&secret=S" and "https://t.me/proxy?server=H&port=P&secret=S".
// `server` is a host name or IP literal (IPv6 without brackets, as Telegram expects);
// characters outside [A-Za-z0-9.-_~:] are percent-encoded. `link_secret` is used verbatim
// (normally the output of FormatLinkSecret).
std::string TgProxyLink(std::string_view server, uint16_t port, std::string_view link_secret);
std::string TmeProxyLink(std::string_view server, uint16_t port, std::string_view link_secret);

}  // namespace mtp
