// Stats-port HTTP: request head parser, reference-style responses, routing, and the loopback
// epoll server polled by the control thread.
#include "control/http_stats.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "control/stats_render.h"
#include "core/log.h"
#include "core/socket_address.h"

namespace mtp {

// --- parsing ------------------------------------------------------------------------------------

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Next line of `data` starting at `pos`, without its LF and an optional CR before it.
// nullopt when no LF has arrived yet.
std::optional<std::string_view> NextLine(std::string_view data, size_t& pos) {
  size_t lf = data.find('\n', pos);
  if (lf == std::string_view::npos) return std::nullopt;
  std::string_view line = data.substr(pos, lf - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  pos = lf + 1;
  return line;
}

bool HasControlChars(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < ' ' || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

HttpParseResult ParseHttpRequest(std::string_view data) {
  HttpParseResult result;
  auto bad = [&]() {
    result.status = HttpParseStatus::kBad;
    return result;
  };
  auto need_more = [&]() {
    if (data.size() >= kMaxHttpHeaderBytes) return bad();
    result.status = HttpParseStatus::kNeedMore;
    return result;
  };
  HttpRequest& r = result.request;

  size_t pos = 0;
  std::optional<std::string_view> first = NextLine(data, pos);
  if (!first) return need_more();
  if (HasControlChars(*first)) return bad();
  std::vector<std::string_view> words;
  for (size_t i = 0; i < first->size();) {
    if ((*first)[i] == ' ') {
      ++i;
      continue;
    }
    size_t end = first->find(' ', i);
    if (end == std::string_view::npos) end = first->size();
    words.push_back(first->substr(i, end - i));
    i = end;
  }
  if (words.size() < 2 || words.size() > 3) return bad();
  if (words[0] == "GET") {
    r.method = HttpMethod::kGet;
  } else if (words[0] == "HEAD") {
    r.method = HttpMethod::kHead;
  } else if (words[0] == "POST") {
    r.method = HttpMethod::kPost;
  } else if (words[0] == "OPTIONS") {
    r.method = HttpMethod::kOptions;
  } else {
    return bad();
  }
  r.target = std::string(words[1]);
  if (words.size() == 2) {
    r.version = 9;  // no version: the head is the request line alone
    r.header_bytes = pos;
    result.status = pos > kMaxHttpHeaderBytes ? HttpParseStatus::kBad : HttpParseStatus::kComplete;
    return result;
  }
  if (words[2] == "HTTP/1.0") {
    r.version = 10;
  } else if (words[2] == "HTTP/1.1") {
    r.version = 11;
  } else {
    return bad();
  }

  for (;;) {
    std::optional<std::string_view> line = NextLine(data, pos);
    if (!line) return need_more();
    if (pos > kMaxHttpHeaderBytes) return bad();
    if (line->empty()) break;
    size_t colon = line->find(':');
    if (colon == std::string_view::npos || colon == 0) return bad();
    std::string_view name = line->substr(0, colon);
    for (char c : name) {
      if (static_cast<unsigned char>(c) <= ' ') return bad();
    }
    std::string_view value = line->substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (EqualsIgnoreCase(name, "content-length")) {
      if (r.content_length != -1 || value.empty()) return bad();
      int64_t n = 0;
      for (char c : value) {
        if (c < '0' || c > '9' || n >= 0x7fffffff / 10) return bad();
        n = n * 10 + (c - '0');
      }
      r.content_length = n;
    } else if (EqualsIgnoreCase(name, "connection")) {
      std::string_view token = value.substr(0, value.find_first_of(" \t"));
      if (EqualsIgnoreCase(token, "keep-alive")) r.keep_alive = true;
    }
  }
  r.header_bytes = pos;
  result.status = HttpParseStatus::kComplete;
  return result;
}

// --- responses ----------------------------------------------------------------------------------

std::string HttpDate(int64_t unix_time) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t t = static_cast<time_t>(unix_time < 0 ? 0 : unix_time);
  struct tm tm;
  gmtime_r(&t, &tm);
  return absl::StrFormat("%s, %02d %s %d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                         kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string_view HttpReasonPhrase(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request URI Too Long";
    case 418:
      return "I'm a teapot";
    case 429:
      return "Too Many Requests";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

namespace {
int NormalizeCode(int code) {
  return HttpReasonPhrase(code) == "Internal Server Error" ? 500 : code;
}
}  // namespace

std::string BuildHttpResponse(int code, std::string_view content_type, std::string_view body,
                              bool keep_alive, int64_t unix_time, int http_version) {
  if (http_version < 10) return std::string(body);
  code = NormalizeCode(code);
  std::string out = absl::StrFormat(
      "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\nContent-Type: %s\r\nConnection: %s\r\n"
      "Content-Length: %d\r\n\r\n",
      code, std::string(HttpReasonPhrase(code)), kHttpServerName, HttpDate(unix_time),
      std::string(content_type), keep_alive ? "keep-alive" : "close", body.size());
  out.append(body.data(), body.size());
  return out;
}

std::string BuildHttpErrorResponse(int code, bool keep_alive, int64_t unix_time, int http_version) {
  code = NormalizeCode(code);
  std::string reason(HttpReasonPhrase(code));
  std::string page = absl::StrFormat(
      "<html>\r\n<head><title>%d %s</title></head>\r\n<body bgcolor=\"white\">\r\n"
      "<center><h1>%d %s</h1></center>\r\n<hr><center>%s</center>\r\n</body>\r\n</html>\r\n",
      code, reason, code, reason, kHttpServerName);
  return BuildHttpResponse(code, "text/html", page, keep_alive, unix_time, http_version);
}

bool IsStatsPeerAllowed(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    const auto& sin = reinterpret_cast<const sockaddr_in&>(peer);
    return ntohl(sin.sin_addr.s_addr) == 0x7f000001u;
  }
  if (peer.ss_family == AF_INET6) {
    const auto& sin6 = reinterpret_cast<const sockaddr_in6&>(peer);
    static const uint8_t kMapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    return IN6_IS_ADDR_LOOPBACK(&sin6.sin6_addr) || std::memcmp(&sin6.sin6_addr, kMapped, 16) == 0;
  }
  return false;
}

HttpReply HandleStatsRequest(const HttpRequest& request, bool peer_allowed, int64_t unix_time,
                             const StatsBodyFn& body, const StatsActionFn* action) {
  auto error = [&](int code, bool keep_alive) {
    return HttpReply{BuildHttpErrorResponse(code, keep_alive, unix_time, request.version),
                     !keep_alive || request.version < 10, code};
  };
  if (request.method == HttpMethod::kPost && request.content_length <= 0 && action != nullptr &&
      *action && request.target.starts_with("/secrets/")) {
    if (!peer_allowed) return error(403, false);
    EndpointBody answer = (*action)(request.target);
    return HttpReply{BuildHttpResponse(answer.code, "text/plain", answer.body, false, unix_time,
                                       request.version),
                     true, answer.code};
  }
  if (request.method == HttpMethod::kPost && request.content_length < 0) return error(411, false);
  if (request.method != HttpMethod::kPost && request.content_length > 0) return error(413, false);
  if (request.method != HttpMethod::kGet || request.content_length != -1) {
    return error(501, false);
  }
  if (!peer_allowed) return error(403, false);
  std::optional<StatsEndpoint> endpoint;
  std::string_view content_type = "text/plain";
  if (request.target == "/stats") {
    endpoint = StatsEndpoint::kStats;
  } else if (request.target == "/metrics") {
    endpoint = StatsEndpoint::kMetrics;
    content_type = kPrometheusContentType;
  } else if (request.target == "/health") {
    endpoint = StatsEndpoint::kHealth;
  } else if (request.target == "/ready") {
    endpoint = StatsEndpoint::kReady;
  } else {
    return error(404, request.keep_alive);
  }
  bool keep_alive = request.keep_alive && request.version >= 10;
  EndpointBody answer = body(*endpoint);
  return HttpReply{BuildHttpResponse(answer.code, content_type, answer.body, keep_alive, unix_time,
                                     request.version),
                   !keep_alive, answer.code};
}

// --- server -------------------------------------------------------------------------------------

namespace {

constexpr uint64_t kListenerTag = uint64_t{1} << 32;

int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

struct StatsHttpServer::Connection {
  int fd = -1;
  bool peer_allowed = false;  // in the allowlist (checked once, at accept)
  bool closing = false;  // no more requests: close once `out` is sent
  uint32_t registered_events = EPOLLIN;
  std::string in;
  std::string out;
  size_t out_offset = 0;
  int64_t last_activity_ms = 0;
};

StatsHttpServer::StatsHttpServer(Options options, StatsBodyFn body)
    : options_(options), body_(std::move(body)) {}

StatsHttpServer::~StatsHttpServer() {
  for (auto& c : connections_) {
    if (c) close(c->fd);
  }
  for (int fd : listen_fds_) close(fd);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

absl::StatusOr<std::unique_ptr<StatsHttpServer>> StatsHttpServer::Start(const Options& options,
                                                                        StatsBodyFn body) {
  std::unique_ptr<StatsHttpServer> server(new StatsHttpServer(options, std::move(body)));
  server->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (server->epoll_fd_ < 0) {
    return absl::InternalError(absl::StrCat("epoll_create1: ", strerror(errno)));
  }
  absl::Status status = server->Listen();
  if (!status.ok()) return status;
  return server;
}

absl::Status StatsHttpServer::Listen() {
  auto make_socket = [&](int family) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    return fd;
  };
  auto add_listener = [&](int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerTag | static_cast<uint32_t>(fd);
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    listen_fds_.push_back(fd);
  };

  const int first = options_.first_port;
  const int last = std::max(options_.last_port, first);
  // --stats-bind: that one address; else 127.0.0.1 (and [::1] below with -6).
  const bool bound_v6 = options_.bind && options_.bind->ipv6;
  const std::string ip = options_.bind ? options_.bind->ip : "127.0.0.1";
  int last_errno = 0;
  for (int port = first; port <= last; ++port) {
    absl::StatusOr<SocketAddress> addr = SocketAddress::FromIp(ip, static_cast<uint16_t>(port));
    if (!addr.ok()) return addr.status();
    int fd = make_socket(bound_v6 ? AF_INET6 : AF_INET);
    if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
    if (bound_v6 && options_.bind->ip == "::") {
      int zero = 0;  // [::] also takes IPv4 peers (seen as ::ffff:a.b.c.d)
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, addr->sockaddr_ptr(), addr->length()) == 0 &&
        listen(fd, options_.backlog) == 0) {
      absl::StatusOr<SocketAddress> local = LocalAddress(fd);
      port_ = local.ok() ? local->port() : static_cast<uint16_t>(port);
      address_ = local.ok() ? local->ToString() : addr->ToString();
      add_listener(fd);
      break;
    }
    last_errno = errno;
    close(fd);
  }
  const std::string shown = bound_v6 ? absl::StrCat("[", ip, "]") : ip;
  if (listen_fds_.empty()) {
    return absl::UnavailableError(
        first == last ? absl::StrFormat("cannot open stats port %s:%d: %s", shown, first,
                                        strerror(last_errno))
                      : absl::StrFormat("cannot open a stats port in %s:%d..%d: %s", shown, first,
                                        last, strerror(last_errno)));
  }
  if (options_.ipv6 && !options_.bind) {
    int fd = make_socket(AF_INET6);
    sockaddr_in6 addr6{};
    addr6.sin6_family = AF_INET6;
    addr6.sin6_port = htons(port_);
    addr6.sin6_addr = in6addr_loopback;
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr6), sizeof(addr6)) == 0 &&
        listen(fd, options_.backlog) == 0) {
      add_listener(fd);
    } else {
      MTP_WARN("stats port: cannot listen on [::1]:%d (%s); serving 127.0.0.1 only", port_,
               strerror(errno));
      if (fd >= 0) close(fd);
    }
  }
  return absl::OkStatus();
}

void StatsHttpServer::Poll(int timeout_ms) {
  epoll_event events[32];
  int n = epoll_wait(epoll_fd_, events, 32, timeout_ms);
  for (int i = 0; i < n; ++i) {
    const uint64_t data = events[i].data.u64;
    const int fd = static_cast<int>(static_cast<uint32_t>(data));
    if (data & kListenerTag) {
      Accept(fd);
      continue;
    }
    if (static_cast<size_t>(fd) >= connections_.size() || !connections_[fd]) continue;
    Connection& c = *connections_[fd];
    const uint32_t ev = events[i].events;
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      OnReadable(c);  // reads EOF/errors and may close
      if (!connections_[fd]) continue;
    }
    if (ev & EPOLLOUT) OnWritable(c);
  }
  CloseIdle(MonotonicMs());
}

void StatsHttpServer::Accept(int listen_fd) {
  for (int i = 0; i < 16; ++i) {  // bounded per poll
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd =
        accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (static_cast<size_t>(counters_.http_connections) >= options_.max_connections) {
      close(fd);
      continue;
    }
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    c->peer_allowed = options_.allow.Allows(peer);
    c->last_activity_ms = MonotonicMs();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint32_t>(fd);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    if (static_cast<size_t>(fd) >= connections_.size()) connections_.resize(fd + 1);
    connections_[fd] = std::move(c);
    ++counters_.http_connections;
  }
}

void StatsHttpServer::OnReadable(Connection& c) {
  bool eof = false;
  char buf[4096];
  // Read at most one request head's worth per poll; the parser rejects anything larger.
  while (c.in.size() <= kMaxHttpHeaderBytes) {
    ssize_t r = recv(c.fd, buf, sizeof(buf), 0);
    if (r > 0) {
      c.in.append(buf, static_cast<size_t>(r));
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) eof = true;
    break;
  }
  c.last_activity_ms = MonotonicMs();
  if (!c.closing) ProcessInput(c);
  if (eof) {
    c.closing = true;
    if (c.out_offset == c.out.size()) {
      Close(c.fd);
      return;
    }
  }
  OnWritable(c);
}

void StatsHttpServer::ProcessInput(Connection& c) {
  while (!c.closing) {
    HttpParseResult parsed = ParseHttpRequest(c.in);
    if (parsed.status == HttpParseStatus::kNeedMore) return;
    if (parsed.status == HttpParseStatus::kBad) {
      ++counters_.http_bad_headers;
      c.out += BuildHttpErrorResponse(400, false, time(nullptr));
      c.closing = true;
      return;
    }
    ++counters_.http_queries;
    HttpReply reply =
        HandleStatsRequest(parsed.request, c.peer_allowed, time(nullptr), body_, &action_);
    if (!c.peer_allowed && reply.code == 403) ++counters_.http_refused;
    c.in.erase(0, parsed.request.header_bytes);
    c.out += reply.bytes;
    if (reply.close_after) c.closing = true;
  }
}

void StatsHttpServer::OnWritable(Connection& c) {
  while (c.out_offset < c.out.size()) {
    ssize_t w = send(c.fd, c.out.data() + c.out_offset, c.out.size() - c.out_offset, MSG_NOSIGNAL);
    if (w > 0) {
      c.out_offset += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    Close(c.fd);  // peer gone
    return;
  }
  if (c.out_offset == c.out.size()) {
    c.out.clear();
    c.out_offset = 0;
    if (c.closing) {
      Close(c.fd);
      return;
    }
  }
  UpdateInterest(c);
}

void StatsHttpServer::UpdateInterest(Connection& c) {
  // A closing connection stops reading: at EOF a level-triggered EPOLLIN would fire forever.
  uint32_t events = (c.closing ? 0u : uint32_t{EPOLLIN}) |
                    (c.out_offset < c.out.size() ? uint32_t{EPOLLOUT} : 0u);
  if (events == c.registered_events) return;
  c.registered_events = events;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = static_cast<uint32_t>(c.fd);
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void StatsHttpServer::Close(int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  connections_[fd].reset();
  --counters_.http_connections;
}

void StatsHttpServer::CloseIdle(int64_t now_ms) {
  for (auto& c : connections_) {
    if (c && now_ms - c->last_activity_ms > options_.idle_timeout_ms) Close(c->fd);
  }
}

}  // namespace mtp
