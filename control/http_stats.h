// The stats port: HTTP/1.x request parsing and response building as pure functions (the
// reference's rules for /stats, plus /metrics, /health and /ready), and a small non-blocking
// epoll server (loopback by default, --stats-bind otherwise; peers checked against the
// --stats-allow list) that the control thread polls.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "control/stats_access.h"

namespace mtp {

inline constexpr size_t kMaxHttpHeaderBytes = 16384;  // the reference's MAX_HTTP_HEADER_SIZE
inline constexpr char kHttpServerName[] = "MTProxy/1.0";

enum class HttpMethod : uint8_t { kGet, kHead, kPost, kOptions };

struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  std::string target;           // the URI exactly as sent
  int version = 11;             // 9 (no version on the request line), 10 or 11
  bool keep_alive = false;      // "Connection: keep-alive" was sent (the only way to get it)
  int64_t content_length = -1;  // -1 when there is no Content-Length header
  size_t header_bytes = 0;      // bytes of the request head including the blank line
};

enum class HttpParseStatus : uint8_t {
  kNeedMore,  // the head is incomplete (and still under kMaxHttpHeaderBytes)
  kComplete,  // `request` is valid; the head is request.header_bytes long
  kBad,       // malformed or oversized head: answer 400 and close
};

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::kNeedMore;
  HttpRequest request;
};

// Parses the request head at the start of `data` (the reference's hts_parse_execute rules:
// methods GET/HEAD/POST/OPTIONS, "HTTP/1.0"/"HTTP/1.1" or no version (HTTP/0.9, the head ends
// with the request line), LF or CRLF line ends, Content-Length digits only and at most once,
// "Connection: keep-alive" case-insensitive).
HttpParseResult ParseHttpRequest(std::string_view data);

// "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDate(int64_t unix_time);
// Reason phrase of a status code ("OK", "Not Found", ...); unknown codes -> "Internal Server
// Error" (the reference then also sends 500).
std::string_view HttpReasonPhrase(int code);

// Status line and headers as the reference writes them:
//   HTTP/1.1 <code> <reason>\r\nServer: MTProxy/1.0\r\nDate: <date>\r\nContent-Type: <type>\r\n
//   Connection: keep-alive|close\r\nContent-Length: <n>\r\n\r\n<body>
// For an HTTP/0.9 request only the body is sent.
std::string BuildHttpResponse(int code, std::string_view content_type, std::string_view body,
                              bool keep_alive, int64_t unix_time, int http_version = 11);
// The reference's small HTML error page with the headers above (Content-Type: text/html).
std::string BuildHttpErrorResponse(int code, bool keep_alive, int64_t unix_time,
                                   int http_version = 11);

enum class StatsEndpoint : uint8_t {
  kStats,    // /stats: the reference's text
  kMetrics,  // /metrics: Prometheus text
  kHealth,   // /health: 200 while the process is alive
  kReady,    // /ready: 200 while serving, 503 with a one-line reason otherwise
};

// What an endpoint answers: a status code (200, or 503 for /ready) and the body.
struct EndpointBody {
  EndpointBody(std::string text) : body(std::move(text)) {}  // NOLINT: 200 with `text`
  EndpointBody(int status, std::string text) : code(status), body(std::move(text)) {}
  int code = 200;
  std::string body;
};

// True for the peers allowed to read stats: exactly 127.0.0.1 (also as ::ffff:127.0.0.1) or ::1.
bool IsStatsPeerAllowed(const sockaddr_storage& peer);

struct HttpReply {
  std::string bytes;        // what to send
  bool close_after = true;  // close the connection once `bytes` are sent
  int code = 0;
};

// Produces the answer of an endpoint; called only for allowed peers and known paths.
using StatsBodyFn = std::function<EndpointBody(StatsEndpoint)>;
// Performs a POST action (the target starts with "/secrets/"); called only for allowed peers.
using StatsActionFn = std::function<EndpointBody(std::string_view target)>;

// Answers one complete request (hts_stats_execute): GET only (else 501, or 411 for a POST
// without Content-Length; a GET with a body -> 413, with "Content-Length: 0" -> 501), peer not
// allowed -> 403 (the reference answers 404), "/stats" -> 200 text/plain, "/metrics" -> 200
// Prometheus text, "/health" and "/ready" -> the body function's code and text/plain body,
// anything else (including "/stats?x", "/stats/", "/STATS") -> 404. Keep-alive only when asked
// for and not after 4xx/5xx other than 404 (a 503 from /ready keeps it too).
// POST /secrets/... without a body (no Content-Length, or 0) goes to `action` when there is
// one (403 for peers not allowed), e.g. POST /secrets/<name>/reset-quota.
HttpReply HandleStatsRequest(const HttpRequest& request, bool peer_allowed, int64_t unix_time,
                             const StatsBodyFn& body, const StatsActionFn* action = nullptr);

// Non-blocking HTTP server on the stats port (127.0.0.1 and, with `ipv6`, [::1]; or the one
// `bind` address). Owned and polled by the control thread (not thread-safe). Bounded: at most
// `max_connections` open connections (extra ones are closed at once), at most
// kMaxHttpHeaderBytes buffered per request, idle connections closed after `idle_timeout_ms`.
class StatsHttpServer {
 public:
  struct Options {
    int first_port = 0;  // 0 = any free port (tests); see port()
    int last_port = 0;   // > first_port: the first port of the range that can be bound
    bool ipv6 = false;   // also listen on [::1] (same port); ignored with `bind`
    std::optional<StatsBind> bind;  // --stats-bind address (its port is ignored: see above)
    StatsAllowlist allow;           // who may read (loopback always)
    size_t max_connections = 64;
    int idle_timeout_ms = 30000;
    int backlog = 128;
  };
  struct Counters {
    int64_t http_connections = 0;  // open now
    int64_t http_queries = 0;      // requests answered (errors included)
    int64_t http_bad_headers = 0;  // malformed request heads
    int64_t http_refused = 0;      // requests refused with 403: peer not in the allowlist
  };

  static absl::StatusOr<std::unique_ptr<StatsHttpServer>> Start(const Options& options,
                                                                StatsBodyFn body);
  ~StatsHttpServer();
  StatsHttpServer(const StatsHttpServer&) = delete;
  StatsHttpServer& operator=(const StatsHttpServer&) = delete;

  uint16_t port() const { return port_; }
  // "127.0.0.1:8888", "[::]:9100": the first listening socket's address.
  const std::string& address() const { return address_; }
  // Readable when there is work: lets the control thread wait on it with other descriptors.
  int epoll_fd() const { return epoll_fd_; }
  const Counters& counters() const { return counters_; }
  // POST /secrets/... requests (see HandleStatsRequest); none by default.
  void SetActionHandler(StatsActionFn action) { action_ = std::move(action); }

  // Waits up to `timeout_ms` (0 = do not wait) for events and serves them. Bounded work.
  void Poll(int timeout_ms);

 private:
  struct Connection;
  StatsHttpServer(Options options, StatsBodyFn body);
  absl::Status Listen();
  void Accept(int listen_fd);
  void OnReadable(Connection& c);
  void OnWritable(Connection& c);
  void ProcessInput(Connection& c);
  void UpdateInterest(Connection& c);
  void Close(int fd);
  void CloseIdle(int64_t now_ms);

  Options options_;
  StatsBodyFn body_;
  StatsActionFn action_;
  int epoll_fd_ = -1;
  std::vector<int> listen_fds_;
  uint16_t port_ = 0;
  std::string address_;
  std::vector<std::unique_ptr<Connection>> connections_;  // indexed by fd (sparse)
  Counters counters_;
};

}  // namespace mtp
