// SOCKS5 requests and the incremental reply reader (RFC 1928, RFC 1929).
#include "proto/socks5.h"

#include <cstring>

namespace mtp {

std::string_view Socks5StageName(Socks5Stage stage) {
  switch (stage) {
    case Socks5Stage::kMethod:
      return "method";
    case Socks5Stage::kAuth:
      return "auth";
    case Socks5Stage::kConnect:
      return "connect";
  }
  return "?";
}

std::string_view Socks5ErrorName(Socks5Error error) {
  switch (error) {
    case Socks5Error::kNone:
      return "none";
    case Socks5Error::kBadVersion:
      return "bad_version";
    case Socks5Error::kNoAcceptableMethod:
      return "no_acceptable_method";
    case Socks5Error::kUnofferedMethod:
      return "unoffered_method";
    case Socks5Error::kAuthRejected:
      return "auth_rejected";
    case Socks5Error::kRequestFailed:
      return "request_failed";
    case Socks5Error::kBadReserved:
      return "bad_reserved";
    case Socks5Error::kBadAddressType:
      return "bad_address_type";
    case Socks5Error::kUnexpectedBytes:
      return "unexpected_bytes";
    case Socks5Error::kClosed:
      return "closed";
    case Socks5Error::kIoError:
      return "io_error";
    case Socks5Error::kTimeout:
      return "timeout";
  }
  return "?";
}

std::string_view Socks5ReplyCodeName(uint8_t code) {
  switch (code) {
    case 0:
      return "succeeded";
    case 1:
      return "general_failure";
    case 2:
      return "not_allowed_by_ruleset";
    case 3:
      return "network_unreachable";
    case 4:
      return "host_unreachable";
    case 5:
      return "connection_refused";
    case 6:
      return "ttl_expired";
    case 7:
      return "command_not_supported";
    case 8:
      return "address_type_not_supported";
    default:
      return "unassigned";
  }
}

Socks5Request BuildSocks5Greeting(bool with_credentials) {
  Socks5Request r;
  r.bytes[0] = kSocks5Version;
  r.bytes[1] = 1;  // one method
  r.bytes[2] = with_credentials ? kSocks5MethodUserPass : kSocks5MethodNoAuth;
  r.size = 3;
  return r;
}

Socks5Request BuildSocks5UserPass(std::string_view user, std::string_view password) {
  Socks5Request r;
  if (user.empty() || password.empty() || user.size() > kSocks5MaxCredentialBytes ||
      password.size() > kSocks5MaxCredentialBytes) {
    return r;
  }
  uint8_t* p = r.bytes.data();
  *p++ = kSocks5AuthVersion;
  *p++ = static_cast<uint8_t>(user.size());
  std::memcpy(p, user.data(), user.size());
  p += user.size();
  *p++ = static_cast<uint8_t>(password.size());
  std::memcpy(p, password.data(), password.size());
  p += password.size();
  r.size = static_cast<uint16_t>(p - r.bytes.data());
  return r;
}

Socks5Request BuildSocks5Connect(const SocketAddress& target) {
  Socks5Request r;
  if (!target.valid()) return r;
  const SocketAddress t = target.Unmapped();
  uint8_t* p = r.bytes.data();
  *p++ = kSocks5Version;
  *p++ = kSocks5CmdConnect;
  *p++ = 0;  // reserved
  if (t.is_v4()) {
    *p++ = kSocks5AtypIpv4;
    const uint32_t ip = t.ipv4();
    *p++ = static_cast<uint8_t>(ip >> 24);
    *p++ = static_cast<uint8_t>(ip >> 16);
    *p++ = static_cast<uint8_t>(ip >> 8);
    *p++ = static_cast<uint8_t>(ip);
  } else if (t.is_v6()) {
    *p++ = kSocks5AtypIpv6;
    const std::array<uint8_t, 16> ip = t.ipv6();
    std::memcpy(p, ip.data(), ip.size());
    p += ip.size();
  } else {
    return Socks5Request{};
  }
  StoreBe16(p, t.port());
  p += 2;
  r.size = static_cast<uint16_t>(p - r.bytes.data());
  return r;
}

void Socks5ReplyReader::Expect(Socks5Stage stage, bool with_credentials) {
  *this = Socks5ReplyReader{};
  stage_ = stage;
  with_credentials_ = with_credentials;
  need_ = stage == Socks5Stage::kConnect ? 5 : 2;  // a CONNECT reply's length shows at byte 5
}

Socks5Reply Socks5ReplyReader::Feed(ByteSpan in, size_t* consumed) {
  size_t i = 0;
  while (status_ == Socks5Status::kNeedMore && i < in.size() && seen_ < need_) {
    const uint8_t b = in[i++];
    const uint16_t pos = seen_++;
    auto fail = [&](Socks5Error e) {
      status_ = Socks5Status::kError;
      error_ = e;
    };
    switch (stage_) {
      case Socks5Stage::kMethod:
        kept_[pos] = b;
        if (pos == 0 && b != kSocks5Version) fail(Socks5Error::kBadVersion);
        if (pos == 1) {
          const uint8_t offered = with_credentials_ ? kSocks5MethodUserPass : kSocks5MethodNoAuth;
          if (b == kSocks5MethodNoneAcceptable) {
            fail(Socks5Error::kNoAcceptableMethod);
          } else if (b != offered) {
            fail(Socks5Error::kUnofferedMethod);
          }
        }
        break;
      case Socks5Stage::kAuth:
        kept_[pos] = b;
        if (pos == 0 && b != kSocks5AuthVersion) fail(Socks5Error::kBadVersion);
        if (pos == 1 && b != 0) fail(Socks5Error::kAuthRejected);
        break;
      case Socks5Stage::kConnect:
        if (pos < 4) {
          kept_[pos] = b;
          if (pos == 0 && b != kSocks5Version) fail(Socks5Error::kBadVersion);
          if (pos == 1 && b != 0) fail(Socks5Error::kRequestFailed);
          if (pos == 2 && b != 0) fail(Socks5Error::kBadReserved);
          if (pos == 3) {
            if (b == kSocks5AtypIpv4) {
              need_ = 4 + 4 + 2;
            } else if (b == kSocks5AtypIpv6) {
              need_ = 4 + 16 + 2;
            } else if (b != kSocks5AtypDomain) {
              fail(Socks5Error::kBadAddressType);
            }
          }
        } else if (kept_[3] == kSocks5AtypDomain) {
          // [4] = name length, then the name (skipped), then the port at kept_[5..6].
          if (pos == 4) {
            kept_[4] = b;
            need_ = static_cast<uint16_t>(5 + b + 2);
          } else if (pos >= need_ - 2) {
            kept_[5 + (pos - (need_ - 2))] = b;
          }
        } else {
          kept_[pos] = b;  // need_ <= kSocks5ReaderBytes for IPv4/IPv6
        }
        break;
    }
    if (status_ == Socks5Status::kNeedMore && seen_ == need_) status_ = Socks5Status::kDone;
  }
  *consumed = i;
  return Verdict();
}

Socks5Reply Socks5ReplyReader::Verdict() const {
  Socks5Reply r;
  r.status = status_;
  r.error = error_;
  if (seen_ >= 2 && stage_ == Socks5Stage::kMethod) r.method = kept_[1];
  if (stage_ == Socks5Stage::kConnect) {
    if (seen_ >= 2) r.reply_code = kept_[1];
    if (seen_ >= 4) r.address_type = kept_[3];
    if (status_ == Socks5Status::kDone) {
      if (kept_[3] == kSocks5AtypIpv4) {
        const uint32_t ip = (uint32_t{kept_[4]} << 24) | (uint32_t{kept_[5]} << 16) |
                            (uint32_t{kept_[6]} << 8) | kept_[7];
        r.bound = SocketAddress::FromIpv4(ip, LoadBe16(&kept_[8]));
      } else if (kept_[3] == kSocks5AtypIpv6) {
        std::array<uint8_t, 16> ip;
        std::memcpy(ip.data(), &kept_[4], 16);
        r.bound = SocketAddress::FromIpv6(ip, LoadBe16(&kept_[20]));
      }
    }
  }
  return r;
}

Socks5Reply ParseSocks5Reply(Socks5Stage stage, bool with_credentials, ByteSpan in,
                             size_t* consumed) {
  Socks5ReplyReader reader;
  reader.Expect(stage, with_credentials);
  return reader.Feed(in, consumed);
}

}  // namespace mtp
