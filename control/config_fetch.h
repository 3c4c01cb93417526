// One bounded download of one of Telegram's configuration files (getProxyConfig,
// getProxyConfigV6, getProxySecret) over HTTP(S) with libcurl, optionally through an HTTP or
// SOCKS5 proxy. The interface (ConfigFetcher) lets the refresh logic be tested with a fake.
//
// Thread ownership: a CurlFetcher is used by one thread at a time (the config refresh thread,
// or main at start-up); it never runs on a shard thread. Downloads block for at most
// FetchOptions::timeout_s.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace mtp {

// Telegram's published files (the defaults of --config-url, --secret-url).
inline constexpr char kDefaultConfigUrl[] = "https://core.telegram.org/getProxyConfig";
inline constexpr char kDefaultConfigUrlV6[] = "https://core.telegram.org/getProxyConfigV6";
inline constexpr char kDefaultSecretUrl[] = "https://core.telegram.org/getProxySecret";

struct FetchOptions {
  // libcurl's CURLOPT_PROXY: "" = none, "socks5h://HOST:PORT" (names resolved by the proxy),
  // "socks5://...", "http://HOST:PORT" (CONNECT for https URLs). Credentials may be in it.
  std::string proxy;
  int timeout_s = 30;          // the whole transfer, connection included
  int connect_timeout_s = 10;  // TCP (and proxy) connect
  // The real files are a few KiB; anything larger than this is refused while it arrives.
  size_t max_bytes = size_t{1} << 20;
};

// What a download failure was, as a status code (the refresh counts them by reason):
//   DeadlineExceeded  -> timed out (connect or transfer)
//   ResourceExhausted -> the body was larger than max_bytes
//   FailedPrecondition-> the server answered with an HTTP status other than 2xx
//   Unavailable       -> connection, DNS, proxy or TLS failure
//   InvalidArgument   -> the URL or the proxy URL is not usable (unsupported scheme)
class ConfigFetcher {
 public:
  virtual ~ConfigFetcher() = default;
  // The body of `url` (2xx answers only).
  virtual absl::StatusOr<std::string> Fetch(const std::string& url) = 0;
};

// The libcurl implementation. Only http:// and https:// URLs (also after redirects, at most
// 3); certificates are verified with the system store.
class CurlFetcher final : public ConfigFetcher {
 public:
  explicit CurlFetcher(FetchOptions options);
  absl::StatusOr<std::string> Fetch(const std::string& url) override;

 private:
  FetchOptions options_;
};

}  // namespace mtp
