// Fixture of the adversarial e2e suite: the real binary (io_uring or epoll, 1 or 2 shards)
// behind mtp-fake-me (with its misbehaviour flags), hostile clients (mtp-hostile) held for the
// whole case, victims that keep echoing (tests/e2e/victim_client.h), and the checks every case
// makes: the proxy's peak RSS against the bound its options imply, and every close an attacker
// saw explained by a /metrics reason counter. Test thread only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/control/openssl_server.h"
#include "tests/e2e/proxy_process.h"
#include "tests/e2e/victim_client.h"
#include "tests/tools/child_process.h"
#include "tools/client_codec.h"

namespace mtp::e2e {

struct AdversarialParam {
  const char* backend;
  int shards;
};

// What mtp-hostile reported at its end.
struct HostileReport {
  bool ok = false;
  int64_t connected = 0;
  int64_t held = 0;
  int64_t closed = 0;  // EOF + RST
  std::string json;
};

class AdversarialE2eTest : public ::testing::TestWithParam<AdversarialParam> {
 protected:
  struct Options {
    std::vector<std::string> me_flags;     // extra mtp-fake-me flags
    std::vector<std::string> proxy_flags;  // extra proxy flags
    uint64_t msg_buffers_bytes = 64u << 20;  // --msg-buffers-size
    bool fake_tls = false;  // -D a.example, its real site an openssl s_server
    int open_files = 0;     // RLIMIT_NOFILE of the proxy (0: the test's)
  };

  // Starts the fake ME and the proxy and waits until every shard has a ready ME link. Fatal
  // failures on error (callers check HasFatalFailure()).
  void Start(const Options& options);
  int shards() const { return GetParam().shards; }
  uint16_t port() const { return proxy_->port(); }
  ProxyProcess& proxy() { return *proxy_; }

  // Codec settings of a victim: the proxy's secret, fake-TLS towards a.example under -D.
  tools::ClientCodecConfig VictimConfig() const;
  std::unique_ptr<VictimClient> ConnectVictim();
  // `count` new victims each echo once within `timeout_ms`; EXPECTs all of them to.
  void ExpectNewVictimsEcho(int count, int timeout_ms, const std::string& when);

  // mtp-hostile against the proxy with `flags` (mode, connections, sizes), held until
  // StopHostile; waits (bounded) for its "holding" line.
  std::unique_ptr<tools::ChildProcess> SpawnHostile(std::vector<std::string> flags,
                                                    bool with_secret = true);
  // SIGTERM, then its JSON line.
  HostileReport StopHostile(tools::ChildProcess& hostile);

  double Metric(const std::string& series);
  // Sum of every sample of a /metrics family (all label values); 0 if absent.
  double FamilySum(const std::string& family);
  int64_t Stat(const std::string& key);
  // Closes the proxy counts with a reason: client closes (sheds included), memory-protection
  // closes, accept failures.
  double ExplainedCloses();
  // The non-zero close, drop and buffer-pressure counters, one per line (failure messages).
  std::string CloseCounters();
  // Every close `report` saw is counted by a reason (counters are published at the shards'
  // tick: waited for, bounded).
  void ExpectClosesExplained(const HostileReport& report);

  // /proc/<proxy>/status field in KiB (VmRSS, VmHWM); -1 if unreadable.
  int64_t ProcStatusKib(const char* field);
  // The worst case docs/architecture.md states ("Worst case per shard"): the chains' budget
  // (--msg-buffers-size, at least 16 MiB per shard), and per shard the receive ring (8 MiB),
  // one ME link's RpcLink buffers (~10.2 MiB; the suite's config has one link per shard) and
  // session slots for the few thousand connections a case opens (4 MiB); plus 48 MiB for the
  // process (binary, heap, control thread) and the 8-MiB replay cache under -D.
  int64_t RssBoundKib() const;
  // The proxy's peak RSS so far is under RssBoundKib().
  void ExpectRssBounded(const std::string& when);

  std::string me_log_;
  std::string aes_pwd_;
  Options options_;
  std::unique_ptr<testing::OpenSslServer> site_;
  std::unique_ptr<tools::ChildProcess> me_;
  std::unique_ptr<ProxyProcess> proxy_;
  uint16_t stats_port_ = 0;
};

// Test names: io_uring_1_shard, epoll_2_shards, ...
std::string AdversarialParamName(const ::testing::TestParamInfo<AdversarialParam>& info);

}  // namespace mtp::e2e
