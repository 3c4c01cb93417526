// --upstream-socks5 and its credentials: the command line's server address and
// user name, plus the password read once from --upstream-socks5-pass-file,
// checked against RFC 1929's bounds, as the dataplane takes them
// (DataplaneConfig::UpstreamSocks5).
//
// Thread ownership: the control thread at start-up (before privileges are
// dropped, so the password file may be readable by root only).
#pragma once

#include "absl/status/statusor.h"
#include "control/cli.h"
#include "dataplane/dataplane_config.h"

namespace mtp {

// Needs cli.upstream_socks5. The password file must hold 1..255 bytes (one
// trailing "\n" or
// "\r\n" is not part of it); the error names the file, never its content.
absl::StatusOr<DataplaneConfig::UpstreamSocks5> LoadUpstreamSocks5(const ParsedCommandLine& cli);

}  // namespace mtp
