// Download, validate, keep the last good copy, hand the reload to the control thread.
#include "control/config_refresh.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/ascii.h"
#include "core/log.h"
#include "crypto/proxy_secret.h"

namespace mtp {
namespace {

// The current content of `path`, or nullopt when it cannot be read.
std::optional<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int64_t WallNow() { return static_cast<int64_t>(time(nullptr)); }

}  // namespace

std::string_view RefreshReasonName(RefreshReason reason) {
  switch (reason) {
    case RefreshReason::kNetwork:
      return "network";
    case RefreshReason::kTimeout:
      return "timeout";
    case RefreshReason::kHttpStatus:
      return "http_status";
    case RefreshReason::kTooLarge:
      return "too_large";
    case RefreshReason::kBadUrl:
      return "bad_url";
    case RefreshReason::kBadConfig:
      return "bad_config";
    case RefreshReason::kTargetCount:
      return "target_count";
    case RefreshReason::kBadSecret:
      return "bad_secret";
    case RefreshReason::kWriteFailed:
      return "write_failed";
    case RefreshReason::kReloadFailed:
      return "reload_failed";
    case RefreshReason::kCount:
      break;
  }
  return "unknown";
}

RefreshReason ReasonForFetchStatus(const absl::Status& status) {
  if (absl::IsDeadlineExceeded(status)) return RefreshReason::kTimeout;
  if (absl::IsResourceExhausted(status)) return RefreshReason::kTooLarge;
  if (absl::IsFailedPrecondition(status)) return RefreshReason::kHttpStatus;
  if (absl::IsInvalidArgument(status)) return RefreshReason::kBadUrl;
  return RefreshReason::kNetwork;
}

absl::StatusOr<size_t> ValidateDownloadedConfig(std::string_view text, HostResolver& resolver,
                                                size_t min_lines, size_t max_lines) {
  absl::StatusOr<std::shared_ptr<const ProxyConfig>> config =
      ParseProxyConfig(text, "downloaded config", resolver);
  if (!config.ok()) return config.status();
  const size_t lines = (*config)->target_lines;
  if (lines < min_lines || lines > max_lines) {
    return absl::OutOfRangeError(
        absl::StrFormat("downloaded config has %d proxy_for lines, expected %d..%d", lines,
                        min_lines, max_lines));
  }
  if (!(*config)->default_cluster_index) {
    return absl::OutOfRangeError(absl::StrFormat(
        "downloaded config has no proxy_for line for its default cluster %d",
        (*config)->default_cluster_id));
  }
  return lines;
}

namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    while (!line.empty() && absl::ascii_isspace(static_cast<unsigned char>(line.front()))) {
      line.remove_prefix(1);
    }
    while (!line.empty() && absl::ascii_isspace(static_cast<unsigned char>(line.back()))) {
      line.remove_suffix(1);
    }
    out.push_back(line);
    pos = end + 1;
  }
  return out;
}

// "proxy_for ID ..." -> "ID"; empty for other lines.
std::string_view ProxyForId(std::string_view line) {
  if (!line.starts_with("proxy_for ")) return {};
  line.remove_prefix(10);
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  return line.substr(0, line.find(' '));
}

}  // namespace

std::string MergeV6Config(std::string_view v4_text, std::string_view v6_text) {
  // The grammar wants each DC's lines together: a DC's IPv6 lines go right after its IPv4
  // ones; DCs only the IPv6 file names go at the end.
  std::vector<std::pair<std::string_view, std::string_view>> v6;  // id, line
  for (std::string_view line : Lines(v6_text)) {
    std::string_view id = ProxyForId(line);
    if (!id.empty()) v6.emplace_back(id, line);
  }
  std::vector<bool> used(v6.size(), false);
  auto append_v6 = [&](std::string_view id, std::string* out) {
    for (size_t i = 0; i < v6.size(); ++i) {
      if (!used[i] && v6[i].first == id) {
        out->append(v6[i].second);
        *out += '\n';
        used[i] = true;
      }
    }
  };
  std::vector<std::string_view> v4 = Lines(v4_text);
  std::string out;
  for (size_t i = 0; i < v4.size(); ++i) {
    out.append(v4[i]);
    out += '\n';
    std::string_view id = ProxyForId(v4[i]);
    const bool last_of_run = !id.empty() && (i + 1 == v4.size() || ProxyForId(v4[i + 1]) != id);
    if (last_of_run) append_v6(id, &out);
  }
  for (size_t i = 0; i < v6.size(); ++i) {
    if (!used[i]) append_v6(v6[i].first, &out);
  }
  return out;
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes, int mode) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::InternalError(absl::StrFormat("cannot write %s: %s", tmp, strerror(errno)));
  }
  fchmod(fd, static_cast<mode_t>(mode));  // an older tmp file may have another mode
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return absl::InternalError(absl::StrFormat("cannot write %s: %s", tmp, strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrFormat("cannot write %s: %s", tmp, strerror(err)));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrFormat("cannot rename %s to %s: %s", tmp, path, strerror(err)));
  }
  return absl::OkStatus();
}

RefreshOptions RefreshOptionsFrom(const ParsedCommandLine& cli) {
  RefreshOptions o;
  o.config_url = cli.config_url;
  o.config_url_v6 = cli.config_url_v6;
  o.secret_url = cli.secret_url;
  o.config_path = cli.config_file;
  o.secret_path = cli.AesPwdPath();
  return o;
}

FetchOptions FetchOptionsFrom(const ParsedCommandLine& cli) {
  FetchOptions o;
  o.proxy = cli.config_proxy;
  o.timeout_s = cli.config_fetch_timeout_s;
  o.connect_timeout_s = std::min(cli.config_fetch_timeout_s, 10);
  return o;
}

void ApplyConfigRefreshDefaults(ParsedCommandLine& cli) {
  const bool refreshing =
      cli.action == CommandLineAction::kFetchConfig || cli.config_refresh_interval_s > 0;
  if (!refreshing || cli.direct) return;
  std::string dir = cli.config_cache_dir.empty() ? "." : cli.config_cache_dir;
  if (cli.config_file.empty()) cli.config_file = dir + "/proxy-multi.conf";
  if (!cli.aes_pwd_file) cli.aes_pwd_file = dir + "/proxy-secret";
}

bool RefreshLogLimiter::Allow(RefreshReason reason, int64_t now_s, int64_t* suppressed) {
  if (last_reason_ == reason && now_s - last_logged_s_ < kRefreshLogEveryS) {
    ++suppressed_;
    return false;
  }
  *suppressed = suppressed_;
  suppressed_ = 0;
  last_reason_ = reason;
  last_logged_s_ = now_s;
  return true;
}

ConfigRefreshService::ConfigRefreshService(RefreshOptions options, int64_t interval_s,
                                           std::unique_ptr<ConfigFetcher> fetcher,
                                           std::unique_ptr<HostResolver> resolver)
    : options_(std::move(options)),
      interval_s_(interval_s),
      fetcher_(std::move(fetcher)),
      resolver_(std::move(resolver)) {}

ConfigRefreshService::~ConfigRefreshService() { Stop(); }

std::optional<RefreshFailure> ConfigRefreshService::Download(std::string* config,
                                                             std::string* secret,
                                                             size_t* target_lines) {
  auto fetch = [&](const std::string& url, std::string* out) -> std::optional<RefreshFailure> {
    absl::StatusOr<std::string> body = fetcher_->Fetch(url);
    if (!body.ok()) {
      return RefreshFailure{ReasonForFetchStatus(body.status()), std::string(body.status().message())};
    }
    *out = *std::move(body);
    return std::nullopt;
  };
  if (auto f = fetch(options_.config_url, config)) return f;
  if (!options_.config_url_v6.empty()) {
    std::string v6;
    if (auto f = fetch(options_.config_url_v6, &v6)) return f;
    // The IPv6 file alone must be well-formed too, so a broken one is named as such.
    absl::StatusOr<size_t> v6_lines =
        ValidateDownloadedConfig(v6, *resolver_, 1, options_.max_target_lines);
    if (!v6_lines.ok()) {
      return RefreshFailure{absl::IsOutOfRange(v6_lines.status()) ? RefreshReason::kTargetCount
                                                                  : RefreshReason::kBadConfig,
                            absl::StrCat(options_.config_url_v6, ": ", v6_lines.status().message())};
    }
    *config = MergeV6Config(*config, v6);
  }
  absl::StatusOr<size_t> lines = ValidateDownloadedConfig(
      *config, *resolver_, options_.min_target_lines, options_.max_target_lines);
  if (!lines.ok()) {
    return RefreshFailure{absl::IsOutOfRange(lines.status()) ? RefreshReason::kTargetCount
                                                             : RefreshReason::kBadConfig,
                          absl::StrCat(options_.config_url, ": ", lines.status().message())};
  }
  *target_lines = *lines;
  if (auto f = fetch(options_.secret_url, secret)) return f;
  absl::StatusOr<ProxySecret> parsed = ProxySecret::FromBytes(
      ByteSpan(reinterpret_cast<const uint8_t*>(secret->data()), secret->size()));
  if (!parsed.ok()) {
    return RefreshFailure{RefreshReason::kBadSecret,
                          absl::StrFormat("%s: %d bytes, expected %d..%d", options_.secret_url,
                                          secret->size(), ProxySecret::kMinBytes,
                                          ProxySecret::kMaxBytes)};
  }
  return std::nullopt;
}

void ConfigRefreshService::CountFailure(const RefreshFailure& failure, int64_t now_unix) {
  int64_t suppressed = 0;
  bool log = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.rounds_failed;
    ++stats_.failures_by_reason[static_cast<size_t>(failure.reason)];
    log = log_limiter_.Allow(failure.reason, now_unix, &suppressed);
  }
  if (log) {
    MTP_WARN("config refresh failed (%s): %s; the current configuration stays in use%s",
             RefreshReasonName(failure.reason), failure.detail,
             suppressed > 0 ? absl::StrFormat(" (%d similar failures not logged)", suppressed)
                            : std::string());
  }
}

RefreshResult ConfigRefreshService::RunOnce(int64_t now_unix) {
  RefreshResult result;
  std::string config, secret;
  result.failure = Download(&config, &secret, &result.target_lines);
  if (!result.failure) {
    // Keep the last good copy: replace only what differs, each file atomically.
    bool config_changed = ReadWhole(options_.config_path) != config;
    bool secret_changed = ReadWhole(options_.secret_path) != secret;
    absl::Status st = absl::OkStatus();
    if (secret_changed) st = WriteFileAtomically(options_.secret_path, secret, 0640);
    if (st.ok() && config_changed) st = WriteFileAtomically(options_.config_path, config, 0644);
    if (!st.ok()) {
      result.failure = RefreshFailure{RefreshReason::kWriteFailed, std::string(st.message())};
    } else {
      result.changed = config_changed || secret_changed;
    }
  }
  if (result.failure) {
    CountFailure(*result.failure, now_unix);
    return result;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.rounds_ok;
    if (result.changed) ++stats_.installs;
    stats_.last_ok_unix = now_unix;
    stats_.target_lines = static_cast<int64_t>(result.target_lines);
    log_limiter_.Reset();
  }
  if (result.changed) {
    MTP_LOG(0, "config refresh: new files installed (%s: %d proxy_for lines, %s)",
            options_.config_path, result.target_lines, options_.secret_path);
  } else {
    MTP_LOG(1, "config refresh: %s and %s unchanged", options_.config_path, options_.secret_path);
  }
  return result;
}

void ConfigRefreshService::NoteReloadFailed(const std::string& why) {
  CountFailure(RefreshFailure{RefreshReason::kReloadFailed, why}, WallNow());
}

RefreshStats ConfigRefreshService::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void ConfigRefreshService::Start(std::function<void()> on_changed, int64_t first_delay_s) {
  on_changed_ = std::move(on_changed);
  thread_ = std::thread([this, first_delay_s] { Loop(first_delay_s); });
}

void ConfigRefreshService::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ConfigRefreshService::Loop(int64_t first_delay_s) {
  int64_t delay_s = first_delay_s;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (wake_.wait_for(lock, std::chrono::seconds(delay_s), [this] { return stop_; })) return;
    }
    RefreshResult r = RunOnce(WallNow());
    if (r.changed && on_changed_) on_changed_();
    delay_s = r.failure ? std::min(interval_s_, kRefreshRetryS) : interval_s_;
  }
}

}  // namespace mtp
