// The optional TOML configuration file (--config FILE): every command-line option by its long
// name, named client secrets, strict validation with line numbers, and the subset SIGHUP
// re-reads (the client secrets). Layout and rules: docs/operators/cli.md.
//
//   config-file = "/var/lib/mtproto-proxy/proxy-multi.conf"   # the <config-file> operand
//   http-ports = [443]
//   domain = ["example.com"]
//   max-accept-rate = 200
//   http-stats = true
//   [[secret]]
//   name = "alice"
//   secret = "0123456789abcdef0123456789abcdef"   # any -S form
//   max-connections = 100        # optional limits of a named secret (secret_spec.h):
//   max-unique-ips = 5           #   max-unique-ips, unique-ips-window (s), quota-bytes
//   quota-bytes = "10G"          #   (integer, or K/M/G/T binary units), expires (RFC 3339
//   expires = 2027-01-01T00:00:00Z  #  date-time or unix seconds), enabled (default true)
//
// Precedence: an option given on the command line replaces the file's value entirely (for
// repeatable options too); the <config-file> operand likewise. Control thread, at start-up
// and on SIGHUP.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "control/cli.h"
#include "control/secret_spec.h"
#include "crypto/secret.h"

namespace mtp {

// What the file says, as command-line arguments (one "--name=value" or "--name" each, in file
// order) plus the secrets it names.
struct TomlConfig {
  std::vector<std::string> args;          // every key except the secrets and config-file
  std::vector<std::string> secret_args;   // "--mtproto-secret=..." for mtproto-secret and [[secret]]
  std::vector<std::string> secret_names;  // per secret_args entry, "" when unnamed
  std::vector<SecretLimitsSpec> secret_limits;  // per secret_args entry (none when unnamed)
  std::string config_file;                // config-file, or empty
};

// Parses and validates `content` (`path` names it in errors). Errors (InvalidArgument) read
// "<path>:<line>: <what>": TOML syntax, unknown keys, wrong types (a boolean for an option that
// takes a value, an array for one that cannot repeat, a table), values the option refuses
// (checked with the command-line parser), bad or duplicate secret names.
absl::StatusOr<TomlConfig> ParseTomlConfig(std::string_view content, std::string_view path);
// Reads `path` (at most 1 MiB) and parses it. NotFound when the file does not exist.
absl::StatusOr<TomlConfig> LoadTomlConfig(const std::string& path);

// The command line `argv` (argv[0] is the program) with --config FILE applied under it: the
// file's options that the command line does not give, then the command line. Returns the
// merged parse, or the error to print (exit code 2 for a bad file, as for a bad option; 1 when
// it cannot be read). Without --config, the plain parse.
CommandLineResult ParseCommandLineWithConfig(std::span<const std::string_view> argv);
CommandLineResult ParseCommandLineWithConfig(int argc, const char* const* argv);

// The reloadable part (SIGHUP): the file's client secrets and their names, in file order
// (mtproto-secret values first, then [[secret]] tables).
struct TomlSecrets {
  std::vector<ClientSecret> secrets;
  std::vector<std::string> names;  // "" for unnamed
  std::vector<SecretLimitsSpec> limits;  // same length; only named secrets have any
};
absl::StatusOr<TomlSecrets> LoadTomlSecrets(const std::string& path);

}  // namespace mtp
