// RpcLink: nonce/handshake exchange, key switch, CRC32C negotiation, sequence numbers, flush
// padding and the AES-256-CBC chains of one TCP-RPC connection.
#include "proto/rpc_link.h"

#include <netinet/in.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "crypto/random.h"

namespace mtp {
namespace {

constexpr uint32_t kLoopbackIpv4 = 0x7f000001;
// Room kept after the pending output so Flush() can pad in place.
constexpr size_t kMaxPaddingBytes = 12;

// One socket address as {is_ipv6, host-order IPv4, IPv6 bytes, port}; false if unsupported.
bool SplitAddress(const sockaddr* sa, bool* ipv6, uint32_t* ipv4, std::array<uint8_t, 16>* ip6,
                  uint16_t* port) {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    *ipv6 = false;
    *ipv4 = ntohl(in->sin_addr.s_addr);
    *port = ntohs(in->sin_port);
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    const uint8_t* b = in6->sin6_addr.s6_addr;
    *port = ntohs(in6->sin6_port);
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kMapped, sizeof(kMapped)) == 0) {
      *ipv6 = false;
      *ipv4 = LoadBe32(b + 12);
      return true;
    }
    *ipv6 = true;
    std::memcpy(ip6->data(), b, 16);
    return true;
  }
  return false;
}

}  // namespace

bool MakeRpcLinkAddresses(RpcRole role, const sockaddr* local, const sockaddr* remote,
                          RpcLinkAddresses* out) {
  const sockaddr* proxy = role == RpcRole::kClient ? local : remote;
  const sockaddr* me = role == RpcRole::kClient ? remote : local;
  RpcLinkAddresses a;
  bool proxy_v6 = false;
  bool me_v6 = false;
  if (!SplitAddress(proxy, &proxy_v6, &a.client_ipv4, &a.client_ipv6, &a.client_port) ||
      !SplitAddress(me, &me_v6, &a.server_ipv4, &a.server_ipv6, &a.server_port) ||
      proxy_v6 != me_v6) {
    return false;
  }
  a.ipv6 = proxy_v6;
  *out = a;
  return true;
}

// A byte buffer that grows (without zero-filling) up to a fixed bound and never shrinks.
class RpcLink::Buffer {
 public:
  explicit Buffer(size_t max_bytes) : max_bytes_(max_bytes) {}

  uint8_t* data() { return data_.get(); }
  size_t capacity() const { return capacity_; }
  void Release() {
    data_.reset();
    capacity_ = 0;
  }

  // Moves the live bytes [begin, end) to the front with room for `need` more after them, and
  // returns the bytes copied; false above the bound. A move is made only when the dead prefix
  // [0, begin) is at least as long as what is moved, so every byte moved is paid for by a byte
  // taken since the last move (at most one copy per byte, however long a backlog drained by
  // capped flushes); otherwise the buffer grows into a fresh one that takes only the live
  // bytes. Its bound is twice the largest live size, so growing is always possible while the
  // prefix is the shorter part.
  bool Compact(size_t begin, size_t end, size_t need, size_t* copied) {
    const size_t live = end - begin;
    if (live + need > max_bytes_) return false;
    *copied = live;
    if (begin >= live || capacity_ >= max_bytes_) {
      std::memmove(data_.get(), data_.get() + begin, live);
      return Ensure(live + need, live);
    }
    Regrow(live + need, begin, live);
    return true;
  }

  // Ensures capacity >= `bytes`, keeping the first `keep_bytes`. False above the bound.
  bool Ensure(size_t bytes, size_t keep_bytes) {
    if (bytes <= capacity_) return true;
    if (bytes > max_bytes_) return false;
    Regrow(bytes, 0, keep_bytes);
    return true;
  }

 private:
  // A fresh buffer of at least `bytes` (doubling, 4 KiB at the least, never above the bound)
  // that starts with the `keep_bytes` at `from`. The caller checked bytes <= max_bytes_.
  void Regrow(size_t bytes, size_t from, size_t keep_bytes) {
    size_t new_capacity = std::max<size_t>({bytes, capacity_ * 2, 4096});
    new_capacity = std::min(new_capacity, max_bytes_);
    std::unique_ptr<uint8_t[]> fresh(new uint8_t[new_capacity]);
    if (keep_bytes > 0) std::memcpy(fresh.get(), data_.get() + from, keep_bytes);
    data_ = std::move(fresh);
    capacity_ = new_capacity;
  }

  std::unique_ptr<uint8_t[]> data_;
  size_t capacity_ = 0;
  size_t max_bytes_;
};

absl::StatusOr<std::unique_ptr<RpcLink>> RpcLink::Create(const RpcLinkConfig& config) {
  if (config.secret.size() < kRpcSecretMinBytes || config.secret.size() > kRpcSecretMaxBytes) {
    return absl::InvalidArgumentError(absl::StrCat("proxy secret must be ", kRpcSecretMinBytes,
                                                   "..", kRpcSecretMaxBytes, " bytes, got ",
                                                   config.secret.size()));
  }
  if (config.max_packet_bytes < kRpcPacketMinBytes || config.max_output_bytes < 1024) {
    return absl::InvalidArgumentError("RpcLink buffer bounds too small");
  }
  return std::unique_ptr<RpcLink>(new RpcLink(config));
}

RpcLink::RpcLink(const RpcLinkConfig& config)
    : role_(config.role),
      config_(config),
      own_pid_(config.own_pid),
      decoder_(kRpcSeqNonce, RpcCrc::kCrc32, config.max_packet_bytes),
      in_(std::make_unique<Buffer>(config.max_packet_bytes + kRpcLinkFeedChunkBytes +
                                   kRpcBlockBytes)),
      // Twice the most that can be pending: room for the flushed prefix of a capped flush
      // beside a full backlog (Buffer::Compact).
      out_(std::make_unique<Buffer>(
          2 * (config.max_output_bytes + 2 * kRpcPacketOverheadBytes + kMaxPaddingBytes))) {
  secret_bytes_ = config.secret.size();
  std::memcpy(secret_.data(), config.secret.data(), secret_bytes_);
  config_.secret = ByteSpan(secret_.data(), secret_bytes_);
  const RpcLinkAddresses& a = config.addresses;
  // init_client_PID: a PID without an address takes the local one, unless it is loopback.
  if (role_ == RpcRole::kClient && own_pid_.ip == 0 && !a.ipv6 && a.client_ipv4 != kLoopbackIpv4) {
    own_pid_.ip = a.client_ipv4;
  }
}

RpcLink::~RpcLink() {
  // Best effort: do not leave the proxy secret in freed heap memory.
  volatile uint8_t* p = secret_.data();
  for (size_t i = 0; i < secret_.size(); ++i) p[i] = 0;
}

RpcError RpcLink::Fail(RpcError error) {
  if (state_ != RpcLinkState::kFailed) {
    state_ = RpcLinkState::kFailed;
    error_ = error;
  }
  return error;
}

void RpcLink::Start(int64_t now_unix) {
  assert(state_ == RpcLinkState::kIdle);
  nonce_time_ = now_unix;
  state_ = RpcLinkState::kAwaitNonce;
  if (role_ == RpcRole::kClient) {
    if (config_.fixed_nonce.has_value()) {
      own_nonce_ = *config_.fixed_nonce;
    } else {
      SecureRandom(MutableByteSpan(own_nonce_));
    }
    QueueNonce();
  }
}

// ---- Output ----

void RpcLink::DropFlushed() {
  // The flushed ciphertext [.., out_begin_) has been taken by the caller (this is a non-const
  // call). A fully flushed buffer starts over at 0; after a capped flush the pending rest stays
  // where it is (moved down only when Reserve needs the room: no copy per flush).
  if (out_begin_ > 0 && out_begin_ == out_end_) {
    out_begin_ = 0;
    out_end_ = 0;
  }
}

size_t RpcLink::Trim(size_t keep_bytes) {
  size_t freed = 0;
  if (in_begin_ == in_end_ && in_->capacity() > keep_bytes) {
    in_begin_ = in_end_ = 0;
    freed += in_->capacity();
    in_->Release();
  }
  DropFlushed();
  if (out_end_ == 0 && reserved_payload_ == 0 && out_->capacity() > keep_bytes) {
    freed += out_->capacity();
    out_->Release();
  }
  return freed;
}

size_t RpcLink::buffer_capacity() const { return in_->capacity() + out_->capacity(); }

MutableByteSpan RpcLink::Reserve(size_t payload_bytes, RpcError* error) {
  assert(reserved_payload_ == 0);
  if (payload_bytes < 4 || payload_bytes % 4 != 0) {
    *error = RpcError::kBadLength;
    return {};
  }
  DropFlushed();
  const size_t packet_bytes = RpcPacketBytes(payload_bytes);
  if (out_end_ - out_begin_ + packet_bytes > config_.max_output_bytes + kRpcPacketOverheadBytes) {
    *error = RpcError::kBufferLimit;
    return {};
  }
  if (out_begin_ > 0 && out_end_ + packet_bytes + kMaxPaddingBytes > out_->capacity()) {
    // The rest of a capped flush sits behind bytes already taken: bring it to the front.
    size_t copied = 0;
    if (!out_->Compact(out_begin_, out_end_, packet_bytes + kMaxPaddingBytes, &copied)) {
      *error = RpcError::kBufferLimit;
      return {};
    }
    output_bytes_moved_ += copied;
    out_end_ -= out_begin_;
    out_begin_ = 0;
  }
  if (!out_->Ensure(out_end_ + packet_bytes + kMaxPaddingBytes, out_end_)) {
    *error = RpcError::kBufferLimit;
    return {};
  }
  *error = RpcError::kOk;
  reserved_payload_ = payload_bytes;
  return MutableByteSpan(out_->data() + out_end_ + 8, payload_bytes);
}

void RpcLink::Seal(size_t payload_bytes, bool plaintext) {
  assert(reserved_payload_ == payload_bytes);
  reserved_payload_ = 0;
  if (plaintext) assert(out_begin_ + out_plain_bytes_ == out_end_);
  out_end_ += SealRpcPacket(out_seq_, payload_bytes, crc_,
                            MutableByteSpan(out_->data() + out_end_, RpcPacketBytes(payload_bytes)));
  out_seq_ = static_cast<int32_t>(static_cast<uint32_t>(out_seq_) + 1);
  if (plaintext) out_plain_bytes_ = out_end_ - out_begin_;
}

RpcError RpcLink::SendMessage(ByteSpan payload) {
  MutableByteSpan dst = BeginMessage(payload.size());
  if (dst.empty()) return last_output_error_;
  std::memcpy(dst.data(), payload.data(), payload.size());
  CommitMessage();
  return RpcError::kOk;
}

MutableByteSpan RpcLink::BeginMessage(size_t payload_bytes) {
  if (state_ != RpcLinkState::kReady) {
    last_output_error_ =
        state_ == RpcLinkState::kFailed ? RpcError::kLinkFailed : RpcError::kNotReady;
    return {};
  }
  return Reserve(payload_bytes, &last_output_error_);
}

void RpcLink::CommitMessage() { Seal(reserved_payload_, /*plaintext=*/false); }

void RpcLink::AbortMessage() { reserved_payload_ = 0; }

RpcError RpcLink::SendPing(uint64_t ping_id) {
  uint8_t ping[kRpcPingBytes];
  EncodeRpcPing(kRpcPing, ping_id, MutableByteSpan(ping));
  return SendMessage(ByteSpan(ping));
}

size_t RpcLink::PendingOutputBytes() const {
  const size_t encrypted = out_end_ - out_begin_ - out_plain_bytes_;
  return out_end_ - out_begin_ + RpcFlushPaddingBytes(encrypted);
}

size_t RpcLink::PendingOutputBytes(size_t max_bytes) const {
  const size_t all = PendingOutputBytes();
  if (all <= max_bytes || out_plain_bytes_ > 0) return all;
  // Whole blocks of what is already there (at least one); the padding only ever ends a flush.
  const size_t cut = std::min(std::max(kRpcBlockBytes, max_bytes & ~(kRpcBlockBytes - 1)),
                              (out_end_ - out_begin_) & ~(kRpcBlockBytes - 1));
  return cut == 0 ? all : cut;
}

bool RpcLink::HasPendingOutput() const { return out_end_ > out_begin_; }

// Pads the encrypted part of the pending output and returns its length (plaintext prefix
// excluded). The padding is written into the internal buffer (room reserved by Reserve).
size_t RpcLink::EncryptPending(uint8_t* out, AesCbc::Job* defer) {
  assert(reserved_payload_ == 0);
  const size_t cipher_begin = out_begin_ + out_plain_bytes_;
  size_t encrypted = out_end_ - cipher_begin;
  if (encrypted == 0) return 0;
  assert(encrypting_);
  const size_t padding = RpcFlushPaddingBytes(encrypted);
  WriteRpcPadding(padding, MutableByteSpan(out_->data() + out_end_, padding));
  out_end_ += padding;
  encrypted += padding;
  if (defer != nullptr) {
    *defer = AesCbc::Job{&encryptor_, out_->data() + cipher_begin, out, encrypted};
  } else {
    encryptor_.Process(out_->data() + cipher_begin, out, encrypted);
  }
  return encrypted;
}

ByteSpan RpcLink::Flush() {
  AesCbc::Job job;
  ByteSpan flushed = BeginFlush(&job);
  if (job.n > 0) encryptor_.Process(job.in, job.out, job.n);
  return flushed;
}

ByteSpan RpcLink::BeginFlush(AesCbc::Job* job, size_t max_bytes) {
  *job = AesCbc::Job{&encryptor_, nullptr, nullptr, 0};
  DropFlushed();
  if (out_begin_ == out_end_) return {};
  const size_t begin = out_begin_;
  const size_t cut = PendingOutputBytes(max_bytes);
  if (cut < PendingOutputBytes()) {
    // Capped: whole 16-byte blocks of the encrypted stream (no plaintext prefix here), no
    // padding. The CBC chain goes on from the last block, and the receiver decrypts whole
    // blocks and parses packets across them, so the rest continues the same stream at the next
    // flush, which pads the end as usual (middle-end-rpc.md §4.1).
    assert(out_plain_bytes_ == 0 && encrypting_ && cut % kRpcBlockBytes == 0);
    uint8_t* p = out_->data() + begin;
    *job = AesCbc::Job{&encryptor_, p, p, cut};
    out_begin_ = begin + cut;
    return ByteSpan(p, cut);
  }
  EncryptPending(out_->data() + begin + out_plain_bytes_, job);
  out_begin_ = out_end_;
  out_plain_bytes_ = 0;
  return ByteSpan(out_->data() + begin, out_end_ - begin);
}

size_t RpcLink::FlushTo(MutableByteSpan out) {
  const size_t total = PendingOutputBytes();
  assert(out.size() >= total);
  DropFlushed();
  if (total == 0) return 0;
  if (out_plain_bytes_ > 0) {
    std::memcpy(out.data(), out_->data() + out_begin_, out_plain_bytes_);
  }
  const size_t encrypted = EncryptPending(out.data() + out_plain_bytes_);
  assert(out_plain_bytes_ + encrypted == total);
  (void)encrypted;
  out_begin_ = 0;
  out_end_ = 0;
  out_plain_bytes_ = 0;
  return total;
}

void RpcLink::QueueNonce() {
  RpcNonce nonce;
  nonce.key_select = RpcKeySelector(config_.secret);
  nonce.schema = RpcCryptoSchema::kAes;
  nonce.crypto_ts = static_cast<int32_t>(nonce_time_ + config_.nonce_ts_offset_s);
  nonce.nonce = own_nonce_;
  RpcError error;
  MutableByteSpan dst = Reserve(kRpcNoncePayloadBytes, &error);
  assert(!dst.empty());  // the output buffer is empty at this point
  EncodeRpcNonce(nonce, dst);
  Seal(kRpcNoncePayloadBytes, /*plaintext=*/true);
}

void RpcLink::QueueHandshake(uint32_t flags, const ProcessId& peer_pid) {
  RpcHandshake handshake;
  handshake.flags = flags;
  handshake.sender_pid = own_pid_;
  handshake.peer_pid = peer_pid;
  RpcError error;
  MutableByteSpan dst = Reserve(kRpcHandshakePayloadBytes, &error);
  if (dst.empty()) {
    Fail(error);
    return;
  }
  EncodeRpcHandshake(handshake, dst);
  Seal(kRpcHandshakePayloadBytes, /*plaintext=*/false);
}

void RpcLink::QueueHandshakeError(int32_t code) {
  RpcHandshakeError message;
  message.error_code = code;
  message.sender_pid = own_pid_;
  RpcError error;
  MutableByteSpan dst = Reserve(kRpcHandshakeErrorPayloadBytes, &error);
  if (dst.empty()) return;  // best effort: we are closing anyway
  EncodeRpcHandshakeError(message, dst);
  Seal(kRpcHandshakeErrorPayloadBytes, /*plaintext=*/false);
}

// ---- Input ----

RpcError RpcLink::Feed(ByteSpan bytes, RpcLinkVisitor& visitor) {
  if (state_ == RpcLinkState::kFailed) return RpcError::kLinkFailed;
  if (state_ == RpcLinkState::kIdle) return RpcError::kNotReady;
  while (!bytes.empty()) {
    if (decrypting_) return FeedCipher(bytes, visitor);
    const size_t before = bytes.size();
    RpcError error = FeedPlain(&bytes, visitor);
    if (error != RpcError::kOk) return error;
    // FeedPlain always takes bytes or fails; guard against looping if that ever breaks.
    if (bytes.size() == before && !decrypting_) return Fail(RpcError::kBadLength);
  }
  return RpcError::kOk;
}

// Before the key switch the stream is plaintext: take bytes only up to the end of the packet
// being assembled, so that whatever follows the peer's nonce goes through the decryptor.
RpcError RpcLink::FeedPlain(ByteSpan* bytes, RpcLinkVisitor& visitor) {
  const uint8_t* have = in_->data() == nullptr ? nullptr : in_->data() + in_begin_;
  const size_t have_bytes = in_end_ - in_begin_;
  size_t pos = 0;
  size_t wanted = 0;
  for (;;) {
    if (have_bytes - pos < 4) {
      wanted = pos + 4;
      break;
    }
    const int32_t len = static_cast<int32_t>(LoadLe32(have + pos));
    if (len == 4) {
      pos += 4;
      continue;
    }
    // Invalid lengths are reported by the decoder; a valid one tells how much to take.
    wanted = (len >= static_cast<int32_t>(kRpcPacketMinBytes) && len % 4 == 0 &&
              static_cast<uint32_t>(len) <= config_.max_packet_bytes)
                 ? pos + static_cast<size_t>(len)
                 : have_bytes;
    break;
  }
  const size_t take = std::min(bytes->size(), wanted - std::min(wanted, have_bytes));
  if (take > 0) {
    if (in_end_ + take > in_->capacity()) {
      if (in_begin_ > 0) {
        std::memmove(in_->data(), in_->data() + in_begin_, have_bytes);
        in_end_ = have_bytes;
        in_begin_ = 0;
      }
      if (!in_->Ensure(in_end_ + take, in_end_)) return Fail(RpcError::kBufferLimit);
    }
    std::memcpy(in_->data() + in_end_, bytes->data(), take);
    in_end_ += take;
    *bytes = bytes->subspan(take);
  }
  return ParseInput(visitor);
}

RpcError RpcLink::FeedCipher(ByteSpan bytes, RpcLinkVisitor& visitor) {
  while (!bytes.empty()) {
    size_t n;
    const uint8_t* src;
    if (in_carry_bytes_ > 0 || bytes.size() < kRpcBlockBytes) {
      const size_t take = std::min(kRpcBlockBytes - in_carry_bytes_, bytes.size());
      std::memcpy(in_carry_.data() + in_carry_bytes_, bytes.data(), take);
      in_carry_bytes_ += take;
      bytes = bytes.subspan(take);
      if (in_carry_bytes_ < kRpcBlockBytes) return RpcError::kOk;
      in_carry_bytes_ = 0;
      src = in_carry_.data();
      n = kRpcBlockBytes;
    } else {
      n = std::min(bytes.size() & ~(kRpcBlockBytes - 1), kRpcLinkFeedChunkBytes);
      src = bytes.data();
      bytes = bytes.subspan(n);
    }
    const size_t live = in_end_ - in_begin_;
    if (in_end_ + n > in_->capacity()) {
      if (in_begin_ > 0) {
        std::memmove(in_->data(), in_->data() + in_begin_, live);
        in_begin_ = 0;
        in_end_ = live;
      }
      if (!in_->Ensure(in_end_ + n, in_end_)) return Fail(RpcError::kBufferLimit);
    }
    decryptor_.Process(src, in_->data() + in_end_, n);
    in_end_ += n;
    RpcError error = ParseInput(visitor);
    if (error != RpcError::kOk) return error;
  }
  return RpcError::kOk;
}

RpcError RpcLink::ParseInput(RpcLinkVisitor& visitor) {
  while (state_ != RpcLinkState::kFailed) {
    if (in_begin_ == in_end_) {
      in_begin_ = in_end_ = 0;
      return RpcError::kOk;
    }
    RpcDecodeResult r = decoder_.Next(ByteSpan(in_->data() + in_begin_, in_end_ - in_begin_));
    switch (r.status) {
      case RpcDecodeStatus::kError:
        return Fail(r.error);
      case RpcDecodeStatus::kNeedMore:
        in_begin_ += r.consumed;
        if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
        return RpcError::kOk;
      case RpcDecodeStatus::kPacket: {
        RpcError error = OnPacket(r.packet, visitor);
        in_begin_ += r.consumed;
        if (error != RpcError::kOk) return error;
        break;
      }
    }
  }
  return RpcError::kLinkFailed;
}

RpcError RpcLink::OnPacket(const RpcPacketView& packet, RpcLinkVisitor& visitor) {
  if (packet.seq == kRpcSeqNonce) return OnPeerNonce(packet.payload);
  if (packet.seq == kRpcSeqHandshake) return OnPeerHandshake(packet.payload, visitor);
  assert(state_ == RpcLinkState::kReady);
  const uint32_t type = RpcMessageType(packet.payload);
  if (type == kRpcPing) {
    uint64_t ping_id;
    // tcp_rpc_default_execute answers only well-formed pings and ignores the rest.
    if (DecodeRpcPing(packet.payload, kRpcPing, &ping_id)) {
      uint8_t pong[kRpcPingBytes];
      EncodeRpcPing(kRpcPong, ping_id, MutableByteSpan(pong));
      RpcError error = SendMessage(ByteSpan(pong));
      if (error != RpcError::kOk) return Fail(error);
    }
    return RpcError::kOk;
  }
  visitor.OnRpcMessage(*this, type, packet.payload);
  return state_ == RpcLinkState::kFailed ? error_ : RpcError::kOk;
}

RpcError RpcLink::DeriveKeys(const RpcNonceBytes& nonce_server, const RpcNonceBytes& nonce_client,
                             uint32_t client_timestamp) {
  RpcKeyInput input;
  input.nonce_server = nonce_server;
  input.nonce_client = nonce_client;
  input.client_timestamp = client_timestamp;
  input.addresses = config_.addresses;
  input.secret = config_.secret;
  input.nat = config_.nat;
  auto keys = DeriveRpcLinkKeys(input, role_);
  if (!keys.ok()) return RpcError::kKeyDerivation;
  auto encryptor = AesCbc::Create(AesKey(keys->encrypt.key), AesIv(keys->encrypt.iv),
                                  AesCbc::Direction::kEncrypt);
  auto decryptor = AesCbc::Create(AesKey(keys->decrypt.key), AesIv(keys->decrypt.iv),
                                  AesCbc::Direction::kDecrypt);
  if (!encryptor.ok() || !decryptor.ok()) return RpcError::kKeyDerivation;
  encryptor_ = std::move(*encryptor);
  decryptor_ = std::move(*decryptor);
  return RpcError::kOk;
}

RpcError RpcLink::OnPeerNonce(ByteSpan payload) {
  RpcNonce peer;
  RpcError error = CheckPeerNonce(payload, RpcKeySelector(config_.secret), nonce_time_, &peer,
                                  config_.max_clock_skew_s);
  if (error != RpcError::kOk) return Fail(error);
  if (role_ == RpcRole::kClient) {
    const uint32_t sent_ts = static_cast<uint32_t>(nonce_time_ + config_.nonce_ts_offset_s);
    error = DeriveKeys(peer.nonce, own_nonce_, sent_ts);
    if (error != RpcError::kOk) return Fail(error);
    decrypting_ = encrypting_ = true;
    state_ = RpcLinkState::kAwaitHandshake;
    const RpcLinkAddresses& a = config_.addresses;
    ProcessId peer_pid;
    if (config_.handshake_peer_pid.has_value()) {
      peer_pid = *config_.handshake_peer_pid;
    } else {
      peer_pid.ip = (a.ipv6 || a.server_ipv4 == kLoopbackIpv4) ? 0 : a.server_ipv4;
      peer_pid.port = a.server_port;
    }
    const uint32_t flags = config_.handshake_flags.value_or(
        config_.use_crc32c ? kRpcHandshakeFlagCrc32c : 0);
    QueueHandshake(flags, peer_pid);
  } else {
    if (config_.fixed_nonce.has_value()) {
      own_nonce_ = *config_.fixed_nonce;
    } else {
      SecureRandom(MutableByteSpan(own_nonce_));
    }
    error = DeriveKeys(own_nonce_, peer.nonce, static_cast<uint32_t>(peer.crypto_ts));
    if (error != RpcError::kOk) return Fail(error);
    QueueNonce();
    decrypting_ = encrypting_ = true;
    state_ = RpcLinkState::kAwaitHandshake;
  }
  return state_ == RpcLinkState::kFailed ? error_ : RpcError::kOk;
}

RpcError RpcLink::OnPeerHandshake(ByteSpan payload, RpcLinkVisitor& visitor) {
  RpcHandshake peer;
  const bool check_pid = role_ == RpcRole::kClient || config_.check_peer_pid;
  RpcError error = CheckPeerHandshake(payload, own_pid_, check_pid, &peer);
  if (error == RpcError::kBadHandshakeLength || error == RpcError::kPeerPidMismatch ||
      error == RpcError::kBadHandshakeFlags) {
    QueueHandshakeError(RpcErrorCloseCode(error));
  }
  if (error != RpcError::kOk) return Fail(error);
  bool crc32c = false;
  if (role_ == RpcRole::kClient) {
    const RpcLinkAddresses& a = config_.addresses;
    if (peer.sender_pid.ip == 0) {
      peer.sender_pid.ip = (a.ipv6 || a.server_ipv4 == kLoopbackIpv4) ? 0 : a.server_ipv4;
    }
    if ((peer.flags & kRpcHandshakeFlagCrc32c) != 0) {
      if (!config_.use_crc32c) {  // the peer grants what we did not ask for
        QueueHandshakeError(-8);
        return Fail(RpcError::kBadHandshakeFlags);
      }
      crc32c = true;
    }
  } else {
    const bool grant = config_.use_crc32c && (peer.flags & kRpcHandshakeFlagCrc32c) != 0;
    const uint32_t flags = config_.handshake_flags.value_or(grant ? kRpcHandshakeFlagCrc32c : 0);
    QueueHandshake(flags, config_.handshake_peer_pid.value_or(peer.sender_pid));
    if (state_ == RpcLinkState::kFailed) return error_;
    crc32c = (flags & kRpcHandshakeFlagCrc32c) != 0;
  }
  if (crc32c) {
    crc_ = RpcCrc::kCrc32c;
    decoder_.set_crc(RpcCrc::kCrc32c);
  }
  peer_handshake_ = peer;
  state_ = RpcLinkState::kReady;
  visitor.OnRpcLinkReady(*this, peer);
  return state_ == RpcLinkState::kFailed ? error_ : RpcError::kOk;
}

}  // namespace mtp
