// --link: links and QR codes for every configured secret.
#include "control/link_command.h"

#include <arpa/inet.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "control/qr_text.h"
#include "crypto/secret.h"

namespace mtp {

LinkServerChoice ChooseLinkServerFor(const ParsedCommandLine& cli,
                                     const std::vector<InterfaceAddress>& interfaces) {
  LinkServerSources sources;
  sources.public_host = cli.public_host;
  if (!cli.nat_rules.empty()) sources.nat_global_ipv4 = cli.nat_rules[0].global_ipv4;
  sources.bind_ipv4 = cli.bind_ipv4;
  std::optional<PublicAddress> detected = ChoosePublicAddress(interfaces);
  if (detected) sources.detected = detected->text;
  LinkServerChoice choice;
  choice.server = ChooseLinkServer(sources);
  const bool from_interfaces = !(cli.public_host && !cli.public_host->empty()) &&
                               cli.nat_rules.empty() && cli.bind_ipv4.value_or(0) == 0;
  if (choice.server == kUnknownLinkServer) {
    choice.warning = absl::StrFormat(
        "no public address known for the links: replace %s, or pass --public-host",
        kUnknownLinkServer);
  } else if (from_interfaces && detected && detected->is_private) {
    choice.warning = absl::StrFormat(
        "the links use the private address %s (this host has no global one); pass "
        "--public-host (or --nat-info) if clients reach this server through another address",
        choice.server);
  }
  return choice;
}

int RunLinkCommand(const ParsedCommandLine& cli, std::string* out, std::string* err) {
  if (cli.client_ports.empty() || cli.client_ports[0] == 0) {
    absl::StrAppend(err, "--link needs the client port: pass -H <port> (not 0)\n");
    return 2;
  }
  std::vector<ClientSecret> secrets = cli.secrets;
  if (cli.secret_file) {
    absl::StatusOr<std::vector<ClientSecret>> from_file = LoadClientSecretFile(*cli.secret_file);
    if (!from_file.ok()) {
      absl::StrAppend(err, from_file.status().message(), "\n");
      return 1;
    }
    secrets.insert(secrets.end(), from_file->begin(), from_file->end());
  }
  if (secrets.empty()) {
    absl::StrAppend(err, "--link: no client secret (-S or --mtproto-secret-file)\n");
    return 2;
  }
  const LinkServerChoice choice = ChooseLinkServerFor(cli, ListInterfaceAddresses());
  if (!choice.warning.empty()) absl::StrAppend(err, "warning: ", choice.warning, "\n");
  const std::vector<ProxyLink> links =
      BuildProxyLinks(choice.server, cli.client_ports[0], secrets, cli.domains, cli.tls_link_label);
  for (const ProxyLink& link : links) {
    const std::string what =
        link.mode == SecretMode::kFakeTls
            ? absl::StrCat("ee, ", link.domain, link.pattern.empty() ? "" : " for ", link.pattern)
        : link.mode == SecretMode::kPadded ? std::string("dd")
                                           : std::string("plain");
    absl::StrAppend(out, "secret #", link.secret_index, " (", what, ")\n  ", link.tg, "\n  ",
                    link.tme, "\n");
    // One code per form a client should use: dd (or ee with -D), not the plain form.
    if (link.mode == SecretMode::kPlain) continue;
    absl::StatusOr<std::vector<std::vector<bool>>> qr = EncodeQr(link.tme);
    if (!qr.ok()) {
      absl::StrAppend(err, "warning: ", qr.status().message(), "\n");
      continue;
    }
    absl::StrAppend(out, DrawQr(*qr));
  }
  return 0;
}

}  // namespace mtp
