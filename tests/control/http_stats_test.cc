#include "control/http_stats.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "control/stats_render.h"

namespace mtp {
namespace {

constexpr int64_t kTime = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT

// --- parsing ------------------------------------------------------------------------------------

TEST(HttpParseTest, SimpleGet) {
  std::string req = "GET /stats HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nUser-Agent: curl\r\n\r\n";
  HttpParseResult r = ParseHttpRequest(req);
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_EQ(r.request.method, HttpMethod::kGet);
  EXPECT_EQ(r.request.target, "/stats");
  EXPECT_EQ(r.request.version, 11);
  EXPECT_FALSE(r.request.keep_alive);  // HTTP/1.1 alone does not mean keep-alive here
  EXPECT_EQ(r.request.content_length, -1);
  EXPECT_EQ(r.request.header_bytes, req.size());
}

TEST(HttpParseTest, HeadersAndVariants) {
  HttpParseResult r = ParseHttpRequest("GET  /x  HTTP/1.0\nConnection: Keep-Alive\n\nrest");
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_EQ(r.request.version, 10);
  EXPECT_EQ(r.request.target, "/x");
  EXPECT_TRUE(r.request.keep_alive);
  EXPECT_EQ(r.request.header_bytes, 42u);

  r = ParseHttpRequest("POST /stats HTTP/1.1\r\ncontent-length:  12 \r\nconnection: close\r\n\r\n");
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_EQ(r.request.method, HttpMethod::kPost);
  EXPECT_EQ(r.request.content_length, 12);
  EXPECT_FALSE(r.request.keep_alive);

  r = ParseHttpRequest("HEAD /stats HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.request.method, HttpMethod::kHead);
  r = ParseHttpRequest("OPTIONS * HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.request.method, HttpMethod::kOptions);

  // No version: HTTP/0.9, the head is the request line alone.
  r = ParseHttpRequest("GET /stats\r\nignored");
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_EQ(r.request.version, 9);
  EXPECT_EQ(r.request.header_bytes, 12u);

  // Pipelined: only the first head is consumed.
  std::string two = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
  r = ParseHttpRequest(two);
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_EQ(r.request.target, "/a");
  EXPECT_EQ(r.request.header_bytes, two.size() / 2);
}

TEST(HttpParseTest, Incomplete) {
  for (const char* partial : {"", "GET", "GET /stats HTTP/1.1", "GET /stats HTTP/1.1\r\n",
                              "GET /stats HTTP/1.1\r\nHost: x\r\n", "GET /stats HTTP/1.1\r\n\r"}) {
    EXPECT_EQ(ParseHttpRequest(partial).status, HttpParseStatus::kNeedMore) << partial;
  }
}

TEST(HttpParseTest, Malformed) {
  for (const char* bad : {
           "PUT /stats HTTP/1.1\r\n\r\n",
           "get /stats HTTP/1.1\r\n\r\n",
           "\r\n",
           "GET\r\n\r\n",
           "GET /stats HTTP/2.0\r\n\r\n",
           "GET /stats HTTP/1.1 extra\r\n\r\n",
           "GET /st\tats HTTP/1.1\r\n\r\n",
           "GET /stats HTTP/1.1\r\nNoColon\r\n\r\n",
           "GET /stats HTTP/1.1\r\n: empty-name\r\n\r\n",
           "GET /stats HTTP/1.1\r\nBad Name: x\r\n\r\n",
           "GET /stats HTTP/1.1\r\nContent-Length: 12a\r\n\r\n",
           "GET /stats HTTP/1.1\r\nContent-Length:\r\n\r\n",
           "GET /stats HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
           "GET /stats HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
       }) {
    EXPECT_EQ(ParseHttpRequest(bad).status, HttpParseStatus::kBad) << bad;
  }
  // Oversized heads, complete or not.
  std::string big = "GET /stats HTTP/1.1\r\nX-Pad: " + std::string(kMaxHttpHeaderBytes, 'a');
  EXPECT_EQ(ParseHttpRequest(big).status, HttpParseStatus::kBad);
  EXPECT_EQ(ParseHttpRequest(big + "\r\n\r\n").status, HttpParseStatus::kBad);
  std::string just_fits = "GET /stats HTTP/1.1\r\nX-Pad: ";
  just_fits += std::string(kMaxHttpHeaderBytes - just_fits.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(just_fits.size(), kMaxHttpHeaderBytes);
  EXPECT_EQ(ParseHttpRequest(just_fits).status, HttpParseStatus::kComplete);
}

// --- responses ----------------------------------------------------------------------------------

TEST(HttpResponseTest, Date) {
  EXPECT_EQ(HttpDate(kTime), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(HttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(HttpDate(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(HttpDate(1700000000), "Tue, 14 Nov 2023 22:13:20 GMT");
}

TEST(HttpResponseTest, ExactBytes) {
  EXPECT_EQ(BuildHttpResponse(200, "text/plain", "abc", false, kTime),
            "HTTP/1.1 200 OK\r\nServer: MTProxy/1.0\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(BuildHttpResponse(200, "text/plain", "", true, kTime, 10),
            "HTTP/1.1 200 OK\r\nServer: MTProxy/1.0\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(BuildHttpResponse(200, "text/plain", "body", false, kTime, 9), "body");

  const std::string page =
      "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body bgcolor=\"white\">\r\n"
      "<center><h1>404 Not Found</h1></center>\r\n<hr><center>MTProxy/1.0</center>\r\n"
      "</body>\r\n</html>\r\n";
  EXPECT_EQ(BuildHttpErrorResponse(404, false, kTime),
            "HTTP/1.1 404 Not Found\r\nServer: MTProxy/1.0\r\nDate: Sun, 06 Nov 1994 08:49:37 "
            "GMT\r\nContent-Type: text/html\r\nConnection: close\r\nContent-Length: " +
                std::to_string(page.size()) + "\r\n\r\n" + page);
  // Unknown codes become 500.
  EXPECT_EQ(
      BuildHttpErrorResponse(299, false, kTime).rfind("HTTP/1.1 500 Internal Server Error\r\n", 0),
      0u);
  EXPECT_EQ(HttpReasonPhrase(501), "Not Implemented");
  EXPECT_EQ(HttpReasonPhrase(411), "Length Required");
  EXPECT_EQ(HttpReasonPhrase(429), "Too Many Requests");
}

sockaddr_storage V4(const char* ip) {
  sockaddr_storage ss{};
  auto& sin = reinterpret_cast<sockaddr_in&>(ss);
  sin.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &sin.sin_addr);
  return ss;
}

sockaddr_storage V6(const char* ip) {
  sockaddr_storage ss{};
  auto& sin6 = reinterpret_cast<sockaddr_in6&>(ss);
  sin6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, ip, &sin6.sin6_addr);
  return ss;
}

TEST(HttpRoutingTest, AllowedPeers) {
  EXPECT_TRUE(IsStatsPeerAllowed(V4("127.0.0.1")));
  EXPECT_FALSE(IsStatsPeerAllowed(V4("127.0.0.2")));
  EXPECT_FALSE(IsStatsPeerAllowed(V4("10.0.0.1")));
  EXPECT_TRUE(IsStatsPeerAllowed(V6("::1")));
  EXPECT_TRUE(IsStatsPeerAllowed(V6("::ffff:127.0.0.1")));
  EXPECT_FALSE(IsStatsPeerAllowed(V6("::ffff:127.0.0.2")));
  EXPECT_FALSE(IsStatsPeerAllowed(V6("::2")));
  EXPECT_FALSE(IsStatsPeerAllowed(sockaddr_storage{}));
}

struct RouteCase {
  const char* request;
  bool peer_allowed;
  int code;
  bool close_after;
  const char* body_prefix;  // of the reply bytes after the head, or nullptr
};

TEST(HttpRoutingTest, ReferenceRules) {
  const RouteCase cases[] = {
      {"GET /stats HTTP/1.1\r\n\r\n", true, 200, true, "STATS"},
      {"GET /metrics HTTP/1.1\r\n\r\n", true, 200, true, "METRICS"},
      {"GET /stats HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true, 200, false, "STATS"},
      {"GET /stats?x HTTP/1.1\r\n\r\n", true, 404, true, "<html>"},
      {"GET /stats/ HTTP/1.1\r\n\r\n", true, 404, true, "<html>"},
      {"GET /STATS HTTP/1.1\r\n\r\n", true, 404, true, "<html>"},
      {"GET /stats HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", false, 403, true, "<html>"},
      {"GET /stats HTTP/1.1\r\n\r\n", false, 403, true, "<html>"},
      {"GET /metrics HTTP/1.1\r\n\r\n", false, 403, true, "<html>"},
      {"GET /health HTTP/1.1\r\n\r\n", true, 200, true, "HEALTH"},
      {"GET /ready HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true, 503, false, "not ready"},
      {"GET /ready HTTP/1.1\r\n\r\n", false, 403, true, "<html>"},
      {"GET /health/ HTTP/1.1\r\n\r\n", true, 404, true, "<html>"},
      {"HEAD /stats HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true, 501, true, "<html>"},
      {"OPTIONS /stats HTTP/1.1\r\n\r\n", true, 501, true, "<html>"},
      {"POST /stats HTTP/1.1\r\n\r\n", true, 411, true, "<html>"},
      {"POST /stats HTTP/1.1\r\nContent-Length: 2\r\n\r\n", true, 501, true, "<html>"},
      {"GET /stats HTTP/1.1\r\nContent-Length: 2\r\n\r\n", true, 413, true, "<html>"},
      {"GET /stats HTTP/1.1\r\nContent-Length: 0\r\n\r\n", true, 501, true, "<html>"},
  };
  int calls = 0;
  StatsBodyFn body = [&](StatsEndpoint e) -> EndpointBody {
    ++calls;
    switch (e) {
      case StatsEndpoint::kStats:
        return std::string("STATS\n");
      case StatsEndpoint::kMetrics:
        return std::string("METRICS\n");
      case StatsEndpoint::kHealth:
        return std::string("HEALTH\n");
      case StatsEndpoint::kReady:
        return EndpointBody(503, "not ready: testing\n");
    }
    return std::string();
  };
  for (const RouteCase& t : cases) {
    SCOPED_TRACE(t.request);
    HttpParseResult parsed = ParseHttpRequest(t.request);
    ASSERT_EQ(parsed.status, HttpParseStatus::kComplete);
    int calls_before = calls;
    HttpReply reply = HandleStatsRequest(parsed.request, t.peer_allowed, kTime, body);
    EXPECT_EQ(reply.code, t.code);
    EXPECT_EQ(reply.close_after, t.close_after);
    EXPECT_EQ(reply.bytes.rfind("HTTP/1.1 " + std::to_string(t.code) + " ", 0), 0u);
    size_t head_end = reply.bytes.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos);
    EXPECT_EQ(reply.bytes.substr(head_end + 4).rfind(t.body_prefix, 0), 0u);
    EXPECT_NE(
        reply.bytes.find(t.close_after ? "Connection: close\r\n" : "Connection: keep-alive\r\n"),
        std::string::npos);
    const bool answered = std::string(t.body_prefix) != "<html>";
    EXPECT_EQ(calls - calls_before, answered ? 1 : 0);
    if (answered) {
      EXPECT_NE(
          reply.bytes.find(std::string(t.body_prefix)[0] != 'M'
                               ? "Content-Type: text/plain\r\n"
                               : "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
          std::string::npos);
    } else {
      EXPECT_NE(reply.bytes.find("Content-Type: text/html\r\n"), std::string::npos);
    }
  }
  // HTTP/0.9: the body alone, then close.
  HttpReply old = HandleStatsRequest(ParseHttpRequest("GET /stats\r\n").request, true, kTime, body);
  EXPECT_EQ(old.bytes, "STATS\n");
  EXPECT_TRUE(old.close_after);
}

// --- the server over loopback -------------------------------------------------------------------

int ConnectTo(uint16_t port, const char* from_ip = nullptr, int family = AF_INET) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (family == AF_INET) {
    if (from_ip != nullptr) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      inet_pton(AF_INET, from_ip, &local.sin_addr);
      if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
        close(fd);
        return -1;
      }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      return -1;
    }
  } else {
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_port = htons(port);
    addr.sin6_addr = in6addr_loopback;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      return -1;
    }
  }
  return fd;
}

// Polls the server (same thread) and reads from `fd` until `done(received, eof)` holds or a
// bounded number of rounds passed.
struct ReadResult {
  std::string data;
  bool eof = false;
};
template <typename Done>
ReadResult Pump(StatsHttpServer& server, int fd, Done done) {
  ReadResult r;
  for (int round = 0; round < 500 && !done(r); ++round) {
    server.Poll(10);
    char buf[65536];
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) {
        r.data.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) r.eof = true;
      break;
    }
  }
  return r;
}

// Number of complete responses (head + Content-Length body) at the start of `data`.
int CompleteResponses(const std::string& data) {
  int count = 0;
  size_t pos = 0;
  for (;;) {
    size_t head_end = data.find("\r\n\r\n", pos);
    if (head_end == std::string::npos) return count;
    size_t cl = data.find("Content-Length: ", pos);
    if (cl == std::string::npos || cl > head_end) return count;
    size_t length = std::stoul(data.substr(cl + 16));
    if (data.size() < head_end + 4 + length) return count;
    pos = head_end + 4 + length;
    ++count;
  }
}

void SendAll(int fd, const std::string& bytes) {
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

class StatsServerTest : public ::testing::Test {
 protected:
  void StartServer(StatsHttpServer::Options options = {}) {
    auto server = StatsHttpServer::Start(options, [this](StatsEndpoint e) {
      ++body_calls_;
      return std::string(e == StatsEndpoint::kStats ? "pid\t1\n" : "mtproxy_up 1\n");
    });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_NE(server_->port(), 0);
  }
  std::unique_ptr<StatsHttpServer> server_;
  int body_calls_ = 0;
};

TEST_F(StatsServerTest, ServesStatsAndCloses) {
  StartServer();
  int fd = ConnectTo(server_->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET /stats HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ReadResult r = Pump(*server_, fd, [](const ReadResult& r) { return r.eof; });
  close(fd);
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(r.data.rfind("HTTP/1.1 200 OK\r\nServer: MTProxy/1.0\r\nDate: ", 0), 0u);
  EXPECT_NE(
      r.data.find(
          "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 6\r\n\r\npid\t1\n"),
      std::string::npos);
  EXPECT_EQ(server_->counters().http_queries, 1);
  EXPECT_EQ(server_->counters().http_connections, 0);
  EXPECT_EQ(body_calls_, 1);
}

TEST_F(StatsServerTest, KeepAliveAndPipelining) {
  StartServer();
  int fd = ConnectTo(server_->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET /stats HTTP/1.1\r\nConnection: keep-alive\r\n\r\n");
  ReadResult first =
      Pump(*server_, fd, [](const ReadResult& r) { return CompleteResponses(r.data) >= 1; });
  EXPECT_EQ(CompleteResponses(first.data), 1);
  EXPECT_FALSE(first.eof);
  EXPECT_NE(first.data.find("Connection: keep-alive\r\n"), std::string::npos);
  EXPECT_EQ(server_->counters().http_connections, 1);
  // Two more in one segment: /metrics with keep-alive, then /stats without (closes).
  SendAll(fd, "GET /metrics HTTP/1.1\r\nConnection: keep-alive\r\n\r\nGET /stats HTTP/1.0\r\n\r\n");
  ReadResult rest = Pump(*server_, fd, [](const ReadResult& r) { return r.eof; });
  close(fd);
  EXPECT_EQ(CompleteResponses(rest.data), 2);
  EXPECT_NE(rest.data.find("mtproxy_up 1\n"), std::string::npos);
  EXPECT_NE(rest.data.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  EXPECT_TRUE(rest.eof);
  EXPECT_EQ(server_->counters().http_queries, 3);
  EXPECT_EQ(body_calls_, 3);
}

TEST_F(StatsServerTest, OtherLoopbackPeerGets403AndIsCounted) {
  StartServer();
  int fd = ConnectTo(server_->port(), "127.0.0.2");
  if (fd < 0) GTEST_SKIP() << "cannot bind 127.0.0.2 here";
  SendAll(fd, "GET /stats HTTP/1.1\r\n\r\n");
  ReadResult r = Pump(*server_, fd, [](const ReadResult& r) { return r.eof; });
  close(fd);
  EXPECT_EQ(r.data.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u);
  EXPECT_EQ(body_calls_, 0);
  EXPECT_EQ(server_->counters().http_refused, 1);
  EXPECT_EQ(server_->counters().http_queries, 1);
}

TEST_F(StatsServerTest, AllowlistAdmitsItsBlocksOnly) {
  StatsHttpServer::Options options;
  options.allow = StatsAllowlist(*ParseStatsAllow("127.0.0.2/32"));
  StartServer(options);
  auto get = [&](const char* from) {
    int fd = ConnectTo(server_->port(), from);
    if (fd < 0) return std::string("no socket");
    SendAll(fd, "GET /metrics HTTP/1.1\r\n\r\n");
    ReadResult r = Pump(*server_, fd, [](const ReadResult& r) { return r.eof; });
    close(fd);
    return r.data;
  };
  std::string admitted = get("127.0.0.2");
  if (admitted == "no socket") GTEST_SKIP() << "cannot bind 127.0.0.2 here";
  EXPECT_EQ(admitted.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << admitted;
  EXPECT_EQ(get("127.0.0.3").rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u);
  EXPECT_EQ(get("127.0.0.1").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);  // loopback: always
  EXPECT_EQ(server_->counters().http_refused, 1);
  EXPECT_EQ(body_calls_, 2);
}

TEST_F(StatsServerTest, BindsTheStatsBindAddress) {
  StatsHttpServer::Options options;
  options.bind = *ParseStatsBind("127.0.0.1");
  StartServer(options);
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(server_->port()));
  int fd = ConnectTo(server_->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET /stats HTTP/1.1\r\n\r\n");
  ReadResult r = Pump(*server_, fd, [](const ReadResult& r) { return r.eof; });
  close(fd);
  EXPECT_EQ(r.data.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  // An address this host does not have cannot be bound: an error, not a silent fallback.
  StatsHttpServer::Options foreign;
  foreign.bind = *ParseStatsBind("192.0.2.1");
  auto failed = StatsHttpServer::Start(foreign, [](StatsEndpoint) { return std::string(); });
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("cannot open stats port 192.0.2.1:0"),
            std::string::npos)
      << failed.status();
}

TEST_F(StatsServerTest, BadRequestIs400AndCounted) {
  StartServer();
  int fd = ConnectTo(server_->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "BREW /coffee HTTP/1.1\r\n\r\n");
  ReadResult r = Pump(*server_, fd, [](const ReadResult& r) { return r.eof; });
  close(fd);
  EXPECT_EQ(r.data.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u);
  EXPECT_EQ(server_->counters().http_bad_headers, 1);
  EXPECT_EQ(server_->counters().http_queries, 0);
}

TEST_F(StatsServerTest, HalfClosedClientStillGetsItsAnswer) {
  StartServer();
  int fd = ConnectTo(server_->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET /stats HTTP/1.0\r\n\r\n");
  shutdown(fd, SHUT_WR);
  ReadResult r = Pump(*server_, fd, [](const ReadResult& r) { return r.eof; });
  close(fd);
  EXPECT_EQ(CompleteResponses(r.data), 1);
}

TEST_F(StatsServerTest, ConnectionLimit) {
  StatsHttpServer::Options options;
  options.max_connections = 2;
  StartServer(options);
  int a = ConnectTo(server_->port());
  int b = ConnectTo(server_->port());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  Pump(*server_, a, [&](const ReadResult&) { return server_->counters().http_connections == 2; });
  EXPECT_EQ(server_->counters().http_connections, 2);
  int c = ConnectTo(server_->port());
  ASSERT_GE(c, 0);
  ReadResult refused = Pump(*server_, c, [](const ReadResult& r) { return r.eof; });
  EXPECT_TRUE(refused.eof);  // over the limit: closed at once
  EXPECT_EQ(server_->counters().http_connections, 2);
  // The admitted ones still work.
  SendAll(a, "GET /stats HTTP/1.1\r\n\r\n");
  ReadResult served = Pump(*server_, a, [](const ReadResult& r) { return r.eof; });
  EXPECT_EQ(CompleteResponses(served.data), 1);
  close(a);
  close(b);
  close(c);
}

TEST_F(StatsServerTest, IdleConnectionsAreClosed) {
  StatsHttpServer::Options options;
  options.idle_timeout_ms = 50;
  StartServer(options);
  int fd = ConnectTo(server_->port());
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET /stats HTTP/1.1\r\n");  // an unfinished request does not keep it alive
  ReadResult idle = Pump(*server_, fd, [](const ReadResult& r) { return r.eof; });
  close(fd);
  EXPECT_TRUE(idle.eof);
  EXPECT_TRUE(idle.data.empty());
  EXPECT_EQ(server_->counters().http_connections, 0);
}

TEST_F(StatsServerTest, PortRangeSkipsBusyPorts) {
  int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(busy, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(busy, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(busy, reinterpret_cast<sockaddr*>(&addr), &len);
  const int busy_port = ntohs(addr.sin_port);

  StatsHttpServer::Options single;
  single.first_port = single.last_port = busy_port;
  auto failed = StatsHttpServer::Start(single, [](StatsEndpoint) { return std::string(); });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), "cannot open stats port 127.0.0.1:" +
                                           std::to_string(busy_port) + ": Address already in use");

  if (busy_port < 65535 - 64) {
    StatsHttpServer::Options range;
    range.first_port = busy_port;
    range.last_port = busy_port + 64;
    StartServer(range);
    EXPECT_GT(server_->port(), busy_port);
    EXPECT_LE(server_->port(), busy_port + 64);
  }
  close(busy);
}

TEST_F(StatsServerTest, AlsoServesIpv6Loopback) {
  int probe = socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 a6{};
  a6.sin6_family = AF_INET6;
  a6.sin6_addr = in6addr_loopback;
  bool have_v6 = probe >= 0 && bind(probe, reinterpret_cast<sockaddr*>(&a6), sizeof(a6)) == 0;
  if (probe >= 0) close(probe);
  if (!have_v6) GTEST_SKIP() << "no IPv6 loopback here";
  StatsHttpServer::Options options;
  options.ipv6 = true;
  StartServer(options);
  int fd = ConnectTo(server_->port(), nullptr, AF_INET6);
  ASSERT_GE(fd, 0);
  SendAll(fd, "GET /stats HTTP/1.1\r\n\r\n");
  ReadResult r = Pump(*server_, fd, [](const ReadResult& r) { return r.eof; });
  close(fd);
  EXPECT_EQ(r.data.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);  // ::1 is an allowed peer
}

}  // namespace
}  // namespace mtp

namespace mtp {
namespace {

TEST(HttpStatsActionTest, PostSecretsGoesToTheActionForAllowedPeersOnly) {
  const StatsBodyFn body = [](StatsEndpoint) { return EndpointBody("stats"); };
  std::string seen;
  const StatsActionFn action = [&](std::string_view target) {
    seen = std::string(target);
    return EndpointBody(200, "done\n");
  };
  auto post = [&](const char* head, bool allowed, const StatsActionFn* fn) {
    return HandleStatsRequest(ParseHttpRequest(head).request, allowed, 1, body, fn);
  };
  HttpReply r = post("POST /secrets/alice/reset-quota HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                     true, &action);
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(seen, "/secrets/alice/reset-quota");
  EXPECT_NE(r.bytes.find("\r\n\r\ndone\n"), std::string::npos);
  seen.clear();
  // No Content-Length at all (curl -X POST) is fine too; a peer not allowed is refused.
  EXPECT_EQ(post("POST /secrets/a/reset-quota HTTP/1.1\r\n\r\n", true, &action).code, 200);
  EXPECT_EQ(post("POST /secrets/b/reset-quota HTTP/1.1\r\n\r\n", false, &action).code, 403);
  EXPECT_EQ(seen, "/secrets/a/reset-quota");
  // Without an action, and for other paths or with a body, POST stays refused as before.
  EXPECT_EQ(post("POST /secrets/a/reset-quota HTTP/1.1\r\n\r\n", true, nullptr).code, 411);
  EXPECT_EQ(post("POST /stats HTTP/1.1\r\nContent-Length: 0\r\n\r\n", true, &action).code, 501);
  EXPECT_EQ(post("POST /secrets/a/reset-quota HTTP/1.1\r\nContent-Length: 3\r\n\r\n", true,
                 &action).code,
            501);
}

}  // namespace
}  // namespace mtp
