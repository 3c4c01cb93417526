// Probe hello, probe-answer parsing and aggregation (spec §6.10).
#include "proto/fake_tls_probe.h"

#include <algorithm>
#include <cstring>

#include "proto/fake_tls_client.h"
#include "crypto/random.h"

namespace mtp {
namespace {

// The fixed random of a TLS 1.3 HelloRetryRequest (RFC 8446 §4.1.3).
constexpr uint8_t kHelloRetryRandom[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
constexpr uint16_t kKeyShareExt = 0x33;
constexpr uint16_t kSupportedVersionsExt = 0x2b;

ProbeParse Fail(const char* why) {
  ProbeParse p;
  p.status = ProbeParseStatus::kFailed;
  p.error = why;
  return p;
}

ProbeParse NeedMore(size_t total) {
  ProbeParse p;
  p.bytes_needed = total;
  return p;
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildProbeClientHello(std::string_view domain) {
  absl::StatusOr<std::vector<uint8_t>> hello =
      BuildLegacyClientHello(domain, LegacyHelloRandoms::Fresh());
  if (hello.ok()) SecureRandom(MutableByteSpan(*hello).subspan(kHelloRandomOffset, 32));
  return hello;
}

absl::StatusOr<std::vector<uint8_t>> BuildPqProbeClientHello(std::string_view domain) {
  absl::StatusOr<std::vector<uint8_t>> hello = BuildModernClientHello(domain);
  if (hello.ok()) SecureRandom(MutableByteSpan(*hello).subspan(kHelloRandomOffset, 32));
  return hello;
}

PqProbeParse ParsePqProbeResponse(ByteSpan received, const TlsSessionId& session_id) {
  PqProbeParse p;
  auto fail = [&p](const char* why) {
    p.status = ProbeParseStatus::kFailed;
    p.error = why;
    return p;
  };
  const uint8_t* r = received.data();
  const size_t len = received.size();
  if (len < 5) {
    p.bytes_needed = 5;
    return p;
  }
  if (r[0] != 0x16 || r[1] != 0x03 || r[2] != 0x03) return fail("not a TLS handshake record");
  const size_t hello_len = LoadBe16(r + 3);
  const size_t end = 5 + hello_len;
  if (len < end) {
    p.bytes_needed = end;
    return p;
  }
  // type, length (3), version (2), random (32), session id (1 + 32), suite (2), compression.
  if (hello_len < 4 + 2 + 32 + 33 + 3 + 2) return fail("ServerHello too short");
  if (r[5] != 0x02 || r[9] != 0x03 || r[10] != 0x03) return fail("not a ServerHello");
  if (std::memcmp(r + 11, kHelloRetryRandom, 32) == 0) return fail("HelloRetryRequest");
  if (r[43] != 0x20 || std::memcmp(r + 44, session_id.data(), 32) != 0) {
    return fail("session id not echoed");
  }
  if (r[76] != 0x13 || r[77] < 0x01 || r[77] > 0x05 || r[78] != 0x00) {
    return fail("not a TLS 1.3 cipher suite");
  }
  if (size_t{81} + LoadBe16(r + 79) != end) return fail("wrong extensions length");
  size_t pos = 81;
  while (pos + 4 <= end) {
    const uint16_t id = LoadBe16(r + pos);
    const size_t ext_len = LoadBe16(r + pos + 2);
    pos += 4;
    if (pos + ext_len > end) return fail("wrong extension length");
    if (id == kKeyShareExt) {
      if (ext_len < 4 || size_t{4} + LoadBe16(r + pos + 2) != ext_len) return fail("bad key_share");
      p.answer.group = LoadBe16(r + pos);
    }
    pos += ext_len;
  }
  if (pos != end) return fail("wrong extensions list");
  if (p.answer.group == 0) return fail("no key_share");
  p.answer.server_hello_size = static_cast<int>(hello_len);
  p.status = ProbeParseStatus::kOk;
  return p;
}

ProbeParse ParseProbeResponse(ByteSpan received, const TlsSessionId& session_id) {
  const uint8_t* r = received.data();
  const size_t len = received.size();
  if (len < 5) return NeedMore(5);
  if (r[0] != 0x16 || r[1] != 0x03 || r[2] != 0x03) return Fail("Non-TLS response or TLS <= 1.1");
  const size_t hello_len = LoadBe16(r + 3);
  if (hello_len <= 39) return Fail("Receive too short ServerHello");
  // The handshake record, then CCS (6 bytes) and the application-data record header (5).
  const size_t head_end = 5 + hello_len;
  if (len < head_end + 11) return NeedMore(head_end + 11);

  if (r[5] != 0x02 || r[6] != 0x00) return Fail("Non-TLS response 2");
  if (r[9] != 0x03 || r[10] != 0x03) return Fail("Non-TLS response 3");
  if (std::memcmp(r + 11, kHelloRetryRandom, 32) == 0) {
    return Fail("TLS 1.3 servers returning HelloRetryRequest are not supported");
  }
  if (r[43] == 0x00) return Fail("TLS <= 1.2: empty session_id");
  if (r[43] != 0x20) return Fail("Non-TLS response 4");
  if (hello_len <= 75) return Fail("Receive too short server hello 2");
  if (std::memcmp(r + 44, session_id.data(), 32) != 0) {
    return Fail("TLS <= 1.2: expected mirrored session_id");
  }
  if (r[76] != 0x13 || r[77] != 0x01 || r[78] != 0x00) {
    return Fail("TLS <= 1.2: expected TLS_AES_128_GCM_SHA256 as the chosen cipher");
  }
  if (LoadBe16(r + 79) + size_t{76} != hello_len) return Fail("Receive wrong extensions length");

  ProbeAnswer answer;
  size_t pos = 81;
  uint32_t id_sum = 0;
  while (pos + 4 < head_end) {
    const uint16_t id = LoadBe16(r + pos);
    const size_t ext_len = LoadBe16(r + pos + 2);
    if (id != kKeyShareExt && id != kSupportedVersionsExt) return Fail("Receive unexpected extension");
    if (pos == 81) answer.reversed_extension_order = id == kSupportedVersionsExt;
    id_sum += id;
    pos += 4;
    if (pos + ext_len > head_end) return Fail("Receive wrong extension length");
    if (ext_len != (id == kKeyShareExt ? 36u : 2u)) return Fail("Unexpected extension length");
    pos += ext_len;
  }
  if (id_sum != kKeyShareExt + kSupportedVersionsExt) return Fail("Receive duplicate extensions");
  if (pos != head_end) return Fail("Receive wrong extensions list");

  static constexpr uint8_t kCcs[6] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01};
  if (std::memcmp(r + pos, kCcs, sizeof(kCcs)) != 0) return Fail("Expected dummy ChangeCipherSpec");
  if (r[pos + 6] != 0x17 || r[pos + 7] != 0x03 || r[pos + 8] != 0x03) {
    return Fail("Expected encrypted application data");
  }
  answer.app_data_length = LoadBe16(r + pos + 9);
  if (answer.app_data_length == 0) return Fail("Receive empty encrypted application data");
  const size_t total = head_end + 11 + static_cast<size_t>(answer.app_data_length);
  if (len < total) return NeedMore(total);

  ProbeParse p;
  p.status = ProbeParseStatus::kOk;
  p.size = total;
  p.answer = answer;
  return p;
}

TlsDomainProfile AggregateProbeAnswers(std::span<const ProbeAnswer> answers, bool* mixed_order) {
  TlsDomainProfile profile;
  if (answers.empty()) return FallbackDomainProfile();
  bool all_reversed = true;
  bool any_reversed = false;
  int min_len = answers[0].app_data_length;
  int max_len = min_len;
  int64_t sum = 0;
  for (const ProbeAnswer& a : answers) {
    all_reversed = all_reversed && a.reversed_extension_order;
    any_reversed = any_reversed || a.reversed_extension_order;
    min_len = std::min(min_len, a.app_data_length);
    max_len = std::max(max_len, a.app_data_length);
    sum += a.app_data_length;
  }
  if (mixed_order != nullptr) *mixed_order = all_reversed != any_reversed;
  profile.reversed_extension_order = all_reversed;
  if (min_len == max_len) {
    profile.encrypted_size = min_len;
    profile.randomize_size = false;
  } else if (max_len - min_len <= 3) {
    profile.encrypted_size = max_len - 1;
    profile.randomize_size = true;
  } else {
    profile.encrypted_size =
        static_cast<int>(static_cast<double>(sum) / static_cast<double>(answers.size()) + 0.5);
    profile.randomize_size = true;
  }
  return profile;
}

TlsDomainProfile FallbackDomainProfile(uint32_t random_bits) {
  TlsDomainProfile profile;
  profile.reversed_extension_order = false;
  profile.randomize_size = true;
  profile.encrypted_size = 2500 + static_cast<int>(random_bits % 1120);
  return profile;
}

TlsDomainProfile FallbackDomainProfile() {
  return FallbackDomainProfile(static_cast<uint32_t>(FastRandom64()));
}

}  // namespace mtp
