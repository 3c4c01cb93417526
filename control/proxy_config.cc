// proxy-multi.conf reader, parser (the reference's lexer quirks reproduced on purpose) and host
// resolution.
#include "control/proxy_config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/hex.h"
#include "crypto/hash.h"

namespace mtp {

// ---------------------------------------------------------------------------------------------
// ResolvedAddress, MeTarget

ResolvedAddress ResolvedAddress::Ipv4(uint32_t host_order) {
  ResolvedAddress a;
  a.family = Family::kIpv4;
  a.bytes[0] = static_cast<uint8_t>(host_order >> 24);
  a.bytes[1] = static_cast<uint8_t>(host_order >> 16);
  a.bytes[2] = static_cast<uint8_t>(host_order >> 8);
  a.bytes[3] = static_cast<uint8_t>(host_order);
  return a;
}

ResolvedAddress ResolvedAddress::Ipv6(const std::array<uint8_t, 16>& network_order) {
  ResolvedAddress a;
  a.family = Family::kIpv6;
  a.bytes = network_order;
  return a;
}

std::optional<ResolvedAddress> ResolvedAddress::FromLiteral(std::string_view text) {
  std::string s(text);  // inet_pton needs a NUL-terminated string
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return Ipv4(ntohl(v4.s_addr));
  std::array<uint8_t, 16> v6;
  if (inet_pton(AF_INET6, s.c_str(), v6.data()) == 1) return Ipv6(v6);
  return std::nullopt;
}

uint32_t ResolvedAddress::ipv4_host_order() const {
  if (is_ipv6()) return 0;
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         bytes[3];
}

std::string ResolvedAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_ipv6() ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::string MeTarget::ToString() const {
  if (address.is_ipv6()) return absl::StrCat("[", address.ToString(), "]:", port);
  return absl::StrCat(address.ToString(), ":", port);
}

// ---------------------------------------------------------------------------------------------
// ProxyConfig

const MeCluster* ProxyConfig::FindCluster(int32_t id) const {
  auto it = cluster_index_by_id.find(id);
  return it == cluster_index_by_id.end() ? nullptr : &clusters[it->second];
}

const MeCluster* ProxyConfig::ClusterFor(int32_t dc_id) const {
  if (const MeCluster* exact = FindCluster(dc_id)) return exact;
  return default_cluster_index ? &clusters[*default_cluster_index] : nullptr;
}

void ProxyConfig::RebuildIndex() {
  cluster_index_by_id.clear();
  for (uint32_t i = 0; i < clusters.size(); ++i) cluster_index_by_id.emplace(clusters[i].id, i);
  default_cluster_index.reset();
  auto it = cluster_index_by_id.find(default_cluster_id);
  if (it != cluster_index_by_id.end()) default_cluster_index = it->second;
}

// ---------------------------------------------------------------------------------------------
// Hosts file and system resolver

absl::flat_hash_map<std::string, uint32_t> ParseHostsFile(std::string_view text) {
  absl::flat_hash_map<std::string, uint32_t> table;
  size_t pos = 0;
  const size_t n = text.size();
  while (pos < n) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = n;
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    size_t p = 0;
    auto lat = [&](size_t q) -> char { return q < line.size() ? line[q] : '\0'; };
    while (lat(p) == ' ' || lat(p) == '\t') ++p;
    uint32_t ip = 0;
    int octets = 0;
    for (; octets < 4; ++octets) {
      size_t start = p;
      uint32_t value = 0;
      while (lat(p) >= '0' && lat(p) <= '9' && value <= 255) value = value * 10 + (lat(p++) - '0');
      if (p == start || value > 255) break;
      ip = (ip << 8) | value;
      if (octets < 3 && lat(p++) != '.') break;
    }
    if (octets < 4 || (lat(p) != ' ' && lat(p) != '\t') || ip == 0) continue;
    while (p < line.size()) {
      while (lat(p) == ' ' || lat(p) == '\t') ++p;
      size_t start = p;
      while (p < line.size() && line[p] != ' ' && line[p] != '\t') ++p;
      if (p > start && p - start < 128)
        table.emplace(std::string(line.substr(start, p - start)), ip);
    }
  }
  return table;
}

namespace {

std::optional<ResolvedAddress> GetAddrInfoFirst(const std::string& name, int family) {
  if (auto literal = ResolvedAddress::FromLiteral(name)) {
    if (literal->is_ipv6() == (family == AF_INET6)) return literal;
    return std::nullopt;
  }
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &result) != 0 || result == nullptr) {
    return std::nullopt;
  }
  std::optional<ResolvedAddress> out;
  if (result->ai_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(result->ai_addr);
    out = ResolvedAddress::Ipv4(ntohl(sin->sin_addr.s_addr));
  } else if (result->ai_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(result->ai_addr);
    std::array<uint8_t, 16> b;
    std::memcpy(b.data(), &sin6->sin6_addr, 16);
    out = ResolvedAddress::Ipv6(b);
  }
  freeaddrinfo(result);
  return out;
}

std::optional<ResolvedAddress> ResolveByName(const std::string& name) {
  if (auto v4 = GetAddrInfoFirst(name, AF_INET)) return v4;
  return GetAddrInfoFirst(name, AF_INET6);
}

}  // namespace

SystemHostResolver::SystemHostResolver(std::string hosts_path)
    : hosts_path_(std::move(hosts_path)) {}

void SystemHostResolver::ReloadHostsIfChanged() {
  struct stat st;
  if (stat(hosts_path_.c_str(), &st) < 0 || !S_ISREG(st.st_mode) ||
      st.st_size >= static_cast<off_t>(kMaxConfigBytes)) {
    // Like the reference: keep a table that was loaded before, otherwise run without one.
    return;
  }
  if (hosts_loaded_ && hosts_size_ == st.st_size && hosts_mtime_ == st.st_mtime) return;
  int fd = open(hosts_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t r = read(fd, data.data() + got, data.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  close(fd);
  if (got != data.size()) return;
  hosts_ = ParseHostsFile(data);
  hosts_loaded_ = true;
  hosts_size_ = st.st_size;
  hosts_mtime_ = st.st_mtime;
}

std::optional<ResolvedAddress> SystemHostResolver::Resolve(std::string_view name) {
  if (name.empty()) return std::nullopt;
  if (name.front() == '[' && name.back() == ']' && name.size() >= 2 && name.size() <= 64) {
    return GetAddrInfoFirst(std::string(name.substr(1, name.size() - 2)), AF_INET6);
  }
  ReloadHostsIfChanged();
  std::string key(name);
  if (!hosts_loaded_ || key.size() >= 128) return ResolveByName(key);
  auto it = hosts_.find(key);
  if (it != hosts_.end()) return ResolvedAddress::Ipv4(it->second);
  if (key.find_first_of(".:") != std::string::npos) return ResolveByName(key);
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Reading

absl::StatusOr<std::string> ReadProxyConfigFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string message = absl::StrFormat("Can not open file %s: %s", path, strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  }
  std::string data;
  constexpr size_t kChunk = 1 << 16;
  while (data.size() <= kMaxConfigBytes) {
    size_t old = data.size();
    size_t want = std::min(kChunk, kMaxConfigBytes + 1 - old);
    data.resize(old + want);
    ssize_t r = read(fd, data.data() + old, want);
    if (r < 0 && errno == EINTR) {
      data.resize(old);
      continue;
    }
    if (r < 0) {
      int err = errno;
      close(fd);
      return absl::DataLossError(
          absl::StrFormat("error reading configuration file %s: %s", path, strerror(err)));
    }
    data.resize(old + static_cast<size_t>(r));
    if (r == 0) break;
  }
  close(fd);
  if (data.size() > kMaxConfigBytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "configuration file %s too long (max %d bytes)", path, static_cast<int>(kMaxConfigBytes)));
  }
  return data;
}

int ProxyConfigExitCode(const absl::Status& status) {
  if (status.ok()) return 0;
  if (absl::IsDataLoss(status) || absl::IsResourceExhausted(status)) return 2;
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Parser: a faithful re-implementation of cfg_skipspc / cfg_getlex_ext / cfg_getword /
// cfg_getint* / parse_config, including the quirks the spec lists (prefix-matched keywords,
// numbers read after spaces/tabs only, 0-based line numbers, wrapping integer reads).

namespace {

enum Lexem : int {
  kLexEnd = 0,
  kLexOther = -1,
  kLexMinConnections = 'x',
  kLexMaxConnections = 'X',
  kLexProxyFor = 'Y',
  kLexProxy = 'y',
  kLexTimeout = 't',
  kLexDefault = 'D',
};

class ConfigParser {
 public:
  ConfigParser(std::string_view text, std::string_view file_name, HostResolver& resolver)
      : text_(text), file_name_(file_name), resolver_(resolver) {}

  absl::StatusOr<std::shared_ptr<const ProxyConfig>> Parse();

 private:
  // A NUL byte ends the text, as in the reference's NUL-terminated buffer.
  char At(size_t pos) const { return pos < text_.size() ? text_[pos] : '\0'; }
  char Cur() const { return At(pos_); }
  bool LookingAt(std::string_view word) const {
    return text_.substr(std::min(pos_, text_.size()), word.size()) == word;
  }

  // Skips spaces, TABs, CRs, LFs and '#' comments; counts LFs. Returns the next char.
  char SkipSpace() {
    for (;;) {
      char c = Cur();
      if (c == '#') {
        do ++pos_;
        while (Cur() != '\0' && Cur() != '\n');
        continue;
      }
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return c;
      if (c == '\n') ++line_;
      ++pos_;
    }
  }
  // Skips spaces and TABs only.
  void SkipBlanks() {
    while (Cur() == ' ' || Cur() == '\t') ++pos_;
  }

  int GetLexem() {
    char c = SkipSpace();
    switch (c) {
      case ';':
      case ':':
      case '{':
      case '}':
        ++pos_;
        return lexem_ = c;
      case 'm':
        if (LookingAt("min_connections")) return Take(15, kLexMinConnections);
        if (LookingAt("max_connections")) return Take(15, kLexMaxConnections);
        break;
      case 'p':
        if (LookingAt("proxy_for")) return Take(9, kLexProxyFor);
        if (LookingAt("proxy")) return Take(5, kLexProxy);
        break;
      case 't':
        if (LookingAt("timeout")) return Take(7, kLexTimeout);
        break;
      case 'd':
        if (LookingAt("default")) return Take(7, kLexDefault);
        break;
      case '\0':
        return lexem_ = kLexEnd;
      default:
        break;
    }
    return lexem_ = kLexOther;
  }
  int Take(size_t length, int lexem) {
    pos_ += length;
    return lexem_ = lexem;
  }

  // Length of the host token at the cursor (after blanks): [A-Za-z0-9._-]+ or "[" [..:]* "]"?.
  size_t WordLength() {
    SkipBlanks();
    auto word_char = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '-' || c == '_';
    };
    size_t s = pos_;
    if (At(s) != '[') {
      while (word_char(At(s))) ++s;
    } else {
      ++s;
      while (word_char(At(s)) || At(s) == ':') ++s;
      if (At(s) == ']') ++s;
    }
    return s - pos_;
  }

  // Unsigned decimal after blanks; 0 when there are no digits. Wraps like the reference.
  int64_t GetInt() {
    SkipBlanks();
    uint64_t x = 0;
    while (Cur() >= '0' && Cur() <= '9') x = x * 10 + static_cast<uint64_t>(Cur() - '0'), ++pos_;
    return static_cast<int64_t>(x);
  }
  // Optional '-' and digits after blanks; INT64_MIN (cursor left after the blanks) if none.
  int64_t GetSignedInt() {
    SkipBlanks();
    size_t s = pos_;
    bool negative = false;
    if (At(s) == '-') negative = true, ++s;
    size_t digits_start = s;
    uint64_t x = 0;
    while (At(s) >= '0' && At(s) <= '9') x = x * 10 + static_cast<uint64_t>(At(s++) - '0');
    if (s == digits_start) return std::numeric_limits<int64_t>::min();
    pos_ = s;
    return static_cast<int64_t>(negative ? uint64_t{0} - x : x);
  }

  // The reference's syntax(): message with position. `near_limit` bounds the snippet (used when
  // the reference had temporarily NUL-terminated the host token).
  absl::Status Syntax(const std::string& message, size_t near_limit = std::string::npos) {
    std::string out;
    if (line_ != 0) absl::StrAppend(&out, file_name_, ":", line_, ": ");
    absl::StrAppend(&out, "fatal: ", message);
    size_t len = 0;
    while (len < 20 && len < near_limit) {
      char c = At(pos_ + len);
      if (c == '\0' || c == '\r' || c == '\n') break;
      ++len;
    }
    absl::StrAppend(&out, " near ", std::string(text_.substr(std::min(pos_, text_.size()), len)),
                    len >= 20 ? " ..." : "");
    return absl::InvalidArgumentError(out);
  }

  // proxy/proxy_for body: HOST ':' PORT. Returns the target index.
  absl::StatusOr<uint32_t> ParseServerPort();

  std::string_view text_;
  std::string file_name_;
  HostResolver& resolver_;
  size_t pos_ = 0;
  int line_ = 0;
  int lexem_ = kLexOther;

  ProxyConfig config_;
  int min_connections_ = kDefaultMinConnections;
  int max_connections_ = kDefaultMaxConnections;
  absl::flat_hash_map<std::pair<ResolvedAddress::Family, std::array<uint8_t, 18>>, uint32_t>
      target_by_key_;
};

absl::StatusOr<uint32_t> ConfigParser::ParseServerPort() {
  if (config_.target_lines >= kMaxConfigTargetLines) {
    return Syntax(absl::StrFormat("too many targets (%d)", config_.target_lines));
  }
  size_t length = WordLength();
  if (length == 0 || length > 63) return Syntax("hostname expected");
  std::string host(text_.substr(pos_, length));
  std::optional<ResolvedAddress> address = resolver_.Resolve(host);
  if (!address) {
    // The reference's format string ends in "\n" here, so its output has " near HOST" on a
    // line of its own; reproduced verbatim.
    return Syntax(absl::StrCat("cannot resolve '", host, "'\n"), length);
  }
  pos_ += length;

  GetLexem();
  if (lexem_ != ':') return Syntax(": expected");
  int32_t port = static_cast<int32_t>(GetInt());  // the reference stores it in an int
  if (port == 0) return Syntax("port number expected");
  if (port <= 0 || port >= 0x10000) {
    return Syntax(absl::StrFormat("port number %d out of range", port));
  }

  std::array<uint8_t, 18> key_bytes{};
  std::memcpy(key_bytes.data(), address->bytes.data(), 16);
  key_bytes[16] = static_cast<uint8_t>(port >> 8);
  key_bytes[17] = static_cast<uint8_t>(port);
  auto key = std::make_pair(address->family, key_bytes);
  auto [it, inserted] = target_by_key_.emplace(key, static_cast<uint32_t>(config_.targets.size()));
  if (inserted) {
    MeTarget target;
    target.address = *address;
    target.port = static_cast<uint16_t>(port);
    config_.targets.push_back(target);
  }
  MeTarget& target = config_.targets[it->second];
  target.min_connections = min_connections_;
  target.max_connections = max_connections_;
  ++config_.target_lines;
  return it->second;
}

absl::StatusOr<std::shared_ptr<const ProxyConfig>> ConfigParser::Parse() {
  bool have_proxy = false;
  while (SkipSpace() != '\0') {
    int32_t target_dc = 0;
    int lexem = GetLexem();
    switch (lexem) {
      case kLexTimeout: {
        int64_t timeout = GetInt();
        if (timeout < 10 || timeout > 30000) return Syntax("invalid timeout");
        config_.timeout_ms = static_cast<int>(timeout);
        break;
      }
      case kLexDefault:
      case kLexProxyFor: {
        int64_t id = GetSignedInt();
        if (id < -0x8000 || id >= 0x8000) {
          return Syntax("invalid target id (integer -32768..32767 expected)");
        }
        if (lexem == kLexDefault) {
          config_.default_cluster_id = static_cast<int32_t>(id);
          break;
        }
        if (Cur() != ' ' && Cur() != '\t') return Syntax("space expected after target id");
        SkipBlanks();
        target_dc = static_cast<int32_t>(id);
        [[fallthrough]];
      }
      case kLexProxy: {
        have_proxy = true;
        if (config_.clusters.size() >= kMaxConfigClusters) {
          return Syntax("too many auth clusters");
        }
        absl::StatusOr<uint32_t> target = ParseServerPort();
        if (!target.ok()) return target.status();
        auto found = config_.cluster_index_by_id.find(target_dc);
        if (found == config_.cluster_index_by_id.end()) {
          uint32_t index = static_cast<uint32_t>(config_.clusters.size());
          config_.clusters.push_back(MeCluster{target_dc, {*target}});
          config_.cluster_index_by_id.emplace(target_dc, index);
        } else if (found->second + 1 == config_.clusters.size()) {
          config_.clusters.back().target_indexes.push_back(*target);
        } else {
          return Syntax(absl::StrFormat("proxies for dc %d intermixed", target_dc));
        }
        break;
      }
      case kLexMaxConnections: {
        int value = static_cast<int32_t>(GetInt());
        if (value < min_connections_ || value > kMaxConnectionsLimit) {
          return Syntax("invalid max connections");
        }
        max_connections_ = value;
        break;
      }
      case kLexMinConnections: {
        int value = static_cast<int32_t>(GetInt());
        if (value < 1 || value > max_connections_) return Syntax("invalid min connections");
        min_connections_ = value;
        break;
      }
      default:
        return Syntax("'proxy <ip>:<port>;' expected");
    }
    GetLexem();
    if (lexem_ != ';') return Syntax("; expected");
  }
  if (!have_proxy) {
    return Syntax("expected to find a mtproto-proxy configuration with `proxy' directives");
  }

  config_.file_name = file_name_;
  config_.size_bytes = text_.size();
  Md5Digest md5 = Md5(ByteSpan(reinterpret_cast<const uint8_t*>(text_.data()), text_.size()));
  config_.md5_hex = HexEncode(md5);
  config_.RebuildIndex();
  return std::make_shared<const ProxyConfig>(std::move(config_));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ProxyConfig>> ParseProxyConfig(std::string_view text,
                                                                    std::string_view file_name,
                                                                    HostResolver& resolver) {
  ConfigParser parser(text, file_name, resolver);
  return parser.Parse();
}

absl::StatusOr<std::shared_ptr<const ProxyConfig>> LoadProxyConfig(const std::string& path,
                                                                   HostResolver& resolver) {
  absl::StatusOr<std::string> text = ReadProxyConfigFile(path);
  if (!text.ok()) return text.status();
  return ParseProxyConfig(*text, path, resolver);
}

}  // namespace mtp
