// ClientCodec: glue between the project's client-side codecs and the peers' byte buffers.
#include "tools/client_codec.h"

#include <time.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "proto/fake_tls_common.h"
#include "proto/fake_tls_hello_reassembly.h"
#include "proto/obfuscated2.h"
#include "proto/framing.h"

namespace mtp::tools {

std::optional<Transport> ParseTransportName(std::string_view name) {
  for (Transport t : {Transport::kAbridged, Transport::kIntermediate, Transport::kPadded}) {
    if (TransportName(t) == name) return t;
  }
  return std::nullopt;
}

absl::StatusOr<ClientCodec> ClientCodec::Create(const ClientCodecConfig& config) {
  ClientCodec codec(config);
  codec.tls_ = !config.tls_domain.empty();
  if (codec.tls_ && !config.secret.has_value()) {
    return absl::InvalidArgumentError("fake-TLS needs a secret");
  }
  if (config.tls_record_bytes == 0 || config.tls_record_bytes > 65535) {
    return absl::InvalidArgumentError("TLS record size must be 1..65535");
  }
  if (config.plain) {
    if (codec.tls_) return absl::InvalidArgumentError("plain mode has no fake-TLS");
    return codec;  // no header, no keys: Start() sends nothing, the stream stays clear
  }
  const ClientSecret* secret = config.secret.has_value() ? &*config.secret : nullptr;
  absl::StatusOr<Obfuscated2ClientHandshake> hs =
      BuildObfuscated2ClientHeader(secret, config.transport, config.dc_id);
  if (!hs.ok()) return hs.status();
  codec.header_.assign(hs->header.begin(), hs->header.end());
  codec.encrypt_ = std::move(hs->encrypt);
  codec.decrypt_ = std::move(hs->decrypt);
  if (codec.tls_) {
    const int32_t ts = static_cast<int32_t>(time(nullptr)) + config.tls_timestamp_offset_s;
    absl::StatusOr<std::vector<uint8_t>> hello =
        BuildClientHello(*config.secret, config.tls_domain, ts, config.hello_layout);
    if (!hello.ok()) return hello.status();
    codec.hello_ = *std::move(hello);
    std::memcpy(codec.client_random_.data(), codec.hello_.data() + kHelloRandomOffset,
                codec.client_random_.size());
  }
  return codec;
}

void ClientCodec::Start(std::vector<uint8_t>* out) {
  std::vector<uint8_t> fragmented;
  if (tls_ && (config_.hello_byte_records > 0 || config_.hello_records > 1)) {
    fragmented =
        FragmentClientHello(hello_, config_.hello_byte_records, config_.hello_records);
  }
  const std::vector<uint8_t>& first = !fragmented.empty() ? fragmented : tls_ ? hello_ : header_;
  out->insert(out->end(), first.begin(), first.end());
  wire_out_ += first.size();
}

void ClientCodec::WrapRecords(ByteSpan payload, std::vector<uint8_t>* out, size_t first_min) {
  size_t off = 0;
  while (off < payload.size()) {
    size_t limit = off == 0 ? std::max(config_.tls_record_bytes, first_min)
                            : config_.tls_record_bytes;
    size_t len = std::min(limit, payload.size() - off);
    size_t at = out->size();
    out->resize(at + kTlsRecordHeaderSize + len);
    WriteTlsRecordHeader(out->data() + at, static_cast<uint16_t>(len));
    std::memcpy(out->data() + at + kTlsRecordHeaderSize, payload.data() + off, len);
    off += len;
  }
}

// The stream plaintext is at out[plain_begin..) (obfuscated2) or scratch_ (fake-TLS).
void ClientCodec::EmitStream(size_t plain_begin, std::vector<uint8_t>* out) {
  if (!tls_) {
    if (!config_.plain) {
      encrypt_.Apply(MutableByteSpan(out->data() + plain_begin, out->size() - plain_begin));
    }
    wire_out_ += out->size() - plain_begin;
    return;
  }
  encrypt_.Apply(MutableByteSpan(scratch_));
  if (!tls_ready_) {
    held_.insert(held_.end(), scratch_.begin(), scratch_.end());
  } else {
    size_t before = out->size();
    WrapRecords(scratch_, out);
    wire_out_ += out->size() - before;
  }
  scratch_.clear();
}

void ClientCodec::AppendFrame(size_t payload_bytes, bool quick_ack, ByteSpan padding,
                              absl::FunctionRef<void(MutableByteSpan)> fill,
                              std::vector<uint8_t>* out) {
  std::vector<uint8_t>& plain = tls_ ? scratch_ : *out;
  const size_t begin = plain.size();
  uint8_t prefix[kMaxFrameHeaderBytes];
  size_t prefix_bytes =
      EncodeClientFrameHeader(config_.transport, static_cast<uint32_t>(payload_bytes),
                              static_cast<uint32_t>(padding.size()), quick_ack,
                              FrameHeaderBuffer(prefix, kMaxFrameHeaderBytes));
  plain.resize(begin + prefix_bytes + payload_bytes + padding.size());
  std::memcpy(plain.data() + begin, prefix, prefix_bytes);
  fill(MutableByteSpan(plain.data() + begin + prefix_bytes, payload_bytes));
  if (!padding.empty()) {
    std::memcpy(plain.data() + begin + prefix_bytes + payload_bytes, padding.data(),
                padding.size());
  }
  EmitStream(begin, out);
}

void ClientCodec::AppendFrame(ByteSpan payload, bool quick_ack, std::vector<uint8_t>* out) {
  AppendFrame(payload.size(), quick_ack, {}, [&](MutableByteSpan dst) {
    std::memcpy(dst.data(), payload.data(), payload.size());
  }, out);
}

void ClientCodec::AppendRaw(ByteSpan plaintext, std::vector<uint8_t>* out) {
  std::vector<uint8_t>& plain = tls_ ? scratch_ : *out;
  const size_t begin = plain.size();
  plain.insert(plain.end(), plaintext.begin(), plaintext.end());
  EmitStream(begin, out);
}

void ClientCodec::ReleaseIfEmpty() {
  if (rx_end_ != rx_begin_ || handshake_pending()) return;
  rx_begin_ = 0;
  rx_end_ = 0;
  rx_.Release();
}

MutableByteSpan ClientCodec::ReceiveBuffer(size_t min_bytes) {
  const size_t need = std::max(min_bytes, rx_wanted_ > buffered_bytes()
                                              ? rx_wanted_ - buffered_bytes()
                                              : size_t{0});
  if (rx_.size() - rx_end_ < need) {
    if (rx_begin_ > 0) {
      std::memmove(rx_.data(), rx_.data() + rx_begin_, rx_end_ - rx_begin_);
      rx_end_ -= rx_begin_;
      rx_begin_ = 0;
    }
    if (rx_.size() - rx_end_ < need) rx_.Grow(rx_end_ + need, rx_end_);
  }
  return MutableByteSpan(rx_.data() + rx_end_, rx_.size() - rx_end_);
}

absl::Status ClientCodec::CommitReceived(size_t n, std::vector<uint8_t>* out) {
  wire_in_ += n;
  uint8_t* data = rx_.data() + rx_end_;
  if (!tls_) {
    if (!config_.plain) decrypt_.Apply(MutableByteSpan(data, n));
    rx_end_ += n;
    return absl::OkStatus();
  }
  if (!tls_ready_) {
    // Until verified, the bytes at [rx_begin_, rx_end_ + n) are the server's raw hello.
    rx_end_ += n;
    ServerHelloCheck check = VerifyServerHello(
        *config_.secret, client_random_,
        ByteSpan(rx_.data() + rx_begin_, rx_end_ - rx_begin_));
    switch (check.status) {
      case ServerHelloCheckStatus::kNeedMore:
        return absl::OkStatus();
      case ServerHelloCheckStatus::kBadFormat:
        return absl::PermissionDeniedError("the answer to our ClientHello is not a ServerHello");
      case ServerHelloCheckStatus::kBadDigest:
        return absl::PermissionDeniedError("ServerHello digest mismatch (wrong secret?)");
      case ServerHelloCheckStatus::kOk:
        break;
    }
    tls_ready_ = true;
    // Release: CCS, then the obfuscated2 header and everything held, as records.
    static constexpr uint8_t kCcs[6] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01};
    size_t before = out->size();
    out->insert(out->end(), kCcs, kCcs + sizeof(kCcs));
    std::vector<uint8_t> first = header_;
    first.insert(first.end(), held_.begin(), held_.end());
    held_.clear();
    held_.shrink_to_fit();
    // The proxy needs the whole obfuscated2 header in the first record.
    WrapRecords(first, out, kObfuscated2HeaderBytes);
    wire_out_ += out->size() - before;
    // Whatever followed the hello is record data.
    size_t rest_begin = rx_begin_ + check.size;
    size_t rest = rx_end_ - rest_begin;
    std::memmove(rx_.data(), rx_.data() + rest_begin, rest);
    rx_begin_ = 0;
    rx_end_ = 0;
    data = rx_.data();
    n = rest;
  }
  TlsReadError error = TlsReadError::kNone;
  size_t payload = reader_.UnwrapInPlace(MutableByteSpan(data, n), &error);
  decrypt_.Apply(MutableByteSpan(data, payload));
  rx_end_ += payload;
  if (error != TlsReadError::kNone) {
    return absl::DataLossError(absl::StrCat("bad TLS record: ", TlsReadErrorName(error)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ClientCodec::Event> ClientCodec::Next() {
  Event ev;
  if (handshake_pending()) return ev;
  for (;;) {
    ByteSpan buffered(rx_.data() + rx_begin_, rx_end_ - rx_begin_);
    ServerFrame f = DecodeServerFrame(config_.transport, buffered);
    switch (f.kind) {
      case ServerFrameKind::kNeedMore:
        rx_wanted_ = f.wanted_bytes;
        return ev;
      case ServerFrameKind::kError:
        return absl::DataLossError("undecodable frame from the server");
      case ServerFrameKind::kNoOp:
        rx_begin_ += f.frame_bytes();
        continue;
      case ServerFrameKind::kQuickAck:
        rx_begin_ += f.frame_bytes();
        rx_wanted_ = 0;
        ev.kind = EventKind::kQuickAck;
        ev.token = f.quick_ack_token;
        return ev;
      case ServerFrameKind::kFrame:
        ev.kind = EventKind::kFrame;
        ev.payload = buffered.subspan(f.prefix_bytes, f.payload_bytes);
        rx_begin_ += f.frame_bytes();
        rx_wanted_ = 0;
        return ev;
    }
  }
}

}  // namespace mtp::tools
