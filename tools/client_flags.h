// Command-line flags shared by mtp-client and mtp-loadgen that describe how to reach the
// server (address, secret forms, transport, fake-TLS hello, DC id, sizes, padding), and their
// resolution into a ClientCodecConfig. Start-up only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "tools/client_codec.h"
#include "tools/echo_tracker.h"
#include "tools/flags.h"
#include "tools/net_util.h"

namespace mtp::tools {

struct ClientFlags {
  std::string server;
  std::string secret;
  std::string transport;
  std::string tls_domain;
  std::string hello = "legacy";
  std::string padding = "tdlib";
  std::string size = "256";
  int64_t tls_timestamp_offset = 0;
  int64_t dc = 2;
  int64_t tls_record_bytes = static_cast<int64_t>(kTdlibTlsRecordBytes);
  int64_t hello_records = 1;
  int64_t hello_byte_records = 0;
  bool plain = false;
};

void RegisterClientFlags(FlagParser& parser, ClientFlags* flags);

struct ResolvedClient {
  SocketAddress server;
  ClientCodecConfig codec;
  ClientPadding padding = ClientPadding::kTdlib;
  size_t size_min = 0;
  size_t size_max = 0;
};

// InvalidArgument with a message naming the flag.
absl::StatusOr<ResolvedClient> ResolveClientFlags(const ClientFlags& flags);

// "N" or "MIN-MAX", multiples of 4 within 56..1044480.
absl::Status ParseSizeRange(const std::string& text, size_t* min_out, size_t* max_out);

}  // namespace mtp::tools
