// Signals on the real binary: SIGTERM drains (established clients finish, new connects are
// refused, exit 0), the drain timeout, a second SIGTERM exits at once, SIGUSR1 reopens the -l
// log file after a rename (and is harmless without -l).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/dataplane/loopback_peers.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/fake_me_proxy_fixture.h"
#include "tests/e2e/loopback_echo.h"
#include "tests/e2e/proxy_process.h"
#include "tests/tools/child_process.h"

namespace mtp {
namespace {

using e2e::EchoFrame;
using e2e::ProxyProcess;
using testing_peers::TestClient;

// True when a TCP connect to 127.0.0.1:port is refused (nothing listens any more).
bool ConnectRefused(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  int err = errno;
  close(fd);
  return rc != 0 && err == ECONNREFUSED;
}

class SignalsE2eTest : public e2e::FakeMeProxyTest {
 protected:
  std::unique_ptr<ProxyProcess> Start(std::vector<std::string> extra) {
    std::vector<std::string> args = {"-H", "0", "--shards", "2", "-S", e2e::Hex(secret_),
                                     "--msg-buffers-size", "64m", "--drain-timeout", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return StartBehindFakeMe(args, 2);
  }

  std::optional<TestClient> Client(uint16_t port) {
    return TestClient::Connect(port, &secret_, Transport::kIntermediate, 2);
  }


  const ClientSecret secret_ = e2e::MakeSecret(11);
};

TEST_F(SignalsE2eTest, SigtermDrainsEstablishedClientsAndRefusesNewOnes) {
  auto proxy = Start({"--drain-timeout", "30"});
  ASSERT_NE(proxy, nullptr);
  const uint16_t port = proxy->port();
  auto client = Client(port);
  ASSERT_TRUE(client.has_value());
  ASSERT_TRUE(EchoFrame(*client, 500, 1));

  proxy->Signal(SIGTERM);
  ASSERT_TRUE(e2e::WaitFor([&] { return proxy->LogContains("draining"); }, 5000));
  // The listening sockets are closed: new connects are refused.
  EXPECT_TRUE(e2e::WaitFor([&] { return ConnectRefused(port); }, 5000));
  // The established client finishes its exchange.
  EXPECT_TRUE(EchoFrame(*client, 20000, 2));
  EXPECT_TRUE(EchoFrame(*client, 64, 3));
  EXPECT_EQ(proxy->Wait(300), -1);  // still running while a client is open
  // Its close ends the drain: exit 0.
  client.reset();
  EXPECT_EQ(proxy->Wait(10000), 0);
  EXPECT_TRUE(proxy->LogContains("Terminated by SIGTERM."));
}

TEST_F(SignalsE2eTest, DrainTimeoutClosesIdleClientsAndExitsZero) {
  auto proxy = Start({"--drain-timeout", "1"});
  ASSERT_NE(proxy, nullptr);
  auto client = Client(proxy->port());
  ASSERT_TRUE(client.has_value());
  ASSERT_TRUE(EchoFrame(*client, 100, 1));
  proxy->Signal(SIGINT);
  // The client never closes: the proxy closes it when the drain timeout expires.
  EXPECT_TRUE(client->WaitClosed(10000));
  EXPECT_EQ(proxy->Wait(10000), 0);
  EXPECT_TRUE(proxy->LogContains("drain timeout"));
}

TEST_F(SignalsE2eTest, SecondSigtermExitsAtOnce) {
  auto proxy = Start({"--drain-timeout", "60"});
  ASSERT_NE(proxy, nullptr);
  auto client = Client(proxy->port());
  ASSERT_TRUE(client.has_value());
  ASSERT_TRUE(EchoFrame(*client, 100, 1));
  proxy->Signal(SIGTERM);
  ASSERT_TRUE(e2e::WaitFor([&] { return proxy->LogContains("draining"); }, 5000));
  proxy->Signal(SIGTERM);
  EXPECT_EQ(proxy->Wait(10000), 1);
  EXPECT_TRUE(client->WaitClosed(5000));
}

TEST_F(SignalsE2eTest, Usr1ReopensTheLogFileAfterRotation) {
  const std::string log = dir_.Path("proxy.log");
  // -l takes effect at start-up (also without -d): the terminal gets one line saying where.
  auto child = tools::ChildProcess::Spawn(
      {"/bin/sh", "-c",
       "exec " + e2e::ProxyBinaryPath() + " -l " + log + " -H 0 --shards 2 -S " +
           e2e::Hex(secret_) + " --aes-pwd " + aes_pwd_ + " --drain-timeout 1 " +
           dir_.Write("proxy-multi.conf", e2e::ConfigFor(me_->port())) + " 2>" +
           dir_.Path("stderr.txt")});
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE(e2e::WaitFor(
      [&] { return dir_.Read("proxy.log").find("main loop") != std::string::npos; }, 8000))
      << dir_.Read("proxy.log") << dir_.Read("stderr.txt");
  EXPECT_EQ(dir_.Read("stderr.txt"), "logging to " + log + " (-l)\n");
  std::string text = dir_.Read("proxy.log");
  const size_t at = text.find("listening on port ");
  ASSERT_NE(at, std::string::npos);
  const uint16_t port = static_cast<uint16_t>(atoi(text.c_str() + at + 18));
  // logrotate: rename, then SIGUSR1; the proxy (no longer root) creates the file again.
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  child->Signal(SIGUSR1);
  ASSERT_TRUE(e2e::WaitFor(
      [&] { return dir_.Read("proxy.log").find("reopened") != std::string::npos; }, 5000))
      << dir_.Read("proxy.log.1");
  // Later lines go to the new file only.
  child->Signal(SIGHUP);
  EXPECT_TRUE(e2e::WaitFor(
      [&] { return dir_.Read("proxy.log").find("re-read successfully") != std::string::npos; },
      5000));
  EXPECT_EQ(dir_.Read("proxy.log.1").find("re-read successfully"),
            dir_.Read("proxy.log.1").rfind("re-read successfully"));  // the start-up line only
  ASSERT_TRUE(e2e::WaitFor([&] { return me_->links_ready() >= 2; }, 8000));
  auto client = Client(port);
  ASSERT_TRUE(client.has_value());
  EXPECT_TRUE(EchoFrame(*client, 100, 1));
  client.reset();
  child->Signal(SIGTERM);
  auto rc = child->Wait(10000);
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 0);
  EXPECT_NE(dir_.Read("proxy.log").find("Terminated by SIGTERM."), std::string::npos);
}

TEST_F(SignalsE2eTest, Usr1WithoutLogFileKeepsLoggingAndServing) {
  auto proxy = Start({});
  ASSERT_NE(proxy, nullptr);
  proxy->Signal(SIGUSR1);
  ASSERT_TRUE(e2e::WaitFor([&] { return proxy->LogContains("no log file (-l) to reopen"); },
                           5000));
  auto client = Client(proxy->port());
  ASSERT_TRUE(client.has_value());
  EXPECT_TRUE(EchoFrame(*client, 100, 1));
  EXPECT_EQ(proxy->Stop(), 0);
  // Still logging to stderr after SIGUSR1 (the reference would have gone silent).
  EXPECT_TRUE(proxy->LogContains("Terminated by SIGTERM."));
}

TEST_F(SignalsE2eTest, DaemonizeWritesTheLogFileAndNiceApplies) {
  const std::string log = dir_.Path("daemon.log");
  auto child = tools::ChildProcess::Spawn(
      {e2e::ProxyBinaryPath(), "-d", "-l", log, "--nice", "3", "-H", "0", "--shards", "1", "-S",
       e2e::Hex(secret_), "--aes-pwd", aes_pwd_, "--drain-timeout", "1",
       dir_.Write("proxy-multi.conf", e2e::ConfigFor(me_->port()))});
  ASSERT_TRUE(child.ok()) << child.status();
  // -d sends stdout and stderr to the -l file (no fork: the pid stays the same).
  ASSERT_TRUE(e2e::WaitFor(
      [&] { return dir_.Read("daemon.log").find("main loop") != std::string::npos; }, 8000))
      << dir_.Read("daemon.log");
  const pid_t pid = child->pid();
  EXPECT_EQ(getsid(pid), pid);  // setsid()
  std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Field 19 is the nice value; fields after the ")" of the command name are space-separated.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 19 && fields >> field; ++i) {
  }
  // --nice adds to the niceness the proxy inherits (nice(2)), so a test run under `nice -n 10`
  // sees 13.
  errno = 0;
  const int inherited = getpriority(PRIO_PROCESS, 0);
  ASSERT_EQ(errno, 0);
  EXPECT_EQ(field, std::to_string(std::min(inherited + 3, 19))) << stat;
  std::string text = dir_.Read("daemon.log");
  size_t at = text.find("listening on port ");
  ASSERT_NE(at, std::string::npos);
  const uint16_t port = static_cast<uint16_t>(atoi(text.c_str() + at + 18));
  ASSERT_TRUE(e2e::WaitFor([&] { return me_->links_ready() >= 1; }, 8000));
  auto client = Client(port);
  ASSERT_TRUE(client.has_value());
  EXPECT_TRUE(EchoFrame(*client, 100, 1));
  client.reset();
  child->Signal(SIGTERM);
  auto rc = child->Wait(10000);
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 0);
  EXPECT_NE(dir_.Read("daemon.log").find("Terminated by SIGTERM."), std::string::npos);
}

}  // namespace
}  // namespace mtp
