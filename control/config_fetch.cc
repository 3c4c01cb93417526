// libcurl easy interface, one handle per download (the refresh runs hours apart, so reusing
// connections is not worth keeping state).
#include "control/config_fetch.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

#include "absl/strings/str_format.h"

namespace mtp {
namespace {

struct Sink {
  std::string body;
  size_t max_bytes = 0;
  bool too_large = false;
};

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (sink->body.size() + n > sink->max_bytes) {
    sink->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  sink->body.append(data, n);
  return n;
}

// curl_global_init is not safe to race with other libcurl calls: once per process.
void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

CurlFetcher::CurlFetcher(FetchOptions options) : options_(std::move(options)) { GlobalInitOnce(); }

absl::StatusOr<std::string> CurlFetcher::Fetch(const std::string& url) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::InternalError("curl_easy_init failed");
  CURL* h = curl.get();
  Sink sink;
  sink.max_bytes = options_.max_bytes;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, static_cast<long>(options_.timeout_s));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout_s));
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_bytes));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "mtproxy-ng config refresh");
  // Never let the environment (http_proxy, ...) choose a proxy: only --config-proxy does.
  curl_easy_setopt(h, CURLOPT_PROXY, options_.proxy.c_str());
  if (options_.proxy.empty()) curl_easy_setopt(h, CURLOPT_NOPROXY, "*");

  const CURLcode rc = curl_easy_perform(h);
  const std::string what = error[0] != 0 ? std::string(error) : curl_easy_strerror(rc);
  if (sink.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%s: larger than %d bytes", url, options_.max_bytes));
  }
  switch (rc) {
    case CURLE_OK:
      break;
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(absl::StrFormat("%s: %s", url, what));
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return absl::InvalidArgumentError(absl::StrFormat("%s: %s", url, what));
    default:
      return absl::UnavailableError(absl::StrFormat("%s: %s", url, what));
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    return absl::FailedPreconditionError(absl::StrFormat("%s: HTTP status %d", url, status));
  }
  return std::move(sink.body);
}

}  // namespace mtp
