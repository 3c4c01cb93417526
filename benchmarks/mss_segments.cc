// The cost of --client-mss in segments: a listener made by CreateListenSocket with
// max_segment_bytes = clamp (as the option makes the client listeners) sends 64 MiB over
// loopback to a client, whose kernel counts the data segments (tcpi_data_segs_in). Prints one
// line per clamp: segments per MB, and the process's CPU time per MB (sender and receiver,
// mostly kernel). Run it in a private network namespace with the loopback's GSO/TSO off and
// MTU 1500 to see per-packet CPU cost (docs/performance.md, "Client MSS clamp"); with GSO on,
// loopback hides it.
//
// Usage: mss_segments [clamp...]   (0 = no clamp; default: 0 1200 536 88)
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core/socket_address.h"
#include "core/socket_util.h"

namespace {

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int Measure(int clamp) {
  constexpr size_t kTotal = size_t{64} << 20;
  mtp::ListenOptions options;
  options.address = mtp::SocketAddress::FromIpv4(0x7f000001, 0);
  options.max_segment_bytes = clamp;
  auto listener = mtp::CreateListenSocket(options);
  if (!listener.ok()) {
    std::fprintf(stderr, "listen: %s\n", std::string(listener.status().message()).c_str());
    return 1;
  }
  auto local = mtp::LocalAddress(*listener);
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (!local.ok() || connect(client, local->sockaddr_ptr(), local->length()) != 0) return 1;
  pollfd p{*listener, POLLIN, 0};
  if (poll(&p, 1, 10000) != 1) return 1;
  const int server = accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);  // blocking
  if (server < 0) return 1;
  const double cpu0 = CpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::thread writer([server] {
    std::vector<char> buf(16384, 'x');
    size_t sent = 0;
    while (sent < kTotal) {
      const ssize_t n = send(server, buf.data(), std::min(buf.size(), kTotal - sent), 0);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    shutdown(server, SHUT_WR);
  });
  std::vector<char> buf(1 << 20);
  size_t got = 0;
  for (;;) {
    const ssize_t n = recv(client, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  writer.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = CpuSeconds() - cpu0;
  tcp_info info{};
  socklen_t len = sizeof(info);
  getsockopt(client, IPPROTO_TCP, TCP_INFO, &info, &len);
  const double mb = static_cast<double>(got) / 1e6;
  std::printf("clamp %5d  rcv_mss %5u  %9u segments  %7.0f segments/MB  %6.0f MB/s  "
              "cpu %7.1f us/MB\n",
              clamp, info.tcpi_rcv_mss, info.tcpi_data_segs_in, info.tcpi_data_segs_in / mb,
              mb / secs, cpu * 1e6 / mb);
  close(server);
  close(client);
  close(*listener);
  return got == kTotal ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> clamps = {0, 1200, 536, 88};
  if (argc > 1) {
    clamps.clear();
    for (int i = 1; i < argc; ++i) clamps.push_back(std::atoi(argv[i]));
  }
  int rc = 0;
  for (int clamp : clamps) rc |= Measure(clamp);
  return rc;
}
