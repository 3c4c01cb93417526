// ServerCodec: the fake DC's glue over the project's server-side codecs.
#include "tools/server_codec.h"

#include <time.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "proto/obfuscated2.h"
#include "crypto/random.h"
#include "proto/framing.h"
#include "tools/net_util.h"

namespace mtp::tools {

ServerCodec::ServerCodec(const ServerCodecConfig* config, ReplayCache* replay_cache,
                         uint16_t local_port)
    : config_(config), replay_cache_(replay_cache), local_port_(local_port) {
  hello_done_ = config_->tls_domains.empty();
}

void ServerCodec::ReleaseIfEmpty() {
  if (rx_end_ != rx_begin_ || !hello_done_) return;
  rx_begin_ = 0;
  rx_end_ = 0;
  rx_.Release();
}

MutableByteSpan ServerCodec::ReceiveBuffer(size_t min_bytes) {
  const size_t have = rx_end_ - rx_begin_;
  const size_t need = std::max(min_bytes, rx_wanted_ > have ? rx_wanted_ - have : size_t{0});
  if (rx_.size() - rx_end_ < need) {
    if (rx_begin_ > 0) {
      std::memmove(rx_.data(), rx_.data() + rx_begin_, have);
      rx_end_ = have;
      rx_begin_ = 0;
    }
    if (rx_.size() - rx_end_ < need) rx_.Grow(rx_end_ + need, rx_end_);
  }
  return MutableByteSpan(rx_.data() + rx_end_, rx_.size() - rx_end_);
}

absl::Status ServerCodec::CommitReceived(size_t n, std::vector<uint8_t>* out) {
  size_t region = rx_end_;  // new bytes are rx_[region, region + n)
  if (!hello_done_) {
    rx_end_ += n;
    ClientHelloConfig hello_config{config_->secrets, config_->tls_domains};
    ClientHelloResult r =
        ValidateClientHello(ByteSpan(rx_.data() + rx_begin_, rx_end_ - rx_begin_), hello_config,
                            local_port_, time(nullptr), *replay_cache_);
    if (r.need_more()) {
      rx_wanted_ = r.bytes_needed;
      return absl::OkStatus();
    }
    if (!r.accepted()) {
      return absl::PermissionDeniedError(
          absl::StrCat("ClientHello rejected: ", ClientHelloStatusName(r.status)));
    }
    hello_done_ = true;
    rx_wanted_ = 0;
    ServerHelloParams params =
        MakeServerHelloParams(r, config_->secrets[r.secret_index], config_->tls_profile);
    size_t at = out->size();
    out->resize(at + ServerHelloSize(params, PickEncryptedSize(config_->tls_profile)));
    WriteServerHelloFresh(params, MutableByteSpan(out->data() + at, out->size() - at));
    rx_begin_ += r.record_size;
    region = rx_begin_;
    n = rx_end_ - rx_begin_;
    rx_end_ = rx_begin_;
  }
  if (fake_tls()) {
    TlsReadError error = TlsReadError::kNone;
    n = reader_.UnwrapInPlace(MutableByteSpan(rx_.data() + region, n), &error);
    if (error != TlsReadError::kNone) {
      return absl::DataLossError(absl::StrCat("bad TLS record: ", TlsReadErrorName(error)));
    }
  }
  if (header_done_) {
    decrypt_.Apply(MutableByteSpan(rx_.data() + region, n));
    rx_end_ += n;
    return absl::OkStatus();
  }
  rx_end_ += n;
  if (rx_end_ - rx_begin_ < kObfuscated2HeaderBytes) return absl::OkStatus();
  Obfuscated2ServerResult r = AcceptObfuscated2(
      Obfuscated2HeaderView(rx_.data() + rx_begin_, kObfuscated2HeaderBytes), config_->secrets);
  if (!r.accepted()) {
    return absl::PermissionDeniedError("obfuscated2 header: no secret gives a valid tag");
  }
  if (fake_tls() && r.transport != Transport::kPadded) {
    return absl::PermissionDeniedError("fake-TLS client must use the padded transport");
  }
  header_done_ = true;
  handshake_event_ = true;
  transport_ = r.transport;
  dc_id_ = r.dc_id;
  secret_index_ = r.secret_index;
  decrypt_ = std::move(r.decrypt);
  encrypt_ = std::move(r.encrypt);
  rx_begin_ += kObfuscated2HeaderBytes;
  decrypt_.Apply(MutableByteSpan(rx_.data() + rx_begin_, rx_end_ - rx_begin_));
  return absl::OkStatus();
}

absl::StatusOr<ServerCodec::Event> ServerCodec::Next() {
  Event ev;
  if (handshake_event_) {
    handshake_event_ = false;
    ev.kind = EventKind::kHandshake;
    return ev;
  }
  if (!header_done_) return ev;
  ByteSpan buffered(rx_.data() + rx_begin_, rx_end_ - rx_begin_);
  ClientFrame f = DecodeClientFrame(transport_, buffered);
  switch (f.status) {
    case FrameStatus::kNeedMore:
      rx_wanted_ = f.wanted_bytes;
      return ev;
    case FrameStatus::kError:
      return absl::DataLossError("bad client frame");
    case FrameStatus::kFrame:
      break;
  }
  ev.kind = EventKind::kFrame;
  ev.payload = buffered.subspan(f.prefix_bytes, f.payload_bytes);
  ev.quick_ack = f.quick_ack;
  rx_begin_ += f.frame_bytes();
  rx_wanted_ = 0;
  return ev;
}

void ServerCodec::Emit(std::vector<uint8_t>* out) {
  if (!fake_tls()) {
    size_t at = out->size();
    out->resize(at + plain_.size());
    encrypt_.Apply(plain_.data(), out->data() + at, plain_.size());
  } else {
    sizer_.BeginFlush(MonotonicMillis());
    size_t at = out->size();
    out->resize(at + MaxWrappedSize(plain_.size()));
    size_t wrote = WrapTlsRecords(sizer_, plain_, MutableByteSpan(out->data() + at,
                                                                  out->size() - at),
                                  &encrypt_);
    out->resize(at + wrote);
  }
  plain_.clear();
}

void ServerCodec::AppendFrame(ByteSpan payload, std::vector<uint8_t>* out) {
  uint32_t pad = ServerPaddingBytes(transport_);
  uint8_t prefix[kMaxFrameHeaderBytes];
  size_t prefix_bytes = EncodeServerFrameHeader(transport_, static_cast<uint32_t>(payload.size()),
                                                pad, FrameHeaderBuffer(prefix, 4));
  plain_.insert(plain_.end(), prefix, prefix + prefix_bytes);
  plain_.insert(plain_.end(), payload.begin(), payload.end());
  if (pad > 0) {
    uint8_t random[4];
    SecureRandom(MutableByteSpan(random, pad));
    plain_.insert(plain_.end(), random, random + pad);
  }
  Emit(out);
}

void ServerCodec::AppendQuickAck(uint32_t token, std::vector<uint8_t>* out) {
  uint8_t ack[kMaxServerQuickAckBytes];
  size_t n = EncodeServerQuickAck(transport_, token, DrawQuickAckRandom(),
                                  std::span<uint8_t, kMaxServerQuickAckBytes>(ack));
  plain_.insert(plain_.end(), ack, ack + n);
  Emit(out);
}

}  // namespace mtp::tools
