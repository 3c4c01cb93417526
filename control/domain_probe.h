// Probing of the fake-TLS domains' real sites (spec client-transports §6.10): resolve each -D
// domain (or its --domain-target override), open 20 TLS connections with probe ClientHellos
// under a 5-s deadline, learn the ServerHello shape, and publish per-domain snapshots into the
// TlsDomainRegistry the shards read; then refresh them periodically on a background thread.
//
// Thread ownership: DomainProber is created, started and stopped by the control thread; its
// refresh thread is its own. The free functions block (poll) and belong on the control plane,
// never on a shard.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "control/proxy_config.h"
#include "proto/fake_tls_probe.h"
#include "dataplane/tls_domains.h"

namespace mtp {

// One -D domain and where its real site is.
struct DomainSpec {
  std::string name;                 // the -D value (the SNI of clients; a wildcard "*.base")
  std::optional<std::string> host;  // --domain-target HOST (else ProbeName() is resolved)
  uint16_t port = 443;              // --domain-target PORT (else 443)

  // The name probes send as SNI and, without --domain-target, the host resolved: `name`, or
  // for a wildcard its base ("*.example.com" -> "example.com": the site a wildcard certificate
  // is usually also issued for, and one that resolves).
  std::string ProbeName() const;
};

struct DomainProbeOptions {
  int connections = kProbeConnections;  // parallel probe connections (reference: 20)
  int deadline_ms = kProbeDeadlineMs;   // for all of them together (reference: 5 s)
  // Seconds between refreshes of every domain; 0 = probe at start-up only (the reference).
  int64_t refresh_interval_s = 6 * 3600;
  // After a successful probe, one more connection with a current app's hello learns what the
  // site answers to X25519MLKEM768 (TlsDomainProfile::pq_answer_group).
  bool probe_pq = true;
};

struct DomainProbeOutcome {
  bool ok = false;
  TlsDomainProfile profile;  // when ok: AggregateProbeAnswers over all answers
  int answers = 0;           // connections that returned a usable answer
  bool mixed_order = false;  // answers disagreed on the extension order
  std::string error;         // when !ok: the first failure ("connect: ...", parser wording)
};

// Probes the TLS server at `address` as the reference does: `options.connections` connections,
// each sending a fresh probe ClientHello with SNI `sni`; all must answer with a parsable
// TLS 1.3 ServerHello + CCS + first application-data record within `options.deadline_ms`,
// otherwise the probe fails (first error reported). Blocking, bounded by the deadline.
DomainProbeOutcome ProbeTlsServer(const SocketAddress& address, std::string_view sni,
                                  const DomainProbeOptions& options);

struct PqProbeOutcome {
  bool ok = false;
  PqProbeAnswer answer;  // when ok: the group the site chose and its ServerHello's length
  std::string error;     // when !ok
};

// One connection to `address` sending BuildPqProbeClientHello(sni) (key shares for
// X25519MLKEM768 and x25519): which group the site answers and how long its ServerHello is.
// Blocking, bounded by options.deadline_ms.
PqProbeOutcome ProbePqAnswer(const SocketAddress& address, std::string_view sni,
                             const DomainProbeOptions& options);

// The real-site address of `spec`: spec.host (or spec.ProbeName()) resolved with `resolver`
// (IPv4 preferred, as kdb_gethostbyname), port spec.port. nullopt if it does not resolve.
std::optional<SocketAddress> ResolveDomainFront(const DomainSpec& spec, HostResolver& resolver);

// One refresh of one domain: resolve, probe, build the snapshot. On a failed probe the profile
// of `previous` is kept if an earlier refresh made it, probed or fallback (a sudden change of
// the ServerHello size would itself be a fingerprint); otherwise a fallback profile is drawn.
// An address that no longer resolves keeps the previous one. Logs the outcome like the
// reference. `previous` may be null.
std::shared_ptr<const TlsDomainInfo> RefreshDomainInfo(const DomainSpec& spec,
                                                       HostResolver& resolver,
                                                       const DomainProbeOptions& options,
                                                       const TlsDomainInfo* previous,
                                                       int64_t now_unix_s);

class DomainProber {
 public:
  // `specs` must be in registry order (same names).
  DomainProber(TlsDomainRegistry& registry, std::vector<DomainSpec> specs,
               const DomainProbeOptions& options, std::unique_ptr<HostResolver> resolver);
  ~DomainProber();  // stops the refresh thread
  DomainProber(const DomainProber&) = delete;
  DomainProber& operator=(const DomainProber&) = delete;

  // Probes every domain now, one after the other, and publishes the results (start-up, before
  // the shards accept clients). Not concurrently with the refresh thread: call it first.
  void ProbeAllNow();
  // Starts the refresh thread (no-op when refresh_interval_s == 0 or already started).
  void StartRefresh();
  // Stops and joins the refresh thread; a probe in progress ends within its deadline.
  void Stop();

  // Completed refresh rounds of the background thread (for tests).
  uint64_t refresh_rounds() const;

 private:
  void RefreshLoop();

  TlsDomainRegistry& registry_;
  const std::vector<DomainSpec> specs_;
  const DomainProbeOptions options_;
  std::unique_ptr<HostResolver> resolver_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  uint64_t refresh_rounds_ = 0;
  std::thread thread_;
};

}  // namespace mtp
