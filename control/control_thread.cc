// The control loop: signalfd + posted signals + stats HTTP + periodic ticks over one epoll.
#include "control/control_thread.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "control/log_setup.h"
#include "control/privileges.h"
#include "control/process_metrics.h"
#include "control/readiness.h"
#include "core/build_info.h"
#include "core/log.h"

namespace mtp {
namespace {

constexpr uint64_t kTagSignal = 1;
constexpr uint64_t kTagPosted = 2;
constexpr uint64_t kTagHttp = 3;
// A posted "signal" that is not one: the config refresh installed new files.
constexpr int kPostedConfigRefresh = 0;

int64_t WallNowUnix() { return static_cast<int64_t>(time(nullptr)); }

double MonotonicSeconds() { return static_cast<double>(MonotonicNowNs()) / 1e9; }

sigset_t ControlSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  return set;
}

const char* SignalName(int signo) {
  switch (signo) {
    case SIGHUP:
      return "SIGHUP";
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGUSR1:
      return "SIGUSR1";
  }
  return "signal";
}

}  // namespace

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

ControlThread::ControlThread(const ParsedCommandLine& cli, Options options,
                             std::shared_ptr<const ConfigSnapshot> initial,
                             ShardSetControl& shards, HostResolver& resolver)
    : cli_(cli),
      options_(std::move(options)),
      current_(std::move(initial)),
      shards_(shards),
      resolver_(resolver),
      // The reference's accept bucket: refill n/s, capacity n, starting full.
      accept_splitter_(cli.max_accept_rate, cli.max_accept_rate, MonotonicNowNs()),
      handshake_splitter_(cli.max_dh_accept_rate, cli.max_dh_accept_rate, MonotonicNowNs()) {
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagPosted;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev);
  // Hand out the first budgets before any shard can accept.
  int64_t now = MonotonicNowNs();
  accept_splitter_.Tick(now, shards_.AcceptBudgets());
  handshake_splitter_.Tick(now, shards_.HandshakeBudgets());
}

ControlThread::~ControlThread() {
  if (signal_fd_ >= 0) close(signal_fd_);
  if (event_fd_ >= 0) close(event_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

absl::Status ControlThread::InstallSignals() {
  sigset_t set = ControlSignals();
  if (int err = pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0) {
    return absl::InternalError(absl::StrFormat("pthread_sigmask: %s", strerror(err)));
  }
  signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    return absl::InternalError(absl::StrFormat("signalfd: %s", strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagSignal;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd_, &ev);
  return absl::OkStatus();
}

absl::Status ControlThread::StartStatsServer() {
  if (!cli_.http_stats || cli_.disable_tcp) return absl::OkStatus();
  StatsHttpServer::Options o;
  if (cli_.stats_bind && cli_.stats_bind->port) {  // --stats-bind ADDR:PORT overrides -p
    o.first_port = o.last_port = *cli_.stats_bind->port;
  } else if (cli_.stats_port) {
    o.first_port = cli_.stats_port->first;
    o.last_port = cli_.stats_port->last;
  } else {
    return absl::FailedPreconditionError("fatal: port isn't defined");
  }
  o.ipv6 = cli_.ipv6;
  o.bind = cli_.stats_bind;
  // The command line checked the list; a failure here would be a bug, and serving only
  // loopback is then the safe reading.
  absl::StatusOr<CidrSet> allow = ParseStatsAllow(cli_.stats_allow);
  o.allow = StatsAllowlist(allow.ok() ? *std::move(allow) : CidrSet());
  auto server = StatsHttpServer::Start(o, [this](StatsEndpoint endpoint) -> EndpointBody {
    switch (endpoint) {
      case StatsEndpoint::kStats:
        return RenderStatsText(CollectStats());
      case StatsEndpoint::kMetrics:
        return RenderPrometheus(CollectStats());
      case StatsEndpoint::kHealth:
        return EndpointBody(200, "ok\n");
      case StatsEndpoint::kReady:
        return ReadyAnswer();
    }
    return EndpointBody(500, "unknown endpoint\n");
  });
  if (!server.ok()) return server.status();
  http_ = *std::move(server);
  http_->SetActionHandler([this](std::string_view target) { return SecretAction(target); });
  if (options_.pid_port == 0) options_.pid_port = static_cast<int16_t>(http_->port());  // -p 0
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagHttp;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, http_->epoll_fd(), &ev);
  return absl::OkStatus();
}

std::optional<uint16_t> ControlThread::stats_port() const {
  if (!http_) return std::nullopt;
  return http_->port();
}

std::string ControlThread::stats_address() const { return http_ ? http_->address() : ""; }

EndpointBody ControlThread::SecretAction(std::string_view target) {
  // POST /secrets/<name>/reset-quota
  constexpr std::string_view kPrefix = "/secrets/", kSuffix = "/reset-quota";
  if (!target.starts_with(kPrefix) || !target.ends_with(kSuffix) ||
      target.size() <= kPrefix.size() + kSuffix.size()) {
    return EndpointBody(404, "unknown action (POST /secrets/<name>/reset-quota)\n");
  }
  const std::string_view name =
      target.substr(kPrefix.size(), target.size() - kPrefix.size() - kSuffix.size());
  absl::Status st = shards_.ResetSecretQuota(name, WallNowUnix());
  if (absl::IsNotFound(st)) return EndpointBody(404, absl::StrCat(st.message(), "\n"));
  if (!st.ok()) return EndpointBody(500, absl::StrCat(st.message(), "\n"));
  return EndpointBody(200, absl::StrCat("quota of secret '", std::string(name), "' reset\n"));
}

EndpointBody ControlThread::ReadyAnswer() {
  Readiness r = EvaluateReadiness(CollectStats(), draining_);
  return r.ready ? EndpointBody(200, "ready: " + r.reason + "\n")
                 : EndpointBody(503, "not ready: " + r.reason + "\n");
}

void ControlThread::PostSignal(int signo) {
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    posted_.push_back(signo);
  }
  uint64_t one = 1;
  ssize_t unused = write(event_fd_, &one, sizeof(one));
  (void)unused;
}

void ControlThread::PostConfigRefreshed() { PostSignal(kPostedConfigRefresh); }

ControlExit ControlThread::Run() {
  int64_t next_tick_ns = MonotonicNowNs();
  const int64_t tick_ns = static_cast<int64_t>(options_.tick_ms) * 1000000;
  epoll_event events[8];
  while (!stop_) {
    int64_t now = MonotonicNowNs();
    // Rounded up: rounding down spun epoll_wait(0) through the last millisecond of every tick.
    int timeout_ms =
        static_cast<int>(std::max<int64_t>(0, (next_tick_ns - now + 999999) / 1000000));
    int n = epoll_wait(epoll_fd_, events, 8, timeout_ms);
    for (int i = 0; i < n && !stop_; ++i) {
      switch (events[i].data.u64) {
        case kTagSignal:
          DrainSignalFd();
          break;
        case kTagPosted:
          DrainPosted();
          break;
        case kTagHttp:
          if (http_) http_->Poll(0);
          break;
        default:
          break;
      }
    }
    now = MonotonicNowNs();
    if (!stop_ && now >= next_tick_ns) {
      Tick(now);
      next_tick_ns = now + tick_ns;
    }
  }
  return exit_;
}

void ControlThread::DrainSignalFd() {
  for (;;) {
    signalfd_siginfo info;
    ssize_t n = read(signal_fd_, &info, sizeof(info));
    if (n != static_cast<ssize_t>(sizeof(info))) return;
    HandleSignal(static_cast<int>(info.ssi_signo));
    if (stop_) return;
  }
}

void ControlThread::DrainPosted() {
  uint64_t count = 0;
  ssize_t unused = read(event_fd_, &count, sizeof(count));
  (void)unused;
  std::vector<int> posted;
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    posted.swap(posted_);
  }
  for (int signo : posted) {
    if (signo == kPostedConfigRefresh) {
      if (draining_) continue;
      absl::Status st = Reload("config refresh");
      if (!st.ok() && refresh_ != nullptr) refresh_->NoteReloadFailed(std::string(st.message()));
      continue;
    }
    HandleSignal(signo);
    if (stop_) return;
  }
}

void ControlThread::HandleSignal(int signo) {
  MTP_LOG(0, "received signal %02d (%s)", signo, SignalName(signo));
  switch (signo) {
    case SIGHUP:
      if (draining_) {
        MTP_LOG(0, "SIGHUP ignored: shutting down");
        return;
      }
      Reload("SIGHUP").IgnoreError();  // counted and logged by Reload
      return;
    case SIGTERM:
    case SIGINT:
      BeginShutdown(signo);
      return;
    case SIGUSR1:
      if (!cli_.log_file) {
        // The reference sends everything after SIGUSR1 to /dev/null without -l; we keep
        // logging where we were.
        MTP_LOG(0, "SIGUSR1: no log file (-l) to reopen, still logging to stderr");
        return;
      }
      if (absl::Status st = RedirectOutputToLog(*cli_.log_file); st.ok()) {
        ++counters_.log_reopens;
        MTP_LOG(0, "SIGUSR1: log file %s reopened", *cli_.log_file);
      } else {
        MTP_ERROR("SIGUSR1: %s (still writing where we were); %s", st.message(),
                  LogReopenHint(*cli_.log_file));
      }
      return;
    default:
      return;
  }
}

absl::Status ControlThread::Reload(const char* cause) {
  std::vector<std::string> warnings;
  auto next = LoadConfigSnapshot(cli_, resolver_, current_.get(), WallNowUnix(), &warnings);
  absl::Status status = next.ok() ? shards_.Publish(*next) : next.status();
  if (!status.ok()) {
    ++counters_.reloads_failed;
    counters_.last_reload_error = std::string(status.message());
    MTP_ERROR("%s: configuration not reloaded, the running one stays active: %s", cause,
              status.message());
    return status;
  }
  for (const std::string& w : warnings) MTP_WARN("%s", w);
  ++counters_.reloads_ok;
  counters_.last_reload_error.clear();
  current_ = *std::move(next);
  awaited_generation_ = current_->generation;
  // SIGHUP keeps the reference's line; other causes name themselves.
  const std::string prefix = std::string(cause) == "SIGHUP" ? "" : absl::StrCat(cause, ": ");
  if (current_->proxy_config) {
    MTP_LOG(0,
            "%sconfiguration file %s re-read successfully (%d bytes parsed), new "
            "configuration active (generation %d, %d targets, %d secrets)",
            prefix, current_->config_file, current_->proxy_config->size_bytes, current_->generation,
            current_->proxy_config->targets.size(), current_->secrets.size());
  } else {
    MTP_LOG(0, "%ssecrets re-read successfully, new configuration active (generation %d, %d "
               "secrets)",
            prefix, current_->generation, current_->secrets.size());
  }
  return absl::OkStatus();
}

void ControlThread::BeginShutdown(int signo) {
  if (draining_) {
    MTP_LOG(0, "%s during the drain: exiting at once", SignalName(signo));
    shards_.SaveSecretState();
    exit_ = ControlExit::kImmediate;
    stop_ = true;
    return;
  }
  draining_ = true;
  drain_deadline_ns_ = MonotonicNowNs() + static_cast<int64_t>(cli_.drain_timeout_s) * 1000000000;
  MTP_LOG(0, "%s handled: no new connections, draining %d client connection(s) for up to %d s",
          SignalName(signo), shards_.ActiveClients(), cli_.drain_timeout_s);
  shards_.BeginDrain();
}

void ControlThread::Tick(int64_t now_ns) {
  accept_splitter_.Tick(now_ns, shards_.AcceptBudgets());
  handshake_splitter_.Tick(now_ns, shards_.HandshakeBudgets());
  shards_.TickSecretLimits(WallNowUnix());
  if (awaited_generation_ != 0 && shards_.AdoptedGeneration() >= awaited_generation_) {
    MTP_LOG(1, "every shard adopted configuration generation %d", awaited_generation_);
    awaited_generation_ = 0;
  }
  if (draining_) {
    uint64_t left = shards_.ActiveClients();
    bool timed_out = now_ns >= drain_deadline_ns_;
    if (left == 0 || timed_out) {
      if (timed_out && left > 0) {
        MTP_WARN("drain timeout (%d s): closing %d remaining client connection(s)",
                 cli_.drain_timeout_s, left);
      }
      shards_.Stop();
      shards_.SaveSecretState();  // the quotas as the shards left them
      MTP_LOG(0, "Terminated by SIGTERM.");
      stop_ = true;
      exit_ = ControlExit::kDrained;
    }
  }
}

StatsSnapshot ControlThread::CollectStats() {
  const double started = MonotonicSeconds();
  StatsSnapshot s;
  StatsSnapshot::Engine& e = s.engine;
  e.pid = getpid();
  e.start_time = options_.start_time_unix;
  e.current_time = WallNowUnix();
  e.pid_ip = options_.pid_ip;
  e.pid_port = options_.pid_port;
  e.pid_pid = options_.pid_pid;
  e.pid_utime = options_.pid_utime;

  StatsSnapshot::Connections& c = s.connections;
  c.max_connections = options_.max_connections;
  c.max_special_connections = options_.max_special_connections;
  c.max_accept_rate = cli_.max_accept_rate > 0 ? cli_.max_accept_rate : 0;
  if (cli_.max_accept_rate > 0) {
    double remaining = accept_splitter_.pool();
    for (const ShardRateBudget& b : shards_.AcceptBudgets()) {
      remaining += static_cast<double>(b.tokens());
    }
    c.cur_accept_rate_remaining = remaining;
  }

  s.crypto.aes_pwd_hash = current_->aes_pwd_hash();

  StatsSnapshot::Proxy& p = s.proxy;
  p.config_filename = current_->config_file;
  p.config_loaded_at = current_->loaded_at_unix;
  if (current_->proxy_config) {
    p.config_size = static_cast<int64_t>(current_->proxy_config->size_bytes);
    p.config_md5 = current_->proxy_config->md5_hex;
  }
  p.config_auth_clusters = static_cast<int64_t>(current_->auth_clusters());
  p.workers = cli_.workers;
  p.window_clamp = cli_.EffectiveWindowClamp();
  p.proxy_tag_set = cli_.proxy_tag.has_value();
  p.version = options_.version;
  if (http_) {
    p.http_connections = http_->counters().http_connections;
    p.http_queries = http_->counters().http_queries;
    p.http_bad_headers = http_->counters().http_bad_headers;
    s.extended.http_refused = http_->counters().http_refused;
  }

  StatsSnapshot::Extended& x = s.extended;
  x.config_reloads_ok = counters_.reloads_ok;
  x.config_reloads_failed = counters_.reloads_failed;
  if (refresh_ != nullptr) {
    const RefreshStats r = refresh_->Stats();
    StatsSnapshot::Extended::ConfigRefresh& cr = x.config_refresh;
    cr.enabled = true;
    cr.interval_s = refresh_->interval_s();
    cr.rounds_ok = r.rounds_ok;
    cr.rounds_failed = r.rounds_failed;
    cr.installs = r.installs;
    cr.last_ok_unix = r.last_ok_unix;
    cr.target_lines = r.target_lines;
    for (size_t i = 0; i < r.failures_by_reason.size(); ++i) {
      cr.failures_by_reason.push_back(
          {std::string(RefreshReasonName(static_cast<RefreshReason>(i))), r.failures_by_reason[i]});
    }
  }
  x.shards = options_.shard_count;
  const uint64_t accept_refused = TotalRefused(shards_.AcceptBudgets());
  c.accept_rate_limit_failed = static_cast<int64_t>(accept_refused);
  // FillStats adds {"handshake", n}: it reads the handshake budgets once for every metric that
  // shows their refusals, so a scrape taken while clients are being refused never disagrees.
  x.rate_limit_refusals_by_kind = {{"accept", static_cast<int64_t>(accept_refused)}};

  shards_.FillStats(s);

  s.memory = ReadSelfMemory();
  s.process = ReadProcessMetrics();
  s.build.version = BuildVersion();
  s.build.commit = BuildCommit();
  s.stats_generate_time_s = MonotonicSeconds() - started;
  return s;
}

}  // namespace mtp
