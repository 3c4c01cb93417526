// In-process refresh of Telegram's configuration: on an interval, download proxy-multi.conf
// (getProxyConfig, optionally merged with getProxyConfigV6) and the proxy secret
// (getProxySecret), validate both, keep the last good copy on disk (written atomically where the
// proxy reads them: the <config-file> operand and --aes-pwd) and ask the control thread to
// reload. A failed or rejected download leaves the files and the running configuration as they
// were; it is counted by reason and logged (rate-limited).
//
// Thread ownership: ConfigRefreshService runs its rounds on its own thread (never a shard
// thread; a download may block for --config-fetch-timeout seconds). The swap is the control
// thread's: the service only calls `on_changed`, and the control thread reloads as on SIGHUP.
// Stats() and NoteReloadFailed() may be called from any thread.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "control/cli.h"
#include "control/config_fetch.h"
#include "control/proxy_config.h"

namespace mtp {

// A downloaded proxy-multi.conf is sane when it parses and has between these many
// proxy_for/proxy lines (the published file has about 16), and names a default cluster that
// exists. Fewer lines means a truncated or placeholder file; more, something that is not
// Telegram's list.
inline constexpr size_t kMinRefreshTargetLines = 3;
inline constexpr size_t kMaxRefreshTargetLines = 1024;
// After a failed round the next one comes sooner than the interval: at most this many seconds.
inline constexpr int64_t kRefreshRetryS = 300;
// A failure with the same reason as the last one logged is logged again at most this often.
inline constexpr int64_t kRefreshLogEveryS = 600;

// Why a round did not install new files (the /metrics reason label, the /stats key suffix).
enum class RefreshReason : uint8_t {
  kNetwork,       // connection, DNS, proxy or TLS failure
  kTimeout,       // --config-fetch-timeout reached
  kHttpStatus,    // not a 2xx answer
  kTooLarge,      // body over the size bound
  kBadUrl,        // unusable URL or proxy URL
  kBadConfig,     // proxy-multi.conf does not parse (or resolve)
  kTargetCount,   // too few or too many proxy_for lines, or no default cluster
  kBadSecret,     // proxy secret not 32..256 bytes
  kWriteFailed,   // the last good copy could not be written
  kReloadFailed,  // written, but the control thread's reload refused it
  kCount,
};
std::string_view RefreshReasonName(RefreshReason reason);

struct RefreshFailure {
  RefreshReason reason = RefreshReason::kNetwork;
  std::string detail;
};

// The fetch status codes of config_fetch.h -> reason.
RefreshReason ReasonForFetchStatus(const absl::Status& status);

// Parses `text` with the proxy-multi.conf parser and applies the bounds above. Returns the
// number of proxy_for lines.
absl::StatusOr<size_t> ValidateDownloadedConfig(std::string_view text, HostResolver& resolver,
                                                size_t min_lines = kMinRefreshTargetLines,
                                                size_t max_lines = kMaxRefreshTargetLines);
// The IPv4 file with the IPv6 file's proxy_for lines appended (its own `default` and
// connection-count lines are dropped; the IPv4 file's stay in force).
std::string MergeV6Config(std::string_view v4_text, std::string_view v6_text);

// Writes `bytes` to `path` through "<path>.tmp" + fsync + rename, so a reader sees the old or
// the new file, never a partial one.
absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes, int mode);

struct RefreshOptions {
  std::string config_url = kDefaultConfigUrl;
  std::string config_url_v6;  // empty: not fetched
  std::string secret_url = kDefaultSecretUrl;
  std::string config_path;  // where the proxy reads proxy-multi.conf
  std::string secret_path;  // where the proxy reads the proxy secret
  size_t min_target_lines = kMinRefreshTargetLines;
  size_t max_target_lines = kMaxRefreshTargetLines;
};

// The refresh options of the command line (paths after ApplyConfigRefreshDefaults).
RefreshOptions RefreshOptionsFrom(const ParsedCommandLine& cli);
FetchOptions FetchOptionsFrom(const ParsedCommandLine& cli);
// With --config-refresh-interval or --fetch-config: the files default to
// <--config-cache-dir>/proxy-multi.conf and <--config-cache-dir>/proxy-secret when the
// <config-file> operand and --aes-pwd are not given.
void ApplyConfigRefreshDefaults(ParsedCommandLine& cli);

// What one round did.
struct RefreshResult {
  std::optional<RefreshFailure> failure;  // nullopt: both files are good
  bool changed = false;                   // a file on disk was replaced
  size_t target_lines = 0;
};

// Counters (a copy; any thread).
struct RefreshStats {
  int64_t rounds_ok = 0;      // rounds that ended with good files (changed or not)
  int64_t rounds_failed = 0;  // rounds that kept the current files
  int64_t installs = 0;       // rounds that replaced a file (and asked for a reload)
  std::array<int64_t, static_cast<size_t>(RefreshReason::kCount)> failures_by_reason{};
  int64_t last_ok_unix = 0;   // 0 = never
  int64_t target_lines = 0;   // of the last good download
};

// Decides whether a failure is logged: always when its reason differs from the last one
// logged, else once per kRefreshLogEveryS; counts what it suppresses.
class RefreshLogLimiter {
 public:
  // True: log now; *suppressed receives how many were skipped since the last logged one.
  bool Allow(RefreshReason reason, int64_t now_s, int64_t* suppressed);
  // A success re-arms it (the next failure is logged at once).
  void Reset() { last_reason_.reset(); }

 private:
  std::optional<RefreshReason> last_reason_;
  int64_t last_logged_s_ = 0;
  int64_t suppressed_ = 0;
};

class ConfigRefreshService {
 public:
  ConfigRefreshService(RefreshOptions options, int64_t interval_s,
                       std::unique_ptr<ConfigFetcher> fetcher,
                       std::unique_ptr<HostResolver> resolver);
  ~ConfigRefreshService();
  ConfigRefreshService(const ConfigRefreshService&) = delete;
  ConfigRefreshService& operator=(const ConfigRefreshService&) = delete;

  // One round on the calling thread: download, validate, write what changed. Counted and
  // logged like the background rounds. Not concurrently with the thread (use before Start).
  RefreshResult RunOnce(int64_t now_unix);

  // Starts the thread: the first round after `first_delay_s`, then every interval (after a
  // failure: min(interval, kRefreshRetryS)). `on_changed` runs on that thread after files
  // were replaced; it must only hand the reload to the control thread.
  void Start(std::function<void()> on_changed, int64_t first_delay_s);
  // Wakes and joins the thread (a download in progress finishes first, bounded by its
  // timeout). Idempotent.
  void Stop();

  // The control thread's reload refused what the last round installed.
  void NoteReloadFailed(const std::string& why);
  RefreshStats Stats() const;
  int64_t interval_s() const { return interval_s_; }

 private:
  void Loop(int64_t first_delay_s);
  std::optional<RefreshFailure> Download(std::string* config, std::string* secret,
                                         size_t* target_lines);
  void CountFailure(const RefreshFailure& failure, int64_t now_unix);

  const RefreshOptions options_;
  const int64_t interval_s_;
  std::unique_ptr<ConfigFetcher> fetcher_;
  std::unique_ptr<HostResolver> resolver_;
  std::function<void()> on_changed_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable wake_;
  bool stop_ = false;
  RefreshStats stats_;
  RefreshLogLimiter log_limiter_;
  std::thread thread_;
};

}  // namespace mtp
