// Hostile connections: what each mode sends, and how the proxy's close is seen.
#include "tools/hostile_conn.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <vector>

#include "tools/echo_payload.h"

namespace mtp::tools {
namespace {

// Generated lazily in pieces this large, so hundreds of connections announcing ~1 MiB each do
// not hold their whole stream in memory.
constexpr size_t kChunkBytes = 64 * 1024;
// kNoRead: appended requests wait in our queue up to this much before more are generated.
constexpr size_t kNoReadQueueBytes = 256 * 1024;

constexpr std::array<std::string_view, 4> kModeNames = {"partial-frame", "slow-header",
                                                        "partial-hello", "no-read"};

// Bytes that look like an encrypted MTProto message (auth_key_id != 0 first), cheap to make.
void FillJunk(uint64_t offset, uint8_t* out, size_t n) {
  uint64_t x = offset * 0x9e3779b97f4a7c15ull + 0x42;
  for (size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    out[i] = static_cast<uint8_t>(x >> 56);
  }
  if (offset == 0 && n > 0) out[0] = 0x42;
}

}  // namespace

std::optional<HostileMode> ParseHostileMode(std::string_view name) {
  for (size_t i = 0; i < kModeNames.size(); ++i) {
    if (kModeNames[i] == name) return static_cast<HostileMode>(i);
  }
  return std::nullopt;
}

std::string_view HostileModeName(HostileMode mode) { return kModeNames[static_cast<size_t>(mode)]; }

HostileConn::~HostileConn() {
  if (fd_.valid()) loop_.Remove(fd_.get());
}

bool HostileConn::Start() {
  absl::StatusOr<UniqueFd> fd = StartConnectTcp(o_.server);
  if (!fd.ok()) {
    state_ = HostileState::kConnectFailed;
    return false;
  }
  fd_ = *std::move(fd);
  interest_ = EPOLLOUT;
  if (!loop_.Add(fd_.get(), interest_, this).ok()) {
    fd_.reset();
    state_ = HostileState::kConnectFailed;
    return false;
  }
  return true;
}

bool HostileConn::settled() const {
  if (state_ != HostileState::kOpen) return state_ != HostileState::kConnecting;
  switch (o_.mode) {
    case HostileMode::kPartialFrame:
      return started_ && produced_ >= std::min(o_.bytes, o_.announce) && out_.empty();
    case HostileMode::kPartialHello:
      return started_ && produced_ >= o_.bytes && out_.empty();
    case HostileMode::kSlowHeader:
      return bytes_sent_ > 0;
    case HostileMode::kNoRead:
      // Holding once past the handshake with requests on the wire: a proxy that applies
      // backpressure may never let the rest of `bytes` out.
      return started_ && !codec_->handshake_pending() && bytes_sent_ > 0;
  }
  return true;
}

void HostileConn::OnEvents(uint32_t events) {
  if (state_ == HostileState::kConnecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
      loop_.Remove(fd_.get());
      fd_.reset();
      state_ = HostileState::kConnectFailed;
      return;
    }
    OnConnected();
    return;
  }
  if (state_ != HostileState::kOpen) return;
  if ((events & EPOLLERR) != 0) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    Close(err == ECONNRESET || err == EPIPE ? HostileState::kClosedRst : HostileState::kClosedEof);
    return;
  }
  if ((events & EPOLLIN) != 0) {
    Read();
    if (state_ != HostileState::kOpen) return;
  } else if ((events & (EPOLLRDHUP | EPOLLHUP)) != 0) {
    // Not reading (kNoRead): the peer's FIN or RST is all we learn.
    Close(HostileState::kClosedEof);
    return;
  }
  if ((events & EPOLLOUT) != 0) Flush();
  if (state_ == HostileState::kOpen) UpdateInterest();
}

void HostileConn::OnConnected() {
  state_ = HostileState::kOpen;
  if (o_.mode != HostileMode::kPartialHello) {
    absl::StatusOr<ClientCodec> codec = ClientCodec::Create(o_.codec);
    if (!codec.ok()) {
      Close(HostileState::kConnectFailed);
      return;
    }
    codec_.emplace(*std::move(codec));
  }
  Produce();
  Flush();
  if (state_ == HostileState::kOpen) UpdateInterest();
}

void HostileConn::Produce() {
  std::vector<uint8_t>& out = out_.buffer();
  switch (o_.mode) {
    case HostileMode::kSlowHeader:
      if (!started_) {
        codec_->Start(&slow_);
        started_ = true;
      }
      return;  // Tick() releases one byte at a time
    case HostileMode::kPartialHello: {
      if (!started_) {
        const size_t len = std::min<size_t>(o_.announce, 0xffff);
        out.insert(out.end(),
                   {0x16, 0x03, 0x01, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)});
        started_ = true;
      }
      if (!out_.empty() || produced_ >= o_.bytes) return;
      const size_t n = std::min(kChunkBytes, o_.bytes - produced_);
      const size_t at = out.size();
      out.resize(at + n);
      FillJunk(produced_ + 1, out.data() + at, n);
      if (produced_ == 0 && n >= 4) {
        // handshake type client_hello and its 24-bit length, as a real hello starts
        const size_t body = std::min<size_t>(o_.announce, 0xffff) - 4;
        out[at] = 0x01;
        out[at + 1] = static_cast<uint8_t>(body >> 16);
        out[at + 2] = static_cast<uint8_t>(body >> 8);
        out[at + 3] = static_cast<uint8_t>(body);
      }
      produced_ += n;
      return;
    }
    case HostileMode::kPartialFrame: {
      if (!started_) {
        codec_->Start(&out);
        std::vector<uint8_t> prefix;
        if (codec_->transport() == Transport::kAbridged) {
          const size_t words = o_.announce / 4;
          prefix = {0x7f, static_cast<uint8_t>(words), static_cast<uint8_t>(words >> 8),
                    static_cast<uint8_t>(words >> 16)};
        } else {
          prefix = {static_cast<uint8_t>(o_.announce), static_cast<uint8_t>(o_.announce >> 8),
                    static_cast<uint8_t>(o_.announce >> 16),
                    static_cast<uint8_t>(o_.announce >> 24)};
        }
        codec_->AppendRaw(prefix, &out);
        started_ = true;
      }
      const size_t total = std::min(o_.bytes, o_.announce);
      if (!out_.empty() || codec_->handshake_pending() || produced_ >= total) return;
      const size_t n = std::min(kChunkBytes, total - produced_);
      std::vector<uint8_t> plain(n);
      FillJunk(produced_, plain.data(), n);
      codec_->AppendRaw(plain, &out);
      produced_ += n;
      return;
    }
    case HostileMode::kNoRead: {
      if (!started_) {
        codec_->Start(&out);
        started_ = true;
      }
      if (codec_->handshake_pending()) return;
      const uint64_t auth_key_id = RandomAuthKeyId();
      while (produced_ < o_.bytes && out_.pending() < kNoReadQueueBytes) {
        codec_->AppendFrame(
            o_.size, /*quick_ack=*/false, ByteSpan(),
            [&](MutableByteSpan payload) { FillPayload(auth_key_id, 7, seq_, payload); }, &out);
        ++seq_;
        produced_ += o_.size;
      }
      return;
    }
  }
}

void HostileConn::Tick(int64_t now_ms) {
  if (state_ != HostileState::kOpen || o_.mode != HostileMode::kSlowHeader) return;
  if (slow_pos_ >= slow_.size() || now_ms < next_byte_ms_) return;
  out_.buffer().push_back(slow_[slow_pos_++]);
  next_byte_ms_ = now_ms + o_.byte_delay_ms;
  Flush();
  if (state_ == HostileState::kOpen) UpdateInterest();
}

void HostileConn::Flush() {
  for (;;) {
    if (out_.empty()) Produce();
    if (out_.empty()) return;
    uint64_t written = 0;
    if (!out_.Flush(fd_.get(), &written)) {
      Close(errno == ECONNRESET ? HostileState::kClosedRst : HostileState::kClosedEof);
      return;
    }
    bytes_sent_ += written;
    if (!out_.empty()) return;  // the socket is full: wait for EPOLLOUT
  }
}

void HostileConn::Read() {
  static std::array<uint8_t, 64 * 1024> discard;
  for (;;) {
    const bool handshake = codec_.has_value() && codec_->handshake_pending();
    MutableByteSpan buf =
        handshake ? codec_->ReceiveBuffer() : MutableByteSpan(discard.data(), discard.size());
    ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n == 0) {
      Close(HostileState::kClosedEof);
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      Close(errno == ECONNRESET ? HostileState::kClosedRst : HostileState::kClosedEof);
      return;
    }
    bytes_received_ += static_cast<uint64_t>(n);
    if (handshake) {
      // A forged or refused ServerHello ends our interest in the stream, not the connection:
      // we go on holding it as a hostile peer would.
      if (codec_->CommitReceived(static_cast<size_t>(n), &out_.buffer()).ok() &&
          !codec_->handshake_pending()) {
        Flush();
        if (state_ != HostileState::kOpen) return;
        if (o_.mode == HostileMode::kNoRead) return;  // from now on, never read
      }
    }
  }
}

void HostileConn::UpdateInterest() {
  const bool reading =
      o_.mode != HostileMode::kNoRead || (codec_.has_value() && codec_->handshake_pending());
  const uint32_t want = EPOLLRDHUP | (reading ? EPOLLIN : 0u) | (out_.empty() ? 0u : EPOLLOUT);
  if (want == interest_) return;
  interest_ = want;
  (void)loop_.Modify(fd_.get(), interest_, this);
}

void HostileConn::Close(HostileState how) {
  state_ = how;
  closed_at_ms_ = MonotonicMillis() - start_ms_;
  if (fd_.valid()) loop_.Remove(fd_.get());
  fd_.reset();
}

}  // namespace mtp::tools
