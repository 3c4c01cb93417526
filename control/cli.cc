// Command-line parser: a getopt_long emulation (permutation, bundling, unique-prefix long
// options, glibc's error texts) over one option table, plus the per-option handlers.
#include "control/cli.h"

#include <arpa/inet.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/build_info.h"
#include "core/hex.h"
#include "proto/fake_tls_client_hello.h"
#include "proto/socks5.h"  // kSocks5MaxCredentialBytes

namespace mtp {

namespace {

enum class ArgKind : uint8_t { kNone, kRequired, kOptional };

// Option ids: the reference's getopt values (the --help order), ours from 1001.
enum OptionId : int {
  kOptIpv6 = '6',
  kOptMaxSpecial = 'C',
  kOptDomain = 'D',
  kOptHttpPorts = 'H',
  kOptSlaves = 'M',
  kOptProxyTag = 'P',
  kOptSecret = 'S',
  kOptPingInterval = 'T',
  kOptWindowClamp = 'W',
  kOptBacklog = 'b',
  kOptConnections = 'c',
  kOptDaemonize = 'd',
  kOptHelp = 'h',
  kOptLog = 'l',
  kOptPort = 'p',
  kOptUser = 'u',
  kOptVerbosity = 'v',
  kOptAesPwd = 200,
  kOptNice = 202,
  kOptMsgBuffersSize = 208,
  kOptDisableTcp = 214,
  kOptCrc32c = 224,
  kOptCpuThreads = 227,
  kOptIoThreads = 228,
  kOptAllowSkipDh = 229,
  kOptForceDh = 230,
  kOptMaxAcceptRate = 249,
  kOptMaxDhAcceptRate = 250,
  kOptMultithread = 258,
  kOptTcpCpuThreads = 301,
  kOptTcpIoThreads = 302,
  kOptNatInfo = 372,
  kOptAddress = 373,
  kOptHttpStats = 2000,
  // Ours.
  kOptSecretFile = 3001,
  kOptShards,
  kOptCpuList,
  kOptListCpus,
  kOptDirect,
  kOptDcOverride,
  kOptDirectFallbackAfter,
  kOptIoBackend,
  kOptDrainTimeout,
  kOptPublicHost,
  kOptTlsRecordPolicy,
  kOptGenerateSecret,
  kOptDomainTarget,
  kOptTlsProbeInterval,
  kOptTlsReplayCacheSize,
  kOptHandshakeTimeout,
  kOptClientIdleTimeout,
  kOptWriteStallTimeout,
  kOptVersion,
  kOptStatsBind,
  kOptStatsAllow,
  kOptAllowNoSecret,
  kOptLink,
  kOptConfig,
  kOptCheck,
  kOptAllowNoClientPort,
  kOptLogFormat,
  kOptAllowList,
  kOptBlockList,
  kOptProxyProtocol,
  kOptProxyProtocolTrusted,
  kOptProxyProtocolTimeout,
  kOptTlsPqKeyShare,
  kOptTlsUnknownSni,
  kOptTlsRejectRst,
  kOptTlsFrontProxyProtocol,
  kOptTlsLinkLabel,
  kOptTlsHandshakeFragment,
  kOptClientMss,
  kOptTlsPqFollowSite,
  kOptConfigRefreshInterval,
  kOptConfigUrl,
  kOptConfigUrlV6,
  kOptSecretUrl,
  kOptConfigProxy,
  kOptConfigCacheDir,
  kOptConfigFetchTimeout,
  kOptFetchConfig,
  kOptUpstreamSocks5,
  kOptUpstreamSocks5User,
  kOptUpstreamSocks5PasswordFile,
  kOptSecretStateFile,
  kOptSecretDisableDrain,
};

struct OptionSpec {
  std::string_view long_name;
  char short_name;  // 0 = long only
  ArgKind arg;
  int id;
  std::string_view help;  // the reference's text for its options
  std::string_view note;  // ours, appended in --help as " [note]"
};

constexpr std::string_view kNoEffect = "accepted, no effect";
constexpr std::string_view kNoEffectAsReference = "no effect, as in the reference";

// The reference's 34 options in its --help order (sorted by getopt value), then ours.
constexpr OptionSpec kOptions[] = {
    {"ipv6", '6', ArgKind::kNone, kOptIpv6, "enables ipv6 TCP/UDP support", ""},
    {"max-special-connections", 'C', ArgKind::kRequired, kOptMaxSpecial,
     "sets maximal number of accepted client connections per worker", ""},
    {"domain", 'D', ArgKind::kRequired, kOptDomain,
     "adds allowed domain for TLS-transport mode, disables other transports; can be specified "
     "more than once",
     ""},
    {"http-ports", 'H', ArgKind::kRequired, kOptHttpPorts,
     "comma-separated list of client (HTTP) ports to listen", "0 = any free port, logged"},
    {"slaves", 'M', ArgKind::kRequired, kOptSlaves,
     "spawn several slave workers; not recommended for TLS-transport mode for better replay "
     "protection",
     "mtproxy-ng forks no workers: -M N runs N shard threads unless --shards is given"},
    {"proxy-tag", 'P', ArgKind::kRequired, kOptProxyTag,
     "16-byte proxy tag in hex mode to be passed along with all forwarded queries", ""},
    {"mtproto-secret", 'S', ArgKind::kRequired, kOptSecret, "16-byte secret in hex mode", ""},
    {"ping-interval", 'T', ArgKind::kRequired, kOptPingInterval,
     "sets ping interval in second for local TCP connections (default 5.000)",
     kNoEffectAsReference},
    {"window-clamp", 'W', ArgKind::kRequired, kOptWindowClamp,
     "sets window clamp for client TCP connections", ""},
    {"backlog", 'b', ArgKind::kRequired, kOptBacklog, "sets backlog size", ""},
    {"connections", 'c', ArgKind::kRequired, kOptConnections, "sets maximal connections number",
     "lowered with a warning to fit the open-file hard limit"},
    {"daemonize", 'd', ArgKind::kOptional, kOptDaemonize,
     "changes between daemonize/not daemonize mode", ""},
    {"help", 'h', ArgKind::kNone, kOptHelp, "prints help and exits", ""},
    {"log", 'l', ArgKind::kRequired, kOptLog, "sets log file name",
     "used with -d and from the first SIGUSR1 on, as in the reference"},
    {"port", 'p', ArgKind::kRequired, kOptPort,
     "<port> or <sport>:<eport> sets listening port number or port range",
     "0 = any free port, logged"},
    {"user", 'u', ArgKind::kRequired, kOptUser, "sets user name to make setuid",
     "as root, after binding; default mtproxy, or nobody if mtproxy does not exist"},
    {"verbosity", 'v', ArgKind::kOptional, kOptVerbosity, "sets or increases verbosity level", ""},
    {"aes-pwd", 0, ArgKind::kRequired, kOptAesPwd, "sets custom secret.conf file", ""},
    {"nice", 0, ArgKind::kRequired, kOptNice, "sets niceness", ""},
    {"msg-buffers-size", 0, ArgKind::kRequired, kOptMsgBuffersSize,
     "sets maximal buffers size (default 268435456)", ""},
    {"disable-tcp", 0, ArgKind::kNone, kOptDisableTcp, "do not open listening tcp socket", ""},
    {"crc32c", 0, ArgKind::kNone, kOptCrc32c, "Try to use crc32c instead of crc32 in tcp rpc",
     kNoEffectAsReference},
    {"cpu-threads", 0, ArgKind::kRequired, kOptCpuThreads,
     "Number of CPU threads (1-64, default 8)", kNoEffect},
    {"io-threads", 0, ArgKind::kRequired, kOptIoThreads, "Number of I/O threads (1-64, default 16)",
     kNoEffect},
    {"allow-skip-dh", 0, ArgKind::kNone, kOptAllowSkipDh, "Allow skipping DH during RPC handshake",
     kNoEffectAsReference},
    {"force-dh", 0, ArgKind::kNone, kOptForceDh, "Force using DH for all outbound RPC connections",
     kNoEffectAsReference},
    {"max-accept-rate", 0, ArgKind::kRequired, kOptMaxAcceptRate,
     "max number of connections per second that is allowed to accept",
     "one budget for the whole process, shared by the shards"},
    {"max-dh-accept-rate", 0, ArgKind::kRequired, kOptMaxDhAcceptRate,
     "max number of DH connections per second that is allowed to accept",
     "mtproxy-ng: client handshakes per second for the whole process (the reference: no effect)"},
    {"multithread", 0, ArgKind::kOptional, kOptMultithread, "run in multithread mode", kNoEffect},
    {"tcp-cpu-threads", 0, ArgKind::kRequired, kOptTcpCpuThreads, "number of tcp-cpu threads",
     kNoEffect},
    {"tcp-iothreads", 0, ArgKind::kRequired, kOptTcpIoThreads, "number of tcp-io threads",
     kNoEffect},
    {"nat-info", 0, ArgKind::kRequired, kOptNatInfo,
     "<local-addr>:<global-addr>\tsets network address translation for RPC protocol handshake", ""},
    {"address", 0, ArgKind::kRequired, kOptAddress,
     "tries to bind socket only to specified address", ""},
    {"http-stats", 0, ArgKind::kNone, kOptHttpStats, "allow http server to answer on stats queries",
     "serves /stats, /metrics, /health and /ready on 127.0.0.1 (and ::1 with -6) or "
     "--stats-bind"},
    // --- ours ---
    {"mtproto-secret-file", 0, ArgKind::kRequired, kOptSecretFile,
     "file of client secrets, one per line (32 hex digits or a dd/ee link secret); added to -S",
     ""},
    {"shards", 0, ArgKind::kRequired, kOptShards,
     "number of shard threads (default: one per CPU of --cpu-list or of the affinity mask)", ""},
    {"cpu-list", 0, ArgKind::kRequired, kOptCpuList,
     "CPUs to pin shards to, e.g. 0-3,8 (default: the affinity mask); see --list-cpus", ""},
    {"list-cpus", 0, ArgKind::kNone, kOptListCpus,
     "prints the CPUs this process may run on and exits", ""},
    {"direct", 0, ArgKind::kNone, kOptDirect,
     "connect to Telegram DCs directly instead of through middle-ends; <config-file> may then "
     "be omitted",
     ""},
    {"dc-override", 0, ArgKind::kRequired, kOptDcOverride,
     "<id>:<host>:<port> address of DC <id> for --direct; can be specified more than once", ""},
    {"direct-fallback-after", 0, ArgKind::kRequired, kOptDirectFallbackAfter,
     "seconds every middle-end of a DC's cluster must have been unreachable before that DC's "
     "new clients go directly to the DC (0 = never, the default); they go back to the "
     "middle-ends once one is ready",
     ""},
    {"io-backend", 0, ArgKind::kRequired, kOptIoBackend,
     "auto|io_uring|epoll (default auto: io_uring when usable, else epoll)", ""},
    {"drain-timeout", 0, ArgKind::kRequired, kOptDrainTimeout,
     "seconds to let connections finish after SIGTERM (default 10)", ""},
    {"public-host", 0, ArgKind::kRequired, kOptPublicHost,
     "host name or address to put in the printed tg:// links", ""},
    {"tls-record-policy", 0, ArgKind::kRequired, kOptTlsRecordPolicy,
     "adaptive|reference: fake-TLS record sizing (default adaptive: like real TLS servers; "
     "reference: at most 1425-byte records)",
     ""},
    {"generate-secret", 0, ArgKind::kOptional, kOptGenerateSecret,
     "[plain|dd|ee] prints a random secret and exits: 32 hex digits (plain, the default), dd + "
     "32 hex digits, or with ee one fake-TLS secret per -D domain (ee + 32 hex digits + the "
     "domain in hex); the form may follow as --generate-secret=ee or as the next argument",
     ""},
    {"domain-target", 0, ArgKind::kRequired, kOptDomainTarget,
     "<domain>=<host>:<port> real site of -D <domain> (probed, and where rejected fake-TLS "
     "connections go) instead of <domain>:443; can be specified more than once",
     ""},
    {"tls-probe-interval", 0, ArgKind::kRequired, kOptTlsProbeInterval,
     "seconds between re-probes of the -D domains (default 21600; 0 = at start-up only)", ""},
    {"tls-replay-cache-size", 0, ArgKind::kRequired, kOptTlsReplayCacheSize,
     "entries of the fake-TLS replay cache, 8 bytes each (default 1048576)", ""},
    {"handshake-timeout", 0, ArgKind::kRequired, kOptHandshakeTimeout,
     "seconds a client has to be served: its header (bad headers too), the DC connect, or an "
     "ME for a frame that found none (default 10; 0 = never)",
     ""},
    {"client-idle-timeout", 0, ArgKind::kRequired, kOptClientIdleTimeout,
     "seconds with nothing received from or sent to a client before it is closed (default "
     "600; 0 = never)",
     ""},
    {"write-stall-timeout", 0, ArgKind::kRequired, kOptWriteStallTimeout,
     "seconds a client or middle-end may leave our send unread before it is closed (default "
     "60; 0 = never)",
     ""},
    {"allow-no-secret", 0, ArgKind::kNone, kOptAllowNoSecret,
     "run without any client secret (clients then use the secret-less obfuscated2 key); "
     "without it, no -S and no secret in --mtproto-secret-file is an error",
     ""},
    {"allow-no-client-port", 0, ArgKind::kNone, kOptAllowNoClientPort,
     "run without -H (no client port: stats only); without it, no -H is an error", ""},
    {"config", 0, ArgKind::kRequired, kOptConfig,
     "TOML configuration file (docs/operators/cli.md): every option by its long name, named "
     "secrets; options on the command line win",
     ""},
    {"secret-state-file", 0, ArgKind::kRequired, kOptSecretStateFile,
     "file where the named secrets' quota-bytes usage is kept across restarts (default: the "
     "--config file's name + .state)",
     ""},
    {"secret-disable-drain", 0, ArgKind::kNone, kOptSecretDisableDrain,
     "a named secret set to enabled = false refuses new clients but keeps its open ones (by "
     "default they are closed)",
     ""},
    {"check", 0, ArgKind::kNone, kOptCheck,
     "validates everything without serving (config and files, -u user access, ports, fd "
     "limit, io_uring, clock, -D sites, middle-ends or DCs), one line per check; exit 0 only "
     "if none failed",
     ""},
    {"link", 0, ArgKind::kNone, kOptLink,
     "prints the tg:// and https://t.me links of every secret (-S, --mtproto-secret-file) for "
     "the first -H port, with a QR code each, and exits; the address is --public-host, else "
     "--nat-info, else --address, else this host's first global interface address",
     ""},
    {"version", 0, ArgKind::kNone, kOptVersion,
     "prints the version, the git commit it was built from, the build type and the compiler, "
     "and exits",
     ""},
    {"stats-bind", 0, ArgKind::kRequired, kOptStatsBind,
     "ADDR[:PORT] the stats port listens on instead of 127.0.0.1 (IPv6: [ADDR]:PORT; PORT "
     "overrides -p); implies --http-stats",
     ""},
    {"stats-allow", 0, ArgKind::kRequired, kOptStatsAllow,
     "CIDR[,CIDR...] peers allowed to read the stats port besides loopback (others get 403)", ""},
    {"log-format", 0, ArgKind::kRequired, kOptLogFormat,
     "text (default) or json: one JSON object per log line (time in UTC, pid, level, msg)", ""},
    {"allow-list", 0, ArgKind::kRequired, kOptAllowList,
     "FILE of IPv4/IPv6 addresses and CIDR blocks, one per line (# comments): only these "
     "clients are served; re-read on SIGHUP",
     ""},
    {"block-list", 0, ArgKind::kRequired, kOptBlockList,
     "FILE of addresses and CIDR blocks (as --allow-list) whose clients are refused; wins over "
     "--allow-list; re-read on SIGHUP",
     ""},
    {"proxy-protocol", 0, ArgKind::kNone, kOptProxyProtocol,
     "client ports expect a PROXY protocol v1 or v2 header from a load balancer and use the "
     "client address it carries; needs --proxy-protocol-trusted",
     ""},
    {"proxy-protocol-trusted", 0, ArgKind::kRequired, kOptProxyProtocolTrusted,
     "CIDR[,CIDR...] load balancers allowed to send PROXY headers (others are closed); can be "
     "specified more than once",
     ""},
    {"proxy-protocol-timeout", 0, ArgKind::kRequired, kOptProxyProtocolTimeout,
     "milliseconds a connection has to deliver its whole PROXY header (default 5000)",
     ""},
    {"tls-pq-key-share", 0, ArgKind::kNone, kOptTlsPqKeyShare,
     "fake-TLS: answer a ClientHello that offers X25519MLKEM768 with that group (a ServerHello "
     "1088 bytes longer) instead of x25519",
     ""},
    {"tls-unknown-sni", 0, ArgKind::kRequired, kOptTlsUnknownSni,
     "front|close|alert: fake-TLS connection whose SNI names no -D domain (default front: piped "
     "to the first -D domain's site; close: closed; alert: a fatal unrecognized_name alert, "
     "then closed)",
     ""},
    {"tls-reject-rst", 0, ArgKind::kNone, kOptTlsRejectRst,
     "fake-TLS: close rejected connections that are not fronted with a TCP RST instead of a FIN",
     ""},
    {"tls-front-proxy-protocol", 0, ArgKind::kNone, kOptTlsFrontProxyProtocol,
     "fake-TLS: start every fronted connection with a PROXY protocol v2 header, so the site "
     "(a local web server behind --domain-target) sees the client's address",
     ""},
    {"tls-link-label", 0, ArgKind::kRequired, kOptTlsLinkLabel,
     "LABEL: the printed ee links name LABEL.example.com for a wildcard -D *.example.com "
     "(default www)",
     ""},
    {"tls-handshake-fragment", 0, ArgKind::kRequired, kOptTlsHandshakeFragment,
     "BYTES: fake-TLS: send the ServerHello flight in pieces of at most BYTES (16..16384), each "
     "a TCP segment of its own; later traffic is not affected (default 0 = off)",
     ""},
    {"client-mss", 0, ArgKind::kRequired, kOptClientMss,
     "BYTES: TCP_MAXSEG of the client listeners (88..32767): clients are told this MSS and "
     "get segments of at most this size, for the whole connection (default 0 = the route's)",
     ""},
    {"tls-pq-follow-site", 0, ArgKind::kNone, kOptTlsPqFollowSite,
     "fake-TLS: answer a ClientHello that offers X25519MLKEM768 with that group only for the "
     "domains whose real site does so (learned by the probe); --tls-pq-key-share forces it",
     ""},
    {"config-refresh-interval", 0, ArgKind::kRequired, kOptConfigRefreshInterval,
     "seconds between downloads of proxy-multi.conf and the proxy secret from --config-url and "
     "--secret-url (0 = never, the default); each download is validated, kept on disk as "
     "<config-file> and --aes-pwd, and applied like SIGHUP; a failed one keeps the current files",
     ""},
    {"config-url", 0, ArgKind::kRequired, kOptConfigUrl,
     "http(s) URL of proxy-multi.conf for the refresh (default "
     "https://core.telegram.org/getProxyConfig)",
     ""},
    {"config-url-v6", 0, ArgKind::kRequired, kOptConfigUrlV6,
     "http(s) URL of the IPv6 middle-end list whose proxy_for lines are added to the refreshed "
     "config (e.g. https://core.telegram.org/getProxyConfigV6; default none)",
     ""},
    {"secret-url", 0, ArgKind::kRequired, kOptSecretUrl,
     "http(s) URL of the proxy secret for the refresh (default "
     "https://core.telegram.org/getProxySecret)",
     ""},
    {"config-proxy", 0, ArgKind::kRequired, kOptConfigProxy,
     "proxy for the refresh downloads: socks5h://HOST:PORT, socks5://HOST:PORT or "
     "http://HOST:PORT (credentials as USER:PASS@HOST)",
     ""},
    {"config-cache-dir", 0, ArgKind::kRequired, kOptConfigCacheDir,
     "directory of the refreshed files when <config-file> and --aes-pwd are not given: "
     "DIR/proxy-multi.conf and DIR/proxy-secret (default: the current directory)",
     ""},
    {"config-fetch-timeout", 0, ArgKind::kRequired, kOptConfigFetchTimeout,
     "seconds one refresh download may take, connection included (default 30)", ""},
    {"fetch-config", 0, ArgKind::kNone, kOptFetchConfig,
     "downloads, validates and writes proxy-multi.conf and the proxy secret once (the refresh "
     "options above), prints what it did and exits: 0 when both files are good, 1 otherwise",
     ""},
    {"upstream-socks5", 0, ArgKind::kRequired, kOptUpstreamSocks5,
     "ADDR:PORT ([ADDR]:PORT for IPv6) of a SOCKS5 server that every DC connection (--direct) "
     "and every middle-end connection goes through (CONNECT to the DC or middle-end address)",
     ""},
    {"upstream-socks5-user", 0, ArgKind::kRequired, kOptUpstreamSocks5User,
     "user name (1-255 bytes) for --upstream-socks5 (RFC 1929 user/password authentication); "
     "needs --upstream-socks5-pass-file",
     ""},
    {"upstream-socks5-pass-file", 0, ArgKind::kRequired, kOptUpstreamSocks5PasswordFile,
     "FILE holding the --upstream-socks5-user password (1-255 bytes; one trailing newline is "
     "ignored), read once at start-up",
     ""},
};
constexpr size_t kReferenceOptionCount = 34;

const OptionSpec* FindShort(char c) {
  for (const OptionSpec& o : kOptions) {
    if (o.short_name != 0 && o.short_name == c) return &o;
  }
  return nullptr;
}

// --- number parsing with the C library's forgiving semantics -----------------------------------

bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Strict decimal for our own options: the whole string, within [min, max].
std::optional<int64_t> StrictInt(std::string_view s, int64_t min, int64_t max) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  size_t p = 0;
  bool negative = false;
  if (s[0] == '-') negative = true, ++p;
  if (p == s.size()) return std::nullopt;
  int64_t value = 0;
  for (; p < s.size(); ++p) {
    if (s[p] < '0' || s[p] > '9') return std::nullopt;
    value = value * 10 + (s[p] - '0');
  }
  if (negative) value = -value;
  if (value < min || value > max) return std::nullopt;
  return value;
}

// A strict decimal double: the whole string (no hex, inf or nan).
std::optional<double> StrictDouble(std::string_view s) {
  if (s.empty() || s.size() > 32) return std::nullopt;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')) {
      return std::nullopt;
    }
  }
  std::string copy(s);
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return value;
}

std::optional<SecretMode> ParseSecretForm(std::string_view s) {
  if (s == "plain") return SecretMode::kPlain;
  if (s == "dd") return SecretMode::kPadded;
  if (s == "ee") return SecretMode::kFakeTls;
  return std::nullopt;
}

std::optional<uint32_t> ParseIpv4(std::string_view s) {
  std::string copy(s);
  in_addr addr;
  if (inet_pton(AF_INET, copy.c_str(), &addr) != 1) return std::nullopt;
  return ntohl(addr.s_addr);
}

// --- the parser -----------------------------------------------------------------------------

class Parser {
 public:
  explicit Parser(std::span<const std::string_view> argv) : argv_(argv) {
    if (!argv.empty()) out_.program_name = std::string(argv[0]);
  }

  CommandLineResult Run();

 private:
  // Error helpers: the message (the reference's text where it has one), then one hint line
  // about the option being parsed; never the whole usage text (only -h prints that).
  CommandLineError UsageError(std::string message) { return PlainError(2, std::move(message)); }
  CommandLineError PlainError(int exit_code, std::string message) {
    absl::StrAppend(&message, Hint());
    return CommandLineError{exit_code, std::move(message), ""};
  }
  // A value that is not what `option` takes: "invalid <option> value '<v>': expected <what>".
  CommandLineError BadValue(std::string_view v, std::string_view what) {
    return PlainError(2, absl::StrFormat("invalid %s value '%s': expected %s\n", OptionLabel(),
                                         std::string(v), std::string(what)));
  }
  // A whole decimal number in [min, max], or BadValue.
  std::variant<int64_t, CommandLineError> Number(std::string_view v, int64_t min, int64_t max,
                                                 std::string_view what) {
    std::optional<int64_t> n = StrictInt(v, min, max);
    if (!n) {
      return BadValue(v, absl::StrFormat("%s, a whole number %d..%d", std::string(what), min,
                                         max));
    }
    return *n;
  }
  // "-M" for options with a short name, else "--name".
  std::string OptionLabel() const {
    if (current_ == nullptr) return "option";
    if (current_->short_name != 0) return absl::StrFormat("-%c", current_->short_name);
    return absl::StrCat("--", std::string(current_->long_name));
  }
  std::string Hint() const;
  // getopt_long reported a problem: glibc's line, then the reference's "Unrecognized option".
  CommandLineError GetoptError(const std::string& glibc_line) {
    return UsageError(
        absl::StrCat(out_.program_name, ": ", glibc_line, "\n", "Unrecognized option\n"));
  }

  std::optional<CommandLineError> ParseLong(std::string_view body, size_t& index);
  std::optional<CommandLineError> ParseShortCluster(std::string_view arg, size_t& index);
  std::optional<CommandLineError> Apply(const OptionSpec& spec,
                                        std::optional<std::string_view> value);
  std::optional<CommandLineError> ApplyHexOption(char option, std::string_view value);
  std::optional<CommandLineError> ApplyHttpPorts(std::string_view value);
  std::optional<CommandLineError> ApplyStatsPort(std::string_view value);
  std::optional<CommandLineError> ApplyNatInfo(std::string_view value);
  std::optional<CommandLineError> ApplyDcOverride(std::string_view value);
  std::optional<CommandLineError> ApplyDomainTarget(std::string_view value);

  std::span<const std::string_view> argv_;
  const OptionSpec* current_ = nullptr;  // the option being applied, for error hints
  ParsedCommandLine out_;
  std::vector<std::string_view> positional_;
};

std::string Parser::Hint() const {
  const std::string help = absl::StrCat("'", out_.program_name, " --help' lists every option");
  if (current_ == nullptr) {
    return absl::StrCat("hint: usage: ", out_.program_name,
                        " [options] <config-file> (with --direct the file may be left out); ",
                        help, "\n");
  }
  std::string name = absl::StrCat("--", std::string(current_->long_name));
  if (current_->short_name != 0) absl::StrAppend(&name, "/-", std::string(1, current_->short_name));
  if (current_->arg == ArgKind::kRequired) absl::StrAppend(&name, " <arg>");
  std::string text(current_->help);
  if (!current_->note.empty()) absl::StrAppend(&text, " [", std::string(current_->note), "]");
  return absl::StrCat("hint: ", name, ": ", text, "; ", help, "\n");
}

CommandLineResult Parser::Run() {
  size_t i = 1;
  while (i < argv_.size()) {
    std::string_view arg = argv_[i];
    std::optional<CommandLineError> error;
    if (arg == "--") {
      for (++i; i < argv_.size(); ++i) positional_.push_back(argv_[i]);
      break;
    }
    if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      error = ParseLong(arg.substr(2), i);
    } else if (arg.size() > 1 && arg[0] == '-') {
      error = ParseShortCluster(arg, i);
    } else {
      positional_.push_back(arg);  // GNU getopt permutes operands to the end
      ++i;
    }
    if (error) return *std::move(error);
  }

  current_ = nullptr;
  out_.operand_count = positional_.size();
  if (out_.action == CommandLineAction::kGenerateSecret) {
    // "--generate-secret ee": the form as an operand.
    if (positional_.size() > 1) {
      return UsageError("--generate-secret takes at most one form: plain, dd or ee\n");
    }
    if (positional_.size() == 1) {
      std::optional<SecretMode> mode = ParseSecretForm(positional_[0]);
      if (!mode) {
        return UsageError(absl::StrFormat("invalid --generate-secret form '%s': expected plain, dd "
                                          "or ee\n",
                                          std::string(positional_[0])));
      }
      out_.generate_secret_mode = *mode;
    }
    if (out_.generate_secret_mode == SecretMode::kFakeTls) {
      if (out_.domains.empty()) {
        return UsageError("--generate-secret ee needs the fronting domain: add -D <domain>\n");
      }
      for (const std::string& d : out_.domains) {
        if (d.size() > kMaxFakeTlsDomainBytes) {
          return UsageError(absl::StrFormat("-D %s: an ee secret holds at most %d bytes of domain "
                                            "(clients refuse longer ones)\n",
                                            d, kMaxFakeTlsDomainBytes));
        }
      }
    }
  }
  if (out_.action == CommandLineAction::kLink && positional_.size() == 1) {
    out_.config_file = std::string(positional_[0]);  // accepted, not read
  }
  // --check takes the command line it checks: the same rules as running.
  if (out_.action == CommandLineAction::kRun || out_.action == CommandLineAction::kCheck) {
    // Ours: --direct reads no proxy-multi.conf, so the operand may be left out (the checks
    // below still apply); with --config-refresh-interval it defaults to
    // <--config-cache-dir>/proxy-multi.conf (control/config_refresh.h).
    if (!(positional_.empty() && (out_.direct || out_.config_refresh_interval_s > 0))) {
      if (positional_.size() != 1) {
        return UsageError(absl::StrFormat(
            "expected exactly one <config-file> argument, got %d\n", positional_.size()));
      }
      out_.config_file = std::string(positional_[0]);
    }
    if (!out_.domains.empty() && out_.secrets.empty() && !out_.secret_file) {
      return PlainError(2,
                        "You must specify at least one mtproto-secret to use when using "
                        "TLS-transport\n");
    }
    if (out_.proxy_protocol && out_.proxy_protocol_trusted.empty()) {
      return PlainError(2, "--proxy-protocol needs --proxy-protocol-trusted <cidr>[,<cidr>...]: "
                           "the load balancers allowed to send PROXY headers\n");
    }
    if (!out_.proxy_protocol &&
        (!out_.proxy_protocol_trusted.empty() || out_.proxy_protocol_timeout_given)) {
      return PlainError(2, "--proxy-protocol-trusted and --proxy-protocol-timeout need "
                           "--proxy-protocol\n");
    }
    if (out_.upstream_socks5_user.has_value() != out_.upstream_socks5_password_file.has_value()) {
      return PlainError(2, "--upstream-socks5-user and --upstream-socks5-pass-file go "
                           "together\n");
    }
    if (out_.upstream_socks5_user && !out_.upstream_socks5) {
      return PlainError(2, "--upstream-socks5-user needs --upstream-socks5\n");
    }
    for (const DomainTarget& t : out_.domain_targets) {
      if (std::find(out_.domains.begin(), out_.domains.end(), t.domain) == out_.domains.end()) {
        return PlainError(2, absl::StrFormat("--domain-target names '%s', which is not a -D "
                                             "domain\n",
                                             t.domain));
      }
    }
  }
  return std::move(out_);
}

std::optional<CommandLineError> Parser::ParseLong(std::string_view body, size_t& index) {
  size_t eq = body.find('=');
  std::string_view name = body.substr(0, eq);
  std::optional<std::string_view> value;
  if (eq != std::string_view::npos) value = body.substr(eq + 1);

  const OptionSpec* found = nullptr;
  std::vector<const OptionSpec*> prefixed;
  for (const OptionSpec& o : kOptions) {
    if (o.long_name == name) {
      found = &o;
      break;
    }
    if (o.long_name.substr(0, name.size()) == name) prefixed.push_back(&o);
  }
  if (found == nullptr) {
    if (prefixed.empty()) {
      return GetoptError(absl::StrCat("unrecognized option '--", std::string(body), "'"));
    }
    if (prefixed.size() > 1) {
      std::string line =
          absl::StrCat("option '--", std::string(body), "' is ambiguous; possibilities:");
      for (const OptionSpec* o : prefixed)
        absl::StrAppend(&line, " '--", std::string(o->long_name), "'");
      return GetoptError(line);
    }
    found = prefixed[0];
  }
  current_ = found;
  ++index;
  switch (found->arg) {
    case ArgKind::kNone:
      if (value) {
        return GetoptError(absl::StrCat("option '--", std::string(found->long_name),
                                        "' doesn't allow an argument"));
      }
      break;
    case ArgKind::kRequired:
      if (!value) {
        if (index >= argv_.size()) {
          return GetoptError(
              absl::StrCat("option '--", std::string(found->long_name), "' requires an argument"));
        }
        value = argv_[index++];
      }
      break;
    case ArgKind::kOptional:
      break;  // only "--opt=value" carries the optional argument
  }
  return Apply(*found, value);
}

std::optional<CommandLineError> Parser::ParseShortCluster(std::string_view arg, size_t& index) {
  ++index;
  for (size_t j = 1; j < arg.size(); ++j) {
    const OptionSpec* spec = FindShort(arg[j]);
    if (spec == nullptr) {
      current_ = nullptr;
      return GetoptError(absl::StrFormat("invalid option -- '%c'", arg[j]));
    }
    current_ = spec;
    if (spec->arg == ArgKind::kRequired) {
      std::string_view value;
      if (j + 1 < arg.size()) {
        value = arg.substr(j + 1);
      } else if (index < argv_.size()) {
        value = argv_[index++];
      } else {
        return GetoptError(absl::StrFormat("option requires an argument -- '%c'", arg[j]));
      }
      return Apply(*spec, value);
    }
    // Short forms of optional-argument options (-v, -d) never take an argument: the reference
    // registers them without "::", so -vv is two increments.
    if (auto error = Apply(*spec, std::nullopt)) return error;
  }
  return std::nullopt;
}

std::optional<CommandLineError> Parser::Apply(const OptionSpec& spec,
                                              std::optional<std::string_view> value) {
  std::string_view v = value.value_or("");
  current_ = &spec;
  out_.given_options.emplace_back(spec.long_name);
  // Strict numbers (the reference reads them with atoi: "-M abc" was 0).
  auto number = [&](int64_t min, int64_t max, std::string_view what,
                    auto& field) -> std::optional<CommandLineError> {
    auto n = Number(v, min, max, what);
    if (auto* e = std::get_if<CommandLineError>(&n)) return *e;
    field = static_cast<std::remove_reference_t<decltype(field)>>(std::get<int64_t>(n));
    return std::nullopt;
  };
  switch (static_cast<OptionId>(spec.id)) {
    // --- common ---
    case kOptVerbosity:
      if (!value) {
        ++out_.verbosity;
        break;
      }
      return number(0, 100, "a verbosity level", out_.verbosity);
    case kOptHelp:
      return CommandLineError{2, "", UsageText(out_.program_name)};
    case kOptUser:
      if (out_.user) {
        return PlainError(
            1, absl::StrFormat("wrong option -u%s, username is already defined as '%s'.\n",
                               std::string(v), *out_.user));
      }
      out_.user = std::string(v);
      break;
    case kOptLog:
      out_.log_file = std::string(v);
      break;
    case kOptDaemonize:
      if (!value) {
        out_.daemonize = !out_.daemonize;
        break;
      }
      {
        int on = 0;
        if (auto e = number(0, 1, "0 or 1", on)) return e;
        out_.daemonize = on != 0;
      }
      break;
    case kOptNice: {
      int n = 0;
      if (auto e = number(-20, 19, "a niceness", n)) return e;
      out_.nice = n;
      break;
    }
    case kOptMsgBuffersSize: {
      absl::StatusOr<int64_t> bytes = ParseMemoryLimit(v);
      if (!bytes.ok()) return UsageError(absl::StrCat(bytes.status().message(), "\n"));
      out_.msg_buffers_bytes = *bytes;
      break;
    }
    // --- network ---
    case kOptBacklog:
      return number(1, INT_MAX, "a listen() backlog", out_.backlog);
    case kOptConnections: {
      int n = 0;
      if (auto e = number(0, kMaxConnectionLimit, "a connection count (0 = 65536)", n)) return e;
      if (n <= 0) n = kDefaultConnectionLimit;
      out_.max_connections = n;
      // The reference's tcp_set_max_connections, applied at once as it does.
      if (out_.max_special_connections == 0 || out_.max_special_connections > n) {
        out_.max_special_connections = n;
      }
      break;
    }
    case kOptPort:
      return ApplyStatsPort(v);
    case kOptIpv6:
      out_.ipv6 = true;
      break;
    case kOptAesPwd:
      out_.aes_pwd_file = std::string(v);
      break;
    case kOptDisableTcp:
      out_.disable_tcp = true;
      break;
    case kOptCrc32c:
      out_.crc32c = true;
      break;
    case kOptAllowSkipDh:
      out_.allow_skip_dh = true;
      break;
    case kOptForceDh:
      out_.force_dh = true;
      break;
    case kOptMaxAcceptRate:
      return number(0, INT_MAX, "connections per second (0 = no limit)", out_.max_accept_rate);
    case kOptMaxDhAcceptRate:
      return number(0, INT_MAX, "handshakes per second (0 = no limit)", out_.max_dh_accept_rate);
    case kOptNatInfo:
      return ApplyNatInfo(v);
    case kOptAddress: {
      std::optional<uint32_t> ip = ParseIpv4(v);
      if (!ip) {
        return PlainError(4, absl::StrFormat("Can not convert '%s' to ip addr\n", std::string(v)));
      }
      out_.bind_ipv4 = *ip;
      break;
    }
    // --- engine (no effect) ---
    case kOptCpuThreads:
      return number(1, 64, "a thread count", out_.cpu_threads);
    case kOptIoThreads:
      return number(1, 64, "a thread count", out_.io_threads);
    case kOptMultithread: {
      int on = 1;
      if (value) {
        if (auto e = number(0, 1, "0 or 1", on)) return e;
      }
      out_.multithread = on != 0;
      break;
    }
    case kOptTcpCpuThreads:
      return number(1, 64, "a thread count", out_.tcp_cpu_threads);
    case kOptTcpIoThreads:
      return number(1, 64, "a thread count", out_.tcp_io_threads);
    // --- proxy ---
    case kOptMaxSpecial:
      return number(0, INT_MAX, "a connection count (0 = the -c limit)",
                    out_.max_special_connections);
    case kOptWindowClamp:
      return number(0, INT_MAX, "a window size in bytes (0 = default)", out_.window_clamp);
    case kOptHttpPorts:
      return ApplyHttpPorts(v);
    case kOptSlaves:
      // The reference asserts 0..256 (abort) and reads "abc" as 0; we refuse both.
      return number(0, kMaxWorkers, "the number of workers (shards here)", out_.workers);
    case kOptPingInterval: {
      std::optional<double> seconds = StrictDouble(v);
      if (!seconds) return BadValue(v, "seconds, a decimal number");
      out_.ping_interval_s = *seconds > 0 ? *seconds : kDefaultPingIntervalS;
      break;
    }
    case kOptHttpStats:
      out_.http_stats = true;
      break;
    case kOptDomain:
      if (!IsValidDomainOption(v)) {
        return BadValue(v, "a host name (letters, digits, '-' and '.'; labels of 1..63, at most "
                           "253 in all), or *. and a host name");
      }
      out_.domains.emplace_back(v);
      break;
    case kOptSecret:
      return ApplyHexOption('S', v);
    case kOptProxyTag:
      return ApplyHexOption('P', v);
    // --- ours ---
    case kOptSecretFile:
      if (v.empty()) return PlainError(2, "--mtproto-secret-file needs a file name\n");
      out_.secret_file = std::string(v);
      break;
    case kOptShards: {
      std::optional<int64_t> n = StrictInt(v, 1, int64_t{kMaxShards});
      if (!n) {
        return PlainError(2, absl::StrFormat("invalid --shards value '%s': expected 1..%d\n",
                                             std::string(v), kMaxShards));
      }
      out_.shards = static_cast<int>(*n);
      break;
    }
    case kOptCpuList: {
      absl::StatusOr<std::vector<int>> cpus = ParseCpuList(v);
      if (!cpus.ok()) {
        return PlainError(2, absl::StrCat("invalid --cpu-list value: ", cpus.status().message(),
                                          "\n"));
      }
      out_.cpu_list = *std::move(cpus);
      break;
    }
    case kOptListCpus:
      out_.action = CommandLineAction::kListCpus;
      break;
    case kOptDirect:
      out_.direct = true;
      break;
    case kOptDcOverride:
      return ApplyDcOverride(v);
    case kOptDirectFallbackAfter: {
      std::optional<int64_t> n = StrictInt(v, 0, kMaxGuardTimeoutS);
      if (!n) {
        return PlainError(2, absl::StrFormat("invalid --direct-fallback-after value '%s': "
                                             "expected 0..%d seconds\n",
                                             std::string(v), kMaxGuardTimeoutS));
      }
      out_.direct_fallback_after_s = static_cast<int>(*n);
      break;
    }
    case kOptIoBackend:
      if (v == "auto") {
        out_.io_backend = IoBackend::kAuto;
      } else if (v == "io_uring") {
        out_.io_backend = IoBackend::kIoUring;
      } else if (v == "epoll") {
        out_.io_backend = IoBackend::kEpoll;
      } else {
        return PlainError(2, absl::StrFormat("invalid --io-backend value '%s': expected auto, "
                                             "io_uring or epoll\n",
                                             std::string(v)));
      }
      break;
    case kOptDrainTimeout: {
      std::optional<int64_t> n = StrictInt(v, 0, kMaxDrainTimeoutS);
      if (!n) {
        return PlainError(2, absl::StrFormat("invalid --drain-timeout value '%s': expected 0..%d "
                                             "seconds\n",
                                             std::string(v), kMaxDrainTimeoutS));
      }
      out_.drain_timeout_s = static_cast<int>(*n);
      break;
    }
    case kOptPublicHost:
      if (v.empty()) return PlainError(2, "--public-host needs a host name or address\n");
      out_.public_host = std::string(v);
      break;
    case kOptTlsRecordPolicy:
      if (v == "reference") {
        out_.tls_record_policy = TlsRecordPolicy::kReference;
      } else if (v == "adaptive") {
        out_.tls_record_policy = TlsRecordPolicy::kAdaptive;
      } else {
        return PlainError(2, absl::StrFormat("invalid --tls-record-policy value '%s': expected "
                                             "reference or adaptive\n",
                                             std::string(v)));
      }
      break;
    case kOptGenerateSecret:
      out_.action = CommandLineAction::kGenerateSecret;
      if (value) {
        std::optional<SecretMode> mode = ParseSecretForm(v);
        if (!mode) return BadValue(v, "plain, dd or ee");
        out_.generate_secret_mode = *mode;
      }
      break;
    case kOptVersion:
      out_.action = CommandLineAction::kVersion;
      break;
    case kOptConfig:
      if (v.empty()) return PlainError(2, "--config needs a file name\n");
      out_.config_toml = std::string(v);
      break;
    case kOptSecretStateFile:
      if (v.empty()) return PlainError(2, "--secret-state-file needs a file name\n");
      out_.secret_state_file = std::string(v);
      break;
    case kOptSecretDisableDrain:
      out_.secret_disable_drain = true;
      break;
    case kOptCheck:
      out_.action = CommandLineAction::kCheck;
      break;
    case kOptLink:
      out_.action = CommandLineAction::kLink;
      break;
    case kOptAllowNoSecret:
      out_.allow_no_secret = true;
      break;
    case kOptAllowNoClientPort:
      out_.allow_no_client_port = true;
      break;
    case kOptDomainTarget:
      return ApplyDomainTarget(v);
    case kOptTlsProbeInterval: {
      std::optional<int64_t> n = StrictInt(v, 0, kMaxTlsProbeIntervalS);
      if (!n) {
        return PlainError(2, absl::StrFormat("invalid --tls-probe-interval value '%s': expected "
                                             "0..%d seconds\n",
                                             std::string(v), kMaxTlsProbeIntervalS));
      }
      out_.tls_probe_interval_s = *n;
      break;
    }
    case kOptTlsReplayCacheSize: {
      std::optional<int64_t> n = StrictInt(v, kMinTlsReplayCacheSize, kMaxTlsReplayCacheSize);
      if (!n) {
        return PlainError(2, absl::StrFormat("invalid --tls-replay-cache-size value '%s': "
                                             "expected %d..%d entries\n",
                                             std::string(v), kMinTlsReplayCacheSize,
                                             kMaxTlsReplayCacheSize));
      }
      out_.tls_replay_cache_size = *n;
      break;
    }
    case kOptHandshakeTimeout:
    case kOptClientIdleTimeout:
    case kOptWriteStallTimeout: {
      std::optional<int64_t> n = StrictInt(v, 0, kMaxGuardTimeoutS);
      if (!n) {
        return PlainError(2, absl::StrFormat("invalid --%s value '%s': expected 0..%d seconds\n",
                                             std::string(spec.long_name), std::string(v),
                                             kMaxGuardTimeoutS));
      }
      int& field = spec.id == kOptHandshakeTimeout    ? out_.handshake_timeout_s
                   : spec.id == kOptClientIdleTimeout ? out_.client_idle_timeout_s
                                                      : out_.write_stall_timeout_s;
      field = static_cast<int>(*n);
      break;
    }
    case kOptStatsBind: {
      absl::StatusOr<StatsBind> bind = ParseStatsBind(v);
      if (!bind.ok()) {
        return PlainError(2, absl::StrCat("--stats-bind: ", bind.status().message(), "\n"));
      }
      out_.stats_bind = *bind;
      out_.http_stats = true;
      break;
    }
    case kOptStatsAllow: {
      // "" would read as "no blocks" below; an empty value is an error like an empty item.
      if (v.empty()) return PlainError(2, "--stats-allow: empty list\n");
      absl::StatusOr<CidrSet> list = ParseStatsAllow(v);
      if (!list.ok()) return PlainError(2, absl::StrCat(list.status().message(), "\n"));
      if (!out_.stats_allow.empty()) out_.stats_allow += ',';
      out_.stats_allow += v;
      break;
    }
    case kOptAllowList:
    case kOptBlockList: {
      if (v.empty()) return BadValue(v, "a file name");
      std::optional<std::string>& field =
          spec.id == kOptAllowList ? out_.allow_list_file : out_.block_list_file;
      field = std::string(v);
      break;
    }
    case kOptProxyProtocol:
      out_.proxy_protocol = true;
      break;
    case kOptProxyProtocolTrusted: {
      absl::StatusOr<CidrSet> set = CidrSet::ParseCommaList(v, "--proxy-protocol-trusted");
      if (!set.ok()) return PlainError(2, absl::StrCat(set.status().message(), "\n"));
      out_.proxy_protocol_trusted.emplace_back(v);
      break;
    }
    case kOptProxyProtocolTimeout: {
      std::optional<int64_t> n =
          StrictInt(v, kMinProxyProtocolTimeoutMs, kMaxProxyProtocolTimeoutMs);
      if (!n) {
        return BadValue(v, absl::StrFormat("%d..%d milliseconds", kMinProxyProtocolTimeoutMs,
                                           kMaxProxyProtocolTimeoutMs));
      }
      out_.proxy_protocol_timeout_ms = static_cast<int>(*n);
      out_.proxy_protocol_timeout_given = true;
      break;
    }
    case kOptLogFormat:
      if (v == "text") {
        out_.log_format = LogFormat::kText;
      } else if (v == "json") {
        out_.log_format = LogFormat::kJson;
      } else {
        return BadValue(v, "text or json");
      }
      break;
    case kOptTlsPqKeyShare:
      out_.tls_pq_key_share = true;
      break;
    case kOptTlsUnknownSni:
      if (v == "front") {
        out_.tls_unknown_sni = TlsUnknownSni::kFront;
      } else if (v == "close") {
        out_.tls_unknown_sni = TlsUnknownSni::kClose;
      } else if (v == "alert") {
        out_.tls_unknown_sni = TlsUnknownSni::kAlert;
      } else {
        return PlainError(2, absl::StrFormat("invalid --tls-unknown-sni value '%s': expected "
                                             "front, close or alert\n",
                                             std::string(v)));
      }
      break;
    case kOptTlsRejectRst:
      out_.tls_reject_rst = true;
      break;
    case kOptTlsFrontProxyProtocol:
      out_.tls_front_proxy_protocol = true;
      break;
    case kOptTlsLinkLabel:
      if (!IsWildcardLabel(v)) {
        return PlainError(2, absl::StrFormat("invalid --tls-link-label value '%s': expected 1 to "
                                             "63 letters, digits, '-' or '_'\n",
                                             std::string(v)));
      }
      out_.tls_link_label = std::string(v);
      break;
    case kOptTlsHandshakeFragment: {
      int64_t bytes = 0;
      if (auto e = number(0, kMaxTlsHandshakeFragmentBytes, "bytes", bytes)) return e;
      if (bytes != 0 && bytes < kMinTlsHandshakeFragmentBytes) {
        return PlainError(2, absl::StrFormat("invalid --tls-handshake-fragment value '%s': "
                                             "expected 0 (off) or 16..16384 bytes\n",
                                             std::string(v)));
      }
      out_.tls_handshake_fragment_bytes = bytes;
      break;
    }
    case kOptTlsPqFollowSite:
      out_.tls_pq_follow_site = true;
      break;
    case kOptClientMss:
      if (auto e = number(0, kMaxClientMss, "bytes", out_.client_mss)) return e;
      if (out_.client_mss != 0 && out_.client_mss < kMinClientMss) {
        return PlainError(2, absl::StrFormat("invalid --client-mss value '%s': expected 0 (off) "
                                             "or 88..32767 bytes\n",
                                             std::string(v)));
      }
      break;
    case kOptConfigRefreshInterval:
      return number(0, kMaxConfigRefreshIntervalS, "seconds (0 = off)",
                    out_.config_refresh_interval_s);
    case kOptConfigFetchTimeout:
      return number(1, kMaxConfigFetchTimeoutS, "seconds", out_.config_fetch_timeout_s);
    case kOptConfigUrl:
    case kOptConfigUrlV6:
    case kOptSecretUrl:
    case kOptConfigProxy: {
      const bool proxy = spec.id == kOptConfigProxy;
      const bool ok = proxy ? (v.starts_with("socks5h://") || v.starts_with("socks5://") ||
                               v.starts_with("http://"))
                            : (v.starts_with("http://") || v.starts_with("https://"));
      if (!ok) {
        return BadValue(v, proxy ? "a proxy URL: socks5h://, socks5:// or http://HOST:PORT"
                                 : "an http:// or https:// URL");
      }
      std::string& field = spec.id == kOptConfigUrl     ? out_.config_url
                           : spec.id == kOptConfigUrlV6 ? out_.config_url_v6
                           : spec.id == kOptSecretUrl   ? out_.secret_url
                                                        : out_.config_proxy;
      field = std::string(v);
      break;
    }
    case kOptConfigCacheDir:
      if (v.empty()) return PlainError(2, "--config-cache-dir needs a directory\n");
      out_.config_cache_dir = std::string(v);
      break;
    case kOptFetchConfig:
      out_.action = CommandLineAction::kFetchConfig;
      break;
    case kOptUpstreamSocks5: {
      absl::StatusOr<SocketAddress> server = SocketAddress::Parse(v);
      if (!server.ok() || server->port() == 0) {
        return BadValue(v, "ADDR:PORT or [IPv6]:PORT of a SOCKS5 server (an IP literal)");
      }
      out_.upstream_socks5 = *server;
      break;
    }
    case kOptUpstreamSocks5User:
      if (v.empty() || v.size() > kSocks5MaxCredentialBytes) {
        return BadValue(v, "a user name of 1 to 255 bytes");
      }
      out_.upstream_socks5_user = std::string(v);
      break;
    case kOptUpstreamSocks5PasswordFile:
      if (v.empty()) return BadValue(v, "a file name");
      out_.upstream_socks5_password_file = std::string(v);
      break;
  }
  return std::nullopt;
}

std::optional<CommandLineError> Parser::ApplyHexOption(char option, std::string_view value) {
  if (option == 'S' && value.size() != 2 * kClientSecretBytes) {
    // Ours: the dd and ee link forms, as --mtproto-secret-file takes them (the value is not
    // echoed: it is a secret).
    absl::StatusOr<LinkSecret> link = ParseLinkSecret(value);
    if (!link.ok()) {
      return UsageError(
          "invalid -S value: expected 32 hex digits, dd + 32 hex digits, or ee + 32 hex digits + "
          "the domain in hex (as in a tg:// link)\n");
    }
    if (out_.secrets.size() >= kMaxClientSecrets) {
      return PlainError(2, absl::StrFormat("too many secrets: at most %d -S values are allowed\n",
                                           kMaxClientSecrets));
    }
    out_.secrets.push_back(link->secret);
    out_.secret_domains.resize(out_.secrets.size() - 1);
    out_.secret_domains.push_back(link->domain);
    return std::nullopt;
  }
  if (value.size() != 2 * kClientSecretBytes) {
    return UsageError(absl::StrFormat("'%c' option requires exactly 32 hex digits\n", option));
  }
  absl::StatusOr<ClientSecret> bytes = ParseClientSecretHex(value);
  if (!bytes.ok()) {
    char bad = *std::find_if_not(value.begin(), value.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
    // The reference names 'S' here even for -P.
    return UsageError(
        absl::StrFormat("'S' option requires exactly 32 hex digits. '%c' is not hexdigit\n", bad));
  }
  if (option == 'P') {
    out_.proxy_tag = *bytes;
    return std::nullopt;
  }
  if (out_.secrets.size() >= kMaxClientSecrets) {
    // The reference aborts on an assertion here.
    return PlainError(2, absl::StrFormat("too many secrets: at most %d -S values are allowed\n",
                                         kMaxClientSecrets));
  }
  out_.secrets.push_back(*bytes);
  return std::nullopt;
}

std::optional<CommandLineError> Parser::ApplyHttpPorts(std::string_view value) {
  auto bad = [&](std::string_view why) {
    return UsageError(
        absl::StrFormat("invalid -H value '%s': %s\n", std::string(value), std::string(why)));
  };
  if (value.empty()) return bad("expected <port>{,<port>}");
  size_t p = 0;
  auto at = [&](size_t q) { return q < value.size() ? value[q] : '\0'; };
  // Ours: a lone 0 asks for any free port (tests); the port the kernel picked is logged.
  auto lone_zero = [&](size_t q) { return at(q) == '0' && (at(q + 1) == ',' || at(q + 1) == 0); };
  while ((at(p) >= '1' && at(p) <= '9') || lone_zero(p)) {
    if (out_.client_ports.size() >= kMaxClientPorts) {
      return bad(absl::StrFormat("at most %d client ports", kMaxClientPorts));
    }
    int64_t port = 0;
    while (at(p) >= '0' && at(p) <= '9' && port <= 65535) port = port * 10 + (at(p++) - '0');
    if (port > 65535) return bad("ports are 1..65535");  // the reference asserts
    out_.client_ports.push_back(static_cast<uint16_t>(port));
    if (at(p) != ',') break;
    ++p;  // a trailing comma is accepted, as in the reference
  }
  if (p < value.size()) return bad("expected <port>{,<port>}");
  return std::nullopt;
}

std::optional<CommandLineError> Parser::ApplyStatsPort(std::string_view value) {
  // <port> or <start>:<end>, nothing else (the reference's sscanf ignored trailing text).
  const size_t colon = value.find(':');
  std::optional<int64_t> first = StrictInt(value.substr(0, colon), 0, 65535);
  std::optional<int64_t> last;
  if (colon != std::string_view::npos) {
    last = StrictInt(value.substr(colon + 1), 1, 65535);
    if (!last) first.reset();
  }
  auto bad = [&]() {
    return UsageError(
        absl::StrFormat("invalid -p value '%s': expected <port> or <start>:<end> (1..65535)\n",
                        std::string(value)));
  };
  // Ours: a lone 0 asks for any free port (tests); the port the kernel picked is logged.
  if (first && *first == 0 && !last) {
    out_.stats_port = StatsPortRange{0, 0};
    return std::nullopt;
  }
  if (!first || *first <= 0 || *first > 65535) return bad();
  if (last && (*first > *last || *last > 65535)) return bad();
  out_.stats_port =
      StatsPortRange{static_cast<int>(*first), static_cast<int>(last.value_or(*first))};
  return std::nullopt;
}

std::optional<CommandLineError> Parser::ApplyNatInfo(std::string_view value) {
  size_t colon = value.rfind(':');
  if (colon == std::string_view::npos) {
    return UsageError("expected <local-addr>:<global-addr> in --nat-info\n");
  }
  std::string_view local = value.substr(0, colon);
  std::string_view global = value.substr(colon + 1);
  std::optional<uint32_t> local_ip = ParseIpv4(local);
  if (!local_ip) {
    return UsageError(
        absl::StrFormat("cannot translate host '%s' in --nat-info\n", std::string(local)));
  }
  std::optional<uint32_t> global_ip = ParseIpv4(global);
  if (!global_ip) {
    return UsageError(
        absl::StrFormat("cannot translate host '%s' in --nat-info\n", std::string(global)));
  }
  if (out_.nat_rules.size() >= kMaxNatRules) {
    return UsageError("too many rules in --nat-info\n");
  }
  out_.nat_rules.push_back(NatRule{*local_ip, *global_ip});
  return std::nullopt;
}

std::optional<CommandLineError> Parser::ApplyDcOverride(std::string_view value) {
  auto bad = [&](std::string_view why) {
    return PlainError(2, absl::StrFormat("invalid --dc-override value '%s': %s\n",
                                         std::string(value), std::string(why)));
  };
  size_t first_colon = value.find(':');
  size_t last_colon = value.rfind(':');
  if (first_colon == std::string_view::npos || first_colon == last_colon) {
    return bad("expected <id>:<host>:<port>");
  }
  std::optional<int64_t> id = StrictInt(value.substr(0, first_colon), -32768, 32767);
  if (!id || *id == 0) return bad("the DC id must be a non-zero integer -32768..32767");
  std::optional<int64_t> port = StrictInt(value.substr(last_colon + 1), 1, 65535);
  if (!port) return bad("the port must be 1..65535");
  std::string_view host = value.substr(first_colon + 1, last_colon - first_colon - 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("write an IPv6 address in brackets: <id>:[<ipv6>]:<port>");
  }
  if (host.empty()) return bad("the host is empty");
  out_.dc_overrides.push_back(
      DcOverride{static_cast<int32_t>(*id), std::string(host), static_cast<uint16_t>(*port)});
  return std::nullopt;
}

std::optional<CommandLineError> Parser::ApplyDomainTarget(std::string_view value) {
  auto bad = [&](std::string_view why) {
    return PlainError(2, absl::StrFormat("invalid --domain-target value '%s': %s\n",
                                         std::string(value), std::string(why)));
  };
  const size_t eq = value.find('=');
  const size_t last_colon = value.rfind(':');
  if (eq == std::string_view::npos || last_colon == std::string_view::npos || last_colon < eq) {
    return bad("expected <domain>=<host>:<port>");
  }
  const std::string_view domain = value.substr(0, eq);
  if (domain.empty()) return bad("the domain is empty");
  std::optional<int64_t> port = StrictInt(value.substr(last_colon + 1), 1, 65535);
  if (!port) return bad("the port must be 1..65535");
  std::string_view host = value.substr(eq + 1, last_colon - eq - 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("write an IPv6 address in brackets: <domain>=[<ipv6>]:<port>");
  }
  if (host.empty()) return bad("the host is empty");
  for (const DomainTarget& t : out_.domain_targets) {
    if (t.domain == domain) return bad("that domain already has a target");
  }
  out_.domain_targets.push_back(
      DomainTarget{std::string(domain), std::string(host), static_cast<uint16_t>(*port)});
  return std::nullopt;
}

}  // namespace

// --- public functions ---------------------------------------------------------------------------

std::optional<OptionInfo> FindLongOption(std::string_view long_name) {
  for (const OptionSpec& o : kOptions) {
    if (o.long_name != long_name) continue;
    OptionInfo info;
    info.long_name = o.long_name;
    info.short_name = o.short_name;
    info.takes_value = o.arg == ArgKind::kRequired;
    info.optional_value = o.arg == ArgKind::kOptional;
    return info;
  }
  return std::nullopt;
}

bool IsValidHostName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  char previous = '.';
  for (char c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (c == '.') {
      if (label == 0 || previous == '-') return false;
      label = 0;
    } else if (alnum || c == '-') {
      if (c == '-' && label == 0) return false;
      if (++label > 63) return false;
    } else {
      return false;
    }
    previous = c;
  }
  return label > 0 && previous != '-';
}

bool IsValidDomainOption(std::string_view name) {
  // Ours: "*.<host name>" is a wildcard domain.
  return IsValidHostName(name) || (name.starts_with("*.") && IsValidHostName(name.substr(2)));
}

std::optional<CommandLineError> ValidateForServing(const ParsedCommandLine& cli) {
  const std::string help =
      absl::StrCat("hint: '", cli.program_name, " --help' lists every option\n");
  if (cli.client_ports.empty() && !cli.allow_no_client_port) {
    return CommandLineError{
        2,
        absl::StrCat("no client port: pass -H <port>[,<port>...] (or --allow-no-client-port to "
                     "run without one)\n",
                     help),
        ""};
  }
  if (cli.secrets.empty() && !cli.secret_file && !cli.allow_no_secret) {
    return CommandLineError{
        2,
        absl::StrCat("no client secret: pass -S <secret> or --mtproto-secret-file <file> ("
                     "--generate-secret makes one), or --allow-no-secret to accept clients "
                     "without one\n",
                     help),
        ""};
  }
  // Until the accept path applies them; the lead removes this when it does.
  return std::nullopt;
}

absl::StatusOr<CidrSet> ProxyProtocolTrustedSet(const ParsedCommandLine& cli) {
  return CidrSet::ParseCommaList(absl::StrJoin(cli.proxy_protocol_trusted, ","),
                                 "--proxy-protocol-trusted");
}

std::vector<std::string> ServingWarnings(const ParsedCommandLine& cli) {
  std::vector<std::string> warnings;
  for (size_t i = 0; i < cli.secret_domains.size(); ++i) {
    const std::string& domain = cli.secret_domains[i];
    if (domain.empty()) continue;
    if (std::find(cli.domains.begin(), cli.domains.end(), domain) == cli.domains.end()) {
      warnings.push_back(absl::StrFormat(
          "-S #%d is an ee secret for '%s', which is not a -D domain: only its key is used, and "
          "its ee link works only with -D %s",
          i, domain, domain));
    }
  }
  return warnings;
}

int ParsedCommandLine::EffectiveWindowClamp() const {
  if (window_clamp != 0) return window_clamp;
  return domains.empty() ? kDefaultWindowClamp : 0;
}

std::string ParsedCommandLine::AesPwdPath() const { return aes_pwd_file.value_or("secret"); }

CommandLineResult ParseCommandLine(std::span<const std::string_view> argv) {
  Parser parser(argv);
  return parser.Run();
}

CommandLineResult ParseCommandLine(int argc, const char* const* argv) {
  std::vector<std::string_view> args;
  args.reserve(static_cast<size_t>(std::max(argc, 0)));
  for (int i = 0; i < argc; ++i) args.emplace_back(argv[i]);
  return ParseCommandLine(args);
}

std::string UsageText(std::string_view program_name) {
  std::string out = absl::StrFormat(
      "usage: %s [-v] [-6] [-p<port>] [-H<http-port>{,<http-port>}] [-M<workers>] "
      "[-u<username>] [-b<backlog>] [-c<max-conn>] [-l<log-name>] [-W<window-size>] "
      "<config-file>\n",
      std::string(program_name));
  absl::StrAppend(&out, "mtproxy-ng ", MTP_VERSION, "\n");
  absl::StrAppend(&out, "\tSimple MT-Proto proxy\n");
  absl::StrAppend(&out,
                  "\tSIGHUP re-reads <config-file>, --mtproto-secret-file and --aes-pwd (the "
                  "reference ignores SIGHUP): a file that fails keeps the running configuration "
                  "(logged, counted in /metrics); SIGTERM drains connections for "
                  "--drain-timeout seconds; SIGUSR1 reopens the -l log file.\n");
  // The reference's parse_usage() layout: the name column is padded to the widest entry as
  // that function measures it (3 per short and long name + 6 for an argument).
  size_t width = 0;
  for (const OptionSpec& o : kOptions) {
    size_t w = o.long_name.size() + 3 + (o.short_name ? 3 : 0) + (o.arg != ArgKind::kNone ? 6 : 0);
    width = std::max(width, w);
  }
  for (const OptionSpec& o : kOptions) {
    std::string name = absl::StrCat("--", std::string(o.long_name));
    if (o.short_name) absl::StrAppend(&name, "/-", std::string(1, o.short_name));
    if (o.arg == ArgKind::kRequired) absl::StrAppend(&name, " <arg>");
    if (o.arg == ArgKind::kOptional) absl::StrAppend(&name, " {arg}");
    name.resize(std::max(name.size(), width), ' ');
    std::string help(o.help);
    if (!o.note.empty()) absl::StrAppend(&help, " [", std::string(o.note), "]");
    absl::StrAppend(&out, "\t", name, "\t", help, "\n");
  }
  return out;
}

std::vector<std::string_view> ReferenceOptionNames() {
  std::vector<std::string_view> names;
  for (size_t i = 0; i < kReferenceOptionCount; ++i) names.push_back(kOptions[i].long_name);
  return names;
}

std::vector<std::string_view> ExtensionOptionNames() {
  std::vector<std::string_view> names;
  for (size_t i = kReferenceOptionCount; i < std::size(kOptions); ++i) {
    names.push_back(kOptions[i].long_name);
  }
  return names;
}

absl::StatusOr<int64_t> ParseMemoryLimit(std::string_view text) {
  // sscanf("%lld%c"): a number, then one optional suffix character; the rest is ignored.
  size_t p = 0;
  while (p < text.size() && IsSpace(text[p])) ++p;
  bool negative = false;
  if (p < text.size() && (text[p] == '+' || text[p] == '-')) negative = text[p++] == '-';
  size_t digits = p;
  int64_t value = 0;
  while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
    if (value > (int64_t{1} << 50)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Parsing limit for option fail: ", std::string(text)));
    }
    value = value * 10 + (text[p++] - '0');
  }
  if (p == digits) {
    return absl::InvalidArgumentError(
        absl::StrCat("Parsing limit for option fail: ", std::string(text)));
  }
  char suffix = p < text.size() ? text[p] : '\0';
  int shift = 0;
  switch (suffix | 0x20) {
    case ' ':
      break;
    case 'k':
      shift = 10;
      break;
    case 'm':
      shift = 20;
      break;
    case 'g':
      shift = 30;
      break;
    case 't':
      shift = 40;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrFormat("Parsing limit fail. Unknown suffix '%c'.", suffix));
  }
  if (negative || value == 0) {
    // The reference accepts these and then misbehaves; we refuse.
    return absl::InvalidArgumentError(
        absl::StrCat("Parsing limit for option fail: ", std::string(text), " (must be > 0)"));
  }
  if (value > (int64_t{1} << (62 - shift))) {
    return absl::InvalidArgumentError(
        absl::StrCat("Parsing limit for option fail: ", std::string(text), " (too large)"));
  }
  return value << shift;
}

std::string GenerateSecretHex() {
  ClientSecret secret = GenerateClientSecret();
  return HexEncode(secret) + "\n";
}

std::string VersionText() {
  std::string text = absl::StrCat("mtproto-proxy ", BuildVersion(), " (commit ", BuildCommit(), ")\n");
  absl::StrAppend(&text, "build type ", BuildType(), ", compiler ", BuildCompiler(), "\n");
  return text;
}

std::string GenerateSecretText(SecretMode mode, std::span<const std::string> domains) {
  const ClientSecret secret = GenerateClientSecret();
  if (mode != SecretMode::kFakeTls) return FormatLinkSecret(mode, secret) + "\n";
  std::string out;
  for (const std::string& domain : domains) {
    absl::StrAppend(&out, FormatLinkSecret(mode, secret, domain), "\n");
  }
  return out;
}

std::vector<int> AvailableCpus() {
  absl::StatusOr<std::vector<int>> cpus = ProcessAffinityCpus();
  return cpus.ok() ? *std::move(cpus) : std::vector<int>{};
}

std::string ListCpusText(const std::vector<int>& cpus) {
  return absl::StrFormat("%d CPUs available: %s\n", cpus.size(), FormatCpuList(cpus));
}

FdLimitPlan PlanFdLimit(int max_connections, int max_special_connections, uint64_t soft_limit,
                        uint64_t hard_limit, bool can_raise_hard) {
  FdLimitPlan plan;
  if (max_connections <= 0) max_connections = kDefaultConnectionLimit;
  const uint64_t needed = static_cast<uint64_t>(max_connections) + kFdLimitReserve;
  if (needed <= soft_limit) {
    // Enough already.
  } else if (needed <= hard_limit) {
    plan.new_soft_limit = needed;
  } else if (can_raise_hard) {
    plan.new_soft_limit = needed;
    plan.new_hard_limit = needed;
  } else {
    if (hard_limit > soft_limit) plan.new_soft_limit = hard_limit;
    int lowered = hard_limit > static_cast<uint64_t>(kFdLimitReserve) + 1
                      ? static_cast<int>(hard_limit - kFdLimitReserve)
                      : 1;
    plan.warning = absl::StrFormat(
        "-c %d needs %d open files but the hard limit (ulimit -Hn) is %d: serving at most %d "
        "connections",
        max_connections, needed, hard_limit, lowered);
    max_connections = lowered;
  }
  plan.max_connections = max_connections;
  plan.max_special_connections =
      (max_special_connections <= 0 || max_special_connections > max_connections)
          ? max_connections
          : max_special_connections;
  return plan;
}

}  // namespace mtp
