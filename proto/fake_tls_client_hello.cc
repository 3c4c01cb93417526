// ClientHello framing, SNI extraction and the acceptance algorithm (spec §6.2-§6.4).
#include "proto/fake_tls_client_hello.h"

#include <algorithm>
#include <cstring>

#include "crypto/hash.h"
#include "proto/fake_tls_key_share.h"

namespace mtp {
namespace {

constexpr uint8_t kZeroRandom[32] = {};
constexpr int64_t kFutureSlackS = 3;
constexpr int64_t kMaxTimestampErrorS = 600;

bool IsGreaseSuite(const uint8_t* p) { return (p[0] & 0x0F) == 0x0A && (p[1] & 0x0F) == 0x0A; }

constexpr std::string_view kWildcardPrefix = "*.";
constexpr size_t kMaxLabelBytes = 63;

// Letters, digits, '-' and '_' (seen in real host names): what a wildcard's label may hold.
bool IsLabelByte(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool BytesEqual(ByteSpan a, std::string_view b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

ClientHelloResult Reject(ClientHelloStatus status, size_t domain_index) {
  ClientHelloResult r;
  r.status = status;
  r.domain_index = domain_index;
  return r;
}

}  // namespace

bool IsWildcardDomain(std::string_view name) {
  return name.size() > kWildcardPrefix.size() && name.starts_with(kWildcardPrefix);
}

std::string_view WildcardBase(std::string_view name) {
  return IsWildcardDomain(name) ? name.substr(kWildcardPrefix.size()) : name;
}

bool IsWildcardLabel(std::string_view label) {
  return !label.empty() && label.size() <= kMaxLabelBytes &&
         std::all_of(label.begin(), label.end(),
                     [](char c) { return IsLabelByte(static_cast<uint8_t>(c)); });
}

std::optional<size_t> MatchSniDomain(ByteSpan sni, std::span<const std::string> domains) {
  for (size_t i = 0; i < domains.size(); ++i) {
    if (!IsWildcardDomain(domains[i]) && BytesEqual(sni, domains[i])) return i;
  }
  // One label in front of a wildcard's base: the first '.' of the SNI ends the label.
  const uint8_t* dot = static_cast<const uint8_t*>(std::memchr(sni.data(), '.', sni.size()));
  if (dot == nullptr) return std::nullopt;
  const size_t label = static_cast<size_t>(dot - sni.data());
  if (label == 0 || label > kMaxLabelBytes) return std::nullopt;
  if (!std::all_of(sni.data(), dot, IsLabelByte)) return std::nullopt;
  const ByteSpan base = sni.subspan(label + 1);
  for (size_t i = 0; i < domains.size(); ++i) {
    if (IsWildcardDomain(domains[i]) && BytesEqual(base, WildcardBase(domains[i]))) return i;
  }
  return std::nullopt;
}

bool IsClientHelloPrefix(ByteSpan first4) {
  return first4.size() >= 4 && first4[0] == kTlsHandshake && first4[1] == 0x03 &&
         first4[2] == 0x01 && first4[3] >= 0x02;
}

HelloFrame CheckClientHelloFraming(ByteSpan buffered) {
  HelloFrame f;
  if (buffered.size() < kClassifyMinBytes) {
    f.bytes_needed = kClassifyMinBytes;
    return f;
  }
  if (!IsClientHelloPrefix(buffered)) {
    f.status = HelloFraming::kNotTls;
    return f;
  }
  f.record_size = kTlsRecordHeaderSize + LoadBe16(buffered.data() + 3);
  if (buffered.size() < f.record_size) {
    f.bytes_needed = f.record_size;
    return f;
  }
  f.status = HelloFraming::kComplete;
  return f;
}

std::optional<ByteSpan> FindSni(ByteSpan hello) {
  const size_t len = hello.size();
  const uint8_t* p = hello.data();
  size_t pos = kHelloCipherSuitesOffset;
  auto fits = [&](size_t n) { return pos <= len && n <= len - pos; };
  if (!fits(2)) return std::nullopt;
  const size_t cipher_suites_length = LoadBe16(p + pos);
  pos += 2;
  // Suites, then compression methods (2 bytes assumed) and the extensions length (2 bytes).
  if (!fits(cipher_suites_length + 4)) return std::nullopt;
  pos += cipher_suites_length + 4;
  for (;;) {
    if (!fits(4)) return std::nullopt;
    const uint16_t type = LoadBe16(p + pos);
    const size_t ext_len = LoadBe16(p + pos + 2);
    pos += 4;
    if (!fits(ext_len)) return std::nullopt;
    if (type == 0x0000) {
      // server_name: list length, name type (0 = host_name), name length, name.
      if (!fits(5)) return std::nullopt;
      if (ext_len < 5) return std::nullopt;
      if (LoadBe16(p + pos) != ext_len - 2) return std::nullopt;
      if (p[pos + 2] != 0) return std::nullopt;
      const size_t name_len = LoadBe16(p + pos + 3);
      if (name_len != ext_len - 5) return std::nullopt;
      ByteSpan name = hello.subspan(pos + 5, name_len);
      if (std::find(name.begin(), name.end(), uint8_t{0}) != name.end()) return std::nullopt;
      return name;
    }
    pos += ext_len;
  }
}

bool IsAllowedTimestamp(int32_t ts, int64_t now_s, std::optional<int64_t> oldest_entry_s) {
  if (ts > now_s + kFutureSlackS) return false;
  // Anything newer than the oldest cached hello would have been caught by the cache if it
  // were a replay.
  if (oldest_entry_s.has_value() && ts > *oldest_entry_s + kFutureSlackS) return true;
  // Recent enough to tolerate a client whose clock was just synchronised.
  return ts > now_s - kMaxTimestampErrorS;
}

const char* ClientHelloStatusName(ClientHelloStatus status) {
  switch (status) {
    case ClientHelloStatus::kNeedMore: return "need_more";
    case ClientHelloStatus::kAccept: return "accept";
    case ClientHelloStatus::kNotTls: return "not_tls";
    case ClientHelloStatus::kBadSni: return "bad_sni";
    case ClientHelloStatus::kUnknownSni: return "unknown_sni";
    case ClientHelloStatus::kPort80: return "port80";
    case ClientHelloStatus::kExtraBytes: return "extra_bytes";
    case ClientHelloStatus::kTooBig: return "too_big";
    case ClientHelloStatus::kReplay: return "replay";
    case ClientHelloStatus::kBadDigest: return "bad_digest";
    case ClientHelloStatus::kBadTimestamp: return "bad_timestamp";
    case ClientHelloStatus::kNoTls13Cipher: return "no_tls13_cipher";
    case ClientHelloStatus::kBadFragments: return "bad_fragments";
  }
  return "?";
}

ClientHelloResult ValidateClientHello(ByteSpan buffered, const ClientHelloConfig& config,
                                      uint16_t local_port, int64_t now_s,
                                      ReplayCache& replay_cache) {
  // §2 item 4: without a secret the connection is not treated as TLS at all.
  if (config.secrets.empty() && buffered.size() >= kClassifyMinBytes) {
    return Reject(ClientHelloStatus::kNotTls, 0);
  }
  const HelloFrame frame = CheckClientHelloFraming(buffered);
  switch (frame.status) {
    case HelloFraming::kNeedMore: {
      ClientHelloResult r;
      r.bytes_needed = frame.bytes_needed;
      return r;
    }
    case HelloFraming::kNotTls:
      return Reject(ClientHelloStatus::kNotTls, 0);
    case HelloFraming::kComplete:
      break;
  }

  // 1. SNI, parsed over at most the first 4096 buffered bytes.
  const ByteSpan visible = buffered.first(std::min(buffered.size(), kMaxClientHelloBytes));
  const std::optional<ByteSpan> sni = FindSni(visible);
  if (!sni) return Reject(ClientHelloStatus::kBadSni, 0);
  const std::optional<size_t> domain = MatchSniDomain(*sni, config.domains);
  if (!domain) return Reject(ClientHelloStatus::kUnknownSni, 0);
  const size_t d = *domain;

  // 2-3. Port 80, then size checks.
  if (local_port == 80) return Reject(ClientHelloStatus::kPort80, d);
  if (buffered.size() > frame.record_size) return Reject(ClientHelloStatus::kExtraBytes, d);
  if (frame.record_size > kMaxClientHelloBytes) return Reject(ClientHelloStatus::kTooBig, d);
  const ByteSpan record = buffered.first(frame.record_size);

  // 4-6. Replay check and insertion, before authentication (reference order).
  TlsRandom client_random;
  std::memcpy(client_random.data(), record.data() + kHelloRandomOffset, client_random.size());
  ReplayKey key;
  std::memcpy(key.data(), client_random.data(), key.size());
  if (replay_cache.CheckAndInsert(key, now_s)) return Reject(ClientHelloStatus::kReplay, d);

  // 7. Digest: HMAC over the record with the random zeroed, for every secret in order.
  const ByteSpan head = record.first(kHelloRandomOffset);
  const ByteSpan tail = record.subspan(kHelloRandomOffset + 32);
  size_t secret_index = 0;
  Sha256Digest digest{};
  for (; secret_index < config.secrets.size(); ++secret_index) {
    digest = HmacSha256(config.secrets[secret_index], {head, ByteSpan(kZeroRandom), tail});
    if (std::memcmp(digest.data(), client_random.data(), 28) == 0) break;
  }
  if (secret_index == config.secrets.size()) return Reject(ClientHelloStatus::kBadDigest, d);

  // 8. Timestamp.
  const int32_t ts = static_cast<int32_t>(LoadLe32(digest.data() + 28) ^
                                          LoadLe32(client_random.data() + 28));
  if (!IsAllowedTimestamp(ts, now_s, replay_cache.OldestEntryTime())) {
    return Reject(ClientHelloStatus::kBadTimestamp, d);
  }

  // 9. First non-GREASE cipher suite must be TLS 1.3.
  size_t pos = kHelloCipherSuitesOffset + 2;
  size_t suites_left = LoadBe16(record.data() + kHelloCipherSuitesOffset);
  if (pos + suites_left > record.size()) return Reject(ClientHelloStatus::kNoTls13Cipher, d);
  while (suites_left >= 2 && IsGreaseSuite(record.data() + pos)) {
    suites_left -= 2;
    pos += 2;
  }
  if (suites_left < 2 || record[pos] != 0x13 || record[pos + 1] < 0x01 || record[pos + 1] > 0x03) {
    return Reject(ClientHelloStatus::kNoTls13Cipher, d);
  }

  ClientHelloResult r;
  r.status = ClientHelloStatus::kAccept;
  r.domain_index = d;
  r.record_size = frame.record_size;
  r.secret_index = secret_index;
  r.timestamp = ts;
  r.cipher_suite = record[pos + 1];
  r.client_random = client_random;
  std::memcpy(r.session_id.data(), record.data() + kHelloSessionIdOffset, r.session_id.size());
  r.key_share_groups = UsableKeyShareGroups(ParseKeyShares(record));
  return r;
}

}  // namespace mtp
