#include "control/cli.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/hex.h"

namespace mtp {
namespace {

constexpr char kProg[] = "mtproto-proxy";
constexpr char kSecretA[] = "0123456789abcdef0123456789abcdef";
constexpr char kSecretB[] = "FEDCBA9876543210FEDCBA9876543210";

CommandLineResult Run(std::vector<std::string> args) {
  std::vector<std::string_view> argv{kProg};
  for (const std::string& a : args) argv.push_back(a);
  return ParseCommandLine(argv);
}

ParsedCommandLine Ok(std::vector<std::string> args) {
  CommandLineResult r = Run(args);
  if (auto* e = std::get_if<CommandLineError>(&r)) {
    ADD_FAILURE() << "unexpected error (exit " << e->exit_code << "): " << e->message;
    return {};
  }
  return std::get<ParsedCommandLine>(std::move(r));
}

CommandLineError Err(std::vector<std::string> args) {
  CommandLineResult r = Run(args);
  if (!std::holds_alternative<CommandLineError>(r)) {
    ADD_FAILURE() << "expected an error";
    return {};
  }
  return std::get<CommandLineError>(std::move(r));
}

// `message` (empty for -h), then exactly one "hint: " line.
void ExpectMessageAndHint(const CommandLineError& e, const std::string& message) {
  if (message.empty()) {
    EXPECT_EQ(e.message, "");
    return;
  }
  EXPECT_EQ(e.message.substr(0, message.size()), message) << e.message;
  const std::string hint = e.message.substr(std::min(message.size(), e.message.size()));
  EXPECT_EQ(hint.rfind("hint: ", 0), 0u) << e.message;
  EXPECT_EQ(std::count(hint.begin(), hint.end(), '\n'), 1) << e.message;
  EXPECT_EQ(hint.back(), '\n');
}

ClientSecret SecretOf(const char* hex) {
  ClientSecret s{};
  auto bytes = HexDecode(hex);
  std::copy(bytes->begin(), bytes->end(), s.begin());
  return s;
}

TEST(CliTest, Defaults) {
  ParsedCommandLine c = Ok({"proxy-multi.conf"});
  EXPECT_EQ(c.action, CommandLineAction::kRun);
  EXPECT_EQ(c.program_name, kProg);
  EXPECT_EQ(c.config_file, "proxy-multi.conf");
  EXPECT_TRUE(c.client_ports.empty());
  EXPECT_TRUE(c.secrets.empty());
  EXPECT_FALSE(c.proxy_tag.has_value());
  EXPECT_TRUE(c.domains.empty());
  EXPECT_EQ(c.workers, 0);
  EXPECT_EQ(c.max_special_connections, 65536);
  EXPECT_EQ(c.window_clamp, 0);
  EXPECT_EQ(c.EffectiveWindowClamp(), 131072);
  EXPECT_EQ(c.ping_interval_s, 5.0);
  EXPECT_FALSE(c.http_stats);
  EXPECT_FALSE(c.stats_port.has_value());
  EXPECT_FALSE(c.ipv6);
  EXPECT_FALSE(c.aes_pwd_explicit());
  EXPECT_EQ(c.AesPwdPath(), "secret");
  EXPECT_EQ(c.backlog, 8192);
  EXPECT_EQ(c.max_connections, 65536);
  EXPECT_FALSE(c.bind_ipv4.has_value());
  EXPECT_TRUE(c.nat_rules.empty());
  EXPECT_EQ(c.max_accept_rate, 0);
  EXPECT_EQ(c.cpu_threads, 8);
  EXPECT_EQ(c.io_threads, 16);
  EXPECT_FALSE(c.multithread);
  EXPECT_EQ(c.tcp_cpu_threads, 1);
  EXPECT_EQ(c.tcp_io_threads, 1);
  EXPECT_EQ(c.verbosity, 0);
  EXPECT_FALSE(c.user.has_value());
  EXPECT_FALSE(c.log_file.has_value());
  EXPECT_FALSE(c.daemonize);
  EXPECT_FALSE(c.nice.has_value());
  EXPECT_EQ(c.msg_buffers_bytes, 268435456);
  EXPECT_FALSE(c.secret_file.has_value());
  EXPECT_EQ(c.shards, 0);
  EXPECT_TRUE(c.cpu_list.empty());
  EXPECT_FALSE(c.direct);
  EXPECT_TRUE(c.dc_overrides.empty());
  EXPECT_EQ(c.io_backend, IoBackend::kAuto);
  EXPECT_EQ(c.drain_timeout_s, 10);
  EXPECT_FALSE(c.public_host.has_value());
  EXPECT_EQ(c.tls_record_policy, TlsRecordPolicy::kAdaptive);
  EXPECT_TRUE(c.domain_targets.empty());
  EXPECT_EQ(c.tls_probe_interval_s, 21600);
  EXPECT_EQ(c.tls_replay_cache_size, 1 << 20);
}

struct OptionCase {
  std::vector<std::string> args;  // the config file is appended
  std::function<void(const ParsedCommandLine&)> check;
};

TEST(CliTest, EveryOptionShortAndLong) {
  const ClientSecret a = SecretOf(kSecretA);
  const ClientSecret b = SecretOf(kSecretB);
  const std::vector<OptionCase> cases = {
      // proxy options
      {{"-H", "443"}, [](auto& c) { EXPECT_EQ(c.client_ports, std::vector<uint16_t>{443}); }},
      // ours: a lone 0 = any free port
      {{"-H", "0,443,0"},
       [](auto& c) { EXPECT_EQ(c.client_ports, (std::vector<uint16_t>{0, 443, 0})); }},
      {{"-H443,8443", "--http-ports", "80", "--http-ports=1,65535,"},
       [](auto& c) {
         EXPECT_EQ(c.client_ports, (std::vector<uint16_t>{443, 8443, 80, 1, 65535}));
       }},
      {{"-S", kSecretA, "--mtproto-secret", kSecretB, "--mtproto-secret=" + std::string(kSecretA)},
       [&](auto& c) {
         EXPECT_EQ(c.secrets, (std::vector<ClientSecret>{a, b, a}));
       }},
      {{"-P", kSecretB, "-S", kSecretA}, [&](auto& c) { EXPECT_EQ(c.proxy_tag, b); }},
      {{"--proxy-tag", kSecretA, "-P" + std::string(kSecretB)},
       [&](auto& c) { EXPECT_EQ(c.proxy_tag, b); }},
      {{"-S", kSecretA, "-D", "www.example.com", "--domain=two.example", "--domain", "three"},
       [](auto& c) {
         EXPECT_EQ(c.domains,
                   (std::vector<std::string>{"www.example.com", "two.example", "three"}));
         EXPECT_EQ(c.EffectiveWindowClamp(), 0);
       }},
      {{"-M", "4"}, [](auto& c) { EXPECT_EQ(c.workers, 4); }},
      {{"--slaves=256"}, [](auto& c) { EXPECT_EQ(c.workers, 256); }},
      {{"-C", "100"}, [](auto& c) { EXPECT_EQ(c.max_special_connections, 100); }},
      {{"--max-special-connections", "0"},
       [](auto& c) { EXPECT_EQ(c.max_special_connections, 0); }},
      {{"-W", "65536"},
       [](auto& c) {
         EXPECT_EQ(c.window_clamp, 65536);
         EXPECT_EQ(c.EffectiveWindowClamp(), 65536);
       }},
      {{"--window-clamp=0"}, [](auto& c) { EXPECT_EQ(c.EffectiveWindowClamp(), 131072); }},
      {{"-T", "2.5"}, [](auto& c) { EXPECT_EQ(c.ping_interval_s, 2.5); }},
      {{"--ping-interval=-1"}, [](auto& c) { EXPECT_EQ(c.ping_interval_s, 5.0); }},
      {{"--http-stats"}, [](auto& c) { EXPECT_TRUE(c.http_stats); }},
      // network options
      {{"-p", "0"}, [](auto& c) { EXPECT_EQ(c.stats_port, (StatsPortRange{0, 0})); }},
      {{"-p", "8888"},
       [](auto& c) {
         EXPECT_EQ(c.stats_port, (StatsPortRange{8888, 8888}));
       }},
      {{"--port=9000:9010"},
       [](auto& c) {
         EXPECT_EQ(c.stats_port, (StatsPortRange{9000, 9010}));
       }},
      {{"-p8888"},
       [](auto& c) {
         EXPECT_EQ(c.stats_port, (StatsPortRange{8888, 8888}));
       }},
      {{"-6"}, [](auto& c) { EXPECT_TRUE(c.ipv6); }},
      {{"--ipv6"}, [](auto& c) { EXPECT_TRUE(c.ipv6); }},
      {{"--aes-pwd", "proxy-secret"},
       [](auto& c) {
         EXPECT_TRUE(c.aes_pwd_explicit());
         EXPECT_EQ(c.AesPwdPath(), "proxy-secret");
       }},
      {{"-b", "100"}, [](auto& c) { EXPECT_EQ(c.backlog, 100); }},
      {{"--backlog=7"}, [](auto& c) { EXPECT_EQ(c.backlog, 7); }},
      {{"-c", "1000"},
       [](auto& c) {
         EXPECT_EQ(c.max_connections, 1000);
         EXPECT_EQ(c.max_special_connections, 1000);
       }},
      {{"--connections", "0"}, [](auto& c) { EXPECT_EQ(c.max_connections, 65536); }},
      {{"--address", "10.0.0.5"}, [](auto& c) { EXPECT_EQ(c.bind_ipv4, 0x0a000005u); }},
      {{"--nat-info", "10.0.0.5:203.0.113.7", "--nat-info=1.2.3.4:5.6.7.8"},
       [](auto& c) {
         EXPECT_EQ(c.nat_rules,
                   (std::vector<NatRule>{{0x0a000005u, 0xcb007107u}, {0x01020304u, 0x05060708u}}));
       }},
      {{"--max-accept-rate", "50"}, [](auto& c) { EXPECT_EQ(c.max_accept_rate, 50); }},
      {{"--max-dh-accept-rate=3"}, [](auto& c) { EXPECT_EQ(c.max_dh_accept_rate, 3); }},
      {{"--disable-tcp"}, [](auto& c) { EXPECT_TRUE(c.disable_tcp); }},
      {{"--crc32c"}, [](auto& c) { EXPECT_TRUE(c.crc32c); }},
      {{"--allow-skip-dh"}, [](auto& c) { EXPECT_TRUE(c.allow_skip_dh); }},
      {{"--force-dh"}, [](auto& c) { EXPECT_TRUE(c.force_dh); }},
      // engine options
      {{"--cpu-threads", "2", "--io-threads=3"},
       [](auto& c) {
         EXPECT_EQ(c.cpu_threads, 2);
         EXPECT_EQ(c.io_threads, 3);
       }},
      {{"--multithread"}, [](auto& c) { EXPECT_TRUE(c.multithread); }},
      {{"--multithread=1"}, [](auto& c) { EXPECT_TRUE(c.multithread); }},
      {{"--multithread", "--multithread=0"}, [](auto& c) { EXPECT_FALSE(c.multithread); }},
      {{"--tcp-cpu-threads", "4", "--tcp-iothreads", "5"},
       [](auto& c) {
         EXPECT_EQ(c.tcp_cpu_threads, 4);
         EXPECT_EQ(c.tcp_io_threads, 5);
       }},
      // common options
      {{"-v"}, [](auto& c) { EXPECT_EQ(c.verbosity, 1); }},
      {{"-vvv"}, [](auto& c) { EXPECT_EQ(c.verbosity, 3); }},
      {{"-v", "--verbosity"}, [](auto& c) { EXPECT_EQ(c.verbosity, 2); }},
      {{"-vv", "--verbosity=7"}, [](auto& c) { EXPECT_EQ(c.verbosity, 7); }},
      {{"-u", "nobody"}, [](auto& c) { EXPECT_EQ(c.user, "nobody"); }},
      {{"--user=mtproxy"}, [](auto& c) { EXPECT_EQ(c.user, "mtproxy"); }},
      {{"-l", "/var/log/mtproxy.log"},
       [](auto& c) { EXPECT_EQ(c.log_file, "/var/log/mtproxy.log"); }},
      {{"--log=x.log"}, [](auto& c) { EXPECT_EQ(c.log_file, "x.log"); }},
      {{"-d"}, [](auto& c) { EXPECT_TRUE(c.daemonize); }},
      {{"-dd"}, [](auto& c) { EXPECT_FALSE(c.daemonize); }},  // toggles
      {{"--daemonize"}, [](auto& c) { EXPECT_TRUE(c.daemonize); }},
      {{"-d", "--daemonize=1"}, [](auto& c) { EXPECT_TRUE(c.daemonize); }},
      {{"-d", "--daemonize=0"}, [](auto& c) { EXPECT_FALSE(c.daemonize); }},
      {{"--nice", "-5"}, [](auto& c) { EXPECT_EQ(c.nice, -5); }},
      {{"--msg-buffers-size", "512m"},
       [](auto& c) { EXPECT_EQ(c.msg_buffers_bytes, 512ll << 20); }},
      {{"--msg-buffers-size=1G"}, [](auto& c) { EXPECT_EQ(c.msg_buffers_bytes, 1ll << 30); }},
      {{"--msg-buffers-size=4096"}, [](auto& c) { EXPECT_EQ(c.msg_buffers_bytes, 4096); }},
      // ours
      {{"--mtproto-secret-file", "/etc/mtproxy/secrets"},
       [](auto& c) { EXPECT_EQ(c.secret_file, "/etc/mtproxy/secrets"); }},
      {{"--shards", "4"}, [](auto& c) { EXPECT_EQ(c.shards, 4); }},
      {{"--cpu-list=0-3,8,2"},
       [](auto& c) {
         EXPECT_EQ(c.cpu_list, (std::vector<int>{0, 1, 2, 3, 8}));
       }},
      {{"--direct"}, [](auto& c) { EXPECT_TRUE(c.direct); }},
      {{"--dc-override", "2:149.154.167.51:443", "--dc-override=-2:[2001:db8::5]:8443",
        "--dc-override", "4:dc4.example:80"},
       [](auto& c) {
         EXPECT_EQ(c.dc_overrides, (std::vector<DcOverride>{{2, "149.154.167.51", 443},
                                                            {-2, "2001:db8::5", 8443},
                                                            {4, "dc4.example", 80}}));
       }},
      {{"--io-backend", "epoll"}, [](auto& c) { EXPECT_EQ(c.io_backend, IoBackend::kEpoll); }},
      {{"--io-backend=io_uring"}, [](auto& c) { EXPECT_EQ(c.io_backend, IoBackend::kIoUring); }},
      {{"--io-backend=auto"}, [](auto& c) { EXPECT_EQ(c.io_backend, IoBackend::kAuto); }},
      {{"--drain-timeout", "0"}, [](auto& c) { EXPECT_EQ(c.drain_timeout_s, 0); }},
      {{"--drain-timeout=3600"}, [](auto& c) { EXPECT_EQ(c.drain_timeout_s, 3600); }},
      {{"--public-host", "proxy.example.org"},
       [](auto& c) { EXPECT_EQ(c.public_host, "proxy.example.org"); }},
      {{"--tls-record-policy=adaptive"},
       [](auto& c) { EXPECT_EQ(c.tls_record_policy, TlsRecordPolicy::kAdaptive); }},
      {{"--tls-record-policy", "reference"},
       [](auto& c) { EXPECT_EQ(c.tls_record_policy, TlsRecordPolicy::kReference); }},
      {{"-S", "0123456789abcdef0123456789abcdef", "-D", "a.example", "-D", "b.example",
        "--domain-target", "b.example=127.0.0.1:8443", "--domain-target=a.example=[::1]:443"},
       [](auto& c) {
         EXPECT_EQ(c.domain_targets, (std::vector<DomainTarget>{{"b.example", "127.0.0.1", 8443},
                                                                {"a.example", "::1", 443}}));
       }},
      // Ours: wildcard domains, with a target of their own.
      {{"-S", "0123456789abcdef0123456789abcdef", "-D", "a.example", "-D", "*.wild.example",
        "--domain-target", "*.wild.example=127.0.0.1:9443"},
       [](auto& c) {
         EXPECT_EQ(c.domains, (std::vector<std::string>{"a.example", "*.wild.example"}));
         EXPECT_EQ(c.domain_targets,
                   (std::vector<DomainTarget>{{"*.wild.example", "127.0.0.1", 9443}}));
       }},
      {{"-S", "0123456789abcdef0123456789abcdef", "-D", "a.example", "--domain-target",
        "a.example=web.internal:8080"},
       [](auto& c) {
         EXPECT_EQ(c.domain_targets,
                   (std::vector<DomainTarget>{{"a.example", "web.internal", 8080}}));
       }},
      {{"--tls-pq-key-share"}, [](auto& c) { EXPECT_TRUE(c.tls_pq_key_share); }},
      {{"--tls-unknown-sni", "close"},
       [](auto& c) { EXPECT_EQ(c.tls_unknown_sni, TlsUnknownSni::kClose); }},
      {{"--tls-unknown-sni=alert", "--tls-reject-rst"},
       [](auto& c) {
         EXPECT_EQ(c.tls_unknown_sni, TlsUnknownSni::kAlert);
         EXPECT_TRUE(c.tls_reject_rst);
       }},
      {{"--tls-unknown-sni=front"},
       [](auto& c) {
         EXPECT_EQ(c.tls_unknown_sni, TlsUnknownSni::kFront);
         EXPECT_FALSE(c.tls_reject_rst);
         EXPECT_FALSE(c.tls_pq_key_share);
       }},
      {{"--tls-probe-interval", "0"}, [](auto& c) { EXPECT_EQ(c.tls_probe_interval_s, 0); }},
      {{"--tls-probe-interval=3600"},
       [](auto& c) { EXPECT_EQ(c.tls_probe_interval_s, 3600); }},
      {{"--tls-replay-cache-size", "65536"},
       [](auto& c) { EXPECT_EQ(c.tls_replay_cache_size, 65536); }},
      // -S in the link forms: the key is kept, an ee form's domain is remembered.
      {{"-S", std::string("dd") + kSecretA, "-S",
        std::string("ee") + kSecretB + "6578616d706c652e636f6d", "-S", kSecretA},
       [&](auto& c) {
         EXPECT_EQ(c.secrets, (std::vector<ClientSecret>{a, b, a}));
         EXPECT_EQ(c.secret_domains, (std::vector<std::string>{"", "example.com"}));
       }},
      {{"--allow-no-secret", "--allow-no-client-port"},
       [](auto& c) {
         EXPECT_TRUE(c.allow_no_secret);
         EXPECT_TRUE(c.allow_no_client_port);
       }},
  };
  for (const OptionCase& t : cases) {
    std::vector<std::string> args = t.args;
    args.push_back("proxy-multi.conf");
    SCOPED_TRACE(absl::StrJoin(args, " "));
    ParsedCommandLine c = Ok(args);
    EXPECT_EQ(c.config_file, "proxy-multi.conf");
    t.check(c);
  }
}

TEST(CliTest, BundlingPermutationAndTerminator) {
  ParsedCommandLine c = Ok({"-v6H443", "conf", "-vS", kSecretA, "--http-stats"});
  EXPECT_EQ(c.verbosity, 2);
  EXPECT_TRUE(c.ipv6);
  EXPECT_EQ(c.client_ports, std::vector<uint16_t>{443});
  EXPECT_EQ(c.secrets.size(), 1u);
  EXPECT_TRUE(c.http_stats);
  EXPECT_EQ(c.config_file, "conf");
  // A required argument is taken verbatim even when it starts with '-'.
  EXPECT_EQ(Ok({"-u", "-v", "conf"}).user, "-v");
  // "--" ends the options; "-" alone is an operand.
  EXPECT_EQ(Ok({"--", "-v"}).config_file, "-v");
  EXPECT_EQ(Ok({"-"}).config_file, "-");
}

TEST(CliTest, LongOptionAbbreviations) {
  EXPECT_TRUE(Ok({"--http-s", "conf"}).http_stats);
  EXPECT_EQ(Ok({"--verb=4", "conf"}).verbosity, 4);
  // An exact name wins over a longer one it prefixes.
  EXPECT_EQ(Ok({"--mtproto-secret", kSecretA, "conf"}).secrets.size(), 1u);
  EXPECT_EQ(Ok({"--mtproto-secret-f", "s.txt", "conf"}).secret_file, "s.txt");
  CommandLineError e = Err({"--mtproto", kSecretA, "conf"});
  EXPECT_EQ(e.exit_code, 2);
  ExpectMessageAndHint(e,
                       "mtproto-proxy: option '--mtproto' is ambiguous; possibilities: "
                       "'--mtproto-secret' '--mtproto-secret-file'\nUnrecognized option\n");
}

TEST(CliTest, OptionalArgumentsOnlyWithEquals) {
  // "--verbosity 3": 3 is an operand, so there are two operands -> usage error.
  CommandLineError e = Err({"--verbosity", "3", "conf"});
  EXPECT_EQ(e.exit_code, 2);
  ExpectMessageAndHint(e, "expected exactly one <config-file> argument, got 2\n");
  EXPECT_TRUE(e.usage.empty());
  // "-v3": -v takes no argument in its short form, and -3 is not an option.
  ExpectMessageAndHint(Err({"-v3", "conf"}),
                       "mtproto-proxy: invalid option -- '3'\nUnrecognized option\n");
}

TEST(CliTest, DirectModeMayOmitTheConfigFile) {
  ParsedCommandLine c = Ok({"--direct", "-H", "443"});
  EXPECT_TRUE(c.direct);
  EXPECT_TRUE(c.config_file.empty());
  EXPECT_EQ(Ok({"--direct", "proxy-multi.conf"}).config_file, "proxy-multi.conf");
  EXPECT_EQ(Err({"--direct", "a.conf", "b.conf"}).exit_code, 2);
  ExpectMessageAndHint(Err({"-H", "443"}), "expected exactly one <config-file> argument, got 0\n");
}

struct ErrorCase {
  std::vector<std::string> args;
  int exit_code;
  std::string message;
  bool usage;
};

TEST(CliTest, ErrorsWithExitCodesAndMessages) {
  std::vector<std::string> seventeen;
  for (int i = 0; i < 17; ++i) {
    seventeen.push_back("-S");
    seventeen.push_back(kSecretA);
  }
  std::string many_ports = "1";
  for (int i = 2; i <= 129; ++i) absl::StrAppend(&many_ports, ",", i);

  const std::vector<ErrorCase> cases = {
      {{}, 2, "expected exactly one <config-file> argument, got 0\n", false},
      {{"a.conf", "b.conf"}, 2, "expected exactly one <config-file> argument, got 2\n", false},
      {{"-h"}, 2, "", true},
      {{"--help", "conf"}, 2, "", true},
      {{"-x", "conf"}, 2, "mtproto-proxy: invalid option -- 'x'\nUnrecognized option\n", false},
      {{"--foo=1", "conf"},
       2,
       "mtproto-proxy: unrecognized option '--foo=1'\nUnrecognized option\n",
       false},
      {{"conf", "-H"},
       2,
       "mtproto-proxy: option requires an argument -- 'H'\nUnrecognized option\n",
       false},
      {{"conf", "--port"},
       2,
       "mtproto-proxy: option '--port' requires an argument\nUnrecognized option\n",
       false},
      {{"--ipv6=1", "conf"},
       2,
       "mtproto-proxy: option '--ipv6' doesn't allow an argument\nUnrecognized option\n",
       false},
      {{"--d", "conf"},
       2,
       "mtproto-proxy: option '--d' is ambiguous; possibilities: '--domain' '--daemonize' "
       "'--disable-tcp' '--direct' '--dc-override' '--direct-fallback-after' '--drain-timeout' "
       "'--domain-target'\n"
       "Unrecognized option\n",
       false},
      {{"-S", "0123", "conf"},
       2,
       "invalid -S value: expected 32 hex digits, dd + 32 hex digits, or ee + 32 hex digits + "
       "the domain in hex (as in a tg:// link)\n",
       false},
      {{"-S", "dd0123456789abcdef0123456789abcdeg", "conf"},
       2,
       "invalid -S value: expected 32 hex digits, dd + 32 hex digits, or ee + 32 hex digits + "
       "the domain in hex (as in a tg:// link)\n",
       false},
      {{"-S", "0123456789abcdef0123456789abcdeg", "conf"},
       2,
       "'S' option requires exactly 32 hex digits. 'g' is not hexdigit\n",
       false},
      {{"-P", "01234567", "conf"}, 2, "'P' option requires exactly 32 hex digits\n", false},
      {{"-P", "x123456789abcdef0123456789abcdef", "conf"},
       2,
       "'S' option requires exactly 32 hex digits. 'x' is not hexdigit\n",
       false},
      {{"-u", "alice", "-u", "bob", "conf"},
       1,
       "wrong option -ubob, username is already defined as 'alice'.\n",
       false},
      {{"--address", "10.0.0", "conf"}, 4, "Can not convert '10.0.0' to ip addr\n", false},
      {{"--address=::1", "conf"}, 4, "Can not convert '::1' to ip addr\n", false},
      {{"--nat-info", "10.0.0.1", "conf"},
       2,
       "expected <local-addr>:<global-addr> in --nat-info\n",
       false},
      {{"--nat-info", "10.0.0.x:1.2.3.4", "conf"},
       2,
       "cannot translate host '10.0.0.x' in --nat-info\n",
       false},
      {{"--nat-info", "10.0.0.1:1.2.3", "conf"},
       2,
       "cannot translate host '1.2.3' in --nat-info\n",
       false},
      {{"-p", "abc", "conf"},
       2,
       "invalid -p value 'abc': expected <port> or <start>:<end> (1..65535)\n",
       false},
      {{"-p", "0:5", "conf"},
       2,
       "invalid -p value '0:5': expected <port> or <start>:<end> (1..65535)\n",
       false},
      {{"-p", "0x", "conf"},
       2,
       "invalid -p value '0x': expected <port> or <start>:<end> (1..65535)\n",
       false},
      {{"-p", "9000:8000", "conf"},
       2,
       "invalid -p value '9000:8000': expected <port> or <start>:<end> (1..65535)\n",
       false},
      {{"-p", "70000", "conf"},
       2,
       "invalid -p value '70000': expected <port> or <start>:<end> (1..65535)\n",
       false},
      {{"-p", "", "conf"},
       2,
       "invalid -p value '': expected <port> or <start>:<end> (1..65535)\n",
       false},
      {{"-H", "", "conf"}, 2, "invalid -H value '': expected <port>{,<port>}\n", false},
      {{"-H", "abc", "conf"}, 2, "invalid -H value 'abc': expected <port>{,<port>}\n", false},
      {{"-H", "00", "conf"}, 2, "invalid -H value '00': expected <port>{,<port>}\n", false},
      {{"-H", "01", "conf"}, 2, "invalid -H value '01': expected <port>{,<port>}\n", false},
      {{"-H", "443,,444", "conf"},
       2,
       "invalid -H value '443,,444': expected <port>{,<port>}\n",
       false},
      {{"-H", "443x", "conf"}, 2, "invalid -H value '443x': expected <port>{,<port>}\n", false},
      {{"-H", "65536", "conf"}, 2, "invalid -H value '65536': ports are 1..65535\n", false},
      {{"-H", many_ports, "conf"},
       2,
       "invalid -H value '" + many_ports + "': at most 128 client ports\n",
       false},
      {{"-M", "257", "conf"},
       2,
       "invalid -M value '257': expected the number of workers (shards here), a whole number "
       "0..256\n",
       false},
      {{"-M", "-1", "conf"},
       2,
       "invalid -M value '-1': expected the number of workers (shards here), a whole number "
       "0..256\n",
       false},
      {{"--msg-buffers-size", "lots", "conf"}, 2, "Parsing limit for option fail: lots\n", false},
      {{"--msg-buffers-size=10q", "conf"}, 2, "Parsing limit fail. Unknown suffix 'q'.\n", false},
      {{"-D", "example.com", "conf"},
       2,
       "You must specify at least one mtproto-secret to use when using TLS-transport\n",
       false},
      {seventeen, 2, "too many secrets: at most 16 -S values are allowed\n", false},
      {{"--shards", "0", "conf"}, 2, "invalid --shards value '0': expected 1..127\n", false},
      {{"--shards=2x", "conf"}, 2, "invalid --shards value '2x': expected 1..127\n", false},
      {{"--cpu-list", "3-1", "conf"},
       2,
       "invalid --cpu-list value: bad CPU list item '3-1' in '3-1' (want N or N-M, N <= M <= "
       "1023)\n",
       false},
      {{"--cpu-list", "0,,1", "conf"},
       2,
       "invalid --cpu-list value: bad CPU list item '' in '0,,1' (want N or N-M, N <= M <= "
       "1023)\n",
       false},
      {{"--io-backend", "kqueue", "conf"},
       2,
       "invalid --io-backend value 'kqueue': expected auto, io_uring or epoll\n",
       false},
      {{"--drain-timeout", "3601", "conf"},
       2,
       "invalid --drain-timeout value '3601': expected 0..3600 seconds\n",
       false},
      {{"--tls-link-label", "a.b", "conf"},
       2,
       "invalid --tls-link-label value 'a.b': expected 1 to 63 letters, digits, '-' or '_'\n",
       false},
      {{"--tls-handshake-fragment", "8", "conf"},
       2,
       "invalid --tls-handshake-fragment value '8': expected 0 (off) or 16..16384 bytes\n",
       false},
      {{"--client-mss", "64", "conf"},
       2,
       "invalid --client-mss value '64': expected 0 (off) or 88..32767 bytes\n",
       false},
      {{"--tls-unknown-sni", "drop", "conf"},
       2,
       "invalid --tls-unknown-sni value 'drop': expected front, close or alert\n",
       false},
      {{"-S", "0123456789abcdef0123456789abcdef", "-D", "*example.com", "conf"},
       2,
       "invalid -D value '*example.com': expected a host name (letters, digits, '-' and '.'; "
       "labels of 1..63, at most 253 in all), or *. and a host name\n",
       false},
      {{"--tls-record-policy", "random", "conf"},
       2,
       "invalid --tls-record-policy value 'random': expected reference or adaptive\n",
       false},
      {{"--dc-override", "2:1.2.3.4", "conf"},
       2,
       "invalid --dc-override value '2:1.2.3.4': expected <id>:<host>:<port>\n",
       false},
      {{"--dc-override", "0:1.2.3.4:443", "conf"},
       2,
       "invalid --dc-override value '0:1.2.3.4:443': the DC id must be a non-zero integer "
       "-32768..32767\n",
       false},
      {{"--dc-override", "2:1.2.3.4:0", "conf"},
       2,
       "invalid --dc-override value '2:1.2.3.4:0': the port must be 1..65535\n",
       false},
      {{"--dc-override", "2:2001:db8::1:443", "conf"},
       2,
       "invalid --dc-override value '2:2001:db8::1:443': write an IPv6 address in brackets: "
       "<id>:[<ipv6>]:<port>\n",
       false},
      {{"--public-host=", "conf"}, 2, "--public-host needs a host name or address\n", false},
      {{"--domain-target", "a.example:443", "conf"},
       2,
       "invalid --domain-target value 'a.example:443': expected <domain>=<host>:<port>\n",
       false},
      {{"--domain-target", "=h:443", "conf"},
       2,
       "invalid --domain-target value '=h:443': the domain is empty\n",
       false},
      {{"--domain-target", "a.example=h:0", "conf"},
       2,
       "invalid --domain-target value 'a.example=h:0': the port must be 1..65535\n",
       false},
      {{"--domain-target", "a.example=:443", "conf"},
       2,
       "invalid --domain-target value 'a.example=:443': the host is empty\n",
       false},
      {{"--domain-target", "a.example=::1:443", "conf"},
       2,
       "invalid --domain-target value 'a.example=::1:443': write an IPv6 address in brackets: "
       "<domain>=[<ipv6>]:<port>\n",
       false},
      {{"--domain-target", "a=h:1", "--domain-target", "a=g:2", "conf"},
       2,
       "invalid --domain-target value 'a=g:2': that domain already has a target\n",
       false},
      {{"-S", "0123456789abcdef0123456789abcdef", "-D", "a.example", "--domain-target",
        "b.example=h:1", "conf"},
       2,
       "--domain-target names 'b.example', which is not a -D domain\n",
       false},
      // --direct without a config file: the same -D checks (fuzz input "--direct -D 0--direct").
      {{"--direct", "-D", "example.com"},
       2,
       "You must specify at least one mtproto-secret to use when using TLS-transport\n",
       false},
      {{"--direct", "-S", "0123456789abcdef0123456789abcdef", "-D", "a.example", "--domain-target",
        "b.example=h:1"},
       2,
       "--domain-target names 'b.example', which is not a -D domain\n",
       false},
      {{"--tls-probe-interval", "-1", "conf"},
       2,
       "invalid --tls-probe-interval value '-1': expected 0..2592000 seconds\n",
       false},
      // Strict numbers: the reference's atoi() read these as 0 (or ignored the tail).
      {{"-M", "abc", "conf"},
       2,
       "invalid -M value 'abc': expected the number of workers (shards here), a whole number "
       "0..256\n",
       false},
      {{"-c", "1k", "conf"},
       2,
       "invalid -c value '1k': expected a connection count (0 = 65536), a whole number "
       "0..1073741824\n",
       false},
      {{"-C", "-5", "conf"},
       2,
       "invalid -C value '-5': expected a connection count (0 = the -c limit), a whole number "
       "0..2147483647\n",
       false},
      {{"-W", "x", "conf"},
       2,
       "invalid -W value 'x': expected a window size in bytes (0 = default), a whole number "
       "0..2147483647\n",
       false},
      {{"-b", "", "conf"},
       2,
       "invalid -b value '': expected a listen() backlog, a whole number 1..2147483647\n",
       false},
      {{"-T", "5s", "conf"}, 2, "invalid -T value '5s': expected seconds, a decimal number\n", false},
      {{"--nice", "a", "conf"},
       2,
       "invalid --nice value 'a': expected a niceness, a whole number -20..19\n",
       false},
      {{"--verbosity=x", "conf"},
       2,
       "invalid -v value 'x': expected a verbosity level, a whole number 0..100\n",
       false},
      {{"--max-accept-rate", "10/s", "conf"},
       2,
       "invalid --max-accept-rate value '10/s': expected connections per second (0 = no limit), "
       "a whole number 0..2147483647\n",
       false},
      {{"--cpu-threads", "0", "conf"},
       2,
       "invalid --cpu-threads value '0': expected a thread count, a whole number 1..64\n",
       false},
      {{"--multithread=yes", "conf"},
       2,
       "invalid --multithread value 'yes': expected 0 or 1, a whole number 0..1\n",
       false},
      {{"-p", "8888x", "conf"},
       2,
       "invalid -p value '8888x': expected <port> or <start>:<end> (1..65535)\n",
       false},
      {{"-p", "1:2x", "conf"},
       2,
       "invalid -p value '1:2x': expected <port> or <start>:<end> (1..65535)\n",
       false},
      {{"-H", "1,a", "conf"}, 2, "invalid -H value '1,a': expected <port>{,<port>}\n", false},
      {{"-S", kSecretA, "-D", "bad domain!", "conf"},
       2,
       "invalid -D value 'bad domain!': expected a host name (letters, digits, '-' and '.'; "
       "labels of 1..63, at most 253 in all), or *. and a host name\n",
       false},
      {{"--tls-replay-cache-size", "8", "conf"},
       2,
       "invalid --tls-replay-cache-size value '8': expected 16..1073741824 entries\n",
       false},
  };
  for (const ErrorCase& t : cases) {
    SCOPED_TRACE(absl::StrJoin(t.args, " "));
    CommandLineError e = Err(t.args);
    EXPECT_EQ(e.exit_code, t.exit_code);
    ExpectMessageAndHint(e, t.message);
    // Only -h/--help print the usage text; a bad value prints its line and a hint.
    EXPECT_EQ(!e.usage.empty(), t.usage);
    if (t.usage) {
      EXPECT_EQ(e.usage, UsageText(kProg));
    }
  }
}

TEST(CliTest, SixteenSecretsAreFineAndSecretFileSatisfiesDomain) {
  std::vector<std::string> args;
  for (int i = 0; i < 16; ++i) {
    args.push_back("-S");
    args.push_back(kSecretA);
  }
  args.push_back("conf");
  EXPECT_EQ(Ok(args).secrets.size(), 16u);
  EXPECT_EQ(Ok({"-D", "example.com", "--mtproto-secret-file", "s", "conf"}).domains.size(), 1u);
}

TEST(CliTest, ConnectionLimitAndSpecialLimitInterplay) {
  EXPECT_EQ(Ok({"-C", "50", "-c", "100", "conf"}).max_special_connections, 50);
  EXPECT_EQ(Ok({"-C", "500", "-c", "100", "conf"}).max_special_connections, 100);
  EXPECT_EQ(Ok({"-C", "0", "-c", "100", "conf"}).max_special_connections, 100);
  // -C after -c is kept as given; PlanFdLimit turns 0 into the connection limit.
  ParsedCommandLine c = Ok({"-c", "100", "-C", "0", "conf"});
  EXPECT_EQ(c.max_special_connections, 0);
  EXPECT_EQ(PlanFdLimit(c.max_connections, c.max_special_connections, 1024, 4096, false)
                .max_special_connections,
            100);
}

TEST(CliTest, HostNames) {
  for (const char* good : {"example.com", "a", "xn--80ak6aa92e.com", "a-b.c1.example", "EXAMPLE.org",
                           "1.2.3.4"}) {
    EXPECT_TRUE(IsValidHostName(good)) << good;
  }
  const std::string label63(63, 'a');
  EXPECT_TRUE(IsValidHostName(label63 + ".com"));
  EXPECT_FALSE(IsValidHostName(label63 + "a.com"));
  std::string long_name;
  while (long_name.size() < 250) long_name += "abcdefg.";
  long_name += "com";
  EXPECT_FALSE(IsValidHostName(long_name));
  for (const char* bad : {"", "bad domain!", "a..b", ".a", "a.", "-a.com", "a-.com", "a_b.com",
                          "a/b", "a:443", "[::1]"}) {
    EXPECT_FALSE(IsValidHostName(bad)) << bad;
  }
}

TEST(CliTest, ServingNeedsAClientPortAndASecretUnlessAllowed) {
  auto check = [](std::vector<std::string> args, const std::string& first_line) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    std::optional<CommandLineError> e = ValidateForServing(Ok(args));
    if (first_line.empty()) {
      EXPECT_FALSE(e.has_value()) << e->message;
      return;
    }
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->exit_code, 2);
    EXPECT_TRUE(e->usage.empty());
    ExpectMessageAndHint(*e, first_line);
  };
  const std::string no_port =
      "no client port: pass -H <port>[,<port>...] (or --allow-no-client-port to run without "
      "one)\n";
  const std::string no_secret =
      "no client secret: pass -S <secret> or --mtproto-secret-file <file> (--generate-secret "
      "makes one), or --allow-no-secret to accept clients without one\n";
  check({"--direct"}, no_port);
  check({"--direct", "-S", kSecretA}, no_port);
  check({"--direct", "--allow-no-client-port", "-S", kSecretA}, "");
  check({"--direct", "-H", "443"}, no_secret);
  check({"--direct", "-H", "443", "--allow-no-secret"}, "");
  check({"--direct", "-H", "443", "-S", kSecretA}, "");
  // The file may turn out empty: LoadConfigSnapshot refuses that.
  check({"--direct", "-H", "443", "--mtproto-secret-file", "s"}, "");
}

TEST(CliTest, EeSecretForAnotherDomainIsWarnedAbout) {
  const std::string ee = std::string("ee") + kSecretA + "6578616d706c652e636f6d";  // example.com
  EXPECT_TRUE(ServingWarnings(Ok({"-S", ee, "-D", "example.com", "conf"})).empty());
  std::vector<std::string> w = ServingWarnings(Ok({"-S", kSecretA, "-S", ee, "conf"}));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("-S #1 is an ee secret for 'example.com'"), std::string::npos) << w[0];
}

TEST(CliTest, ActionsNeedNoConfigFile) {
  EXPECT_EQ(Ok({"--generate-secret"}).action, CommandLineAction::kGenerateSecret);
  EXPECT_EQ(Ok({"--generate-secret"}).generate_secret_mode, SecretMode::kPlain);
  EXPECT_EQ(Ok({"--generate-secret=dd"}).generate_secret_mode, SecretMode::kPadded);
  EXPECT_EQ(Ok({"--generate-secret", "ee", "-D", "example.com"}).generate_secret_mode,
            SecretMode::kFakeTls);
  EXPECT_EQ(Ok({"-D", "example.com", "--generate-secret=ee"}).generate_secret_mode,
            SecretMode::kFakeTls);
  ExpectMessageAndHint(Err({"--generate-secret", "ee"}),
                       "--generate-secret ee needs the fronting domain: add -D <domain>\n");
  ExpectMessageAndHint(Err({"--generate-secret", "ff"}),
                       "invalid --generate-secret form 'ff': expected plain, dd or ee\n");
  ExpectMessageAndHint(Err({"--generate-secret=xx"}),
                       "invalid --generate-secret value 'xx': expected plain, dd or ee\n");
  EXPECT_EQ(Err({"--generate-secret", "ee", "-D", std::string(183, 'a') + ".com"}).exit_code, 2);
  EXPECT_EQ(Ok({"--list-cpus"}).action, CommandLineAction::kListCpus);
  EXPECT_EQ(Ok({"--list-cpus", "ignored.conf"}).action, CommandLineAction::kListCpus);
  EXPECT_EQ(Ok({"--version"}).action, CommandLineAction::kVersion);
}

TEST(CliTest, VersionTextShape) {
  const std::string text = VersionText();
  const std::string first = text.substr(0, text.find('\n'));
  const std::string prefix = absl::StrCat("mtproto-proxy ", MTP_VERSION, " (commit ");
  ASSERT_EQ(first.rfind(prefix, 0), 0u) << text;
  ASSERT_EQ(first.back(), ')') << text;
  std::string commit = first.substr(prefix.size(), first.size() - prefix.size() - 1);
  if (commit != "unknown") {
    if (commit.size() > 40) {
      EXPECT_EQ(commit.substr(40), "-dirty") << text;
    }
    commit = commit.substr(0, 40);
    EXPECT_EQ(commit.size(), 40u) << text;
    EXPECT_EQ(commit.find_first_not_of("0123456789abcdef"), std::string::npos) << text;
  }
  const std::string second = text.substr(first.size() + 1);
  EXPECT_EQ(second.rfind("build type ", 0), 0u) << text;
  EXPECT_NE(second.find(", compiler "), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
}

TEST(CliTest, ConfigRefreshOptions) {
  auto parsed = ParseCommandLine(std::vector<std::string_view>{
      kProg, "--config-refresh-interval", "3600", "--config-url", "http://127.0.0.1:1/c",
      "--config-url-v6", "https://127.0.0.1:1/c6", "--secret-url", "http://127.0.0.1:1/s",
      "--config-proxy", "socks5h://127.0.0.1:1080", "--config-cache-dir", "/var/lib/m",
      "--config-fetch-timeout", "5", "-H", "443", "proxy-multi.conf"});
  ASSERT_TRUE(std::holds_alternative<ParsedCommandLine>(parsed));
  const auto& cli = std::get<ParsedCommandLine>(parsed);
  EXPECT_EQ(cli.config_refresh_interval_s, 3600);
  EXPECT_EQ(cli.config_url, "http://127.0.0.1:1/c");
  EXPECT_EQ(cli.config_url_v6, "https://127.0.0.1:1/c6");
  EXPECT_EQ(cli.secret_url, "http://127.0.0.1:1/s");
  EXPECT_EQ(cli.config_proxy, "socks5h://127.0.0.1:1080");
  EXPECT_EQ(cli.config_cache_dir, "/var/lib/m");
  EXPECT_EQ(cli.config_fetch_timeout_s, 5);
  ParsedCommandLine defaults;
  EXPECT_EQ(defaults.config_refresh_interval_s, 0);
  EXPECT_EQ(defaults.config_url, "https://core.telegram.org/getProxyConfig");
  EXPECT_EQ(defaults.secret_url, "https://core.telegram.org/getProxySecret");
  EXPECT_EQ(defaults.config_fetch_timeout_s, 30);
  for (std::vector<std::string_view> bad : {
           std::vector<std::string_view>{kProg, "--config-url", "ftp://x/y"},
           std::vector<std::string_view>{kProg, "--config-proxy", "https://x:1"},
           std::vector<std::string_view>{kProg, "--config-refresh-interval", "-1"},
           std::vector<std::string_view>{kProg, "--config-fetch-timeout", "0"}}) {
    auto r = ParseCommandLine(bad);
    ASSERT_TRUE(std::holds_alternative<CommandLineError>(r)) << bad[1];
    EXPECT_EQ(std::get<CommandLineError>(r).exit_code, 2);
  }
  auto fetch = ParseCommandLine(std::vector<std::string_view>{kProg, "--fetch-config"});
  ASSERT_TRUE(std::holds_alternative<ParsedCommandLine>(fetch));
  EXPECT_EQ(std::get<ParsedCommandLine>(fetch).action, CommandLineAction::kFetchConfig);
}

TEST(CliTest, HelpListsEveryOption) {
  std::string usage = UsageText(kProg);
  std::vector<std::string_view> reference = ReferenceOptionNames();
  ASSERT_EQ(reference.size(), 34u);
  for (std::string_view name : reference) {
    EXPECT_NE(usage.find(absl::StrCat("\t--", std::string(name))), std::string::npos) << name;
  }
  std::vector<std::string_view> ours = ExtensionOptionNames();
  EXPECT_EQ(ours,
            (std::vector<std::string_view>{"mtproto-secret-file", "shards", "cpu-list", "list-cpus",
                                           "direct", "dc-override", "direct-fallback-after",
                                           "io-backend", "drain-timeout",
                                           "public-host", "tls-record-policy", "generate-secret",
                                           "domain-target", "tls-probe-interval",
                                           "tls-replay-cache-size", "handshake-timeout",
                                           "client-idle-timeout", "write-stall-timeout",
                                           "allow-no-secret", "allow-no-client-port", "config",
                                           "secret-state-file", "secret-disable-drain", "check",
                                           "link",
                                           "version", "stats-bind", "stats-allow",
                                           "log-format", "allow-list", "block-list",
                                           "proxy-protocol", "proxy-protocol-trusted",
                                           "proxy-protocol-timeout", "tls-pq-key-share",
                                           "tls-unknown-sni", "tls-reject-rst",
                                           "tls-front-proxy-protocol",
                                           "tls-link-label",
                                           "tls-handshake-fragment",
                                           "client-mss",
                                           "tls-pq-follow-site",
                                           "config-refresh-interval",
                                           "config-url", "config-url-v6", "secret-url",
                                           "config-proxy", "config-cache-dir",
                                           "config-fetch-timeout", "fetch-config",
                                           "upstream-socks5", "upstream-socks5-user",
                                           "upstream-socks5-pass-file"}));
  for (std::string_view name : ours) {
    EXPECT_NE(usage.find(absl::StrCat("\t--", std::string(name))), std::string::npos) << name;
  }
  // One line per option plus four header lines.
  EXPECT_EQ(std::count(usage.begin(), usage.end(), '\n'),
            static_cast<ptrdiff_t>(4 + 34 + ours.size()));
  EXPECT_EQ(usage.rfind(absl::StrCat("usage: ", kProg, " [-v] [-6] [-p<port>]"), 0), 0u);
  EXPECT_NE(usage.find("SIGHUP re-reads <config-file>, --mtproto-secret-file and --aes-pwd"),
            std::string::npos);
  // The reference's column layout.
  EXPECT_NE(usage.find("\t--ipv6/-6" + std::string(26, ' ') + "\tenables ipv6 TCP/UDP support\n"),
            std::string::npos);
  EXPECT_NE(usage.find("\t--verbosity/-v {arg}" + std::string(15, ' ') +
                       "\tsets or increases verbosity level\n"),
            std::string::npos);
  // Thread-pool options are marked.
  for (const char* name :
       {"cpu-threads", "io-threads", "multithread", "tcp-cpu-threads", "tcp-iothreads"}) {
    size_t at = usage.find(absl::StrCat("\t--", name, " "));
    ASSERT_NE(at, std::string::npos) << name;
    std::string line = usage.substr(at, usage.find('\n', at) - at);
    EXPECT_NE(line.find("[accepted, no effect]"), std::string::npos) << line;
  }
}

TEST(CliTest, MemoryLimitSyntax) {
  EXPECT_EQ(*ParseMemoryLimit("100"), 100);
  EXPECT_EQ(*ParseMemoryLimit("100 "), 100);
  EXPECT_EQ(*ParseMemoryLimit("2k"), 2048);
  EXPECT_EQ(*ParseMemoryLimit("2K"), 2048);
  EXPECT_EQ(*ParseMemoryLimit("3mb"), 3 << 20);
  EXPECT_EQ(*ParseMemoryLimit("1t"), 1ll << 40);
  EXPECT_FALSE(ParseMemoryLimit("").ok());
  EXPECT_FALSE(ParseMemoryLimit("0").ok());
  EXPECT_FALSE(ParseMemoryLimit("-5m").ok());
  EXPECT_FALSE(ParseMemoryLimit("99999999999t").ok());
}

TEST(CliTest, CpuLists) {
  EXPECT_EQ(*ParseCpuList("0"), std::vector<int>{0});
  EXPECT_EQ(*ParseCpuList("5,1-2,1"), (std::vector<int>{1, 2, 5}));
  EXPECT_EQ(*ParseCpuList("1023"), std::vector<int>{1023});
  EXPECT_FALSE(ParseCpuList("1024").ok());
  EXPECT_FALSE(ParseCpuList("").ok());
  EXPECT_FALSE(ParseCpuList("1-").ok());
  EXPECT_FALSE(ParseCpuList("a").ok());
  EXPECT_FALSE(ParseCpuList("1,").ok());
  EXPECT_EQ(FormatCpuList(std::vector<int>{0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(FormatCpuList(std::vector<int>{}), "");
  EXPECT_EQ(FormatCpuList(std::vector<int>{7}), "7");
  EXPECT_EQ(ListCpusText(std::vector<int>{0, 1}), "2 CPUs available: 0-1\n");
  std::vector<int> mine = AvailableCpus();
  ASSERT_FALSE(mine.empty());
  EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
  EXPECT_EQ(*ParseCpuList(FormatCpuList(mine)), mine);
}

TEST(CliTest, GeneratedSecretForms) {
  const std::string dd = GenerateSecretText(SecretMode::kPadded, {});
  ASSERT_EQ(dd.size(), 35u) << dd;
  EXPECT_EQ(dd.substr(0, 2), "dd");
  absl::StatusOr<LinkSecret> parsed_dd = ParseLinkSecret(dd.substr(0, 34));
  ASSERT_TRUE(parsed_dd.ok());
  EXPECT_EQ(parsed_dd->mode, SecretMode::kPadded);
  EXPECT_EQ(GenerateSecretText(SecretMode::kPlain, {}).size(), 33u);
  const std::vector<std::string> domains = {"example.com", "b.example"};
  const std::string ee = GenerateSecretText(SecretMode::kFakeTls, domains);
  const size_t nl = ee.find('\n');
  ASSERT_NE(nl, std::string::npos);
  absl::StatusOr<LinkSecret> first = ParseLinkSecret(ee.substr(0, nl));
  absl::StatusOr<LinkSecret> second = ParseLinkSecret(ee.substr(nl + 1, ee.size() - nl - 2));
  ASSERT_TRUE(first.ok() && second.ok()) << ee;
  EXPECT_EQ(first->mode, SecretMode::kFakeTls);
  EXPECT_EQ(first->domain, "example.com");
  EXPECT_EQ(second->domain, "b.example");
  EXPECT_EQ(first->secret, second->secret);  // one key, one line per domain
  EXPECT_EQ(ee.substr(0, 2 + 32 + 22), "ee" + ee.substr(2, 32) + "6578616d706c652e636f6d");
  // Each line is a valid -S value.
  ParsedCommandLine c = Ok({"-S", ee.substr(0, nl), "conf"});
  EXPECT_EQ(c.secrets, std::vector<ClientSecret>{first->secret});
}

TEST(CliTest, GeneratedSecretsAreValidAndDistinct) {
  std::string a = GenerateSecretHex();
  std::string b = GenerateSecretHex();
  ASSERT_EQ(a.size(), 33u);
  EXPECT_EQ(a.back(), '\n');
  EXPECT_TRUE(ParseClientSecretHex(a.substr(0, 32)).ok());
  EXPECT_NE(a, b);
  // What --generate-secret prints is accepted by -S.
  EXPECT_EQ(Ok({"-S", a.substr(0, 32), "conf"}).secrets.size(), 1u);
}

struct FdCase {
  int max_connections;
  int max_special;
  uint64_t soft;
  uint64_t hard;
  bool can_raise_hard;
  int want_connections;
  int want_special;
  std::optional<uint64_t> want_soft;
  std::optional<uint64_t> want_hard;
  bool want_warning;
};

TEST(FdLimitTest, Plans) {
  constexpr uint64_t kInf = UINT64_MAX;
  const FdCase cases[] = {
      // fits the soft limit
      {1000, 65536, 1024, 4096, false, 1000, 1000, std::nullopt, std::nullopt, false},
      {1008, 10, 1024, 1024, false, 1008, 10, std::nullopt, std::nullopt, false},
      // needs a higher soft limit, the hard limit allows it
      {1009, 65536, 1024, 4096, false, 1009, 1009, 1025, std::nullopt, false},
      {65536, 0, 1024, 1048576, false, 65536, 65536, 65552, std::nullopt, false},
      {65536, 100, 1024, kInf, false, 65536, 100, 65552, std::nullopt, false},
      // above the hard limit: raise it when allowed ...
      {65536, 65536, 1024, 4096, true, 65536, 65536, 65552, 65552, false},
      // ... else lower -c to hard - 16 (the reference exits 1 as root here)
      {65536, 65536, 1024, 4096, false, 4080, 4080, 4096, std::nullopt, true},
      {65536, 2000, 1024, 4096, false, 4080, 2000, 4096, std::nullopt, true},
      {65536, 65536, 4096, 4096, false, 4080, 4080, std::nullopt, std::nullopt, true},
      {100, 100, 10, 10, false, 1, 1, std::nullopt, std::nullopt, true},
      // -c <= 0 means the default
      {0, 0, 1 << 20, 1 << 20, false, 65536, 65536, std::nullopt, std::nullopt, false},
  };
  for (const FdCase& t : cases) {
    SCOPED_TRACE(absl::StrCat(t.max_connections, " ", t.soft, "/", t.hard));
    FdLimitPlan p = PlanFdLimit(t.max_connections, t.max_special, t.soft, t.hard, t.can_raise_hard);
    EXPECT_EQ(p.max_connections, t.want_connections);
    EXPECT_EQ(p.max_special_connections, t.want_special);
    EXPECT_EQ(p.new_soft_limit, t.want_soft);
    EXPECT_EQ(p.new_hard_limit, t.want_hard);
    EXPECT_EQ(!p.warning.empty(), t.want_warning) << p.warning;
  }
  EXPECT_EQ(PlanFdLimit(65536, 65536, 1024, 4096, false).warning,
            "-c 65536 needs 65552 open files but the hard limit (ulimit -Hn) is 4096: serving at "
            "most 4080 connections");
}

}  // namespace
}  // namespace mtp

namespace mtp {
namespace {

TEST(CliStatsAccessTest, StatsBindImpliesHttpStatsAndAllowListsAddUp) {
  ParsedCommandLine c = Ok({"--stats-bind", "[::]:9100", "--stats-allow", "10.0.0.0/8,fd00::/8",
                            "--stats-allow", "192.0.2.7", "proxy-multi.conf"});
  ASSERT_TRUE(c.stats_bind.has_value());
  EXPECT_EQ(c.stats_bind->ip, "::");
  EXPECT_EQ(c.stats_bind->port, 9100);
  EXPECT_TRUE(c.http_stats);
  EXPECT_EQ(c.stats_allow, "10.0.0.0/8,fd00::/8,192.0.2.7");
  EXPECT_TRUE(Ok({"proxy-multi.conf"}).stats_allow.empty());
  EXPECT_FALSE(Ok({"proxy-multi.conf"}).stats_bind.has_value());
}

TEST(CliStatsAccessTest, BadValuesAreOneLineErrors) {
  CommandLineError bind = Err({"--stats-bind", "somewhere:80", "proxy-multi.conf"});
  EXPECT_EQ(bind.exit_code, 2);
  EXPECT_EQ(bind.message.rfind("--stats-bind: ", 0), 0u) << bind.message;
  // The error line, then the hint every command-line error carries.
  EXPECT_EQ(std::count(bind.message.begin(), bind.message.end(), '\n'), 2);
  EXPECT_NE(bind.message.find("\nhint: --stats-bind <arg>: "), std::string::npos) << bind.message;
  EXPECT_TRUE(bind.usage.empty());
  CommandLineError allow = Err({"--stats-allow", "10.0.0.1/8", "proxy-multi.conf"});
  EXPECT_EQ(allow.exit_code, 2);
  EXPECT_NE(allow.message.find("--stats-allow: '10.0.0.1/8' has bits set past its prefix length "
                               "(did you mean '10.0.0.0/8'?)"),
            std::string::npos)
      << allow.message;
  EXPECT_EQ(Err({"--stats-allow", "", "proxy-multi.conf"}).exit_code, 2);
}

}  // namespace
}  // namespace mtp

namespace mtp {
namespace {

// Issue 13's client-access options: parsed and validated, refused at serving until wired.
TEST(CliAccessTest, ParsesListsAndProxyProtocol) {
  ParsedCommandLine c = Ok({"--allow-list", "/etc/mtp/allow", "--block-list=/etc/mtp/block",
                            "--proxy-protocol", "--proxy-protocol-trusted", "10.0.0.0/8,::1",
                            "--proxy-protocol-trusted", "192.0.2.7", "--proxy-protocol-timeout",
                            "3000", "proxy-multi.conf"});
  EXPECT_EQ(c.allow_list_file, "/etc/mtp/allow");
  EXPECT_EQ(c.block_list_file, "/etc/mtp/block");
  EXPECT_TRUE(c.proxy_protocol);
  EXPECT_EQ(c.proxy_protocol_timeout_ms, 3000);
  absl::StatusOr<CidrSet> trusted = ProxyProtocolTrustedSet(c);
  ASSERT_TRUE(trusted.ok()) << trusted.status();
  EXPECT_EQ(trusted->entry_count(), 3u);
  EXPECT_TRUE(trusted->Contains(SocketAddress::Parse("10.1.1.1:80").value()));
  EXPECT_TRUE(trusted->Contains(SocketAddress::Parse("[::ffff:192.0.2.7]:80").value()));
  EXPECT_FALSE(trusted->Contains(SocketAddress::Parse("192.0.2.8:80").value()));

  ParsedCommandLine d = Ok({"proxy-multi.conf"});
  EXPECT_FALSE(d.allow_list_file || d.block_list_file || d.proxy_protocol);
  EXPECT_EQ(d.proxy_protocol_timeout_ms, kDefaultProxyProtocolTimeoutMs);
}

TEST(CliAccessTest, BadValuesAndCombinations) {
  CommandLineError e = Err({"--proxy-protocol", "--proxy-protocol-trusted", "10.0.0.1/8",
                            "proxy-multi.conf"});
  EXPECT_EQ(e.exit_code, 2);
  ExpectMessageAndHint(e, "--proxy-protocol-trusted: '10.0.0.1/8' has bits set past its prefix "
                          "length (did you mean '10.0.0.0/8'?)\n");
  e = Err({"--proxy-protocol", "--proxy-protocol-trusted", "1.2.3.4,", "proxy-multi.conf"});
  ExpectMessageAndHint(e, "--proxy-protocol-trusted: empty item in '1.2.3.4,'\n");
  for (const char* bad : {"0", "-5", "600001", "5s", ""}) {
    e = Err({"--proxy-protocol", "--proxy-protocol-trusted", "127.0.0.1",
             "--proxy-protocol-timeout", bad, "proxy-multi.conf"});
    EXPECT_EQ(e.exit_code, 2) << bad;
    ExpectMessageAndHint(e, absl::StrCat("invalid --proxy-protocol-timeout value '", bad,
                                         "': expected 1..600000 milliseconds\n"));
  }
  e = Err({"--allow-list=", "proxy-multi.conf"});
  ExpectMessageAndHint(e, "invalid --allow-list value '': expected a file name\n");
  e = Err({"--proxy-protocol", "proxy-multi.conf"});
  ExpectMessageAndHint(e, "--proxy-protocol needs --proxy-protocol-trusted <cidr>[,<cidr>...]: "
                          "the load balancers allowed to send PROXY headers\n");
  const std::string orphan =
      "--proxy-protocol-trusted and --proxy-protocol-timeout need --proxy-protocol\n";
  ExpectMessageAndHint(Err({"--proxy-protocol-trusted", "127.0.0.1", "proxy-multi.conf"}), orphan);
  ExpectMessageAndHint(Err({"--proxy-protocol-timeout", "100", "proxy-multi.conf"}), orphan);
}

TEST(CliAccessTest, ServingAcceptsTheAccessOptions) {
  const std::vector<std::string> base = {"-H", "443", "-S", kSecretA, "proxy-multi.conf"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), base.begin(), base.end());
    return ValidateForServing(Ok(extra));
  };
  EXPECT_FALSE(with({}).has_value());
  EXPECT_FALSE(with({"--block-list", "/etc/b"}).has_value());
  EXPECT_FALSE(
      with({"--allow-list", "/a", "--proxy-protocol", "--proxy-protocol-trusted", "127.0.0.1"})
          .has_value());
  absl::StatusOr<CidrSet> trusted = ProxyProtocolTrustedSet(Ok(
      {"--proxy-protocol", "--proxy-protocol-trusted", "10.0.0.0/8,::1", "-H", "443", "-S",
       kSecretA, "proxy-multi.conf"}));
  ASSERT_TRUE(trusted.ok()) << trusted.status();
  EXPECT_TRUE(trusted->Contains(*SocketAddress::FromIp("10.1.2.3", 1)));
  EXPECT_TRUE(trusted->Contains(*SocketAddress::FromIp("::1", 1)));
  EXPECT_FALSE(trusted->Contains(*SocketAddress::FromIp("127.0.0.1", 1)));
}

}  // namespace
}  // namespace mtp
