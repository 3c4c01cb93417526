// mtproto-proxy: process entry. Parses the command line (a temporary subset parser until the
// full reference CLI of control/cli.h is wired in), builds the dataplane config, runs the shards
// and waits for SIGTERM/SIGINT (graceful stop, exit 0).
#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "control/proxy_runner.h"
#include "core/log.h"

namespace mtp {
namespace {

constexpr int kExitUsage = 2;

enum LongOnly {
  kOptAesPwd = 1000,
  kOptNatInfo,
  kOptAddress,
  kOptDirect,
  kOptDcOverride,
  kOptIoBackend,
  kOptMsgBuffers,
  kOptHttpStats,
};

void Usage() {
  std::fprintf(stderr,
               "usage: mtproto-proxy [options] [<proxy-multi.conf>]\n"
               "  -H p1[,p2]        client ports        -S <32 hex>   client secret (repeat)\n"
               "  -P <32 hex>       ad tag              -p <port>     stats port (PID field)\n"
               "  --aes-pwd <file>  proxy secret        -M <n>        shards (0 = one per CPU)\n"
               "  --nat-info l:g    NAT rule            --address IP  bind address\n"
               "  -c <n> -C <n>     connection limits   -W <bytes>    window clamp\n"
               "  -b <n>            backlog             -6            dual-stack listeners\n"
               "  --direct          connect clients straight to DCs (default without a config)\n"
               "  --dc-override ID:HOST:PORT            --io-backend auto|io_uring|epoll\n"
               "  --msg-buffers-size <bytes[k|m|g]>     -v            more logging\n");
}

bool ParseInt(const char* text, int* out) { return absl::SimpleAtoi(text, out); }

bool ParseSize(std::string text, uint64_t* out) {
  uint64_t mult = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k': case 'K': mult = 1ull << 10; break;
      case 'm': case 'M': mult = 1ull << 20; break;
      case 'g': case 'G': mult = 1ull << 30; break;
      default: break;
    }
    if (mult != 1) text.pop_back();
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(text, &v)) return false;
  *out = v * mult;
  return true;
}

bool ParsePorts(const char* text, std::vector<uint16_t>* ports) {
  std::string s(text);
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string part = s.substr(start, comma == std::string::npos ? std::string::npos
                                                                   : comma - start);
    int port = 0;
    if (!ParseInt(part.c_str(), &port) || port < 0 || port > 65535) return false;
    ports->push_back(static_cast<uint16_t>(port));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

// Returns 0 on success, else the exit code.
int ParseCommandLine(int argc, char** argv, ProxyOptions* o) {
  static const option kLong[] = {
      {"http-ports", required_argument, nullptr, 'H'},
      {"mtproto-secret", required_argument, nullptr, 'S'},
      {"proxy-tag", required_argument, nullptr, 'P'},
      {"port", required_argument, nullptr, 'p'},
      {"slaves", required_argument, nullptr, 'M'},
      {"connections", required_argument, nullptr, 'c'},
      {"max-special-connections", required_argument, nullptr, 'C'},
      {"window-clamp", required_argument, nullptr, 'W'},
      {"backlog", required_argument, nullptr, 'b'},
      {"ipv6", no_argument, nullptr, '6'},
      {"verbosity", optional_argument, nullptr, 'v'},
      {"help", no_argument, nullptr, 'h'},
      {"aes-pwd", required_argument, nullptr, kOptAesPwd},
      {"nat-info", required_argument, nullptr, kOptNatInfo},
      {"address", required_argument, nullptr, kOptAddress},
      {"direct", no_argument, nullptr, kOptDirect},
      {"dc-override", required_argument, nullptr, kOptDcOverride},
      {"io-backend", required_argument, nullptr, kOptIoBackend},
      {"msg-buffers-size", required_argument, nullptr, kOptMsgBuffers},
      {"http-stats", no_argument, nullptr, kOptHttpStats},
      {nullptr, 0, nullptr, 0},
  };
  int opt;
  while ((opt = getopt_long(argc, argv, "H:S:P:p:M:c:C:W:b:6vh", kLong, nullptr)) != -1) {
    bool ok = true;
    switch (opt) {
      case 'H': ok = ParsePorts(optarg, &o->ports); break;
      case 'S': o->secrets_hex.push_back(optarg); break;
      case 'P': o->proxy_tag_hex = optarg; break;
      case 'p': ok = ParseInt(optarg, &o->stats_port) && o->stats_port > 0; break;
      case 'M': ok = ParseInt(optarg, &o->shards) && o->shards >= 0 && o->shards <= 126; break;
      case 'c': ok = ParseInt(optarg, &o->max_connections); break;
      case 'C': ok = ParseInt(optarg, &o->max_special_connections); break;
      case 'W': ok = ParseInt(optarg, &o->window_clamp); break;
      case 'b': ok = ParseInt(optarg, &o->backlog); break;
      case '6': o->ipv6 = true; break;
      case 'v':
        if (optarg != nullptr) {
          ok = ParseInt(optarg, &o->verbosity);
        } else {
          ++o->verbosity;
        }
        break;
      case kOptAesPwd: o->aes_pwd_path = optarg; o->aes_pwd_given = true; break;
      case kOptNatInfo: o->nat_info.push_back(optarg); break;
      case kOptAddress: o->address = optarg; break;
      case kOptDirect: o->direct = true; break;
      case kOptDcOverride: o->dc_overrides.push_back(optarg); break;
      case kOptIoBackend: o->io_backend = optarg; break;
      case kOptMsgBuffers: ok = ParseSize(optarg, &o->msg_buffers_bytes); break;
      case kOptHttpStats: break;  // served by the control plane once it is wired in
      case 'h':
      default:
        Usage();
        return kExitUsage;
    }
    if (!ok) {
      std::fprintf(stderr, "bad value for option -%c\n", opt < 256 ? opt : '-');
      Usage();
      return kExitUsage;
    }
  }
  if (optind < argc) o->config_path = argv[optind++];
  if (optind < argc) {
    Usage();
    return kExitUsage;
  }
  return 0;
}

int Main(int argc, char** argv) {
  ProxyOptions options;
  if (int rc = ParseCommandLine(argc, argv, &options); rc != 0) return rc;
  SetLogVerbosity(options.verbosity);

  // Signals are taken synchronously by this thread; shard threads inherit the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::vector<int> cpus = AffinityCpus();
  uint32_t shards = options.shards > 0 ? static_cast<uint32_t>(options.shards)
                                       : static_cast<uint32_t>(std::max<size_t>(cpus.size(), 1));
  auto config = BuildDataplaneConfig(options, shards);
  if (!config.ok()) {
    std::fprintf(stderr, "fatal: %s\n", std::string(config.status().message()).c_str());
    return absl::IsInvalidArgument(config.status()) ? kExitUsage : 1;
  }
  auto runner = ProxyRunner::Start(std::move(*config), shards, cpus);
  if (!runner.ok()) {
    std::fprintf(stderr, "fatal: %s\n", std::string(runner.status().message()).c_str());
    return 1;
  }
  for (uint32_t i = 0; i < options.ports.size(); ++i) {
    MTP_LOG(0, "listening on port %u", (*runner)->shard(0).listener_port(i));
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGTERM || sig == SIGINT) {
      MTP_LOG(0, "%s handled, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    if (sig == SIGUSR1) ReopenLogFile();
    MTP_LOG(0, "received signal %02d", sig);
  }
  (*runner)->Stop();
  (*runner)->Join();
  CounterSnapshot c = (*runner)->Counters();
  MTP_LOG(0, "Terminated. accepted=%llu forwarded_queries=%llu forwarded_responses=%llu",
          static_cast<unsigned long long>(c.client_accepted),
          static_cast<unsigned long long>(c.forwarded_queries),
          static_cast<unsigned long long>(c.forwarded_responses));
  return 0;
}

}  // namespace
}  // namespace mtp

int main(int argc, char** argv) { return mtp::Main(argc, argv); }
