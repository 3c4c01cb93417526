#include "control/toml_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "control/runtime_config.h"
#include "tests/control/temp_dir.h"

namespace mtp {
namespace {

// Direct mode resolves nothing; this stands in for DNS all the same.
class LiteralResolver : public HostResolver {
 public:
  std::optional<ResolvedAddress> Resolve(std::string_view name) override {
    return ResolvedAddress::FromLiteral(name);
  }
};

constexpr char kA[] = "0123456789abcdef0123456789abcdef";
constexpr char kB[] = "00112233445566778899aabbccddeeff";

class TomlConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content) {
    return tmp_.Write(name, content);
  }
  static CommandLineResult Parse(std::vector<std::string> args) {
    std::vector<std::string_view> argv = {"mtproto-proxy"};
    for (const std::string& a : args) argv.push_back(a);
    return ParseCommandLineWithConfig(argv);
  }
  std::string ErrorOf(const std::string& toml) {
    CommandLineResult r = Parse({"--config", Write("bad.toml", toml)});
    const auto* e = std::get_if<CommandLineError>(&r);
    if (e == nullptr) return "(no error)";
    EXPECT_EQ(e->exit_code, 2);
    return e->message.substr(0, e->message.find('\n'));
  }

  testing_util::TempDir tmp_{"mtp-toml"};
  const std::string dir_ = tmp_.path();
};

TEST_F(TomlConfigTest, EveryKindOfOption) {
  const std::string path = Write("proxy.toml", std::string(R"(# a comment
config-file = "/etc/mtproxy/proxy-multi.conf"
http-ports = [443, 8443]
port = 8888
http-stats = true
ipv6 = false
slaves = 2
ping-interval = 2.5
domain = ["a.example", "b.example", "*.wild.example"]
domain-target = ["a.example=127.0.0.1:8443"]
tls-unknown-sni = "alert"
tls-reject-rst = true
tls-pq-key-share = false
verbosity = 2
daemonize = false
msg-buffers-size = "512m"
io-backend = "epoll"
public-host = "proxy.example.org"
allow-no-client-port = true
[[secret]]
name = "alice"
secret = ")") + kA + R"("
[[secret]]
secret = "dd)" + kB + R"("
)");
  CommandLineResult r = Parse({"--config", path});
  ASSERT_TRUE(std::holds_alternative<ParsedCommandLine>(r))
      << std::get<CommandLineError>(r).message;
  const ParsedCommandLine& c = std::get<ParsedCommandLine>(r);
  EXPECT_EQ(c.config_file, "/etc/mtproxy/proxy-multi.conf");
  EXPECT_EQ(c.client_ports, (std::vector<uint16_t>{443, 8443}));
  EXPECT_EQ(c.stats_port, (StatsPortRange{8888, 8888}));
  EXPECT_TRUE(c.http_stats);
  EXPECT_FALSE(c.ipv6);
  EXPECT_EQ(c.workers, 2);
  EXPECT_EQ(c.ping_interval_s, 2.5);
  EXPECT_EQ(c.domains, (std::vector<std::string>{"a.example", "b.example", "*.wild.example"}));
  ASSERT_EQ(c.domain_targets.size(), 1u);
  EXPECT_EQ(c.tls_unknown_sni, TlsUnknownSni::kAlert);
  EXPECT_TRUE(c.tls_reject_rst);
  EXPECT_FALSE(c.tls_pq_key_share);
  EXPECT_EQ(c.verbosity, 2);
  EXPECT_FALSE(c.daemonize);
  EXPECT_EQ(c.msg_buffers_bytes, 512ll << 20);
  EXPECT_EQ(c.io_backend, IoBackend::kEpoll);
  EXPECT_EQ(c.public_host, "proxy.example.org");
  EXPECT_TRUE(c.allow_no_client_port);
  ASSERT_EQ(c.secrets.size(), 2u);
  EXPECT_EQ(c.secret_names, (std::vector<std::string>{"alice", ""}));
  EXPECT_TRUE(c.secrets_from_toml);
  EXPECT_EQ(c.config_toml, path);
}

TEST_F(TomlConfigTest, CommandLineWins) {
  const std::string path = Write("proxy.toml", std::string("http-ports = [443]\nslaves = 2\n"
                                                           "config-file = \"file.conf\"\n"
                                                           "mtproto-secret = [\"") +
                                                   kA + "\"]\n");
  CommandLineResult r = Parse({"-H", "8443", "--config", path, "-S", kB, "cli.conf"});
  ASSERT_TRUE(std::holds_alternative<ParsedCommandLine>(r))
      << std::get<CommandLineError>(r).message;
  const ParsedCommandLine& c = std::get<ParsedCommandLine>(r);
  EXPECT_EQ(c.client_ports, std::vector<uint16_t>{8443});  // not 443 and 8443
  EXPECT_EQ(c.workers, 2);                                 // from the file
  EXPECT_EQ(c.config_file, "cli.conf");
  ASSERT_EQ(c.secrets.size(), 1u);  // -S replaces the file's secrets
  EXPECT_FALSE(c.secrets_from_toml);
  // Without an operand the file's config-file is used.
  r = Parse({"--config", path});
  ASSERT_TRUE(std::holds_alternative<ParsedCommandLine>(r));
  EXPECT_EQ(std::get<ParsedCommandLine>(r).config_file, "file.conf");
  EXPECT_TRUE(std::get<ParsedCommandLine>(r).secrets_from_toml);
}

TEST_F(TomlConfigTest, StrictErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("http-ports = [443]\n\nfoo = 1\n"),
            dir_ + "/bad.toml:3: unknown key 'foo' (keys are the long option names of --help, "
                   "config-file and [[secret]])");
  EXPECT_EQ(ErrorOf("direct = 1\n"), dir_ + "/bad.toml:1: direct: expected true or false, not an integer");
  EXPECT_EQ(ErrorOf("\nslaves = [1]\n"), dir_ + "/bad.toml:2: slaves: takes one value, not an array");
  EXPECT_EQ(ErrorOf("backlog = true\n"),
            dir_ + "/bad.toml:1: backlog: expected a string or a number, not a boolean");
  EXPECT_EQ(ErrorOf("slaves = \"abc\"\n"),
            dir_ + "/bad.toml:1: slaves: invalid -M value 'abc': expected the number of workers "
                   "(shards here), a whole number 0..256");
  EXPECT_EQ(ErrorOf("[stats]\nport = 1\n"), dir_ + "/bad.toml:1: unknown table [stats]");
  EXPECT_EQ(ErrorOf("version = true\n").substr(0, dir_.size() + 28),
            dir_ + "/bad.toml:1: unknown key 've");
  EXPECT_NE(ErrorOf("http-ports = [443\n").find("/bad.toml:1: "), std::string::npos);
  EXPECT_EQ(ErrorOf("[[secret]]\nname = \"a\"\n\n[[secret]]\nname = \"a\"\nsecret = \"" +
                    std::string(kA) + "\"\n"),
            dir_ + "/bad.toml:1: [[secret]]: the secret key is missing");
  EXPECT_EQ(ErrorOf(std::string("[[secret]]\nname = \"a\"\nsecret = \"") + kA +
                    "\"\n[[secret]]\nname = \"a\"\nsecret = \"" + kB + "\"\n"),
            dir_ + "/bad.toml:5: [[secret]] name 'a' is used twice");
  EXPECT_EQ(ErrorOf("[[secret]]\nsecret = \"xyz\"\n"),
            dir_ + "/bad.toml:2: [[secret]] secret: expected 32 hex digits, dd + 32 hex digits, "
                   "or ee + 32 hex digits + the domain in hex");
  EXPECT_EQ(ErrorOf("[[secret]]\nsecret = \"" + std::string(kA) + "\"\nlabel = \"x\"\n"),
            dir_ + "/bad.toml:3: [[secret]]: unknown key 'label' (name, secret, max-connections, "
                   "max-unique-ips, unique-ips-window, quota-bytes, expires, enabled)");
  CommandLineResult missing = Parse({"--config", dir_ + "/none.toml"});
  ASSERT_TRUE(std::holds_alternative<CommandLineError>(missing));
  EXPECT_EQ(std::get<CommandLineError>(missing).exit_code, 1);
}

TEST_F(TomlConfigTest, SecretsAndNamesReloadFromTheFile) {
  const std::string path = Write("proxy.toml", std::string("[[secret]]\nname = \"alice\"\n"
                                                           "secret = \"") + kA + "\"\n");
  CommandLineResult r = Parse({"--config", path, "--direct", "-H", "443"});
  ASSERT_TRUE(std::holds_alternative<ParsedCommandLine>(r));
  const ParsedCommandLine cli = std::get<ParsedCommandLine>(r);
  LiteralResolver resolver;
  auto first = LoadConfigSnapshot(cli, resolver, nullptr, 1, nullptr);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->secret_names, std::vector<std::string>{"alice"});
  // The file changes: SIGHUP's load sees the new secrets and names.
  Write("proxy.toml", std::string("[[secret]]\nname = \"bob\"\nsecret = \"") + kB +
                          "\"\n[[secret]]\nsecret = \"" + kA + "\"\n");
  auto second = LoadConfigSnapshot(cli, resolver, first->get(), 2, nullptr);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->secret_names, (std::vector<std::string>{"bob", ""}));
  ASSERT_EQ((*second)->secrets.size(), 2u);
  EXPECT_NE((*second)->secrets[0], (*first)->secrets[0]);
  // A broken file fails the load (the running snapshot stays), with its line.
  Write("proxy.toml", "[[secret]]\nsecret = 5\n");
  auto broken = LoadConfigSnapshot(cli, resolver, second->get(), 3, nullptr);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("proxy.toml:2:"), std::string::npos)
      << broken.status();
}

}  // namespace
}  // namespace mtp

namespace mtp {
namespace {

TEST_F(TomlConfigTest, ClientAccessKeys) {
  const std::string path = Write("access.toml", R"(config-file = "proxy-multi.conf"
allow-list = "/etc/mtp/allow"
block-list = "/etc/mtp/block"
proxy-protocol = true
proxy-protocol-trusted = ["10.0.0.0/8", "::1,192.0.2.7"]
proxy-protocol-timeout = 4000
)");
  CommandLineResult r = Parse({"--config", path});
  ASSERT_TRUE(std::holds_alternative<ParsedCommandLine>(r))
      << std::get<CommandLineError>(r).message;
  const ParsedCommandLine& c = std::get<ParsedCommandLine>(r);
  EXPECT_EQ(c.allow_list_file, "/etc/mtp/allow");
  EXPECT_EQ(c.block_list_file, "/etc/mtp/block");
  EXPECT_TRUE(c.proxy_protocol);
  EXPECT_EQ(c.proxy_protocol_timeout_ms, 4000);
  absl::StatusOr<CidrSet> trusted = ProxyProtocolTrustedSet(c);
  ASSERT_TRUE(trusted.ok()) << trusted.status();
  EXPECT_EQ(trusted->entry_count(), 3u);
  const std::string bad =
      ErrorOf("proxy-protocol = true\nproxy-protocol-trusted = [\"10.0.0.1/8\"]\n");
  EXPECT_NE(bad.find("bad.toml:2: "), std::string::npos) << bad;
  EXPECT_NE(bad.find("did you mean '10.0.0.0/8'?"), std::string::npos) << bad;
}

}  // namespace
}  // namespace mtp

namespace mtp {
namespace {

TEST_F(TomlConfigTest, SecretLimitsParse) {
  const std::string path = Write("limits.toml", std::string(R"([[secret]]
name = "alice"
secret = ")") + kA + R"("
max-connections = 100
max-unique-ips = 3
unique-ips-window = 60
quota-bytes = "10G"
expires = 2027-01-31T00:00:00Z

[[secret]]
name = "bob"
secret = ")" + kB + R"("
quota-bytes = 5000
expires = "2027-01-31T01:00:00+01:00"
enabled = false

[[secret]]
secret = "ffeeddccbbaa99887766554433221100"
)");
  absl::StatusOr<TomlSecrets> s = LoadTomlSecrets(path);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->limits.size(), 3u);
  const SecretLimitsSpec& a = s->limits[0];
  EXPECT_EQ(a.max_connections, 100u);
  EXPECT_EQ(a.max_unique_ips, 3u);
  EXPECT_EQ(a.unique_ips_window_s, 60u);
  EXPECT_EQ(a.quota_bytes, uint64_t{10} << 30);
  EXPECT_EQ(a.expires_unix, 1801353600);  // 2027-01-31T00:00:00Z
  EXPECT_TRUE(a.enabled);
  const SecretLimitsSpec& b = s->limits[1];
  EXPECT_EQ(b.max_connections, 0u);
  EXPECT_EQ(b.unique_ips_window_s, kDefaultUniqueIpsWindowS);
  EXPECT_EQ(b.quota_bytes, 5000u);
  EXPECT_EQ(b.expires_unix, 1801353600);  // the same instant, written at +01:00
  EXPECT_FALSE(b.enabled);
  EXPECT_TRUE(b.any());
  EXPECT_FALSE(s->limits[2].any());

  // The snapshot carries them next to the secrets (a reload re-reads them).
  CommandLineResult r = Parse({"--config", path, "--direct", "-H", "443"});
  ASSERT_TRUE(std::holds_alternative<ParsedCommandLine>(r));
  LiteralResolver resolver;
  auto snapshot = LoadConfigSnapshot(std::get<ParsedCommandLine>(r), resolver, nullptr, 1, nullptr);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ((*snapshot)->secret_limits.size(), 3u);
  EXPECT_EQ((*snapshot)->secret_limits[0], a);
  EXPECT_EQ((*snapshot)->secret_limits[1], b);
}

TEST_F(TomlConfigTest, SecretLimitErrorsNameTheLine) {
  const std::string head = std::string("[[secret]]\nname = \"a\"\nsecret = \"") + kA + "\"\n";
  const std::string file = dir_ + "/bad.toml:4: ";
  EXPECT_EQ(ErrorOf(head + "max-connections = 0\n"),
            file + "[[secret]] max-connections: expected the open connections allowed, a whole "
                   "number 1..10000000");
  EXPECT_EQ(ErrorOf(head + "max-connections = \"5\"\n"),
            file + "[[secret]] max-connections: expected the open connections allowed, a whole "
                   "number 1..10000000");
  EXPECT_EQ(ErrorOf(head + "max-unique-ips = -1\n"),
            file + "[[secret]] max-unique-ips: expected the client addresses allowed, a whole "
                   "number 1..100000");
  EXPECT_EQ(ErrorOf(head + "unique-ips-window = 0\n"),
            file + "[[secret]] unique-ips-window: expected seconds, a whole number 1..2592000");
  const std::string quota_error =
      file + "[[secret]] quota-bytes: expected a positive number of bytes, as an integer or a "
             "string with a K, M, G or T suffix (powers of 1024)";
  EXPECT_EQ(ErrorOf(head + "quota-bytes = 0\n"), quota_error);
  EXPECT_EQ(ErrorOf(head + "quota-bytes = \"10X\"\n"), quota_error);
  EXPECT_EQ(ErrorOf(head + "quota-bytes = \"1.5G\"\n"), quota_error);
  EXPECT_EQ(ErrorOf(head + "quota-bytes = 1.5\n"), quota_error);
  const std::string expires_error =
      file + "[[secret]] expires: expected an RFC 3339 date-time with its offset "
             "(2027-01-31T00:00:00Z, bare or quoted) or unix seconds (integer)";
  EXPECT_EQ(ErrorOf(head + "expires = 2027-01-31T00:00:00\n"), expires_error);  // no offset
  EXPECT_EQ(ErrorOf(head + "expires = \"tomorrow\"\n"), expires_error);
  EXPECT_EQ(ErrorOf(head + "expires = 0\n"), expires_error);
  EXPECT_EQ(ErrorOf(head + "enabled = \"no\"\n"),
            file + "[[secret]] enabled: expected true or false, not a string");
  // Limits belong to named secrets: the counters and the kept quota are per name.
  EXPECT_EQ(ErrorOf(std::string("[[secret]]\nsecret = \"") + kA + "\"\n\nquota-bytes = 10\n"),
            dir_ + "/bad.toml:4: [[secret]]: limits need a name (they are kept and shown per "
                   "name)");
}

}  // namespace
}  // namespace mtp
