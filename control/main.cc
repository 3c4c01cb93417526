// mtproto-proxy: process entry. Start-up in the reference's order (config-and-cli.md §7):
// command line, log, limits, files (as the launching user), listening sockets and the stats
// port, privilege drop, then the shard threads and the control loop on this thread.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_format.h"
#include "control/check_command.h"
#include "control/cli.h"
#include "control/config_refresh.h"
#include "control/control_thread.h"
#include "control/conn_limits.h"
#include "control/link_command.h"
#include "control/links.h"
#include "control/log_setup.h"
#include "control/fake_tls_runtime.h"
#include "control/privileges.h"
#include "control/proxy_config.h"
#include "control/proxy_runner.h"
#include "control/runtime_config.h"
#include "control/stats_render.h"
#include "control/toml_config.h"
#include "core/build_info.h"
#include "core/log.h"

namespace mtp {
namespace {

std::string Ipv4Text(uint32_t ip) {
  return absl::StrFormat("%d.%d.%d.%d", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

void PrintLinks(const ParsedCommandLine& cli, const ConfigSnapshot& snapshot,
                const ProxyRunner& runner) {
  // The same address rule as --link (control/link_command.h).
  const LinkServerChoice choice = ChooseLinkServerFor(cli, ListInterfaceAddresses());
  const bool have_port = !cli.client_ports.empty();
  const uint16_t port = have_port ? runner.listener_port(0) : 0;
  std::vector<ProxyLink> links =
      BuildProxyLinks(choice.server, port, snapshot.secrets, cli.domains, cli.tls_link_label);
  for (const std::string& line : FormatProxyLinks(links, have_port)) MTP_LOG(0, "%s", line);
  if (!choice.warning.empty()) MTP_WARN("%s", choice.warning);
}

// --fetch-config: one refresh round, its outcome on stdout (success) or stderr (failure).
int FetchConfigOnce(const ParsedCommandLine& cli) {
  ConfigRefreshService refresh(RefreshOptionsFrom(cli), 0,
                               std::make_unique<CurlFetcher>(FetchOptionsFrom(cli)),
                               std::make_unique<SystemHostResolver>());
  RefreshResult r = refresh.RunOnce(static_cast<int64_t>(time(nullptr)));
  if (r.failure) {
    std::fprintf(stderr, "cannot fetch the config (%s): %s\n",
                 std::string(RefreshReasonName(r.failure->reason)).c_str(),
                 r.failure->detail.c_str());
    return 1;
  }
  std::printf("%s (%zu proxy_for lines) and %s are %s\n", cli.config_file.c_str(),
              r.target_lines, cli.AesPwdPath().c_str(), r.changed ? "updated" : "unchanged");
  return 0;
}

bool FileExists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

int Main(int argc, char** argv) {
  CommandLineResult parsed = ParseCommandLineWithConfig(argc, argv);
  if (const auto* error = std::get_if<CommandLineError>(&parsed)) {
    std::fputs(error->message.c_str(), stderr);
    std::fputs(error->usage.c_str(), stdout);
    return error->exit_code;
  }
  ApplyConfigRefreshDefaults(std::get<ParsedCommandLine>(parsed));
  const ParsedCommandLine& cli = std::get<ParsedCommandLine>(parsed);
  switch (cli.action) {
    case CommandLineAction::kFetchConfig:
      return FetchConfigOnce(cli);
    case CommandLineAction::kGenerateSecret:
      std::fputs(GenerateSecretText(cli.generate_secret_mode, cli.domains).c_str(), stdout);
      return 0;
    case CommandLineAction::kCheck: {
      std::string out;
      const int code = RunCheckCommand(cli, &out);
      std::fputs(out.c_str(), stdout);
      return code;
    }
    case CommandLineAction::kLink: {
      std::string out, err;
      const int code = RunLinkCommand(cli, &out, &err);
      std::fputs(out.c_str(), stdout);
      std::fputs(err.c_str(), stderr);
      return code;
    }
    case CommandLineAction::kVersion:
      std::fputs(VersionText().c_str(), stdout);
      return 0;
    case CommandLineAction::kListCpus:
      std::fputs(ListCpusText(AvailableCpus()).c_str(), stdout);
      return 0;
    case CommandLineAction::kRun:
      break;
  }
  if (std::optional<CommandLineError> error = ValidateForServing(cli)) {
    std::fputs(error->message.c_str(), stderr);
    return error->exit_code;
  }

  // Signals are taken synchronously by the control loop (signalfd): block them before any
  // thread exists so every thread inherits the mask. One arriving during start-up waits.
  sigset_t control_signals;
  sigemptyset(&control_signals);
  for (int s : {SIGHUP, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&control_signals, s);
  pthread_sigmask(SIG_BLOCK, &control_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  SetLogVerbosity(cli.verbosity);
  SetLogFormat(cli.log_format);
  if (cli.daemonize) {
    if (absl::Status st = Daemonize(cli.log_file); !st.ok()) {
      std::fprintf(stderr, "fatal: %s\n", std::string(st.message()).c_str());
      return 1;
    }
  } else if (cli.log_file) {
    // -l without -d is honoured from the start (the reference only switched to the file at the
    // first SIGUSR1); one line on the terminal says where the log went.
    std::fprintf(stderr, "logging to %s (-l)\n", cli.log_file->c_str());
    if (absl::Status st = RedirectOutputToLog(*cli.log_file); !st.ok()) {
      std::fprintf(stderr, "fatal: %s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  const int64_t start_time = static_cast<int64_t>(time(nullptr));
  const std::string version = VersionString(BuildCommit());
  MTP_LOG(0, "Invoking engine %s", version);
  MTP_LOG(0, "config_filename = '%s'", cli.config_file);
  if (cli.nice) {
    if (absl::Status st = ApplyNice(*cli.nice); !st.ok()) MTP_WARN("%s", st.message());
  }
  // Without -c, a cap the memory can carry (kernel socket buffers included), not a blind 65536.
  int max_connections = cli.max_connections;
  int max_special = cli.max_special_connections;
  const bool c_given = std::find(cli.given_options.begin(), cli.given_options.end(),
                                 "connections") != cli.given_options.end();
  if (!c_given) {
    ConnectionCap cap = DeriveConnectionCap(ReadMemoryFacts(),
                                            static_cast<uint64_t>(cli.msg_buffers_bytes),
                                            cli.max_connections);
    max_connections = cap.max_connections;
    if (max_special <= 0 || max_special > max_connections) max_special = max_connections;
    MTP_LOG(0, "%s", cap.explanation);
  }
  FdLimitPlan fd_plan = ApplyFdLimit(max_connections, max_special);
  if (!fd_plan.warning.empty()) MTP_WARN("%s", fd_plan.warning);
  if (fd_plan.new_soft_limit) {
    MTP_LOG(0, "open-file limit raised to %d%s for %d connections", *fd_plan.new_soft_limit,
            fd_plan.new_hard_limit ? " (soft and hard)" : " (soft)", fd_plan.max_connections);
  }

  // --config-refresh-interval: the refresh keeps <config-file> and --aes-pwd current; without
  // them yet (first start), one download now, before they are read.
  std::unique_ptr<ConfigRefreshService> refresh;
  bool refresh_first_round_done = false;
  if (cli.config_refresh_interval_s > 0 && cli.direct) {
    MTP_WARN("--config-refresh-interval is ignored with --direct (no middle-end config is used)");
  } else if (cli.config_refresh_interval_s > 0) {
    refresh = std::make_unique<ConfigRefreshService>(
        RefreshOptionsFrom(cli), cli.config_refresh_interval_s,
        std::make_unique<CurlFetcher>(FetchOptionsFrom(cli)),
        std::make_unique<SystemHostResolver>());
    MTP_LOG(0, "config refresh every %d s from %s and %s into %s and %s",
            cli.config_refresh_interval_s, cli.config_url, cli.secret_url, cli.config_file,
            cli.AesPwdPath());
    if (!FileExists(cli.config_file) || !FileExists(cli.AesPwdPath())) {
      refresh->RunOnce(start_time);
      refresh_first_round_done = true;
    }
  }

  // The files, read as the launching user (a root-only config works with -u nobody).
  SystemHostResolver resolver;
  std::vector<std::string> warnings;
  auto snapshot = LoadConfigSnapshot(cli, resolver, nullptr, start_time, &warnings);
  if (!snapshot.ok()) {
    MTP_ERROR("%s", snapshot.status().message());
    MTP_ERROR("config check failed! (code %d)", -ConfigSnapshotExitCode(snapshot.status()));
    return ConfigSnapshotExitCode(snapshot.status());
  }
  for (const std::string& w : ServingWarnings(cli)) warnings.push_back(w);
  for (const std::string& w : warnings) MTP_WARN("%s", w);
  if ((*snapshot)->proxy_config) {
    MTP_LOG(0, "configuration file %s re-read successfully (%d bytes parsed), new configuration "
               "active",
            cli.config_file, (*snapshot)->proxy_config->size_bytes);
  }

  const std::vector<int> cpus = cli.cpu_list.empty() ? AvailableCpus() : cli.cpu_list;
  StartupFacts facts;
  facts.shard_count = ChooseShardCount(cli, cpus.size());
  if (cli.workers > 0 && cli.shards == 0) {
    MTP_LOG(0, "-M %d: running %u shard threads (mtproxy-ng forks no worker processes)",
            cli.workers, facts.shard_count);
  }
  facts.max_connections = fd_plan.max_connections;
  facts.max_special_connections = fd_plan.max_special_connections;
  const uint32_t pid_ip = ChoosePidIpv4(cli);
  const int pid_port = cli.stats_port ? cli.stats_port->first : -1;
  facts.own_pid = MakeProcessId(pid_ip, pid_port, getpid(), static_cast<int32_t>(start_time));
  if (cli.bind_ipv4 && (*cli.bind_ipv4 >> 24) != 10) {
    MTP_LOG(1, "Bad binded IP address %s, search in interfaces", Ipv4Text(*cli.bind_ipv4));
  }

  auto config = BuildDataplaneConfig(cli, **snapshot, facts);
  if (!config.ok()) {
    MTP_ERROR("fatal: %s", config.status().message());
    return absl::IsInvalidArgument(config.status()) ? 2 : 1;
  }
  // -D: probe every domain's real site now (before serving and before the privilege drop, as
  // the reference does); the shards share the runtime's replay filter and domain registry.
  std::unique_ptr<FakeTlsRuntime> fake_tls;
  if (!cli.domains.empty()) {
    auto rt =
        FakeTlsRuntime::Start(FakeTlsOptionsFrom(cli), std::make_unique<SystemHostResolver>());
    if (!rt.ok()) {
      MTP_ERROR("fatal: %s", rt.status().message());
      return 1;
    }
    fake_tls = *std::move(rt);
    (*config)->tls = fake_tls->ShardConfig();
    (*config)->tls.key_share = (*config)->tls_key_share;
  }
  auto runner = ProxyRunner::Create(*std::move(config), facts.shard_count, cpus);
  if (!runner.ok()) {
    MTP_ERROR("fatal: %s", runner.status().message());
    return 1;
  }
  (*runner)->SetFakeTls(fake_tls.get());
  {
    // Named secrets' limits; the quotas are kept next to the TOML file that sets them.
    SecretLimitsOptions limits;
    limits.state_file = cli.secret_state_file.value_or(
        cli.config_toml ? *cli.config_toml + ".state" : std::string());
    limits.disable_drains = cli.secret_disable_drain;
    if (absl::Status st = (*runner)->EnableSecretLimits(limits, **snapshot, time(nullptr));
        !st.ok()) {
      MTP_ERROR("fatal: %s", st.message());
      return 1;
    }
  }

  ControlThread::Options options;
  options.start_time_unix = start_time;
  options.pid_ip = facts.own_pid.ip;
  options.pid_port = static_cast<int16_t>(facts.own_pid.port);
  options.pid_pid = facts.own_pid.pid;
  options.pid_utime = facts.own_pid.utime;
  options.max_connections = fd_plan.max_connections;
  options.max_special_connections = fd_plan.max_special_connections;
  options.shard_count = static_cast<int>(facts.shard_count);
  options.version = version;
  ControlThread control(cli, options, *snapshot, **runner, resolver);
  if (absl::Status st = control.InstallSignals(); !st.ok()) {
    MTP_ERROR("fatal: %s", st.message());
    return 1;
  }
  if (absl::Status st = control.StartStatsServer(); !st.ok()) {
    MTP_ERROR("%s", st.message());
    return 1;
  }
  // -p 0 (tests): the PID carries the port the stats server actually bound, in the start-up
  // line, /stats and the ME handshakes alike (no shard runs yet, so no handshake has used it).
  if (std::optional<uint16_t> port = control.stats_port(); port && facts.own_pid.port == 0) {
    facts.own_pid.port = *port;
    (*runner)->SetOwnPidPort(*port);
  }

  // Everything privileged is done: sockets are bound and the files read.
  std::string user_warning;
  auto user = ChooseDropUser(cli.user, getuid() == 0 || geteuid() == 0, LookupUser, &user_warning);
  if (!user.ok()) {
    MTP_ERROR("%s", user.status().message());
    return 1;
  }
  if (!user_warning.empty()) MTP_WARN("%s", user_warning);
  if (*user) {
    // The -l file opened as root goes to the dropped user: SIGUSR1 reopens it as that user, and
    // logrotate's `create` copies this owner to the new file.
    if (cli.log_file) {
      if (absl::Status st = HandLogFileTo(*cli.log_file, (*user)->uid, (*user)->gid); !st.ok()) {
        MTP_WARN("%s", st.message());
      }
    }
    if (absl::Status st = DropPrivileges(**user); !st.ok()) {
      MTP_ERROR("%s", st.message());
      return 1;
    }
    MTP_LOG(0, "running as user %s (uid %d, gid %d)", (*user)->name, (*user)->uid, (*user)->gid);
  }

  MTP_LOG(0, "Started as [%s:%d:%d:%d]", Ipv4Text(facts.own_pid.ip),
          static_cast<int16_t>(facts.own_pid.port), facts.own_pid.pid, facts.own_pid.utime);
  for (size_t i = 0; i < cli.client_ports.size(); ++i) {
    MTP_LOG(0, "listening on port %u", (*runner)->listener_port(i));
  }
  if (std::optional<uint16_t> port = control.stats_port()) {
    MTP_LOG(0, "stats: http://%s/stats (Prometheus: /metrics), stats port %u",
            control.stats_address(), *port);
  }
  PrintLinks(cli, **snapshot, **runner);

  (*runner)->StartThreads();
  if (fake_tls) fake_tls->StartRefresh();
  if (refresh) {
    // After the privilege drop: downloads never run as root. The files present at start-up
    // may be old, so the first round comes at once unless one just ran.
    control.SetConfigRefresh(refresh.get());
    refresh->Start([&control] { control.PostConfigRefreshed(); },
                   refresh_first_round_done ? cli.config_refresh_interval_s : 0);
  }
  MTP_LOG(0, "main loop");
  const ControlExit exit = control.Run();
  if (exit == ControlExit::kImmediate) _exit(1);
  if (refresh) refresh->Stop();  // its callback names `control`
  return 0;
}

}  // namespace
}  // namespace mtp

int main(int argc, char** argv) { return mtp::Main(argc, argv); }
