// Loading the --upstream-socks5 settings (see the header).
#include "control/upstream_socks5_config.h"

#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_format.h"
#include "proto/socks5.h"

namespace mtp {

absl::StatusOr<DataplaneConfig::UpstreamSocks5> LoadUpstreamSocks5(const ParsedCommandLine& cli) {
  if (!cli.upstream_socks5) return absl::InvalidArgumentError("no --upstream-socks5 server");
  DataplaneConfig::UpstreamSocks5 out;
  out.server = *cli.upstream_socks5;
  if (!cli.upstream_socks5_user) return out;
  out.user = *cli.upstream_socks5_user;
  if (!cli.upstream_socks5_password_file) {
    return absl::InvalidArgumentError("--upstream-socks5-user needs --upstream-socks5-pass-file");
  }
  const std::string& path = *cli.upstream_socks5_password_file;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrFormat("--upstream-socks5-pass-file: cannot read '%s'", path));
  }
  // One byte more than allowed is enough to refuse an oversized file.
  std::string password;
  password.resize(kSocks5MaxCredentialBytes + 3);
  in.read(password.data(), static_cast<std::streamsize>(password.size()));
  password.resize(static_cast<size_t>(in.gcount()));
  if (!password.empty() && password.back() == '\n') password.pop_back();
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty() || password.size() > kSocks5MaxCredentialBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--upstream-socks5-pass-file '%s': the password must be 1 to 255 bytes", path));
  }
  out.password = std::move(password);
  return out;
}

}  // namespace mtp
