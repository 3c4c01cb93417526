// Options -> DataplaneConfig translation, and the pinned shard threads.
#include "control/proxy_runner.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "control/proxy_config.h"
#include "core/hex.h"
#include "core/log.h"
#include "crypto/proxy_secret.h"

namespace mtp {
namespace {

// The reference's get_my_ipv4: the first non-loopback interface address, preferring 10/8.
uint32_t DetectMyIpv4() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return 0;
  uint32_t best = 0;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if (std::string_view(i->ifa_name).starts_with("lo")) continue;
    uint32_t ip = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
    if ((ip >> 24) == 127) continue;
    if ((ip >> 24) == 10) {
      best = ip;
      break;
    }
    if (best == 0) best = ip;
  }
  freeifaddrs(list);
  return best;
}

uint32_t FloorPow2(uint64_t v) {
  uint32_t p = 1;
  while (uint64_t{p} * 2 <= v && p < (1u << 30)) p *= 2;
  return p;
}

absl::Status LoadMeRouting(const std::string& path, MeRouting& routing) {
  SystemHostResolver resolver;
  auto config = LoadProxyConfig(path, resolver);
  if (!config.ok()) return config.status();
  for (const MeCluster& cluster : (*config)->clusters) {
    for (uint32_t index : cluster.target_indexes) {
      const MeTarget& t = (*config)->target(index);
      SocketAddress address =
          t.address.is_ipv6()
              ? SocketAddress::FromIpv6(t.address.bytes, t.port)
              : SocketAddress::FromIpv4(t.address.ipv4_host_order(), t.port);
      routing.Add(cluster.id, address, static_cast<uint32_t>(t.min_connections),
                  static_cast<uint32_t>(t.max_connections));
    }
  }
  routing.SetDefault((*config)->default_cluster_id);
  MTP_LOG(0, "configuration file %s re-read successfully (%zu bytes parsed), new configuration "
             "active", path, (*config)->size_bytes);
  return absl::OkStatus();
}

}  // namespace

std::vector<int> AffinityCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int i = 0; i < CPU_SETSIZE; ++i) {
      if (CPU_ISSET(i, &set)) cpus.push_back(i);
    }
  }
  return cpus;
}

absl::StatusOr<std::unique_ptr<DataplaneConfig>> BuildDataplaneConfig(const ProxyOptions& options,
                                                                      uint32_t shard_count) {
  auto config = std::make_unique<DataplaneConfig>();
  DataplaneConfig& c = *config;

  for (const std::string& hex : options.secrets_hex) {
    auto secret = ParseClientSecretHex(hex);
    if (!secret.ok()) return secret.status();
    if (c.secrets.size() >= kMaxClientSecrets) {
      return absl::InvalidArgumentError("at most 16 -S secrets are supported");
    }
    c.secrets.push_back(*secret);
  }
  if (!options.proxy_tag_hex.empty()) {
    auto tag = ParseClientSecretHex(options.proxy_tag_hex);  // same shape: 32 hex digits
    if (!tag.ok()) return absl::InvalidArgumentError("'P' option requires exactly 32 hex digits");
    c.ad_tag.emplace();
    std::copy(tag->begin(), tag->end(), c.ad_tag->begin());
  }

  std::optional<SocketAddress> bind_v4;
  if (!options.address.empty()) {
    auto a = SocketAddress::FromIp(options.address, 0);
    if (!a.ok() || !a->is_v4()) return absl::InvalidArgumentError("--address: bad IPv4 address");
    bind_v4 = *a;
    c.outbound_bind = *a;
  }
  for (uint16_t port : options.ports) {
    ListenerSpec spec;
    if (options.ipv6) {
      spec.address = SocketAddress::Any(AF_INET6, port);
      spec.dual_stack = true;
    } else if (bind_v4) {
      spec.address = *bind_v4;
      spec.address.set_port(port);
    } else {
      spec.address = SocketAddress::Any(AF_INET, port);
    }
    c.listeners.push_back(spec);
  }
  c.backlog = options.backlog;
  c.window_clamp_bytes = options.window_clamp;
  c.max_connections = options.max_connections > 0 ? options.max_connections : 65536;
  c.max_client_connections =
      options.max_special_connections < 0
          ? c.max_connections
          : std::min<uint32_t>(c.max_connections, options.max_special_connections);

  for (const std::string& rule : options.nat_info) {
    absl::Status st = c.nat.AddFromString(rule);
    if (!st.ok()) return st;
  }

  // No proxy-multi.conf: there is nothing to route through, so direct mode is the default.
  c.mode = options.direct || options.config_path.empty() ? UpstreamMode::kDirect
                                                         : UpstreamMode::kMiddleEnd;
  c.dc_table = DcTable::Production();
  for (const std::string& spec : options.dc_overrides) {
    absl::Status st = c.dc_table.AddOverride(spec);
    if (!st.ok()) return st;
  }
  if (c.mode == UpstreamMode::kMiddleEnd) {
    absl::Status st = LoadMeRouting(options.config_path, c.routing);
    if (!st.ok()) return st;
    auto secret = ProxySecret::Load(options.aes_pwd_path);
    if (secret.ok()) {
      c.proxy_secret.assign(secret->bytes().begin(), secret->bytes().end());
    } else if (options.aes_pwd_given || !absl::IsNotFound(secret.status())) {
      return secret.status();
    } else {
      MTP_WARN("no proxy secret loaded (default file 'secret' missing): ME handshakes will fail");
    }
  }
  uint32_t pid_ip = 0;
  if (bind_v4 && (bind_v4->ipv4() >> 24) == 10) {
    pid_ip = bind_v4->ipv4();
  } else {
    pid_ip = DetectMyIpv4();
  }
  c.own_pid = MakeProcessId(pid_ip, options.stats_port, getpid(),
                            static_cast<int32_t>(time(nullptr)));

  if (options.io_backend == "io_uring") {
    c.backend = IoBackend::kIoUring;
  } else if (options.io_backend == "epoll") {
    c.backend = IoBackend::kEpoll;
  } else if (options.io_backend == "auto") {
    c.backend = IoBackend::kAuto;
  } else {
    return absl::InvalidArgumentError("--io-backend must be auto, io_uring or epoll");
  }
  uint64_t per_shard = std::max<uint64_t>(options.msg_buffers_bytes / shard_count, 16u << 20);
  c.shard_buffer_bytes = per_shard;
  c.engine.buffer_size = 16384;
  c.engine.buffer_count =
      std::clamp<uint32_t>(FloorPow2(per_shard / c.engine.buffer_size), 1024, 65536);
  // 512 receive buffers (8 MiB) keep up with 64 busy connections; a larger ring only touches
  // more memory: the kernel cycles through every buffer of the ring (measured, performance.md).
  c.engine.recv_ring_count = std::min<uint32_t>(512, c.engine.buffer_count / 2);
  c.engine.queue_depth = 4096;
  return config;
}

absl::StatusOr<std::unique_ptr<ProxyRunner>> ProxyRunner::Start(
    std::unique_ptr<DataplaneConfig> config, uint32_t shard_count, const std::vector<int>& cpus) {
  std::unique_ptr<ProxyRunner> runner(new ProxyRunner());
  runner->config_ = std::move(config);
  for (uint32_t i = 0; i < shard_count; ++i) {
    auto shard = ProxyShard::Create(i, shard_count, *runner->config_);
    if (!shard.ok()) return shard.status();
    if (i == 0) {
      // Port 0 (tests) means "any free port": the other shards must join the one the first
      // shard got, so they share it through SO_REUSEPORT.
      for (size_t l = 0; l < runner->config_->listeners.size(); ++l) {
        runner->config_->listeners[l].address.set_port((*shard)->listener_port(l));
      }
    }
    runner->shards_.push_back(std::move(*shard));
  }
  MTP_LOG(0, "starting %u shard(s), io backend %s, upstream %s", shard_count,
          runner->shards_[0]->backend_name(),
          runner->config_->mode == UpstreamMode::kDirect ? "direct to DCs" : "middle-ends");
  for (uint32_t i = 0; i < shard_count; ++i) {
    ProxyShard* shard = runner->shards_[i].get();
    int cpu = cpus.empty() ? -1 : cpus[i % cpus.size()];
    runner->threads_.emplace_back([shard, cpu] {
      if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
      }
      shard->Run();
    });
  }
  return runner;
}

ProxyRunner::~ProxyRunner() {
  Stop();
  Join();
}

void ProxyRunner::Stop() {
  for (auto& shard : shards_) shard->RequestStop();
}

void ProxyRunner::Join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

CounterSnapshot ProxyRunner::Counters() const {
  CounterSnapshot sum;
  for (const auto& shard : shards_) AccumulateCounters(shard->counters(), sum);
  return sum;
}

}  // namespace mtp
