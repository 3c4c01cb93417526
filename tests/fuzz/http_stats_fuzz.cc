// Fuzz target: the stats port's HTTP request parser and router over an arbitrary byte stream,
// processed the way the server does it (requests parsed and answered one after another until
// the stream is incomplete, bad, or a reply closes the connection). Byte 0 is the peer
// (bit 0: allowed or not) and the readiness (bit 1: /ready answers 503); the rest is what the
// peer sent.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/http_stats.h"

namespace {

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

constexpr int64_t kNow = 1700000000;

bool IsKnownCode(int code) {
  return code == 200 || code == 403 || code == 404 || code == 411 || code == 413 || code == 501 ||
         code == 503;
}

// The Content-Length header of a response says how many bytes follow the head.
void CheckResponse(const std::string& bytes, int code, int version) {
  if (version < 10) return;  // HTTP/0.9: only the body is sent
  const std::string status = "HTTP/1.1 " + std::to_string(code) + " ";
  FUZZ_CHECK(bytes.compare(0, status.size(), status) == 0);
  size_t head_end = bytes.find("\r\n\r\n");
  FUZZ_CHECK(head_end != std::string::npos);
  size_t cl = bytes.find("\r\nContent-Length: ");
  FUZZ_CHECK(cl != std::string::npos && cl < head_end);
  size_t digits = cl + 18;
  size_t length = 0;
  while (digits < head_end && bytes[digits] >= '0' && bytes[digits] <= '9') {
    length = length * 10 + static_cast<size_t>(bytes[digits++] - '0');
  }
  FUZZ_CHECK(bytes.compare(digits, 2, "\r\n") == 0);
  FUZZ_CHECK(bytes.size() - (head_end + 4) == length);
}

// One complete request: the parse is a pure function of the head it consumed.
void CheckComplete(std::string_view data, const mtp::HttpRequest& r) {
  FUZZ_CHECK(r.header_bytes > 0 && r.header_bytes <= data.size());
  FUZZ_CHECK(r.header_bytes <= mtp::kMaxHttpHeaderBytes);
  std::string_view head = data.substr(0, r.header_bytes);
  FUZZ_CHECK(head.back() == '\n');
  FUZZ_CHECK(r.version == 9 || r.version == 10 || r.version == 11);
  FUZZ_CHECK(r.content_length >= -1 && r.content_length <= 0x7fffffff);
  FUZZ_CHECK(r.version != 9 || (r.content_length == -1 && !r.keep_alive));
  // The target is one word of the request line, as sent.
  std::string_view first_line = head.substr(0, head.find('\n'));
  FUZZ_CHECK(!r.target.empty() && first_line.find(r.target) != std::string_view::npos);
  for (char c : r.target) FUZZ_CHECK(c != ' ' && static_cast<unsigned char>(c) >= ' ');

  // The head alone parses to the same request...
  mtp::HttpParseResult again = mtp::ParseHttpRequest(head);
  FUZZ_CHECK(again.status == mtp::HttpParseStatus::kComplete);
  FUZZ_CHECK(again.request.header_bytes == r.header_bytes && again.request.target == r.target);
  FUZZ_CHECK(again.request.method == r.method && again.request.version == r.version);
  FUZZ_CHECK(again.request.keep_alive == r.keep_alive);
  FUZZ_CHECK(again.request.content_length == r.content_length);
  // ...and any shorter prefix of it is still incomplete (it arrived in pieces).
  for (size_t cut : {r.header_bytes - 1, r.header_bytes / 2}) {
    FUZZ_CHECK(mtp::ParseHttpRequest(head.substr(0, cut)).status ==
               mtp::HttpParseStatus::kNeedMore);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool peer_allowed = (data[0] & 1) != 0;
  const bool not_ready = (data[0] & 2) != 0;
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  int body_calls = 0;
  int body_code = 0;
  mtp::StatsBodyFn body = [&](mtp::StatsEndpoint endpoint) -> mtp::EndpointBody {
    ++body_calls;
    body_code = endpoint == mtp::StatsEndpoint::kReady && not_ready ? 503 : 200;
    return mtp::EndpointBody(body_code, body_code == 200 ? "ok\n" : "not ready: draining\n");
  };

  size_t consumed = 0;
  for (int requests = 0; requests < 64; ++requests) {
    std::string_view rest = stream.substr(consumed);
    mtp::HttpParseResult parsed = mtp::ParseHttpRequest(rest);
    if (parsed.status == mtp::HttpParseStatus::kNeedMore) {
      FUZZ_CHECK(rest.size() < mtp::kMaxHttpHeaderBytes);
      break;
    }
    if (parsed.status == mtp::HttpParseStatus::kBad) {
      // Bad stays bad whatever follows (the server answers 400 and closes).
      std::string more(rest);
      more += "\r\n\r\nGET /stats HTTP/1.1\r\n\r\n";
      FUZZ_CHECK(mtp::ParseHttpRequest(more).status == mtp::HttpParseStatus::kBad);
      std::string reply = mtp::BuildHttpErrorResponse(400, false, kNow);
      CheckResponse(reply, 400, 11);
      break;
    }
    const mtp::HttpRequest& r = parsed.request;
    CheckComplete(rest, r);
    consumed += r.header_bytes;

    const int calls_before = body_calls;
    mtp::HttpReply reply = mtp::HandleStatsRequest(r, peer_allowed, kNow, body);
    FUZZ_CHECK(IsKnownCode(reply.code));
    CheckResponse(reply.bytes, reply.code, r.version);
    // An endpoint answers only an allowed GET without a body of exactly one of its paths, and
    // its code is the reply's.
    const bool known_path = r.target == "/stats" || r.target == "/metrics" ||
                            r.target == "/health" || r.target == "/ready";
    const bool plain_get = r.method == mtp::HttpMethod::kGet && r.content_length == -1;
    const bool served = body_calls == calls_before + 1;
    FUZZ_CHECK(served || body_calls == calls_before);
    FUZZ_CHECK(served == (plain_get && peer_allowed && known_path));
    FUZZ_CHECK(!served || reply.code == body_code);
    FUZZ_CHECK(reply.code != 503 || (served && r.target == "/ready"));
    FUZZ_CHECK(!plain_get || peer_allowed || reply.code == 403);
    FUZZ_CHECK(!plain_get || !peer_allowed || known_path || reply.code == 404);
    // Keep-alive only when asked for, over HTTP/1.x, after an endpoint's answer or a 404.
    if (!reply.close_after) {
      FUZZ_CHECK(r.keep_alive && r.version >= 10 && (served || reply.code == 404));
    }
    if (reply.close_after) break;
  }
  FUZZ_CHECK(consumed <= stream.size());
  return 0;
}
