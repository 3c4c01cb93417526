// SOCKS5 client side (RFC 1928) with username/password authentication (RFC 1929), for the
// upstream chaining of DC legs and ME links (--upstream-socks5): builders for the three
// requests the proxy sends (greeting, user/pass, CONNECT to an IPv4/IPv6 literal) and one
// bounded, incremental reader for the three replies it expects.
//
// Pure code over byte spans: no sockets, no clocks; any thread. A Socks5ReplyReader is plain
// data (about 30 bytes) kept in the leg that dials; it never buffers more than kSocks5ReaderBytes,
// whatever the server sends (a domain-name bound address is skipped, not stored).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/bytes.h"
#include "core/socket_address.h"

namespace mtp {

inline constexpr uint8_t kSocks5Version = 0x05;
inline constexpr uint8_t kSocks5AuthVersion = 0x01;  // RFC 1929 sub-negotiation version
inline constexpr uint8_t kSocks5MethodNoAuth = 0x00;
inline constexpr uint8_t kSocks5MethodUserPass = 0x02;
inline constexpr uint8_t kSocks5MethodNoneAcceptable = 0xFF;
inline constexpr uint8_t kSocks5CmdConnect = 0x01;
inline constexpr uint8_t kSocks5AtypIpv4 = 0x01;
inline constexpr uint8_t kSocks5AtypDomain = 0x03;
inline constexpr uint8_t kSocks5AtypIpv6 = 0x04;
// RFC 1929: user name and password are 1..255 bytes each.
inline constexpr size_t kSocks5MaxCredentialBytes = 255;
// The longest request: the user/pass message with both fields at their maximum.
inline constexpr size_t kSocks5MaxRequestBytes = 3 + 2 * kSocks5MaxCredentialBytes;
// The longest reply: a CONNECT reply with a 255-byte domain name as its bound address.
inline constexpr size_t kSocks5MaxReplyBytes = 4 + 1 + 255 + 2;
// What the reader keeps: the 4-byte header, an IPv6 bound address and the port.
inline constexpr size_t kSocks5ReaderBytes = 4 + 16 + 2;

// The three round trips of a dial, in order; also the `stage` label of the failure counter.
enum class Socks5Stage : uint8_t {
  kMethod,   // greeting -> method choice
  kAuth,     // user/pass -> status (only when credentials are configured)
  kConnect,  // CONNECT -> reply
};
inline constexpr size_t kSocks5StageCount = 3;
std::string_view Socks5StageName(Socks5Stage stage);

enum class Socks5Error : uint8_t {
  kNone,
  kBadVersion,          // a reply whose version byte is wrong (5; 1 for the auth status)
  kNoAcceptableMethod,  // method choice 0xFF: the server refuses every method offered
  kUnofferedMethod,     // the server chose a method that was not offered
  kAuthRejected,        // user/pass status not 0: wrong user name or password
  kRequestFailed,       // CONNECT reply code not 0 (the code is in Socks5Reply::reply_code)
  kBadReserved,         // the CONNECT reply's reserved byte is not 0
  kBadAddressType,      // the CONNECT reply's address type is not 1, 3 or 4
  kUnexpectedBytes,     // bytes after a reply before the next request (never legitimate)
  // Transport-level outcomes the dialer reports with the same enum (never from the reader):
  kClosed,   // the server closed the connection mid-exchange
  kIoError,  // connect, send or receive error
  kTimeout,  // the exchange did not finish within the set-up timeout
};
inline constexpr size_t kSocks5ErrorCount = 12;
// Stable lower-case names for logs and the `reason` label ("auth_rejected").
std::string_view Socks5ErrorName(Socks5Error error);
// RFC 1928 §6 reply codes ("connection_refused"; "unassigned" above 8).
std::string_view Socks5ReplyCodeName(uint8_t code);

// A request ready to send: bytes [0, size).
struct Socks5Request {
  std::array<uint8_t, kSocks5MaxRequestBytes> bytes{};
  uint16_t size = 0;
  ByteSpan span() const { return ByteSpan(bytes.data(), size); }
};

// The greeting: one method offered, user/pass if `with_credentials`, else no authentication
// (a proxy told to authenticate does not let the server skip it).
Socks5Request BuildSocks5Greeting(bool with_credentials);
// RFC 1929 request; both fields must be 1..255 bytes (else size 0: checked at configuration).
Socks5Request BuildSocks5UserPass(std::string_view user, std::string_view password);
// CONNECT to an IPv4 or IPv6 literal (an IPv4-mapped IPv6 address is sent as IPv4); size 0
// for an invalid address.
Socks5Request BuildSocks5Connect(const SocketAddress& target);
// The byte lengths of those requests without building them.
constexpr size_t Socks5UserPassBytes(size_t user, size_t password) { return 3 + user + password; }
constexpr size_t Socks5ConnectBytes(bool ipv6) { return ipv6 ? 22 : 10; }

enum class Socks5Status : uint8_t {
  kNeedMore,  // every byte so far is a valid start of the reply
  kDone,      // the reply is complete and says yes
  kError,     // a refusal or a malformed reply (`error`); the connection is useless
};

struct Socks5Reply {
  Socks5Status status = Socks5Status::kNeedMore;
  Socks5Error error = Socks5Error::kNone;
  uint8_t method = 0;        // kMethod: the method the server chose
  uint8_t reply_code = 0;    // kConnect: REP (0 = succeeded)
  uint8_t address_type = 0;  // kConnect: ATYP of the bound address
  // kConnect, kDone with ATYP 1 or 4: the server's bound address (the address the target sees
  // when the server reports it; 0.0.0.0:0 from servers that do not); invalid for a domain.
  SocketAddress bound;
};

// Reads one expected reply from a stream, whatever its fragmentation: Feed consumes at most the
// rest of the reply and never more, so bytes after it stay with the caller.
class Socks5ReplyReader {
 public:
  // Starts reading the reply to `stage`'s request (forgets any previous one). For kMethod,
  // `with_credentials` says which method the greeting offered (BuildSocks5Greeting).
  void Expect(Socks5Stage stage, bool with_credentials = false);
  Socks5Stage stage() const { return stage_; }
  // Consumes bytes of the reply from the front of `in`; *consumed says how many. Once the
  // result is kDone or kError it stays so (further calls consume nothing).
  Socks5Reply Feed(ByteSpan in, size_t* consumed);
  bool finished() const { return status_ != Socks5Status::kNeedMore; }

 private:
  Socks5Reply Verdict() const;

  Socks5Stage stage_ = Socks5Stage::kMethod;
  bool with_credentials_ = false;
  Socks5Status status_ = Socks5Status::kNeedMore;
  Socks5Error error_ = Socks5Error::kNone;
  uint16_t seen_ = 0;  // bytes of the reply consumed so far
  uint16_t need_ = 2;  // the reply's total length as far as known
  std::array<uint8_t, kSocks5ReaderBytes> kept_{};
};

// The reply to `stage` at the start of `in` (all bytes received for it so far), in one call.
// kDone/kError give `consumed` = the reply's length (kError: the bytes up to the verdict).
Socks5Reply ParseSocks5Reply(Socks5Stage stage, bool with_credentials, ByteSpan in,
                             size_t* consumed);

}  // namespace mtp
