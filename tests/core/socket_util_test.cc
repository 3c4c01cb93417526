#include "core/socket_util.h"

#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "core/socket_address.h"

namespace mtp {
namespace {

TEST(SocketAddressTest, ParsesAndFormatsIpv4) {
  auto a = SocketAddress::Parse("149.154.175.50:8888");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->port(), 8888);
  EXPECT_EQ(a->ipv4(), 0x959aaf32u);
  EXPECT_EQ(a->ToString(), "149.154.175.50:8888");
  EXPECT_EQ(a->IpString(), "149.154.175.50");
}

TEST(SocketAddressTest, ParsesAndFormatsIpv6) {
  auto a = SocketAddress::Parse("[2001:b28:f23d:f001::a]:443");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->is_v6());
  EXPECT_EQ(a->port(), 443);
  EXPECT_EQ(a->ToString(), "[2001:b28:f23d:f001::a]:443");
  EXPECT_FALSE(a->is_v4_mapped());
}

TEST(SocketAddressTest, RejectsMalformed) {
  for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1",
                          "1.2.3.4:12a", "::1:443", "[::1]443", "[::1]:", "[1.2.3.4]:80",
                          "1.2.3:80", "host.example:80", "[::1:80", "1.2.3.4:0443x"}) {
    EXPECT_FALSE(SocketAddress::Parse(bad).ok()) << bad;
  }
}

TEST(SocketAddressTest, MappedAddressesRoundTrip) {
  auto mapped = SocketAddress::Parse("[::ffff:10.1.2.3]:5000");
  ASSERT_TRUE(mapped.ok());
  EXPECT_TRUE(mapped->is_v4_mapped());
  EXPECT_EQ(mapped->ipv4(), 0x0a010203u);
  SocketAddress v4 = mapped->Unmapped();
  EXPECT_TRUE(v4.is_v4());
  EXPECT_EQ(v4.ToString(), "10.1.2.3:5000");
  EXPECT_EQ(v4.MappedToV6(), *mapped);
  EXPECT_EQ(SocketAddress::FromIpv4(0x0a010203, 5000), v4);
  EXPECT_FALSE(v4 == *mapped);  // different families compare unequal
}

TEST(SocketUtilTest, ListenerAcceptsLoopbackAndReportsAddresses) {
  ListenOptions options;
  options.address = SocketAddress::FromIpv4(0x7f000001, 0);
  options.window_clamp_bytes = 131072;
  auto listener = CreateListenSocket(options);
  ASSERT_TRUE(listener.ok()) << listener.status();
  auto local = LocalAddress(*listener);
  ASSERT_TRUE(local.ok());
  EXPECT_NE(local->port(), 0);
  EXPECT_EQ(local->IpString(), "127.0.0.1");

  int value = 0;
  socklen_t len = sizeof(value);
  ASSERT_EQ(getsockopt(*listener, SOL_SOCKET, SO_REUSEPORT, &value, &len), 0);
  EXPECT_EQ(value, 1);

  // A second listener on the same port (one per shard) is allowed with SO_REUSEPORT.
  options.address = *local;
  auto second = CreateListenSocket(options);
  ASSERT_TRUE(second.ok()) << second.status();
  // ...and refused without it.
  options.reuse_port = false;
  EXPECT_FALSE(CreateListenSocket(options).ok());

  OutboundOptions out;
  auto client = CreateOutboundSocket(AF_INET, out);
  ASSERT_TRUE(client.ok()) << client.status();
  len = sizeof(value);
  ASSERT_EQ(getsockopt(*client, IPPROTO_TCP, TCP_KEEPIDLE, &value, &len), 0);
  EXPECT_EQ(value, 40);
  ASSERT_EQ(getsockopt(*client, IPPROTO_TCP, TCP_KEEPCNT, &value, &len), 0);
  EXPECT_EQ(value, 5);
  ASSERT_EQ(getsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &value, &len), 0);
  EXPECT_EQ(value, 1);
  int rc = connect(*client, local->sockaddr_ptr(), local->length());
  ASSERT_TRUE(rc == 0 || errno == EINPROGRESS);
  close(*client);
  close(*second);
  close(*listener);
}

// What the peer reads after the accepted end closes, with or without SetLingerReset: recv's
// result, and errno when it fails. Blocking sockets, every wait bounded by SO_RCVTIMEO / poll.
std::pair<ssize_t, int> PeerSeesClose(bool reset) {
  ListenOptions options;
  options.address = SocketAddress::FromIpv4(0x7f000001, 0);
  auto listener = CreateListenSocket(options);
  if (!listener.ok()) return {-2, 0};
  auto local = LocalAddress(*listener);
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(client, local->sockaddr_ptr(), local->length()) != 0) return {-3, errno};
  pollfd pfd{*listener, POLLIN, 0};
  if (poll(&pfd, 1, 10000) != 1) return {-4, 0};
  const int accepted = accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (accepted < 0) return {-5, errno};
  if (reset) {
    absl::Status st = SetLingerReset(accepted);
    if (!st.ok()) return {-6, 0};
    linger l{};
    socklen_t len = sizeof(l);
    getsockopt(accepted, SOL_SOCKET, SO_LINGER, &l, &len);
    if (l.l_onoff != 1 || l.l_linger != 0) return {-7, 0};
  }
  close(accepted);
  char byte;
  const ssize_t n = recv(client, &byte, 1, 0);
  const int err = n < 0 ? errno : 0;
  close(client);
  close(*listener);
  return {n, err};
}

// max_segment_bytes (TCP_MAXSEG before listen): the SYN-ACK advertises the clamp, so both the
// client's and the accepted socket's MSS are at most that (loopback's is ~65 KB otherwise).
TEST(SocketUtilTest, ListenerMssClampReachesBothEnds) {
  ListenOptions options;
  options.address = SocketAddress::FromIpv4(0x7f000001, 0);
  options.max_segment_bytes = 536;
  auto listener = CreateListenSocket(options);
  ASSERT_TRUE(listener.ok()) << listener.status();
  auto local = LocalAddress(*listener);
  ASSERT_TRUE(local.ok());
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(connect(client, local->sockaddr_ptr(), local->length()), 0);
  pollfd p{*listener, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1);
  const int accepted = accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(accepted, 0);
  for (int fd : {client, accepted}) {
    int mss = 0;
    socklen_t len = sizeof(mss);
    ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &len), 0);
    EXPECT_GT(mss, 0);
    EXPECT_LE(mss, 536);
  }
  close(accepted);
  close(client);
  close(*listener);
}

TEST(SocketUtilTest, LingerResetClosesWithRstInsteadOfFin) {
  EXPECT_EQ(PeerSeesClose(false), (std::pair<ssize_t, int>{0, 0}));  // FIN: end of stream
  EXPECT_EQ(PeerSeesClose(true), (std::pair<ssize_t, int>{-1, ECONNRESET}));
  EXPECT_FALSE(SetLingerReset(-1).ok());
}

TEST(SocketUtilTest, DualStackListenerTakesIpv4Clients) {
  ListenOptions options;
  options.address = SocketAddress::Any(AF_INET6, 0);
  options.dual_stack = true;
  auto listener = CreateListenSocket(options);
  if (!listener.ok()) GTEST_SKIP() << "no IPv6 here: " << listener.status();
  int v6only = 1;
  socklen_t len = sizeof(v6only);
  ASSERT_EQ(getsockopt(*listener, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), 0);
  EXPECT_EQ(v6only, 0);
  auto local = LocalAddress(*listener);
  ASSERT_TRUE(local.ok());
  int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  SocketAddress target = SocketAddress::FromIpv4(0x7f000001, local->port());
  ASSERT_EQ(connect(client, target.sockaddr_ptr(), target.length()), 0);
  int accepted = -1;
  for (int i = 0; i < 500 && accepted < 0; ++i) {
    accepted = accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (accepted < 0) usleep(1000);
  }
  ASSERT_GE(accepted, 0);
  auto peer = PeerAddress(accepted);
  ASSERT_TRUE(peer.ok());
  EXPECT_TRUE(peer->is_v4_mapped());
  EXPECT_EQ(peer->Unmapped().IpString(), "127.0.0.1");
  close(accepted);
  close(client);
  close(*listener);
}

TEST(SocketUtilTest, RejectsInconsistentOptions) {
  ListenOptions options;
  options.address = SocketAddress::FromIpv4(0x7f000001, 0);
  options.dual_stack = true;  // needs an IPv6 address
  EXPECT_FALSE(CreateListenSocket(options).ok());
  EXPECT_FALSE(CreateOutboundSocket(AF_UNIX, OutboundOptions{}).ok());
  OutboundOptions out;
  out.bind_address = SocketAddress::Parse("[::1]:0").value();
  EXPECT_FALSE(CreateOutboundSocket(AF_INET, out).ok());
}

TEST(SocketUtilTest, OutboundBindsSourceAddress) {
  OutboundOptions out;
  out.bind_address = SocketAddress::FromIpv4(0x7f000001, 1234);  // port is ignored
  auto fd = CreateOutboundSocket(AF_INET, out);
  ASSERT_TRUE(fd.ok()) << fd.status();
  auto local = LocalAddress(*fd);
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->IpString(), "127.0.0.1");
  close(*fd);
}

}  // namespace
}  // namespace mtp
