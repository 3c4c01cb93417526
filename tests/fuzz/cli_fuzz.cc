// Fuzz target: the command-line parser (control/cli.h ParseCommandLine). The input split at NUL
// bytes is argv[1..] (argv[0] is "mtproto-proxy"). The parser must never crash, print or exit:
// stdout and stderr point into a pipe during the call and must stay empty, and an exit during
// the call aborts. The parsed values must lie within the documented limits, and an error must
// carry a reference exit code and newline-terminated text with a hint line; ValidateForServing and
// ServingWarnings agree with the parsed values.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "control/cli.h"

namespace {

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

constexpr std::string_view kProgram = "mtproto-proxy";

// Set only while ParseCommandLine runs: an exit() from inside the parser aborts instead.
bool in_parser = false;
void AbortIfExitingInParser() {
  if (in_parser) std::abort();
}

// Points stdout and stderr into a non-blocking pipe for one call; Written() says whether
// anything reached them. The pipe and the saved descriptors are made once and reused.
class OutputTrap {
 public:
  OutputTrap() {
    static const Fds fds = MakeFds();
    fds_ = &fds;
    std::fflush(stdout);
    std::fflush(stderr);
    FUZZ_CHECK(dup2(fds_->pipe_in, STDOUT_FILENO) >= 0 && dup2(fds_->pipe_in, STDERR_FILENO) >= 0);
  }
  ~OutputTrap() {
    dup2(fds_->saved_out, STDOUT_FILENO);
    dup2(fds_->saved_err, STDERR_FILENO);
  }
  bool Written() {
    std::fflush(stdout);  // stdio buffers count as printed
    std::fflush(stderr);
    char c;
    return read(fds_->pipe_out, &c, 1) > 0;
  }

 private:
  struct Fds {
    int pipe_out = -1;  // read end
    int pipe_in = -1;   // write end
    int saved_out = -1;
    int saved_err = -1;
  };
  static Fds MakeFds() {
    Fds fds;
    int p[2];
    FUZZ_CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    fds.pipe_out = p[0];
    fds.pipe_in = p[1];
    fds.saved_out = dup(STDOUT_FILENO);
    fds.saved_err = dup(STDERR_FILENO);
    FUZZ_CHECK(fds.saved_out >= 0 && fds.saved_err >= 0);
    return fds;
  }
  const Fds* fds_;
};

bool IsArg(const std::vector<std::string_view>& argv, std::string_view value) {
  return std::find(argv.begin() + 1, argv.end(), value) != argv.end();
}

void CheckParsed(const mtp::ParsedCommandLine& p, const std::vector<std::string_view>& argv) {
  FUZZ_CHECK(p.program_name == kProgram);
  if (p.action == mtp::CommandLineAction::kRun || p.action == mtp::CommandLineAction::kCheck) {
    // The one operand, or none with --direct or --config-refresh-interval (the refresh then
    // reads and writes <--config-cache-dir>/proxy-multi.conf).
    FUZZ_CHECK(IsArg(argv, p.config_file) ||
               (p.config_file.empty() && (p.direct || p.config_refresh_interval_s > 0)));
    FUZZ_CHECK(p.domains.empty() || !p.secrets.empty() || p.secret_file.has_value());
    for (const mtp::DomainTarget& t : p.domain_targets) {
      FUZZ_CHECK(std::find(p.domains.begin(), p.domains.end(), t.domain) != p.domains.end());
    }
  } else if (p.action == mtp::CommandLineAction::kLink) {
    FUZZ_CHECK(p.config_file.empty() || IsArg(argv, p.config_file));  // accepted, not read
  } else {
    FUZZ_CHECK(p.config_file.empty());
  }
  FUZZ_CHECK(p.client_ports.size() <= mtp::kMaxClientPorts);
  FUZZ_CHECK(p.secrets.size() <= mtp::kMaxClientSecrets);
  FUZZ_CHECK(p.nat_rules.size() <= mtp::kMaxNatRules);
  FUZZ_CHECK(p.workers >= 0 && p.workers <= mtp::kMaxWorkers);
  FUZZ_CHECK(p.max_connections > 0);
  FUZZ_CHECK(p.max_special_connections >= 0);
  FUZZ_CHECK(p.ping_interval_s > 0);
  FUZZ_CHECK(p.msg_buffers_bytes > 0);
  FUZZ_CHECK(p.shards >= 0 && p.shards <= static_cast<int>(mtp::kMaxShards));
  FUZZ_CHECK(std::is_sorted(p.cpu_list.begin(), p.cpu_list.end()));
  FUZZ_CHECK(std::adjacent_find(p.cpu_list.begin(), p.cpu_list.end()) == p.cpu_list.end());
  FUZZ_CHECK(p.cpu_list.empty() || (p.cpu_list.front() >= 0 && p.cpu_list.back() <= mtp::kMaxCpu));
  FUZZ_CHECK(p.drain_timeout_s >= 0 && p.drain_timeout_s <= mtp::kMaxDrainTimeoutS);
  for (int t : {p.handshake_timeout_s, p.client_idle_timeout_s, p.write_stall_timeout_s}) {
    FUZZ_CHECK(t >= 0 && t <= mtp::kMaxGuardTimeoutS);
  }
  FUZZ_CHECK(p.tls_probe_interval_s >= 0 && p.tls_probe_interval_s <= mtp::kMaxTlsProbeIntervalS);
  FUZZ_CHECK(p.tls_replay_cache_size >= mtp::kMinTlsReplayCacheSize &&
             p.tls_replay_cache_size <= mtp::kMaxTlsReplayCacheSize);
  FUZZ_CHECK(p.proxy_protocol_timeout_ms >= mtp::kMinProxyProtocolTimeoutMs &&
             p.proxy_protocol_timeout_ms <= mtp::kMaxProxyProtocolTimeoutMs);
  FUZZ_CHECK(!p.allow_list_file || !p.allow_list_file->empty());
  FUZZ_CHECK(!p.block_list_file || !p.block_list_file->empty());
  // Every accepted trusted list builds; --proxy-protocol never runs without one.
  FUZZ_CHECK(mtp::ProxyProtocolTrustedSet(p).ok() || p.proxy_protocol_trusted.empty());
  if (p.action == mtp::CommandLineAction::kRun) {
    FUZZ_CHECK(p.proxy_protocol == !p.proxy_protocol_trusted.empty());
  }
  if (p.stats_port) {
    const mtp::StatsPortRange& r = *p.stats_port;
    FUZZ_CHECK((r.first == 0 && r.last == 0) ||
               (r.first >= 1 && r.first <= r.last && r.last <= 65535));
  }
  for (const mtp::DcOverride& o : p.dc_overrides) {
    FUZZ_CHECK(o.dc_id != 0 && o.dc_id >= -32768 && o.dc_id <= 32767);
    FUZZ_CHECK(o.port != 0 && !o.host.empty());
  }
  for (size_t i = 0; i < p.domain_targets.size(); ++i) {
    const mtp::DomainTarget& t = p.domain_targets[i];
    FUZZ_CHECK(!t.domain.empty() && !t.host.empty() && t.port != 0);
    for (size_t j = 0; j < i; ++j) FUZZ_CHECK(p.domain_targets[j].domain != t.domain);
  }
  for (const std::string& domain : p.domains) FUZZ_CHECK(mtp::IsValidDomainOption(domain));
  FUZZ_CHECK(p.secret_domains.size() <= p.secrets.size());
  size_t foreign_ee = 0;  // ee -S secrets whose domain is not a -D domain: one warning each
  for (const std::string& d : p.secret_domains) {
    if (!d.empty() && std::find(p.domains.begin(), p.domains.end(), d) == p.domains.end()) {
      ++foreign_ee;
    }
  }
  FUZZ_CHECK(mtp::ServingWarnings(p).size() == foreign_ee);
  if (p.action == mtp::CommandLineAction::kRun) {
    // Serving needs a client port and a secret source unless explicitly allowed without.
    const bool missing = (p.client_ports.empty() && !p.allow_no_client_port) ||
                         (p.secrets.empty() && !p.secret_file && !p.allow_no_secret);
    std::optional<mtp::CommandLineError> serving = mtp::ValidateForServing(p);
    FUZZ_CHECK(serving.has_value() == missing);
    if (serving) {
      FUZZ_CHECK(serving->exit_code == 2 && serving->usage.empty());
      FUZZ_CHECK(serving->message.find("hint: ") != std::string::npos);
      FUZZ_CHECK(serving->message.back() == '\n');
    }
  }
  if (p.secret_file) FUZZ_CHECK(!p.secret_file->empty());
  if (p.public_host) FUZZ_CHECK(!p.public_host->empty());
  const int clamp = p.EffectiveWindowClamp();
  FUZZ_CHECK(p.window_clamp != 0 ? clamp == p.window_clamp
                                 : clamp == (p.domains.empty() ? mtp::kDefaultWindowClamp : 0));
}

void CheckError(const mtp::CommandLineError& e) {
  FUZZ_CHECK(e.exit_code == 1 || e.exit_code == 2 || e.exit_code == 4);
  FUZZ_CHECK(!e.message.empty() || !e.usage.empty());
  FUZZ_CHECK(e.message.empty() || e.message.back() == '\n');
  // Every error but -h/--help (the usage text alone) ends with a hint line.
  FUZZ_CHECK(!e.usage.empty() || e.message.find("hint: ") != std::string::npos);
  FUZZ_CHECK(e.usage.empty() || e.message.empty());
  if (!e.usage.empty()) {
    FUZZ_CHECK(e.exit_code == 2);
    FUZZ_CHECK(e.usage.compare(0, 7 + kProgram.size(), "usage: " + std::string(kProgram)) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool exit_trap_installed = std::atexit(AbortIfExitingInParser) == 0;
  FUZZ_CHECK(exit_trap_installed);

  std::vector<std::string> args;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty() && args.size() < 256) {
    size_t nul = rest.find('\0');
    args.emplace_back(rest.substr(0, nul));
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }
  std::vector<std::string_view> argv = {kProgram};
  argv.insert(argv.end(), args.begin(), args.end());

  mtp::CommandLineResult result;
  {
    OutputTrap trap;
    in_parser = true;
    result = mtp::ParseCommandLine(argv);
    in_parser = false;
    FUZZ_CHECK(!trap.Written());
  }
  if (const auto* parsed = std::get_if<mtp::ParsedCommandLine>(&result)) {
    CheckParsed(*parsed, argv);
  } else {
    CheckError(std::get<mtp::CommandLineError>(result));
  }
  return 0;
}
