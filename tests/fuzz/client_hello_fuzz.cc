// Fuzz target: the fake-TLS handshake parsers. Byte 0 bits 0-1 pick the mode:
//   0  ValidateClientHello over arbitrary buffered bytes (bits 2-3: secret count - 1,
//      bit 4: local port 80, bits 5-7: clock choice), then the ServerHello round trip
//      through the client's check for anything accepted;
//   1  build a signed hello (legacy or modern) for a fuzzed domain/timestamp: must be accepted;
//   2  ParseProbeResponse over an arbitrary server answer;
//   3  VerifyServerHello over arbitrary bytes.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "proto/fake_tls.h"

namespace {

#define FUZZ_CHECK(cond)         \
  do {                           \
    if (!(cond)) std::abort();   \
  } while (0)

constexpr mtp::ClientSecret kVectorSecret = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                             0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
// D.1 and D.3 clocks first so corpus hellos built from the vectors validate.
constexpr int64_t kClocks[8] = {1700000000, 1795452933, 1700000003, 1700000600,
                                1699999400, 0,          2147483647, 1700086400};

std::vector<mtp::ClientSecret> Secrets(size_t count) {
  std::vector<mtp::ClientSecret> secrets(count);
  for (size_t i = 0; i < count; ++i) {
    for (size_t j = 0; j < 16; ++j) secrets[i][j] = static_cast<uint8_t>(i * 31 + j * 3 + 7);
  }
  secrets[count - 1] = kVectorSecret;  // tried last: every other HMAC runs first
  return secrets;
}

const std::vector<std::string>& Domains() {
  static const std::vector<std::string> domains = {"example.com", "localhost"};
  return domains;
}

// The accepted hello answered with a ServerHello must pass the client's own check.
void CheckServerHelloRoundTrip(const mtp::ClientHelloResult& r,
                               const std::vector<mtp::ClientSecret>& secrets, uint32_t bits) {
  const mtp::TlsDomainProfile profile{(bits & 1) != 0, static_cast<int>(bits % 3000), true};
  const mtp::ServerHelloParams params =
      mtp::MakeServerHelloParams(r, secrets[r.secret_index], profile);
  std::vector<uint8_t> out(mtp::ServerHelloSize(mtp::PickEncryptedSize(profile, bits >> 8)));
  mtp::WriteServerHelloFresh(params, out);
  const mtp::ServerHelloCheck check = mtp::VerifyServerHello(secrets[r.secret_index],
                                                             r.client_random, out);
  FUZZ_CHECK(check.status == mtp::ServerHelloCheckStatus::kOk && check.size == out.size());
}

void ValidateRaw(uint8_t control, mtp::ByteSpan bytes) {
  const std::vector<mtp::ClientSecret> secrets = Secrets(((control >> 2) & 3) + 1);
  const uint16_t port = (control & 0x10) ? 80 : 443;
  const int64_t now = kClocks[control >> 5];
  mtp::SimpleReplayCache cache;
  const mtp::ClientHelloConfig config{secrets, Domains()};
  const mtp::ClientHelloResult r = mtp::ValidateClientHello(bytes, config, port, now, cache);
  FUZZ_CHECK(r.domain_index < Domains().size());
  switch (r.status) {
    case mtp::ClientHelloStatus::kNeedMore:
      FUZZ_CHECK(r.bytes_needed > bytes.size());
      FUZZ_CHECK(cache.size() == 0);
      return;
    case mtp::ClientHelloStatus::kNotTls:
    case mtp::ClientHelloStatus::kBadSni:
    case mtp::ClientHelloStatus::kUnknownSni:
      FUZZ_CHECK(r.domain_index == 0 && cache.size() == 0);
      return;
    case mtp::ClientHelloStatus::kPort80:
      FUZZ_CHECK(port == 80);
      [[fallthrough]];
    case mtp::ClientHelloStatus::kExtraBytes:
    case mtp::ClientHelloStatus::kTooBig:
      FUZZ_CHECK(cache.size() == 0);
      return;
    case mtp::ClientHelloStatus::kReplay:
    case mtp::ClientHelloStatus::kBadFragments:
      std::abort();  // impossible with a fresh cache; bad_fragments only comes from reassembly
    case mtp::ClientHelloStatus::kBadDigest:
    case mtp::ClientHelloStatus::kBadTimestamp:
    case mtp::ClientHelloStatus::kNoTls13Cipher:
      FUZZ_CHECK(cache.size() == 1);
      return;
    case mtp::ClientHelloStatus::kAccept:
      break;
  }
  FUZZ_CHECK(port != 80 && cache.size() == 1);
  FUZZ_CHECK(r.record_size == bytes.size() && r.record_size <= mtp::kMaxClientHelloBytes);
  FUZZ_CHECK(r.secret_index < secrets.size());
  FUZZ_CHECK(r.cipher_suite >= 1 && r.cipher_suite <= 3);
  FUZZ_CHECK(mtp::IsAllowedTimestamp(r.timestamp, now, now));
  FUZZ_CHECK(std::memcmp(r.client_random.data(), bytes.data() + 11, 32) == 0);
  const std::optional<mtp::ByteSpan> sni = mtp::FindSni(bytes);
  FUZZ_CHECK(sni.has_value() && sni->data() >= bytes.data() &&
             sni->data() + sni->size() <= bytes.data() + bytes.size());
  const std::string& domain = Domains()[r.domain_index];
  FUZZ_CHECK(std::string(sni->begin(), sni->end()) == domain);
  CheckServerHelloRoundTrip(r, secrets, static_cast<uint32_t>(bytes.size() * 2654435761u));
  // The same bytes again are a replay.
  FUZZ_CHECK(mtp::ValidateClientHello(bytes, config, port, now, cache).status ==
             mtp::ClientHelloStatus::kReplay);
}

// Input: [layout bit][ts offset (2 bytes, signed)][domain ... 0x00][random stream].
void GenerateAndValidate(mtp::ByteSpan in) {
  if (in.size() < 3) return;
  const bool modern = in[0] & 1;
  const int64_t now = kClocks[(in[0] >> 1) & 7];
  const int32_t ts = static_cast<int32_t>(now + static_cast<int16_t>(mtp::LoadBe16(in.data() + 1)));
  in = in.subspan(3);
  size_t d = 0;
  while (d < in.size() && in[d] != 0) ++d;
  std::string domain(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(d));
  if (domain.empty()) domain = "localhost";
  in = in.subspan(std::min(in.size(), d + 1));
  size_t pos = 0;
  auto random = [&](mtp::MutableByteSpan out) {
    for (uint8_t& b : out) b = in.empty() ? 0x5c : in[pos++ % in.size()];
  };
  mtp::LegacyHelloRandoms legacy;
  random(mtp::MutableByteSpan(legacy.session_id));
  random(mtp::MutableByteSpan(legacy.key_share));
  random(mtp::MutableByteSpan(legacy.grease));
  for (uint8_t& g : legacy.grease) g = static_cast<uint8_t>((g & 0xF0) | 0x0A);
  absl::StatusOr<std::vector<uint8_t>> hello = modern
                                                   ? mtp::BuildModernClientHello(domain, random)
                                                   : mtp::BuildLegacyClientHello(domain, legacy);
  if (!hello.ok()) {
    FUZZ_CHECK(domain.size() > (modern ? 253u : 216u));
    return;
  }
  const std::vector<mtp::ClientSecret> secrets = Secrets(2);
  mtp::SignClientHello(secrets[1], ts, mtp::MutableByteSpan(*hello));
  std::vector<std::string> domains = {"example.com", domain};
  mtp::SimpleReplayCache cache;
  const mtp::ClientHelloResult r = mtp::ValidateClientHello(
      *hello, mtp::ClientHelloConfig{secrets, domains}, 443, now, cache);
  const bool ts_ok = mtp::IsAllowedTimestamp(ts, now, now);
  const bool fits = hello->size() <= mtp::kMaxClientHelloBytes;
  if (mtp::IsWildcardDomain(domain)) {
    // A -D pattern ("*.base"), not a host name: an SNI of the pattern itself names no domain,
    // and the SNI is checked before the size and the timestamp.
    FUZZ_CHECK(r.status == mtp::ClientHelloStatus::kUnknownSni);
    return;
  }
  if (!fits) {
    FUZZ_CHECK(r.status == mtp::ClientHelloStatus::kTooBig);
  } else if (!ts_ok) {
    FUZZ_CHECK(r.status == mtp::ClientHelloStatus::kBadTimestamp);
  } else {
    FUZZ_CHECK(r.accepted() && r.secret_index == 1 && r.timestamp == ts);
    FUZZ_CHECK(domains[r.domain_index] == domain && r.cipher_suite == 1);
    CheckServerHelloRoundTrip(r, secrets, static_cast<uint32_t>(ts));
  }
}

void ParseProbe(mtp::ByteSpan in) {
  mtp::TlsSessionId sid;
  for (int i = 0; i < 32; ++i) sid[i] = static_cast<uint8_t>(0x30 + i);
  const mtp::ProbeParse p = mtp::ParseProbeResponse(in, sid);
  switch (p.status) {
    case mtp::ProbeParseStatus::kNeedMore:
      FUZZ_CHECK(p.bytes_needed > in.size());
      // More of the same bytes never turns a need-more into a different verdict early.
      break;
    case mtp::ProbeParseStatus::kOk:
      FUZZ_CHECK(p.size <= in.size() && p.answer.app_data_length > 0);
      FUZZ_CHECK(p.size == 5 + mtp::LoadBe16(in.data() + 3) + 11 +
                               static_cast<size_t>(p.answer.app_data_length));
      FUZZ_CHECK(mtp::ParseProbeResponse(in.first(p.size), sid).status ==
                 mtp::ProbeParseStatus::kOk);
      break;
    case mtp::ProbeParseStatus::kFailed:
      FUZZ_CHECK(p.error != nullptr && p.error[0] != '\0');
      break;
  }
}

void VerifyHello(mtp::ByteSpan in) {
  mtp::TlsRandom cr;
  for (int i = 0; i < 32; ++i) cr[i] = static_cast<uint8_t>(0x48 + i);
  const mtp::ServerHelloCheck c = mtp::VerifyServerHello(kVectorSecret, cr, in);
  if (c.status == mtp::ServerHelloCheckStatus::kOk) FUZZ_CHECK(c.size <= in.size() && c.size >= 43);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const mtp::ByteSpan in(data + 1, size - 1);
  switch (data[0] & 3) {
    case 0: ValidateRaw(data[0], in); break;
    case 1: GenerateAndValidate(in); break;
    case 2: ParseProbe(in); break;
    case 3: VerifyHello(in); break;
  }
  return 0;
}
