// `mtproto-proxy --link`: the proxy links of the configured secrets (tg:// and https://t.me)
// with a terminal QR code each, printed without serving; and the server-address rule the
// start-up links log shares with it.
//
// Control thread (or main before anything runs); reads the secret file, lists interfaces.
#pragma once

#include <string>
#include <vector>

#include "control/cli.h"
#include "control/links.h"

namespace mtp {

// The server the links name, and a warning when it is a guess an operator should check
// (a private address, or the SERVER_IP placeholder). Rule: --public-host, else the first
// --nat-info global address, else --address (unless 0.0.0.0), else ChoosePublicAddress() of
// this host's interfaces, else SERVER_IP.
struct LinkServerChoice {
  std::string server;
  std::string warning;  // empty when nothing to say
};
LinkServerChoice ChooseLinkServerFor(const ParsedCommandLine& cli,
                                     const std::vector<InterfaceAddress>& interfaces);

// Runs --link: writes the links (and QR codes unless `with_qr` is false) to `out`, errors to
// `err`; returns the exit code (0, or 2 for a missing -H port / secret, 1 for an unreadable
// secret file). The secrets are -S then the --mtproto-secret-file entries, as when serving.
int RunLinkCommand(const ParsedCommandLine& cli, std::string* out, std::string* err);

}  // namespace mtp
