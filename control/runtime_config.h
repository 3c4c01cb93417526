// ConfigSnapshot: the files the command line names (proxy-multi.conf, --mtproto-secret-file,
// --aes-pwd) loaded, validated against the command line, and frozen into one immutable value.
// Built at start-up and again on every SIGHUP; a load that fails leaves the running snapshot
// in place.
//
// Loading runs on the control thread (it reads files and may resolve host names). A snapshot
// is immutable once built and shared as shared_ptr<const>, so any thread may read it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/cli.h"
#include "control/proxy_config.h"
#include "control/secret_spec.h"
#include "crypto/proxy_secret.h"
#include "crypto/secret.h"
#include "proto/ip_access.h"

namespace mtp {

struct ConfigSnapshot {
  uint64_t generation = 0;     // 1 for the start-up load, +1 per successful reload
  int64_t loaded_at_unix = 0;  // when it was loaded (stats: config_loaded_at)

  // --direct: clients go straight to the DCs and no proxy-multi.conf is read.
  bool direct = false;
  std::string config_file;  // the positional argument (may be empty with --direct)
  // The parsed proxy-multi.conf; null in direct mode.
  std::shared_ptr<const ProxyConfig> proxy_config;
  // The --aes-pwd content; null when none is loaded (direct mode, or the default file "secret"
  // is missing, which the reference tolerates: ME handshakes then fail).
  std::shared_ptr<const ProxySecret> proxy_secret;

  // Client secrets: every -S in order, then the --mtproto-secret-file entries (at most 16).
  std::vector<ClientSecret> secrets;
  // The name of each secret (same length as `secrets`; "" = unnamed): the TOML [[secret]]
  // names. /metrics labels per-secret series with them.
  std::vector<std::string> secret_names;
  // The limits of each secret (same length; only named TOML secrets have any).
  std::vector<SecretLimitsSpec> secret_limits;
  size_t file_secret_count = 0;
  // --allow-list / --block-list as loaded for this generation (null: neither given). A
  // reload whose list files do not load fails as a whole: the running lists stay.
  std::shared_ptr<const IpAccessLists> ip_access;

  // Stats helpers.
  std::string aes_pwd_hash() const {
    return proxy_secret ? proxy_secret->Md5Hex() : ProxySecret::kNoHash;
  }
  size_t auth_clusters() const { return proxy_config ? proxy_config->clusters.size() : 0; }
};

// Loads every file and validates the combination:
//   * ME mode (no --direct): proxy-multi.conf must load (reference errors and exit codes);
//   * the proxy secret: an explicit --aes-pwd must load; the default "secret" may be missing
//     at start-up (a warning), but once a proxy secret was loaded a reload that cannot read it
//     fails instead of silently dropping it;
//   * --mtproto-secret-file must load; -S plus its entries at most kMaxClientSecrets;
//   * -D needs at least one secret after the file is read;
//   * no secret at all (an empty secret file and no -S) is refused unless --allow-no-secret.
// `previous` is the running snapshot (null at start-up); the result's generation follows it.
// `warnings` receives non-fatal remarks (may be null).
absl::StatusOr<std::shared_ptr<const ConfigSnapshot>> LoadConfigSnapshot(
    const ParsedCommandLine& cli, HostResolver& resolver, const ConfigSnapshot* previous,
    int64_t now_unix, std::vector<std::string>* warnings);

// The exit code for a start-up load failure: 2 for usage-like problems (too many secrets, -D
// without a secret, config read error or oversized config), 1 for everything else (config
// syntax, unresolvable host, unreadable or malformed secret files), as in the reference.
int ConfigSnapshotExitCode(const absl::Status& status);

}  // namespace mtp
