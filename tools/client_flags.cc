// Shared client flags.
#include "tools/client_flags.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "crypto/secret.h"
#include "tools/echo_payload.h"

namespace mtp::tools {

void RegisterClientFlags(FlagParser& parser, ClientFlags* f) {
  parser.AddString("server", &f->server, "proxy or fake DC address (required)", "HOST:PORT");
  parser.AddString("secret", &f->secret,
                   "client secret: 32 hex (plain), dd+32 hex (padded), ee+32 hex+hex(domain) "
                   "(fake-TLS), or base64url of those; empty = no secret",
                   "SECRET");
  parser.AddString("transport", &f->transport,
                   "abridged|intermediate|padded (default: from the secret form)", "T");
  parser.AddString("tls-domain", &f->tls_domain, "force fake-TLS with this SNI domain",
                   "DOMAIN");
  parser.AddChoice("hello", &f->hello, {"legacy", "modern"},
                   "ClientHello layout: 517-byte tdlib 2019 or the ~1.8 KB current one "
                   "(X25519MLKEM768 post-quantum key share)");
  parser.AddInt("hello-records", &f->hello_records,
                "cut the ClientHello into N TLS records of about equal size (DPI-evasion "
                "tools do; the proxy reassembles them)",
                1, 4096, "N");
  parser.AddInt("hello-byte-records", &f->hello_byte_records,
                "send the first K bytes of the ClientHello as 1-byte TLS records "
                "(ByeDPI/zapret style), before the --hello-records pieces",
                0, 4096, "K");
  parser.AddInt("tls-timestamp-offset", &f->tls_timestamp_offset,
                "seconds added to the ClientHello timestamp (negative tests)", -100000000,
                100000000);
  parser.AddInt("tls-record-bytes", &f->tls_record_bytes,
                "largest fake-TLS record payload we send (tdlib: 2878)", 1, 65535);
  parser.AddInt("dc", &f->dc, "DC id in the obfuscated2 header (negative = media)", -32768,
                32767);
  parser.AddString("size", &f->size, "payload size N or range MIN-MAX (multiples of 4)", "N");
  parser.AddChoice("padding", &f->padding, {"tdlib", "mod4", "none"},
                   "client padding on the padded transport: 0..15, 0..3 or no bytes");
  parser.AddBool("plain", &f->plain,
                 "no obfuscated2 header, no encryption: intermediate frames in the clear, for "
                 "the plain TCP echo floor (mtp-fake-dc --plain); no secret, no fake-TLS");
}

absl::Status ParseSizeRange(const std::string& text, size_t* min_out, size_t* max_out) {
  std::vector<std::string> parts = absl::StrSplit(text, '-');
  uint64_t lo = 0;
  uint64_t hi = 0;
  if (parts.empty() || parts.size() > 2 || !absl::SimpleAtoi(parts[0], &lo) ||
      !absl::SimpleAtoi(parts.back(), &hi)) {
    return absl::InvalidArgumentError("--size: expected N or MIN-MAX");
  }
  if (lo > hi || lo < kMinEncryptedPayloadBytes || hi > kMaxPayloadBytes || lo % 4 != 0 ||
      hi % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--size: multiples of 4 in ",
                                                   kMinEncryptedPayloadBytes, "..",
                                                   kMaxPayloadBytes));
  }
  *min_out = lo;
  *max_out = hi;
  return absl::OkStatus();
}

absl::StatusOr<ResolvedClient> ResolveClientFlags(const ClientFlags& f) {
  ResolvedClient r;
  if (f.server.empty()) return absl::InvalidArgumentError("--server is required");
  absl::StatusOr<SocketAddress> address = SocketAddress::Parse(f.server);
  if (!address.ok()) return absl::InvalidArgumentError(address.status().message());
  r.server = *address;
  r.codec.transport = Transport::kIntermediate;
  if (f.plain) {
    if ((!f.secret.empty() && f.secret != "none") || !f.tls_domain.empty()) {
      return absl::InvalidArgumentError("--plain takes no --secret and no --tls-domain");
    }
    if (!f.transport.empty() && f.transport != "intermediate") {
      return absl::InvalidArgumentError("--plain uses the intermediate transport");
    }
    r.codec.plain = true;
  }
  if (!f.secret.empty() && f.secret != "none") {
    absl::StatusOr<LinkSecret> s = ParseLinkSecret(f.secret);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("--secret: ", s.status().message()));
    r.codec.secret = s->secret;
    if (s->mode == SecretMode::kPadded) r.codec.transport = Transport::kPadded;
    if (s->mode == SecretMode::kFakeTls) {
      r.codec.transport = Transport::kPadded;
      r.codec.tls_domain = s->domain;
    }
  }
  if (!f.tls_domain.empty()) {
    r.codec.tls_domain = f.tls_domain;
    r.codec.transport = Transport::kPadded;
  }
  if (!r.codec.tls_domain.empty() && !r.codec.secret.has_value()) {
    return absl::InvalidArgumentError("fake-TLS needs --secret");
  }
  if (!f.transport.empty()) {
    std::optional<Transport> t = ParseTransportName(f.transport);
    if (!t.has_value()) {
      return absl::InvalidArgumentError("--transport must be abridged, intermediate or padded");
    }
    r.codec.transport = *t;
  }
  r.codec.hello_layout =
      f.hello == "modern" ? ClientHelloLayout::kModern : ClientHelloLayout::kLegacy517;
  r.codec.tls_timestamp_offset_s = static_cast<int32_t>(f.tls_timestamp_offset);
  r.codec.dc_id = static_cast<int16_t>(f.dc);
  r.codec.tls_record_bytes = static_cast<size_t>(f.tls_record_bytes);
  r.codec.hello_records = static_cast<size_t>(f.hello_records);
  r.codec.hello_byte_records = static_cast<size_t>(f.hello_byte_records);
  r.padding = f.padding == "tdlib"  ? ClientPadding::kTdlib
              : f.padding == "mod4" ? ClientPadding::kMod4
                                    : ClientPadding::kNone;
  absl::Status st = ParseSizeRange(f.size, &r.size_min, &r.size_max);
  if (!st.ok()) return st;
  return r;
}

}  // namespace mtp::tools
