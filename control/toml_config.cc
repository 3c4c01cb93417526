// TOML configuration (toml++): keys checked against the option table, values checked by the
// command-line parser itself, so the file and the command line accept exactly the same things.
#include "control/toml_config.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <toml++/toml.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace mtp {
namespace {

constexpr size_t kMaxTomlBytes = 1 << 20;

// Options that do something else than configure the proxy.
constexpr std::string_view kNotInFile[] = {"help",      "version", "link", "generate-secret",
                                           "list-cpus", "config",  "check"};
// Options that may be given several times (an array in the file).
constexpr std::string_view kRepeatable[] = {"http-ports", "mtproto-secret", "domain",
                                            "nat-info", "dc-override", "domain-target",
                                            "stats-allow", "proxy-protocol-trusted"};

bool Contains(std::span<const std::string_view> list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

class TomlReader {
 public:
  explicit TomlReader(std::string_view path) : path_(path) {}

  absl::Status Error(const toml::node& at, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s:%d: %s", path_, at.source().begin.line, std::string(what)));
  }

  // A scalar as option text: strings as written, integers and floats in decimal.
  absl::StatusOr<std::string> Scalar(const toml::node& v, std::string_view key) const {
    if (auto s = v.value<std::string>(); s && v.is_string()) return *s;
    if (v.is_integer()) return absl::StrCat(*v.value<int64_t>());
    if (v.is_floating_point()) return absl::StrFormat("%g", *v.value<double>());
    return Error(v, absl::StrFormat("%s: expected a string or a number, not %s",
                                    std::string(key), TypeName(v)));
  }

  static std::string TypeName(const toml::node& v) {
    switch (v.type()) {
      case toml::node_type::table:
        return "a table";
      case toml::node_type::array:
        return "an array";
      case toml::node_type::string:
        return "a string";
      case toml::node_type::integer:
        return "an integer";
      case toml::node_type::floating_point:
        return "a float";
      case toml::node_type::boolean:
        return "a boolean";
      default:
        return "a date or time";
    }
  }

  // Checks one option argument with the command-line parser (an action option first, so no
  // whole-command-line rule applies).
  absl::Status CheckArg(const toml::node& at, std::string_view key, const std::string& arg) {
    std::vector<std::string_view> argv = {"mtproto-proxy", "--version", arg};
    CommandLineResult r = ParseCommandLine(argv);
    if (const auto* e = std::get_if<CommandLineError>(&r)) {
      std::string first = e->message.substr(0, e->message.find('\n'));
      return Error(at, absl::StrFormat("%s: %s", std::string(key), first));
    }
    return absl::OkStatus();
  }

  absl::Status Option(std::string_view key, const toml::node& v, TomlConfig& out) {
    std::optional<OptionInfo> info = FindLongOption(key);
    if (!info || Contains(kNotInFile, key)) {
      return Error(v, absl::StrFormat("unknown key '%s' (keys are the long option names of "
                                      "--help, config-file and [[secret]])",
                                      std::string(key)));
    }
    std::vector<std::string>& sink = key == "mtproto-secret" ? out.secret_args : out.args;
    auto add = [&](const toml::node& at, std::string arg) -> absl::Status {
      if (absl::Status st = CheckArg(at, key, arg); !st.ok()) return st;
      sink.push_back(std::move(arg));
      if (&sink == &out.secret_args) {
        out.secret_names.emplace_back();
        out.secret_limits.emplace_back();
      }
      return absl::OkStatus();
    };
    const std::string flag = absl::StrCat("--", std::string(key));
    if (!info->takes_value && !info->optional_value) {
      if (!v.is_boolean()) {
        return Error(v, absl::StrFormat("%s: expected true or false, not %s", std::string(key),
                                        TypeName(v)));
      }
      return *v.value<bool>() ? add(v, flag) : absl::OkStatus();
    }
    if (info->optional_value) {  // verbosity, daemonize, multithread
      if (v.is_boolean()) return add(v, absl::StrCat(flag, "=", *v.value<bool>() ? 1 : 0));
      if (!v.is_integer()) {
        return Error(v, absl::StrFormat("%s: expected an integer or a boolean, not %s",
                                        std::string(key), TypeName(v)));
      }
      return add(v, absl::StrCat(flag, "=", *v.value<int64_t>()));
    }
    if (const toml::array* list = v.as_array()) {
      if (!Contains(kRepeatable, key)) {
        return Error(v, absl::StrFormat("%s: takes one value, not an array", std::string(key)));
      }
      for (const toml::node& item : *list) {
        absl::StatusOr<std::string> text = Scalar(item, key);
        if (!text.ok()) return text.status();
        if (absl::Status st = add(item, absl::StrCat(flag, "=", *text)); !st.ok()) return st;
      }
      return absl::OkStatus();
    }
    absl::StatusOr<std::string> text = Scalar(v, key);
    if (!text.ok()) return text.status();
    return add(v, absl::StrCat(flag, "=", *text));
  }

  absl::Status Secrets(const toml::node& v, TomlConfig& out) {
    const toml::array* list = v.as_array();
    if (list == nullptr || !list->is_array_of_tables()) {
      return Error(v, "secret: expected [[secret]] tables (name = \"...\", secret = \"...\")");
    }
    for (const toml::node& item : *list) {
      const toml::table& t = *item.as_table();
      std::string name;
      std::optional<std::string> secret;
      SecretLimitsSpec limits;
      const toml::node* first_limit = nullptr;
      for (auto&& [k, field] : t) {
        const std::string_view key = k.str();
        if (key != "name" && key != "secret") {
          absl::Status st = Limit(key, field, limits);
          if (!st.ok()) return st;
          if (first_limit == nullptr) first_limit = &field;
          continue;
        }
        if (!field.is_string()) {
          return Error(field, absl::StrFormat("[[secret]] %s: expected a string, not %s",
                                              std::string(key), TypeName(field)));
        }
        if (key == "name") {
          name = *field.value<std::string>();
          const bool ok = !name.empty() && name.size() <= 64 &&
                          std::all_of(name.begin(), name.end(), [](char c) {
                            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                   (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
                          });
          if (!ok) {
            return Error(field, "[[secret]] name: 1..64 of A-Z a-z 0-9 _ - . (it becomes a "
                                "/metrics label)");
          }
          if (std::find(out.secret_names.begin(), out.secret_names.end(), name) !=
              out.secret_names.end()) {
            return Error(field, absl::StrFormat("[[secret]] name '%s' is used twice", name));
          }
        } else {
          secret = *field.value<std::string>();
          std::vector<std::string_view> argv = {"mtproto-proxy", "--version", "-S", *secret};
          if (std::holds_alternative<CommandLineError>(ParseCommandLine(argv))) {
            return Error(field, "[[secret]] secret: expected 32 hex digits, dd + 32 hex digits, "
                                "or ee + 32 hex digits + the domain in hex");
          }
        }
      }
      if (!secret) return Error(item, "[[secret]]: the secret key is missing");
      if (first_limit != nullptr && name.empty()) {
        return Error(*first_limit, "[[secret]]: limits need a name (they are kept and shown "
                                   "per name)");
      }
      out.secret_args.push_back(absl::StrCat("--mtproto-secret=", *secret));
      out.secret_names.push_back(name);
      out.secret_limits.push_back(limits);
    }
    return absl::OkStatus();
  }

  // One limit key of a [[secret]] table (secret_spec.h), into `limits`.
  absl::Status Limit(std::string_view key, const toml::node& v, SecretLimitsSpec& limits) {
    const std::string k(key);
    auto whole = [&](int64_t lo, int64_t hi, const char* what) -> absl::StatusOr<int64_t> {
      if (!v.is_integer() || *v.value<int64_t>() < lo || *v.value<int64_t>() > hi) {
        return Error(v, absl::StrFormat("[[secret]] %s: expected %s, a whole number %d..%d", k,
                                        what, lo, hi));
      }
      return *v.value<int64_t>();
    };
    if (key == "max-connections") {
      absl::StatusOr<int64_t> n = whole(1, 10000000, "the open connections allowed");
      if (!n.ok()) return n.status();
      limits.max_connections = static_cast<uint32_t>(*n);
    } else if (key == "max-unique-ips") {
      absl::StatusOr<int64_t> n = whole(1, 100000, "the client addresses allowed");
      if (!n.ok()) return n.status();
      limits.max_unique_ips = static_cast<uint32_t>(*n);
    } else if (key == "unique-ips-window") {
      absl::StatusOr<int64_t> n = whole(1, 30 * 86400, "seconds");
      if (!n.ok()) return n.status();
      limits.unique_ips_window_s = static_cast<uint32_t>(*n);
    } else if (key == "quota-bytes") {
      std::optional<uint64_t> bytes;
      if (v.is_integer() && *v.value<int64_t>() > 0) bytes = *v.value<int64_t>();
      if (v.is_string()) bytes = ParseByteSize(*v.value<std::string>());
      if (!bytes) {
        return Error(v, "[[secret]] quota-bytes: expected a positive number of bytes, as an "
                        "integer or a string with a K, M, G or T suffix (powers of 1024)");
      }
      limits.quota_bytes = *bytes;
    } else if (key == "expires") {
      std::optional<int64_t> at = ParseExpiry(v);
      if (!at) {
        return Error(v, "[[secret]] expires: expected an RFC 3339 date-time with its offset "
                        "(2027-01-31T00:00:00Z, bare or quoted) or unix seconds (integer)");
      }
      limits.expires_unix = *at;
    } else if (key == "enabled") {
      if (!v.is_boolean()) {
        return Error(v, absl::StrFormat("[[secret]] enabled: expected true or false, not %s",
                                        TypeName(v)));
      }
      limits.enabled = *v.value<bool>();
    } else {
      return Error(v, absl::StrFormat(
                          "[[secret]]: unknown key '%s' (name, secret, max-connections, "
                          "max-unique-ips, unique-ips-window, quota-bytes, expires, enabled)",
                          k));
    }
    return absl::OkStatus();
  }

  // "123", "10K", "1.5G"? No: whole numbers only, with an optional K/M/G/T (1024^n) suffix.
  static std::optional<uint64_t> ParseByteSize(std::string_view text) {
    if (text.empty()) return std::nullopt;
    uint64_t scale = 1;
    switch (text.back()) {
      case 'K': case 'k': scale = uint64_t{1} << 10; break;
      case 'M': case 'm': scale = uint64_t{1} << 20; break;
      case 'G': case 'g': scale = uint64_t{1} << 30; break;
      case 'T': case 't': scale = uint64_t{1} << 40; break;
      default: break;
    }
    if (scale != 1) text.remove_suffix(1);
    if (text.empty() || text.size() > 15) return std::nullopt;
    uint64_t n = 0;
    for (char c : text) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (n == 0 || n > (uint64_t{1} << 62) / scale) return std::nullopt;
    return n * scale;
  }

  // A TOML offset date-time, an RFC 3339 string, or unix seconds (> 0).
  static std::optional<int64_t> ParseExpiry(const toml::node& v) {
    if (v.is_integer()) {
      const int64_t n = *v.value<int64_t>();
      return n > 0 ? std::optional<int64_t>(n) : std::nullopt;
    }
    std::string text;
    if (v.is_date_time()) {
      const toml::date_time dt = *v.value<toml::date_time>();
      if (!dt.offset) return std::nullopt;  // a local date-time names no instant
      std::ostringstream os;
      os << dt;
      text = os.str();
    } else if (v.is_string()) {
      text = *v.value<std::string>();
    } else {
      return std::nullopt;
    }
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return std::nullopt;
    const int64_t unix = absl::ToUnixSeconds(t);
    return unix > 0 ? std::optional<int64_t>(unix) : std::nullopt;
  }

 private:
  std::string path_;
};

}  // namespace

absl::StatusOr<TomlConfig> ParseTomlConfig(std::string_view content, std::string_view path) {
  toml::table root;
  try {
    // Cold path, start-up and SIGHUP only: toml++ reports syntax errors as exceptions.
    root = toml::parse(content, path);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s:%d: %s", std::string(path), e.source().begin.line, std::string(e.description())));
  }
  TomlReader reader(path);
  TomlConfig out;
  for (auto&& [k, v] : root) {
    const std::string_view key = k.str();
    absl::Status st;
    if (key == "secret") {
      st = reader.Secrets(v, out);
    } else if (key == "config-file") {
      if (!v.is_string() || v.value<std::string>()->empty()) {
        st = reader.Error(v, "config-file: expected a file name (string)");
      } else {
        out.config_file = *v.value<std::string>();
      }
    } else if (v.is_table()) {
      st = reader.Error(v, absl::StrFormat("unknown table [%s]", std::string(key)));
    } else {
      st = reader.Option(key, v, out);
    }
    if (!st.ok()) return st;
  }
  if (out.secret_args.size() > kMaxClientSecrets) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %d secrets, at most %d",
                                                      std::string(path), out.secret_args.size(),
                                                      kMaxClientSecrets));
  }
  return out;
}

absl::StatusOr<TomlConfig> LoadTomlConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (access(path.c_str(), F_OK) != 0) {
      return absl::NotFoundError(absl::StrCat("cannot read ", path, ": no such file"));
    }
    return absl::PermissionDeniedError(absl::StrCat("cannot read ", path));
  }
  std::string content(kMaxTomlBytes + 1, '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<size_t>(in.gcount()));
  if (content.size() > kMaxTomlBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": larger than 1 MiB"));
  }
  return ParseTomlConfig(content, path);
}

CommandLineResult ParseCommandLineWithConfig(std::span<const std::string_view> argv) {
  if (argv.empty()) return ParseCommandLine(argv);
  // A first pass finds --config and what the command line gives; --version in front makes it
  // skip the whole-command-line rules (a config-file from the file is not there yet). The
  // command line's own action, if any, comes later and wins.
  std::vector<std::string_view> probe_argv = {argv[0], "--version"};
  probe_argv.insert(probe_argv.end(), argv.begin() + 1, argv.end());
  CommandLineResult probe = ParseCommandLine(probe_argv);
  const auto* given = std::get_if<ParsedCommandLine>(&probe);
  if (given == nullptr || !given->config_toml) return ParseCommandLine(argv);

  absl::StatusOr<TomlConfig> file = LoadTomlConfig(*given->config_toml);
  if (!file.ok()) {
    const bool unreadable = absl::IsNotFound(file.status()) ||
                            absl::IsPermissionDenied(file.status());
    return CommandLineError{
        unreadable ? 1 : 2,
        absl::StrCat(file.status().message(), "\nhint: --config <file>: the TOML keys are the "
                     "long option names; see docs/operators/cli.md\n"),
        ""};
  }
  auto on_command_line = [&](std::string_view name) {
    return std::find(given->given_options.begin(), given->given_options.end(), name) !=
           given->given_options.end();
  };
  std::vector<std::string> storage;
  for (const std::string& arg : file->args) {
    const std::string_view name = std::string_view(arg).substr(2, arg.find('=') - 2);
    if (!on_command_line(name)) storage.push_back(arg);
  }
  const bool secrets_from_file = !on_command_line("mtproto-secret") && !file->secret_args.empty();
  if (secrets_from_file) {
    storage.insert(storage.end(), file->secret_args.begin(), file->secret_args.end());
  }
  std::vector<std::string_view> merged = {argv[0]};
  merged.insert(merged.end(), storage.begin(), storage.end());
  merged.insert(merged.end(), argv.begin() + 1, argv.end());
  if (!file->config_file.empty() && given->operand_count == 0) {
    merged.push_back("--");
    merged.push_back(file->config_file);
  }
  CommandLineResult result = ParseCommandLine(merged);
  if (auto* cli = std::get_if<ParsedCommandLine>(&result); cli && secrets_from_file) {
    cli->secret_names = file->secret_names;
    cli->secrets_from_toml = true;
  }
  return result;
}

CommandLineResult ParseCommandLineWithConfig(int argc, const char* const* argv) {
  std::vector<std::string_view> args;
  for (int i = 0; i < argc; ++i) args.emplace_back(argv[i]);
  return ParseCommandLineWithConfig(args);
}

absl::StatusOr<TomlSecrets> LoadTomlSecrets(const std::string& path) {
  absl::StatusOr<TomlConfig> file = LoadTomlConfig(path);
  if (!file.ok()) return file.status();
  std::vector<std::string_view> argv = {"mtproto-proxy", "--version"};
  argv.insert(argv.end(), file->secret_args.begin(), file->secret_args.end());
  CommandLineResult r = ParseCommandLine(argv);
  if (const auto* e = std::get_if<CommandLineError>(&r)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e->message.substr(0, e->message.find('\n'))));
  }
  TomlSecrets out;
  out.secrets = std::get<ParsedCommandLine>(r).secrets;
  out.names = file->secret_names;
  out.limits = file->secret_limits;
  return out;
}

}  // namespace mtp
