// Client secrets: strict -S parsing, secret files, link-secret forms and proxy links.
#include "crypto/secret.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/hex.h"
#include "crypto/random.h"

namespace mtp {
namespace {

constexpr uint8_t kPaddedPrefix = 0xdd;
constexpr uint8_t kFakeTlsPrefix = 0xee;
constexpr size_t kMaxSecretFileBytes = 1 << 20;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsStrictHex(std::string_view text) {
  if (text.empty() || text.size() % 2 != 0) return false;
  for (char c : text) {
    if (HexValue(c) < 0) return false;
  }
  return true;
}

std::vector<uint8_t> DecodeStrictHex(std::string_view text) {
  std::vector<uint8_t> out(text.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint8_t>((HexValue(text[2 * i]) << 4) | HexValue(text[2 * i + 1]));
  }
  return out;
}

bool DecodeBase64Any(std::string_view text, std::string* out) {
  // Accept both alphabets: map the standard one onto the web-safe one first.
  std::string normalized(text);
  for (char& c : normalized) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return absl::WebSafeBase64Unescape(absl::string_view(normalized.data(), normalized.size()), out);
}

// Debian's abseil has its own string_view type, so trim std::string_view by hand.
std::string_view TrimSpace(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

bool IsDomainByte(uint8_t c) { return c > 0x20 && c < 0x7f; }

absl::StatusOr<LinkSecret> FromBinary(std::span<const uint8_t> bin) {
  LinkSecret result;
  if (bin.size() == kClientSecretBytes) {
    result.mode = SecretMode::kPlain;
    std::memcpy(result.secret.data(), bin.data(), kClientSecretBytes);
    return result;
  }
  if (bin.size() == kClientSecretBytes + 1 && bin[0] == kPaddedPrefix) {
    result.mode = SecretMode::kPadded;
    std::memcpy(result.secret.data(), bin.data() + 1, kClientSecretBytes);
    return result;
  }
  if (bin.size() >= kClientSecretBytes + 2 && bin[0] == kFakeTlsPrefix) {
    size_t domain_bytes = bin.size() - 1 - kClientSecretBytes;
    if (domain_bytes > kMaxFakeTlsDomainBytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "fake-TLS domain in link secret is %d bytes, at most %d allowed", domain_bytes,
          kMaxFakeTlsDomainBytes));
    }
    result.mode = SecretMode::kFakeTls;
    std::memcpy(result.secret.data(), bin.data() + 1, kClientSecretBytes);
    for (size_t i = 1 + kClientSecretBytes; i < bin.size(); ++i) {
      if (!IsDomainByte(bin[i])) {
        return absl::InvalidArgumentError("fake-TLS domain in link secret is not printable ASCII");
      }
      result.domain.push_back(static_cast<char>(bin[i]));
    }
    return result;
  }
  return absl::InvalidArgumentError(
      "link secret must be 16 bytes, dd + 16 bytes, or ee + 16 bytes + domain");
}

void AppendPercentEncoded(std::string* out, std::string_view text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_' || c == '~' || c == ':') {
      out->push_back(ch);
    } else {
      out->push_back('%');
      out->push_back(kDigits[c >> 4]);
      out->push_back(kDigits[c & 15]);
    }
  }
}

std::string ProxyLink(std::string_view prefix, std::string_view server, uint16_t port,
                      std::string_view link_secret) {
  std::string out(prefix);
  out += "?server=";
  AppendPercentEncoded(&out, server);
  out += "&port=" + std::to_string(port) + "&secret=";
  out += link_secret;
  return out;
}

}  // namespace

absl::StatusOr<ClientSecret> ParseClientSecretHex(std::string_view hex) {
  if (hex.size() != 2 * kClientSecretBytes || !IsStrictHex(hex)) {
    return absl::InvalidArgumentError("'S' option requires exactly 32 hex digits");
  }
  std::vector<uint8_t> bin = DecodeStrictHex(hex);
  ClientSecret secret;
  std::memcpy(secret.data(), bin.data(), kClientSecretBytes);
  return secret;
}

absl::StatusOr<LinkSecret> ParseLinkSecret(std::string_view text) {
  if (IsStrictHex(text)) return FromBinary(DecodeStrictHex(text));
  std::string bin;
  if (text.empty() || !DecodeBase64Any(text, &bin)) {
    return absl::InvalidArgumentError("link secret is neither hex nor base64url");
  }
  return FromBinary(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bin.data()), bin.size()));
}

absl::StatusOr<std::vector<ClientSecret>> ParseClientSecretFile(std::string_view content) {
  std::vector<ClientSecret> secrets;
  size_t line_number = 0;
  while (!content.empty()) {
    ++line_number;
    size_t eol = content.find('\n');
    std::string_view line = content.substr(0, eol);
    content = eol == std::string_view::npos ? std::string_view() : content.substr(eol + 1);
    line = line.substr(0, line.find('#'));
    line = TrimSpace(line);
    if (line.empty()) continue;
    absl::StatusOr<LinkSecret> parsed = ParseLinkSecret(line);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "secret file line %d: expected 32 hex digits or a dd/ee link secret (%s)", line_number,
          parsed.status().message()));
    }
    if (secrets.size() == kMaxClientSecrets) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "secret file line %d: more than %d secrets", line_number, kMaxClientSecrets));
    }
    secrets.push_back(parsed->secret);
  }
  return secrets;
}

absl::StatusOr<std::vector<ClientSecret>> LoadClientSecretFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    int err = errno;
    std::string message = absl::StrFormat("cannot open secret file %s: %s", path, strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    return absl::InvalidArgumentError(message);
  }
  std::string content;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    content.append(buf, n);
    if (content.size() > kMaxSecretFileBytes) break;
  }
  bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  if (read_error) return absl::InvalidArgumentError("cannot read secret file " + path);
  if (content.size() > kMaxSecretFileBytes) {
    return absl::InvalidArgumentError("secret file " + path + " is larger than 1 MiB");
  }
  absl::StatusOr<std::vector<ClientSecret>> secrets = ParseClientSecretFile(content);
  if (!secrets.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", secrets.status().message()));
  }
  return secrets;
}

ClientSecret GenerateClientSecret() {
  ClientSecret secret;
  SecureRandom(secret);
  return secret;
}

std::string FormatLinkSecret(SecretMode mode, const ClientSecret& secret,
                             std::string_view domain) {
  std::string out;
  switch (mode) {
    case SecretMode::kPlain:
      return HexEncode(secret);
    case SecretMode::kPadded:
      return "dd" + HexEncode(secret);
    case SecretMode::kFakeTls:
      out = "ee" + HexEncode(secret);
      out += HexEncode(ByteSpan(reinterpret_cast<const uint8_t*>(domain.data()), domain.size()));
      return out;
  }
  return out;
}

std::string FormatLinkSecret(const LinkSecret& secret) {
  return FormatLinkSecret(secret.mode, secret.secret, secret.domain);
}

std::string TgProxyLink(std::string_view server, uint16_t port, std::string_view link_secret) {
  return ProxyLink("tg://proxy", server, port, link_secret);
}

std::string TmeProxyLink(std::string_view server, uint16_t port, std::string_view link_secret) {
  return ProxyLink("https://t.me/proxy", server, port, link_secret);
}

}  // namespace mtp
