// Loading and validating the reloadable files into a ConfigSnapshot.
#include "control/runtime_config.h"

#include "absl/strings/str_format.h"
#include "control/ip_lists.h"
#include "control/toml_config.h"

namespace mtp {

absl::StatusOr<std::shared_ptr<const ConfigSnapshot>> LoadConfigSnapshot(
    const ParsedCommandLine& cli, HostResolver& resolver, const ConfigSnapshot* previous,
    int64_t now_unix, std::vector<std::string>* warnings) {
  auto snapshot = std::make_shared<ConfigSnapshot>();
  snapshot->generation = previous != nullptr ? previous->generation + 1 : 1;
  snapshot->loaded_at_unix = now_unix;
  snapshot->direct = cli.direct;
  snapshot->config_file = cli.config_file;

  // proxy-multi.conf: the middle-end table. Direct mode never reads it.
  if (!cli.direct) {
    if (cli.config_file.empty()) {
      return absl::FailedPreconditionError(
          "a <config-file> (proxy-multi.conf) is required unless --direct is given");
    }
    absl::StatusOr<std::shared_ptr<const ProxyConfig>> config =
        LoadProxyConfig(cli.config_file, resolver);
    if (!config.ok()) return config.status();
    snapshot->proxy_config = *std::move(config);
  }

  // The proxy secret shared with the middle-ends (only ME mode uses it).
  if (!cli.direct) {
    const std::string path = cli.AesPwdPath();
    absl::StatusOr<ProxySecret> secret = ProxySecret::Load(path);
    if (secret.ok()) {
      snapshot->proxy_secret = std::make_shared<const ProxySecret>(*std::move(secret));
    } else if (absl::IsNotFound(secret.status()) && !cli.aes_pwd_explicit() &&
               (previous == nullptr || previous->proxy_secret == nullptr)) {
      if (warnings != nullptr) {
        warnings->push_back(absl::StrFormat(
            "no proxy secret: the default file '%s' does not exist, middle-end handshakes will "
            "fail (pass --aes-pwd <file from https://core.telegram.org/getProxySecret>)",
            path));
      }
    } else {
      return secret.status();
    }
  }

  // Client secrets: -S (or the TOML file's, re-read here on every load), then the secret file.
  snapshot->secrets = cli.secrets;
  snapshot->secret_names = cli.secret_names;
  if (cli.secrets_from_toml && cli.config_toml) {
    absl::StatusOr<TomlSecrets> from_toml = LoadTomlSecrets(*cli.config_toml);
    if (!from_toml.ok()) return from_toml.status();
    snapshot->secrets = from_toml->secrets;
    snapshot->secret_names = from_toml->names;
    snapshot->secret_limits = from_toml->limits;
  }
  snapshot->secret_names.resize(snapshot->secrets.size());
  snapshot->secret_limits.resize(snapshot->secrets.size());
  if (cli.secret_file) {
    absl::StatusOr<std::vector<ClientSecret>> from_file = LoadClientSecretFile(*cli.secret_file);
    if (!from_file.ok()) return from_file.status();
    if (snapshot->secrets.size() + from_file->size() > kMaxClientSecrets) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "too many client secrets: %d from -S and %d from %s (at most %d in all)",
          snapshot->secrets.size(), from_file->size(), *cli.secret_file, kMaxClientSecrets));
    }
    snapshot->file_secret_count = from_file->size();
    snapshot->secrets.insert(snapshot->secrets.end(), from_file->begin(), from_file->end());
    snapshot->secret_names.resize(snapshot->secrets.size());  // file entries are unnamed
    snapshot->secret_limits.resize(snapshot->secrets.size());
  }
  if (!cli.domains.empty() && snapshot->secrets.empty()) {
    return absl::FailedPreconditionError(
        "You must specify at least one mtproto-secret to use when using TLS-transport");
  }
  if (snapshot->secrets.empty() && !cli.allow_no_secret) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "no client secret: %s has none and no -S is given (pass --allow-no-secret to accept "
        "clients without one)",
        cli.secret_file.value_or("--mtproto-secret-file")));
  }
  if (snapshot->secrets.empty() && warnings != nullptr) {
    warnings->push_back(
        "no client secret (-S or --mtproto-secret-file): clients are accepted with the "
        "secret-less obfuscated2 derivation");
  }
  const IpListPaths lists{cli.allow_list_file.value_or(""), cli.block_list_file.value_or("")};
  if (lists.any()) {
    absl::StatusOr<std::shared_ptr<const IpAccessLists>> loaded =
        LoadIpLists(lists, snapshot->generation);
    if (!loaded.ok()) return loaded.status();
    snapshot->ip_access = *std::move(loaded);
  }
  return std::shared_ptr<const ConfigSnapshot>(std::move(snapshot));
}

int ConfigSnapshotExitCode(const absl::Status& status) {
  if (status.ok()) return 0;
  if (absl::IsFailedPrecondition(status)) return 2;
  return ProxyConfigExitCode(status);
}

}  // namespace mtp
