// One simulator run: builds the seed's configuration, engine and world, steps the shard and the
// peers through four phases (main, quiesce, timeouts, stop) and checks the invariants after
// every step.
#include "tests/sim/simulator.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/log.h"
#include "crypto/random.h"
#include "dataplane/dataplane_config.h"
#include "dataplane/shard/proxy_shard.h"
#include "dataplane/session/session_state.h"
#include "tests/sim/sim_peers.h"

namespace mtp::sim {
namespace {

constexpr uint16_t kListenPort = 443;
constexpr uint16_t kMePort = 8888;
constexpr uint32_t kMeIpv4Base = 0x0a000001;  // 10.0.0.1 + target index
constexpr uint32_t kDcIpv4Base = 0x0a020000;  // 10.2.0.0 + DC id
constexpr size_t kLogTail = 40;

enum class Phase { kMain, kQuiesce, kTimeouts, kStop };
std::string_view PhaseName(Phase p) {
  switch (p) {
    case Phase::kMain:
      return "main";
    case Phase::kQuiesce:
      return "quiesce";
    case Phase::kTimeouts:
      return "timeouts";
    case Phase::kStop:
      return "stop";
  }
  return "?";
}

class Run;
thread_local Run* g_run = nullptr;
void SinkToRun(LogSeverity severity, std::string_view message);

// Per-mille value that is 0 a third of the time, else uniform in [1, max].
uint32_t Maybe(SimRandom& r, uint32_t max) { return r.Below(3) == 0 ? 0 : r.Range(1, max); }

class Run {
 public:
  explicit Run(const SimOptions& options)
      : options_(options),
        random_(options.fuzz_bytes.empty() ? SimRandom(options.seed)
                                           : SimRandom(options.fuzz_bytes)) {}

  SimResult Execute();
  void OnLog(LogSeverity severity, std::string_view message);

 private:
  void BuildConfig();
  void DrawFaults();
  bool Step(Phase phase, double dt_s);
  void WorldFaults();
  void Check();
  void CheckCloseReasons();
  void Fail(const std::string& what);
  std::string Report(const std::string& what);
  bool me_mode() const { return options_.mode == SimMode::kMiddleEnd; }

  const SimOptions options_;
  SimRandom random_;
  SimClock clock_;
  DataplaneConfig config_;
  SimEngine::Options engine_options_;
  EngineFaults faults_;
  SimEngine* engine_ = nullptr;  // owned by the shard
  std::unique_ptr<ProxyShard> shard_;
  SimWorld world_;
  std::vector<std::unique_ptr<SimMeLink>> me_links_;
  std::vector<std::unique_ptr<SimDcLink>> dc_links_;
  std::map<uint32_t, SocketAddress> servers_;  // server id -> address
  uint32_t clients_total_ = 0;
  uint32_t spawn_pm_ = 0;

  Phase phase_ = Phase::kMain;
  uint64_t step_ = 0;
  size_t engine_violations_seen_ = 0;
  bool failed_ = false;
  std::string report_;
  SimResult result_;

  std::deque<std::string> log_tail_;
  std::vector<std::string> log_errors_;
  std::set<int> session_fds_;                 // fds logged as new inbound sessions
  std::map<int, std::string> close_reasons_;  // fd -> the close reason logged
  std::set<std::string> reason_names_;
};

void SinkToRun(LogSeverity severity, std::string_view message) {
  if (g_run != nullptr) g_run->OnLog(severity, message);
}

void Run::OnLog(LogSeverity severity, std::string_view message) {
  if (options_.echo_log) {
    std::fprintf(stderr, "[sim step %llu] %c %.*s\n", static_cast<unsigned long long>(step_),
                 severity == LogSeverity::kError     ? 'E'
                 : severity == LogSeverity::kWarning ? 'W'
                                                     : 'I',
                 static_cast<int>(message.size()), message.data());
  }
  log_tail_.push_back(
      absl::StrFormat("step %llu: %s", static_cast<unsigned long long>(step_), message));
  if (log_tail_.size() > kLogTail) log_tail_.pop_front();
  if (severity == LogSeverity::kError) log_errors_.emplace_back(message);
  if (message.find("still had operations in flight at exit") != std::string_view::npos) {
    log_errors_.emplace_back(message);
  }
  if (size_t at = message.find("New inbound connection #"); at != std::string_view::npos) {
    session_fds_.insert(std::atoi(std::string(message.substr(at + 24, 12)).c_str()));
  }
  if (message.find("closing client ") != std::string_view::npos) {
    size_t at = message.find("(fd ");
    size_t colon = message.find("): ");
    if (at != std::string_view::npos && colon != std::string_view::npos) {
      int fd = std::atoi(std::string(message.substr(at + 4, colon - at - 4)).c_str());
      close_reasons_[fd] = std::string(message.substr(colon + 3));
    }
  }
  if (message.find(" ready (crc32c=") != std::string_view::npos) ++result_.me_links_ready;
}

void Run::BuildConfig() {
  SimRandom& r = random_;
  static constexpr uint32_t kSizes[] = {1024, 4096, 16384};
  static constexpr uint32_t kCounts[] = {64, 128, 256};
  engine_options_.buffer_size = kSizes[r.Below(3)];
  engine_options_.buffer_count = kCounts[r.Below(3)];
  engine_options_.recv_ring_count = std::min(8u << r.Below(4), engine_options_.buffer_count / 2);
  engine_options_.bug = options_.bug;
  engine_options_.bug_after_completions = r.Range(50, 500);

  config_.mode = me_mode() ? UpstreamMode::kMiddleEnd : UpstreamMode::kDirect;
  for (uint32_t i = 0, n = r.Below(3); i < n; ++i) {
    ClientSecret secret;
    r.Fill(secret);
    config_.secrets.push_back(secret);
  }
  config_.listeners.push_back(ListenerSpec{SocketAddress::FromIpv4(0, kListenPort), false});
  config_.max_client_connections = r.Range(4, 64);
  config_.max_connections = 1u << 20;
  config_.engine.buffer_count = engine_options_.buffer_count;
  config_.engine.buffer_size = engine_options_.buffer_size;
  config_.engine.recv_ring_count = engine_options_.recv_ring_count;
  config_.shard_buffer_bytes =
      uint64_t{engine_options_.buffer_size} * r.Range(8, engine_options_.buffer_count);
  config_.queue_cap_bytes = 1u << r.Range(12, 20);
  config_.client_buffer_cap_bytes =
      std::max<uint64_t>(2ull * config_.queue_cap_bytes, 1ull << r.Range(16, 25));
  config_.me_link_queue_cap_bytes = 1u << r.Range(14, 23);
  config_.handshake_timeout_ms = 10000;
  config_.idle_timeout_ms = 30000;
  config_.write_stall_timeout_ms = r.Range(2, 8) * 1000;
  if (me_mode()) {
    config_.proxy_secret.resize(r.Range(32, 64));
    r.Fill(config_.proxy_secret);
    const uint32_t targets = r.Range(1, 2);
    for (uint32_t t = 0; t < targets; ++t) {
      SocketAddress address = SocketAddress::FromIpv4(kMeIpv4Base + t, kMePort);
      const uint32_t min = r.Range(1, 3);
      config_.routing.Add(t == 0 || r.Chance(500) ? 2 : 4, address, min, min + r.Below(3));
      servers_[t] = address;
    }
    config_.routing.SetDefault(2);
    if (r.Chance(500)) {
      config_.ad_tag.emplace();
      r.Fill(*config_.ad_tag);
    }
  } else {
    for (int dc = 1; dc <= 5; ++dc) {
      SocketAddress address = SocketAddress::FromIpv4(kDcIpv4Base + dc, 443);
      (void)config_.dc_table.AddOverride(absl::StrCat(dc, ":", address.ToString()));
      servers_[static_cast<uint32_t>(dc)] = address;
    }
  }
}

void Run::DrawFaults() {
  SimRandom& r = random_;
  faults_.service = r.Below(3) == 0 ? 1000 : r.Range(300, 1000);
  faults_.partial_read = Maybe(r, 800);
  faults_.one_byte_read = Maybe(r, 200);
  faults_.enobufs = Maybe(r, 50);
  faults_.end_multishot = Maybe(r, 100);
  faults_.short_send = Maybe(r, 600);
  faults_.cancel_race = Maybe(r, 700);
  faults_.connect_fail = Maybe(r, 300);
  faults_.connect_hang = Maybe(r, 100);
  faults_.open_fail = Maybe(r, 50);
  faults_.address_fail = Maybe(r, 20);
  engine_options_.faults = faults_;
  PeerFaults& p = world_.faults;
  p.client_abort = Maybe(r, 20);
  p.slow_reader = Maybe(r, 20);
  p.link_loss = Maybe(r, 5);
  p.me_close_ext = Maybe(r, 30);
  p.server_close = Maybe(r, 3);
  p.clock_jump = Maybe(r, 2);
}

void Run::Fail(const std::string& what) {
  if (failed_) return;
  failed_ = true;
  report_ = Report(what);
}

std::string Run::Report(const std::string& what) {
  std::string r = absl::StrFormat("invariant broken: %s\n", what);
  r += absl::StrFormat("  seed %llu, mode %s, phase %s, step %llu, sim time %.3f s\n",
                       static_cast<unsigned long long>(options_.seed), SimModeName(options_.mode),
                       PhaseName(phase_), static_cast<unsigned long long>(step_),
                       clock_.MonotonicSeconds() - SimClock::kStartMonotonicS);
  r += "  replay: " + ReplayCommand(options_) + "\n";
  if (shard_ != nullptr) {
    ShardAudit a = shard_->Audit();
    r += absl::StrFormat(
        "  shard: %u session(s), %u link(s), chains hold %u (recount %u), pool "
        "in use %u, budget %u\n",
        a.sessions, a.links, a.chains_held, a.chain_buffers, a.pool_in_use, a.budget);
    r += absl::StrFormat("  pool: %u buffers of %u bytes, receive set %u of %u, free %u\n",
                         engine_->pool().buffer_count(), engine_->pool().buffer_size(),
                         engine_->pool().recv_available(), engine_->pool().recv_target(),
                         engine_->pool().free_count());
    // Hints for the known stalls (docs/simulator.md, "What it found").
    if (engine_->pool().recv_available() == 0 && engine_->pool().free_count() > 0) {
      r += "  hint: the receive set is empty while buffers are free: no receive can be armed "
           "until a held buffer is released\n";
    }
    const uint64_t unit = engine_->pool().buffer_size();
    for (const ShardAudit::Owner& o : a.owners) {
      if (o.kind != 'l' || (o.flags & 2) != 0 || o.queued == 0) continue;
      const uint64_t need = (o.queued + unit - 1) / unit;
      if (need > a.budget) {
        r += absl::StrFormat(
            "  hint: link %u has %u bytes to send, more than the whole budget "
            "(%u buffers): it can never seal them\n",
            o.slot, o.queued, a.budget);
      } else if (a.chains_held + need > a.budget) {
        r += absl::StrFormat(
            "  hint: link %u has %u bytes to send and no send in flight: it "
            "waits for %llu of the budget's buffers, held by sessions\n",
            o.slot, o.queued, static_cast<unsigned long long>(need));
      }
    }
    size_t shown = 0;
    for (const ShardAudit::Owner& o : a.owners) {
      if (++shown > 30) break;
      r += absl::StrFormat(
          "    %c%u state %s fd %d up_fd %d inflight %u flags 0x%x queued %u | %s\n", o.kind,
          o.slot,
          o.kind == 's' ? std::string(SessionStateName(static_cast<SessionState>(o.state)))
                        : absl::StrCat(o.state),
          o.fd, o.up_fd, o.inflight, o.flags, o.queued,
          engine_->Describe(o.fd) + (o.up_fd >= 0 ? " | " + engine_->Describe(o.up_fd) : ""));
    }
  }
  size_t shown = 0;
  for (const auto& c : world_.clients) {
    if (c->closed_by_proxy() || c->closed_by_us()) continue;
    if (++shown > 20) break;
    r += "    " + c->Describe() + "\n";
  }
  r += "  last log lines:\n";
  for (const std::string& line : log_tail_) r += "    " + line + "\n";
  return r;
}

void Run::WorldFaults() {
  SimRandom& r = random_;
  const PeerFaults& f = world_.faults;
  if (!world_.clients.empty()) {
    if (r.Chance(f.client_abort)) {
      world_.clients[r.Below(static_cast<uint32_t>(world_.clients.size()))]->Abort(r.Chance(500));
    }
    if (r.Chance(f.slow_reader)) {
      world_.clients[r.Below(static_cast<uint32_t>(world_.clients.size()))]->PauseReading(
          step_ + r.Range(10, 3000));
    }
  }
  const uint32_t servers = static_cast<uint32_t>(me_links_.size() + dc_links_.size());
  if (servers > 0) {
    if (r.Chance(f.server_close)) {
      const uint32_t i = r.Below(servers);
      if (i < me_links_.size()) {
        me_links_[i]->Hangup();
      } else {
        dc_links_[i - me_links_.size()]->Hangup();
      }
    }
    if (r.Chance(f.slow_reader)) {
      const uint32_t i = r.Below(servers);
      const uint64_t until = step_ + r.Range(10, 3000);
      if (i < me_links_.size()) {
        me_links_[i]->PauseReading(until);
      } else {
        dc_links_[i - me_links_.size()]->PauseReading(until);
      }
    }
  }
  if (engine_->conn_count() > 0 && r.Chance(f.link_loss)) {
    engine_->conn(r.Below(static_cast<uint32_t>(engine_->conn_count()))).reset = true;
  }
}

bool Run::Step(Phase phase, double dt_s) {
  phase_ = phase;
  ++step_;
  world_.step = step_;
  SimRandom& r = random_;
  clock_.Advance(dt_s);
  if (phase == Phase::kMain) {
    if (r.Chance(world_.faults.clock_jump)) clock_.Advance(r.Range(1, 20));
    if (world_.clients.size() < clients_total_ && r.Chance(spawn_pm_)) {
      const uint32_t id = static_cast<uint32_t>(world_.clients.size());
      static constexpr ClientKind kHostile[] = {
          ClientKind::kNonReader,       ClientKind::kSlowSender,  ClientKind::kGarbage,
          ClientKind::kPartialHeader,   ClientKind::kWrongSecret, ClientKind::kBadFrame,
          ClientKind::kHoldPartialFrame};
      const ClientKind kind = r.Chance(550) ? ClientKind::kGood : kHostile[r.Below(7)];
      world_.clients.push_back(std::make_unique<SimClient>(world_, id, kind));
    }
    WorldFaults();
  }
  const bool running = shard_->RunOnce(0);
  Check();
  if (failed_) return false;
  const bool quiesce = phase != Phase::kMain;
  for (auto [server, conn] : engine_->TakeNewServerConns()) {
    if (me_mode()) {
      me_links_.push_back(std::make_unique<SimMeLink>(world_, conn, servers_[server]));
    } else {
      dc_links_.push_back(std::make_unique<SimDcLink>(world_, conn));
    }
  }
  for (auto& c : world_.clients) c->Step(quiesce);
  for (auto& l : me_links_) l->Step(quiesce);
  for (auto& l : dc_links_) l->Step(quiesce);
  return running && !failed_;
}

void Run::Check() {
  const auto& violations = engine_->violations();
  if (violations.size() > engine_violations_seen_) {
    Fail("engine contract: " + violations[engine_violations_seen_]);
    return;
  }
  if (!log_errors_.empty()) {
    Fail("the proxy logged an error: " + log_errors_.front());
    return;
  }
  if (engine_->pool().bad_releases() > 0) {
    Fail(absl::StrFormat("%llu release(s) of buffers that were not in use",
                         static_cast<unsigned long long>(engine_->pool().bad_releases())));
    return;
  }
  ShardAudit a = shard_->Audit();
  if (!a.problems.empty()) {
    Fail("audit: " + a.problems);
    return;
  }
  // Every open descriptor has exactly one owner, every owner's descriptors are open, and the
  // ops the owner counts in flight are the ops the engine has not finished.
  std::vector<SimEngine::FdInfo> fds = engine_->Fds();
  std::vector<uint8_t> owned(fds.size(), 0);
  auto own = [&](int fd, const ShardAudit::Owner& o) {
    if (fd < 0) return true;
    const size_t i = static_cast<size_t>(fd - SimEngine::kFirstFd);
    if (fd < SimEngine::kFirstFd || i >= fds.size()) {
      Fail(absl::StrFormat("%c%u holds fd %d the engine never handed out", o.kind, o.slot, fd));
      return false;
    }
    if (fds[i].closed) {
      Fail(absl::StrFormat("%c%u still holds fd %d, which was closed", o.kind, o.slot, fd));
      return false;
    }
    if (owned[i]++ > 0) {
      Fail(absl::StrFormat("fd %d has two owners (%c%u and another)", fd, o.kind, o.slot));
      return false;
    }
    return true;
  };
  for (const ShardAudit::Owner& o : a.owners) {
    if (!own(o.fd, o) || !own(o.up_fd, o)) return;
    const uint32_t ops = engine_->OpsOn(o.fd) + (o.up_fd >= 0 ? engine_->OpsOn(o.up_fd) : 0);
    if (ops != o.inflight) {
      Fail(
          absl::StrFormat("%c%u counts %u op(s) in flight, the engine has %u unfinished on fd %d"
                          "%s",
                          o.kind, o.slot, o.inflight, ops, o.fd,
                          o.up_fd >= 0 ? absl::StrFormat(" and %d", o.up_fd) : ""));
      return;
    }
  }
  for (size_t i = 0; i < fds.size(); ++i) {
    if (!fds[i].closed && owned[i] == 0) {
      Fail(absl::StrFormat("fd %d is open but no session, link or listener owns it (leak): %s",
                           fds[i].fd, engine_->Describe(fds[i].fd)));
      return;
    }
  }
  CheckCloseReasons();
}

void Run::CheckCloseReasons() {
  for (int fd : engine_->TakeClosed()) {
    if (session_fds_.count(fd) == 0) continue;  // refused at accept: never a session
    auto it = close_reasons_.find(fd);
    if (it == close_reasons_.end()) {
      Fail(absl::StrFormat("session fd %d was closed without a close reason", fd));
      return;
    }
    if (reason_names_.count(it->second) == 0) {
      Fail(absl::StrFormat("session fd %d closed for '%s', which is no CloseReason", fd,
                           it->second));
      return;
    }
  }
}

SimResult Run::Execute() {
  for (int i = 0; i < 64; ++i) {
    std::string_view name = CloseReasonName(static_cast<CloseReason>(i));
    if (name != "?") reason_names_.insert(std::string(name));
  }
  SeedFastRandomForTesting(options_.fuzz_bytes.empty() ? options_.seed : random_.Next64() ^ 0x5eed);
  const int old_verbosity = LogVerbosity();
  SetLogVerbosity(1);
  g_run = this;
  SetLogSinkForTesting(&SinkToRun);

  BuildConfig();
  DrawFaults();
  auto engine = std::make_unique<SimEngine>(engine_options_, clock_, random_);
  engine_ = engine.get();
  world_.engine = engine_;
  world_.random = &random_;
  world_.clock = &clock_;
  world_.me_mode = me_mode();
  world_.listen_port = kListenPort;
  world_.secrets = config_.secrets;
  world_.proxy_secret = config_.proxy_secret;
  world_.violation = [this](std::string what) { Fail(what); };
  for (const auto& [id, address] : servers_) engine_->AddServer(address, id);

  auto shard = ProxyShard::Create(0, 1, config_, std::move(engine), clock_);
  if (!shard.ok()) {
    Fail("ProxyShard::Create: " + std::string(shard.status().message()));
  } else {
    shard_ = std::move(*shard);
    shard_->Start();
    const uint32_t steps = std::max<uint32_t>(options_.steps, 1);
    clients_total_ = random_.Range(4, 40);
    // Clients arrive over the first 60% of the main phase (in fuzz mode: of the steps its
    // bytes are expected to last).
    const uint32_t expected_steps =
        random_.fuzz_mode()
            ? std::min<uint32_t>(steps, static_cast<uint32_t>(options_.fuzz_bytes.size() / 6) + 1)
            : steps;
    spawn_pm_ = std::clamp<uint32_t>(clients_total_ * 1000 * 10 / (expected_steps * 6), 1, 1000);
    // Main phase: traffic and faults.
    for (uint32_t i = 0; i < steps && !failed_; ++i) {
      if (random_.fuzz_mode() && random_.exhausted()) break;
      if (!Step(Phase::kMain, random_.Below(10) / 1000.0)) break;
    }
    // Quiesce: faults off, no new traffic; what was sent must arrive within ~15 s unless its
    // client was closed (the handshake timeout is 10 s, the idle timeout 30 s).
    EngineFaults calm;
    calm.partial_read = faults_.partial_read;
    calm.short_send = faults_.short_send;
    engine_->set_faults(calm);
    auto incomplete = [&]() -> std::string {
      for (const auto& c : world_.clients) {
        std::string wrong = c->CheckComplete(me_mode());
        if (!wrong.empty()) return absl::StrFormat("client %u: %s", c->id(), wrong);
      }
      return "";
    };
    // Runs while the clients' traffic moves (up to 120 s) and ends after 12 s without
    // progress (past the 10-s handshake and connect timers and the ~1-s guard sweep, under the
    // 30-s idle timeout).
    uint64_t last_progress = 0;
    double progress_at = clock_.MonotonicSeconds();
    const double quiesce_end = progress_at + 120.0;
    for (int i = 0; !failed_ && clock_.MonotonicSeconds() < quiesce_end; ++i) {
      // Without the liveness checks (fuzzing) coarser steps keep the drain cheap.
      Step(Phase::kQuiesce, options_.check_liveness ? 0.01 : 0.05);
      if (i % 50 != 49) continue;
      // The clients' traffic and the shard's: bytes in and out, frames forwarded or dropped.
      const ShardCounters& k = shard_->counters();
      uint64_t progress = k.client_bytes_in.Get() + k.client_bytes_out.Get() +
                          k.forwarded_queries.Get() + k.dropped_queries.Get() +
                          k.client_closed.Get();
      for (const auto& c : world_.clients) progress += c->progress();
      if (progress != last_progress) {
        last_progress = progress;
        progress_at = clock_.MonotonicSeconds();
      } else if (clock_.MonotonicSeconds() - progress_at > 15.0) {
        break;
      }
      if (incomplete().empty()) break;
    }
    if (!failed_ && options_.check_liveness) {
      std::string wrong = incomplete();
      if (!wrong.empty()) Fail(wrong);
    }
    // Timeouts: every session must end (the idle timeout is 30 s). Clients still in the
    // listen backlog are accepted as sessions end, so this waits while sessions come, go or
    // move bytes, and fails once nothing moved for 45 s (or after 900 s).
    auto churn = [&] {
      const ShardCounters& k = shard_->counters();
      return k.client_accepted.Get() + k.client_closed.Get() + k.client_bytes_in.Get() +
             k.client_bytes_out.Get();
    };
    const double timeouts_end = clock_.MonotonicSeconds() + 900.0;
    uint64_t last_churn = churn();
    double churn_at = clock_.MonotonicSeconds();
    while (!failed_ && shard_->Audit().sessions > 0) {
      Step(Phase::kTimeouts, 0.25);
      if (churn() != last_churn) {
        last_churn = churn();
        churn_at = clock_.MonotonicSeconds();
      } else if (clock_.MonotonicSeconds() - churn_at > 45.0) {
        if (!options_.check_liveness) break;
        Fail(
            absl::StrFormat("%u session(s) still open 45 s after any session opened, closed or "
                            "moved a byte (stuck: no progress and no timer closed them)",
                            shard_->Audit().sessions));
      }
      if (!failed_ && clock_.MonotonicSeconds() > timeouts_end) {
        if (!options_.check_liveness) break;
        Fail(absl::StrFormat("%u session(s) still open 900 s after the last new traffic",
                             shard_->Audit().sessions));
      }
    }
    // Stop: every descriptor closed exactly once, every buffer back in the pool.
    if (!failed_) {
      shard_->RequestStop();
      bool running = true;
      for (int i = 0; i < 100 && running && !failed_; ++i) running = Step(Phase::kStop, 0.1);
      if (!failed_ && running) Fail("the shard did not stop within 10 s of RequestStop");
      if (!failed_) {
        for (const SimEngine::FdInfo& fd : engine_->Fds()) {
          if (!fd.closed) {
            Fail(absl::StrFormat("fd %d still open after the shard stopped: %s", fd.fd,
                                 engine_->Describe(fd.fd)));
            break;
          }
        }
      }
      if (!failed_ && engine_->pool().in_use() != 0) {
        Fail(absl::StrFormat("%u buffer(s) still in use after the shard stopped",
                             engine_->pool().in_use()));
      }
      if (!failed_) Check();
    }
  }

  result_.ok = !failed_;
  result_.report = report_;
  result_.steps = step_;
  result_.clients = world_.clients.size();
  for (const auto& c : world_.clients) {
    result_.frames_sent += c->frames_sent();
    result_.frames_echoed += c->frames_echoed();
  }
  result_.completions = engine_->completions();
  if (shard_ != nullptr) result_.sessions_closed = shard_->counters().client_closed.Get();
  result_.sim_seconds = clock_.MonotonicSeconds() - SimClock::kStartMonotonicS;

  // The shard (and the engine it owns) goes before the world that points into the engine.
  me_links_.clear();
  dc_links_.clear();
  world_.clients.clear();
  shard_.reset();
  SetLogSinkForTesting(nullptr);
  g_run = nullptr;
  SetLogVerbosity(old_verbosity);
  return result_;
}

}  // namespace

std::string_view SimModeName(SimMode mode) { return mode == SimMode::kMiddleEnd ? "me" : "direct"; }

std::string ReplayCommand(const SimOptions& options) {
  if (!options.fuzz_bytes.empty()) {
    return "save the fuzz input and run mtp-sim --input FILE";
  }
  std::string cmd = absl::StrFormat("mtp-sim --seed %llu --mode %s --steps %u",
                                    static_cast<unsigned long long>(options.seed),
                                    SimModeName(options.mode), options.steps);
  switch (options.bug) {
    case PlantedBug::kNone:
      break;
    case PlantedBug::kDropCompletion:
      cmd += " --plant drop-completion";
      break;
    case PlantedBug::kCorruptByte:
      cmd += " --plant corrupt-byte";
      break;
    case PlantedBug::kLeakBuffer:
      cmd += " --plant leak-buffer";
      break;
  }
  return cmd;
}

SimResult RunSimulation(const SimOptions& options) {
  Run run(options);
  return run.Execute();
}

}  // namespace mtp::sim
