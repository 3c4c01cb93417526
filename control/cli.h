// Command line of mtproto-proxy: the reference's 34 options with getopt_long semantics, our own
// options, defaults, limits, error messages and exit codes, the --help text, and the open-file
// limit plan for -c.
//
// Pure and single-threaded (control thread, at start-up): the parser never prints and never
// exits; it returns either ParsedCommandLine or CommandLineError and `main` acts on it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "control/config_fetch.h"  // default URLs of the config refresh
#include "control/stats_access.h"  // --stats-bind, --stats-allow
#include "core/log.h"      // LogFormat
#include "core/cpu_set.h"  // --cpu-list syntax (ParseCpuList, FormatCpuList)
#include "core/io_engine.h"
#include "core/socket_address.h"
#include "crypto/secret.h"
#include "dataplane/me/ext_conn_id.h"  // kMaxShards bounds --shards
#include "proto/cidr_set.h"  // --proxy-protocol-trusted

namespace mtp {

// Limits (reference values unless marked).
inline constexpr size_t kMaxClientPorts = 128;                        // -H
inline constexpr int kMaxWorkers = 256;                               // -M
inline constexpr size_t kMaxNatRules = 16;                            // --nat-info
inline constexpr int kDefaultConnectionLimit = 65536;                 // -c
inline constexpr int kMaxConnectionLimit = 1 << 30;                   // ours: -c upper bound
inline constexpr int kDefaultBacklog = 8192;                          // -b
inline constexpr int kDefaultWindowClamp = 131072;                    // -W without -D
inline constexpr double kDefaultPingIntervalS = 5.0;                  // -T
inline constexpr int64_t kDefaultMsgBuffersBytes = int64_t{1} << 28;  // --msg-buffers-size
inline constexpr int kFdLimitReserve = 16;                            // fds kept free above -c
inline constexpr int kDefaultDrainTimeoutS = 10;  // ours: --drain-timeout
inline constexpr int kMaxDrainTimeoutS = 3600;
// ours: --handshake-timeout, --client-idle-timeout, --write-stall-timeout (0 = off)
inline constexpr int kDefaultHandshakeTimeoutS = 10;
inline constexpr int kDefaultClientIdleTimeoutS = 600;
inline constexpr int kDefaultWriteStallTimeoutS = 60;
inline constexpr int kMaxGuardTimeoutS = 86400;
inline constexpr int64_t kDefaultTlsProbeIntervalS = 6 * 3600;  // ours: --tls-probe-interval
inline constexpr int64_t kMaxTlsProbeIntervalS = 30 * 86400;
inline constexpr int64_t kDefaultTlsReplayCacheSize = int64_t{1} << 20;  // ours: entries
inline constexpr int64_t kMinTlsReplayCacheSize = 16;
inline constexpr int64_t kMaxTlsReplayCacheSize = int64_t{1} << 30;
// ours: --proxy-protocol-timeout. The PROXY spec asks for at least 3 s (a TCP retransmit).
inline constexpr int kDefaultProxyProtocolTimeoutMs = 5000;
inline constexpr int kMinProxyProtocolTimeoutMs = 1;
inline constexpr int kMaxProxyProtocolTimeoutMs = 600000;
// ours: --config-refresh-interval (0 = off), --config-fetch-timeout
inline constexpr int64_t kMaxConfigRefreshIntervalS = 30 * 86400;
inline constexpr int kDefaultConfigFetchTimeoutS = 30;
inline constexpr int kMaxConfigFetchTimeoutS = 600;

// ours: --tls-handshake-fragment (0 = off)
inline constexpr int64_t kMinTlsHandshakeFragmentBytes = 16;
inline constexpr int64_t kMaxTlsHandshakeFragmentBytes = 16384;

// ours: --client-mss (0 = off); the kernel's TCP_MAXSEG bounds (TCP_MIN_MSS, MAX_TCP_WINDOW)
inline constexpr int kMinClientMss = 88;
inline constexpr int kMaxClientMss = 32767;

// What the process should do once the command line is parsed.
enum class CommandLineAction : uint8_t {
  kRun,             // run the proxy with `config_file`
  kGenerateSecret,  // --generate-secret: print GenerateSecretText() and exit 0
  kListCpus,        // --list-cpus: print ListCpusText() and exit 0
  kVersion,         // --version: print VersionText() and exit 0
  kCheck,           // --check: validate without serving (control/check_command.h), exit
  kLink,            // --link: print the links and QR codes (control/link_command.h), exit
  kFetchConfig,     // --fetch-config: one config refresh round (control/config_refresh.h), exit
};

// --tls-unknown-sni: what happens to a fake-TLS connection whose SNI names no -D domain.
enum class TlsUnknownSni : uint8_t {
  kFront,  // piped to the default (first) -D domain's site, as the reference does
  kClose,  // closed without an answer
  kAlert,  // a fatal unrecognized_name alert record, then closed
};

enum class TlsRecordPolicy : uint8_t {
  kReference,  // record sizes as the reference emits them (at most 1425 bytes)
  kAdaptive,   // ours, the default: like real TLS servers (small records first, up to 16 KiB)
};

// --nat-info local:global, IPv4 in host order (192.0.2.1 = 0xc0000201).
struct NatRule {
  uint32_t local_ipv4 = 0;
  uint32_t global_ipv4 = 0;
  friend bool operator==(const NatRule&, const NatRule&) = default;
};

// -p: one port (first == last) or the range start:end (the first free port is used).
struct StatsPortRange {
  int first = 0;
  int last = 0;
  friend bool operator==(const StatsPortRange&, const StatsPortRange&) = default;
};

// --dc-override ID:HOST:PORT (ours): connect to this address for DC `dc_id` in --direct mode.
// HOST is kept as written (an IPv6 literal without its brackets); resolving is the caller's job.
struct DcOverride {
  int32_t dc_id = 0;  // -32768..32767, not 0
  std::string host;
  uint16_t port = 0;
  friend bool operator==(const DcOverride&, const DcOverride&) = default;
};

// --domain-target DOMAIN=HOST:PORT (ours): the real site of -D DOMAIN (probed at start-up and
// the destination of connections that fail the fake-TLS checks) instead of DOMAIN:443.
// HOST is kept as written (an IPv6 literal without its brackets); resolving is the caller's job.
struct DomainTarget {
  std::string domain;
  std::string host;
  uint16_t port = 0;
  friend bool operator==(const DomainTarget&, const DomainTarget&) = default;
};

// Everything the command line says. Defaults are the reference's.
struct ParsedCommandLine {
  CommandLineAction action = CommandLineAction::kRun;
  std::string program_name;  // argv[0]
  std::string config_file;   // the single positional argument (empty unless action == kRun)

  // --- proxy options (reference mtproto-proxy.c) ---
  std::vector<uint16_t> client_ports;                // -H, in order (<= 128)
  std::vector<ClientSecret> secrets;                 // -S, in order (<= 16)
  // The domain of each -S given in the ee form ("" for the others); may be shorter than
  // `secrets` (missing entries are "").
  std::vector<std::string> secret_domains;
  std::optional<std::array<uint8_t, 16>> proxy_tag;  // -P (the last one wins)
  std::vector<std::string> domains;                  // -D, in order; the first is the default
  int workers = 0;                                   // -M, 0..256
  // -C as given (negative -> 0). PlanFdLimit() turns it into the effective value: 0 or more
  // than the connection limit means "same as the connection limit".
  int max_special_connections = kDefaultConnectionLimit;
  int window_clamp = 0;                            // -W as given; see EffectiveWindowClamp()
  double ping_interval_s = kDefaultPingIntervalS;  // -T (<= 0 -> 5.0); unused, as in the reference
  bool http_stats = false;                         // --http-stats

  // --- network options (reference engine-net.c) ---
  std::optional<StatsPortRange> stats_port;       // -p
  bool ipv6 = false;                              // -6
  std::optional<std::string> aes_pwd_file;        // --aes-pwd; see AesPwdPath()
  int backlog = kDefaultBacklog;                  // -b
  int max_connections = kDefaultConnectionLimit;  // -c (<= 0 -> 65536); see PlanFdLimit()
  std::optional<uint32_t> bind_ipv4;              // --address, host order
  std::vector<NatRule> nat_rules;                 // --nat-info (<= 16)
  int max_accept_rate = 0;                        // --max-accept-rate, per second; <= 0 = off
  int max_dh_accept_rate = 0;                     // --max-dh-accept-rate: handshakes/s (ours)
  bool disable_tcp = false;                       // --disable-tcp: do not open the -p port
  bool crc32c = false;                            // --crc32c: no effect (always offered)
  bool allow_skip_dh = false;                     // --allow-skip-dh: no effect
  bool force_dh = false;                          // --force-dh: no effect

  // --- engine options (reference engine.c): accepted, no effect in mtproxy-ng ---
  int cpu_threads = 8;       // --cpu-threads
  int io_threads = 16;       // --io-threads
  bool multithread = false;  // --multithread[=0|1]
  int tcp_cpu_threads = 1;   // --tcp-cpu-threads
  int tcp_io_threads = 1;    // --tcp-iothreads

  // --- common options (reference server-functions.c) ---
  int verbosity = 0;                                    // -v (repeatable) / --verbosity=N
  std::optional<std::string> user;                      // -u (given twice -> exit 1)
  std::optional<std::string> log_file;                  // -l
  bool daemonize = false;                               // -d toggles / --daemonize=N
  std::optional<int> nice;                              // --nice
  int64_t msg_buffers_bytes = kDefaultMsgBuffersBytes;  // --msg-buffers-size

  // --- ours ---
  std::optional<std::string> secret_file;   // --mtproto-secret-file (secrets are added to -S)
  int shards = 0;                           // --shards; 0 = one per CPU of the CPU list
  std::vector<int> cpu_list;                // --cpu-list, sorted, distinct; empty = affinity mask
  bool direct = false;                      // --direct: connect to DCs, not to middle-ends
  std::vector<DcOverride> dc_overrides;     // --dc-override (repeatable)
  int direct_fallback_after_s = 0;          // --direct-fallback-after (0 = never)
  IoBackend io_backend = IoBackend::kAuto;  // --io-backend
  int drain_timeout_s = kDefaultDrainTimeoutS;  // --drain-timeout
  std::optional<std::string> public_host;       // --public-host (for the printed links)
  TlsRecordPolicy tls_record_policy = TlsRecordPolicy::kAdaptive;  // --tls-record-policy
  std::vector<DomainTarget> domain_targets;  // --domain-target (each names a -D domain)
  int64_t tls_probe_interval_s = kDefaultTlsProbeIntervalS;  // --tls-probe-interval (0 = never)
  int64_t tls_replay_cache_size = kDefaultTlsReplayCacheSize;  // --tls-replay-cache-size
  bool tls_pq_key_share = false;                             // --tls-pq-key-share
  TlsUnknownSni tls_unknown_sni = TlsUnknownSni::kFront;     // --tls-unknown-sni
  bool tls_reject_rst = false;                               // --tls-reject-rst
  bool tls_front_proxy_protocol = false;                     // --tls-front-proxy-protocol
  std::string tls_link_label = "www";  // --tls-link-label (links of wildcard -D domains)
  int64_t tls_handshake_fragment_bytes = 0;  // --tls-handshake-fragment (0 = off)
  int client_mss = 0;                         // --client-mss (0 = the kernel's choice)
  bool tls_pq_follow_site = false;            // --tls-pq-follow-site
  int handshake_timeout_s = kDefaultHandshakeTimeoutS;      // --handshake-timeout
  int client_idle_timeout_s = kDefaultClientIdleTimeoutS;   // --client-idle-timeout
  int write_stall_timeout_s = kDefaultWriteStallTimeoutS;   // --write-stall-timeout
  std::optional<StatsBind> stats_bind;  // --stats-bind (sets http_stats)
  // --stats-allow, every occurrence's items comma-joined (repeatable, lists add up);
  // checked at parse time, made a set with ParseStatsAllow.
  std::string stats_allow;
  LogFormat log_format = LogFormat::kText;  // --log-format
  SecretMode generate_secret_mode = SecretMode::kPlain;  // --generate-secret[=plain|dd|ee]
  std::optional<std::string> config_toml;  // --config FILE (control/toml_config.h)
  std::optional<std::string> secret_state_file;  // --secret-state-file (control/secret_limits.h)
  bool secret_disable_drain = false;             // --secret-disable-drain
  // Names of `secrets` from the TOML [[secret]] tables ("" = unnamed); may be shorter.
  std::vector<std::string> secret_names;
  // The TOML file supplied the client secrets (so SIGHUP re-reads them from it).
  bool secrets_from_toml = false;
  size_t operand_count = 0;  // non-option arguments on the command line
  // Long names of the options the command line gave, in order (repeats kept).
  std::vector<std::string> given_options;
  bool allow_no_secret = false;       // --allow-no-secret: serve with no client secret at all
  bool allow_no_client_port = false;  // --allow-no-client-port: run without -H
  // Client access: applied at accept (dataplane/session/client_sessions.h); the lists are
  // re-read with every reload (control/runtime_config.h).
  std::optional<std::string> allow_list_file;  // --allow-list (control/ip_lists.h)
  std::optional<std::string> block_list_file;  // --block-list
  bool proxy_protocol = false;                 // --proxy-protocol (needs the trusted list)
  // --proxy-protocol-trusted values as given, each a valid comma list (repeatable, lists add
  // up); ProxyProtocolTrustedSet() builds the set.
  std::vector<std::string> proxy_protocol_trusted;
  int proxy_protocol_timeout_ms = kDefaultProxyProtocolTimeoutMs;  // --proxy-protocol-timeout
  bool proxy_protocol_timeout_given = false;
  // Config refresh (control/config_refresh.h).
  int64_t config_refresh_interval_s = 0;         // --config-refresh-interval (0 = off)
  std::string config_url = kDefaultConfigUrl;    // --config-url
  std::string config_url_v6;                     // --config-url-v6 (empty = not fetched)
  std::string secret_url = kDefaultSecretUrl;    // --secret-url
  std::string config_proxy;                      // --config-proxy (libcurl proxy URL)
  std::string config_cache_dir;                  // --config-cache-dir (empty = ".")
  int config_fetch_timeout_s = kDefaultConfigFetchTimeoutS;  // --config-fetch-timeout
  // Upstream chaining: DC legs and ME links dial through this SOCKS5 server (proto/socks5.h);
  // the password is read from its file by BuildDataplaneConfig (control/proxy_runner.cc).
  std::optional<SocketAddress> upstream_socks5;                // --upstream-socks5
  std::optional<std::string> upstream_socks5_user;             // --upstream-socks5-user
  std::optional<std::string> upstream_socks5_password_file;    // --upstream-socks5-pass-file

  // -W if given (non-zero); else 131072 without -D and 0 (unset) with -D.
  int EffectiveWindowClamp() const;
  // --aes-pwd, or "secret" in the current directory (that default may be missing).
  std::string AesPwdPath() const;
  bool aes_pwd_explicit() const { return aes_pwd_file.has_value(); }
};

// Why the process must stop now instead of running. `main` writes `message` to stderr and
// `usage` to stdout (either may be empty) and exits with `exit_code`.
struct CommandLineError {
  int exit_code = 2;
  std::string message;  // newline-terminated lines, or empty
  std::string usage;    // the usage text when the reference prints it, or empty
};

using CommandLineResult = std::variant<ParsedCommandLine, CommandLineError>;

// argv[0] is the program name. Exit codes: 2 usage errors (also -h/--help, as in the
// reference), 1 for -u given twice, 4 for a bad --address. Every error is its message (the
// reference's text where it has one) and one "hint: " line about the option; only -h/--help
// fill `usage`. Numbers are strict (the whole value, within the option's range).
CommandLineResult ParseCommandLine(std::span<const std::string_view> argv);
CommandLineResult ParseCommandLine(int argc, const char* const* argv);

// What running (action kRun) needs beyond a well-formed command line: a client port (-H) unless
// --allow-no-client-port, and a secret source (-S or --mtproto-secret-file) unless
// --allow-no-secret (an empty secret file is refused when it is loaded: runtime_config.h).
// Exit code 2 with a hint when something is missing.
std::optional<CommandLineError> ValidateForServing(const ParsedCommandLine& cli);

// Every --proxy-protocol-trusted block as one set (the values were validated when parsed).
absl::StatusOr<CidrSet> ProxyProtocolTrustedSet(const ParsedCommandLine& cli);
// Start-up warnings about a command line that runs but likely not as meant (an ee -S secret
// whose domain is not a -D domain).
std::vector<std::string> ServingWarnings(const ParsedCommandLine& cli);

// A DNS host name: labels of [A-Za-z0-9-] (1..63 bytes, no '-' at either end) joined by '.',
// 253 bytes at most, no trailing dot. -D takes these.
bool IsValidHostName(std::string_view name);
// What -D takes: a host name, or a wildcard "*." + host name (one label in front of the base).
bool IsValidDomainOption(std::string_view name);

// What an option takes, looked up by its exact long name (the TOML keys are long names).
struct OptionInfo {
  std::string_view long_name;
  char short_name = 0;
  bool takes_value = false;     // a required argument
  bool optional_value = false;  // --name[=value]
};
std::optional<OptionInfo> FindLongOption(std::string_view long_name);

// The usage/help text (reference layout: usage line, version, then one line per option).
std::string UsageText(std::string_view program_name);

// Long names of every option --help lists, reference ones first (34 of them).
std::vector<std::string_view> ReferenceOptionNames();
std::vector<std::string_view> ExtensionOptionNames();

// --msg-buffers-size syntax: digits with an optional k/m/g/t suffix (x1024^n, any case).
absl::StatusOr<int64_t> ParseMemoryLimit(std::string_view text);

// --generate-secret: 32 random lower-case hex digits (CSPRNG) and a newline.
std::string GenerateSecretHex();
// --generate-secret FORM: one fresh random key, printed as FORM: plain -> GenerateSecretHex()'s
// shape, dd -> "dd<32 hex>\n", ee -> "ee<32 hex><hex(domain)>\n" for each of `domains` (the
// same key; -S and the secret file take every one of these lines).
std::string GenerateSecretText(SecretMode mode, std::span<const std::string> domains);
// --version: "mtproto-proxy <version> (commit <40 hex>[-dirty])\n" (or "commit unknown"), then
// "build type <type>, compiler <compiler>\n" (core/build_info.h).
std::string VersionText();
// The CPUs this process may run on (sched_getaffinity), sorted.
std::vector<int> AvailableCpus();
// --list-cpus output: "<count> CPUs available: <list>\n".
std::string ListCpusText(const std::vector<int>& cpus);

// Open-file limit plan for -c (the reference's raise_file_limit, minus its failure modes).
// Needs max_connections + 16 descriptors:
//   * fits the soft limit                 -> nothing to change;
//   * fits the hard limit                 -> raise the soft limit;
//   * above the hard limit, can_raise_hard -> raise both (if that setrlimit fails, call again
//     with can_raise_hard = false);
//   * otherwise                           -> soft = hard, and -c is lowered to hard - 16 with a
//     warning (the reference exits with "cannot raise open file limit" as root, or silently
//     lowers -c to soft - 16 otherwise).
// Then the -C rule: 0 or more than the connection limit -> the connection limit.
// RLIM_INFINITY may be passed as UINT64_MAX.
struct FdLimitPlan {
  int max_connections = 0;
  int max_special_connections = 0;
  std::optional<uint64_t> new_soft_limit;  // setrlimit(RLIMIT_NOFILE) values, when set
  std::optional<uint64_t> new_hard_limit;
  std::string warning;  // non-empty when -c was lowered
};
FdLimitPlan PlanFdLimit(int max_connections, int max_special_connections, uint64_t soft_limit,
                        uint64_t hard_limit, bool can_raise_hard);

}  // namespace mtp
