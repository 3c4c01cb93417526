// Simulated clients, middle-ends and DCs: their moves and the checks they make on what they
// receive.
#include "tests/sim/sim_peers.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "core/bytes.h"
#include "proto/framing.h"
#include "proto/mtproto_filter.h"
#include "proto/obfuscated2.h"
#include "proto/rpc_messages.h"

namespace mtp::sim {
namespace {

constexpr uint32_t kClientIpBase = 0x0a010000;  // 10.1.0.0/16: client i is 10.1.0.0 + i
constexpr size_t kMaxUnsentBytes = 256 * 1024;  // a client generates no more while this waits

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void StoreLe32At(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t LoadLe32At(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// Body kinds for FillBody.
constexpr uint32_t kBodyData = 0;
constexpr uint32_t kBodyPing = 1;

}  // namespace

std::string_view ClientKindName(ClientKind kind) {
  switch (kind) {
    case ClientKind::kGood:
      return "good";
    case ClientKind::kNonReader:
      return "non-reader";
    case ClientKind::kSlowSender:
      return "slow-sender";
    case ClientKind::kGarbage:
      return "garbage";
    case ClientKind::kPartialHeader:
      return "partial-header";
    case ClientKind::kWrongSecret:
      return "wrong-secret";
    case ClientKind::kBadFrame:
      return "bad-frame";
    case ClientKind::kHoldPartialFrame:
      return "hold-partial-frame";
  }
  return "?";
}

SocketAddress SimWorld::ClientAddress(uint32_t id) {
  return SocketAddress::FromIpv4(kClientIpBase + id, static_cast<uint16_t>(30000 + id % 30000));
}

std::optional<uint32_t> SimWorld::ClientIdFromIp(const std::array<uint8_t, 16>& ip) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.data(), kMapped, 12) != 0) return std::nullopt;
  const uint32_t v =
      uint32_t{ip[12]} << 24 | uint32_t{ip[13]} << 16 | uint32_t{ip[14]} << 8 | ip[15];
  if ((v & 0xffff0000u) != kClientIpBase) return std::nullopt;
  return v - kClientIpBase;
}

// ---- clients -------------------------------------------------------------------------------

SimClient::SimClient(SimWorld& world, uint32_t id, ClientKind kind)
    : world_(world), id_(id), kind_(kind) {
  SimRandom& r = *world.random;
  transport_ = static_cast<Transport>(r.Below(3));
  static constexpr int kDcs[] = {1, 2, 3, 4, 5, -2, 2};
  dc_id_ = kDcs[r.Below(7)];
  frames_total_ = r.Range(1, 24);
  switch (r.Below(10)) {
    case 0:
      max_frame_bytes_ = 128 * 1024;
      break;
    case 1:
    case 2:
      max_frame_bytes_ = 16 * 1024;
      break;
    default:
      max_frame_bytes_ = 1024;
  }
  send_pm_ = r.Range(20, 600);
  reads_ = kind != ClientKind::kNonReader;
}

bool SimClient::closed_by_proxy() const {
  if (conn_ < 0) return false;
  const SimConn& c = world_.engine->conn(conn());
  return c.reset || c.refused || (c.proxy_closed && c.to_peer.empty());
}

void SimClient::Fail(std::string what) {
  if (failed_) return;
  failed_ = true;
  world_.violation(absl::StrFormat("client %u (%s, %s): %s", id_, ClientKindName(kind_),
                                   TransportName(transport_), what));
}

void SimClient::FillBody(uint64_t seed, uint32_t kind_bits, std::span<uint8_t> out) {
  uint64_t x = seed;
  for (size_t i = 0; i < out.size(); i += 8) {
    const uint64_t r = Mix(x++);
    for (size_t j = 0; j < 8 && i + j < out.size(); ++j)
      out[i + j] = static_cast<uint8_t>(r >> (8 * j));
  }
  if (kind_bits == kBodyPing && out.size() >= 4) {
    StoreLe32At(out.data(), kRpcPingConstructor);
  } else if (out.size() >= 4) {
    out[0] |= 1;  // auth_key_id != 0: an encrypted message, forwarded when >= 56 bytes
    out[3] = 0;   // never the PING constructor
  }
}

uint32_t SimClient::AckToken(ByteSpan data) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < data.size() && i < 16; ++i) h = (h ^ data[i]) * 16777619u;
  return h | 0x80000000u;
}

void SimClient::Connect() {
  conn_ = world_.engine->ClientConnect(world_.listen_port, SimWorld::ClientAddress(id_));
}

void SimClient::AppendFrame(uint32_t body_bytes, uint32_t fwd_bytes, uint64_t seed, bool quick_ack,
                            bool ping) {
  // The length word counts payload + padding; any split with a 4-aligned payload encodes it.
  uint8_t header[kMaxFrameHeaderBytes];
  const size_t prefix = EncodeClientFrameHeader(transport_, body_bytes & ~3u, body_bytes & 3u,
                                                quick_ack, FrameHeaderBuffer(header, 4));
  std::vector<uint8_t> plain(prefix + body_bytes);
  std::memcpy(plain.data(), header, prefix);
  FillBody(seed, ping ? kBodyPing : kBodyData,
           std::span<uint8_t>(plain.data() + prefix, body_bytes));
  if (!world_.me_mode) {
    direct_expect_.Append(plain.data(), plain.size());
  } else {
    ByteSpan fwd(plain.data() + prefix, fwd_bytes);
    FilterResult verdict = ClassifyClientPayload(fwd);
    if (verdict.verdict == FilterVerdict::kForward) {
      forwarded_.push_back(SentFrame{seed, body_bytes, fwd_bytes, quick_ack});
      if (quick_ack) acks_.push_back(AckToken(fwd));
    } else if (verdict.verdict == FilterVerdict::kAnswerPong) {
      uint64_t ping_id = 0;
      std::memcpy(&ping_id, fwd.data() + 4, 8);
      pings_.push_back(ping_id);
    }
  }
  encrypt_.Apply(plain.data(), plain.data(), plain.size());
  out_.insert(out_.end(), plain.begin(), plain.end());
}

void SimClient::Generate() {
  SimRandom& r = *world_.random;
  if (!handshake_sent_) {
    handshake_sent_ = true;
    std::array<uint8_t, 64> random_bytes;
    r.Fill(random_bytes);
    if (kind_ == ClientKind::kGarbage || kind_ == ClientKind::kPartialHeader) {
      const size_t n = kind_ == ClientKind::kGarbage ? r.Range(1, 64) : r.Range(1, 63);
      out_.insert(out_.end(), random_bytes.begin(), random_bytes.begin() + n);
      frames_sent_ = frames_total_;
      return;
    }
    ClientSecret wrong{};
    r.Fill(wrong);
    const ClientSecret* secret = nullptr;
    if (kind_ == ClientKind::kWrongSecret) {
      secret = &wrong;
    } else if (!world_.secrets.empty()) {
      secret = &world_.secrets[r.Below(static_cast<uint32_t>(world_.secrets.size()))];
    }
    auto hs = BuildObfuscated2ClientHeaderFrom(random_bytes, secret, transport_,
                                               static_cast<int16_t>(dc_id_));
    if (!hs.ok()) {
      Fail("cannot build a header: " + std::string(hs.status().message()));
      return;
    }
    encrypt_ = std::move(hs->encrypt);
    decrypt_ = std::move(hs->decrypt);
    out_.insert(out_.end(), hs->header.begin(), hs->header.end());
    return;
  }
  if (frames_sent_ >= frames_total_ || out_.size() > kMaxUnsentBytes || !r.Chance(send_pm_)) return;
  if (kind_ == ClientKind::kGarbage) {
    std::vector<uint8_t> junk(r.Range(1, 2000));
    r.Fill(junk);
    out_.insert(out_.end(), junk.begin(), junk.end());
    ++frames_sent_;
    return;
  }
  if (kind_ == ClientKind::kBadFrame) {
    uint8_t bad[8];  // a bad length word and 4 bytes after it
    r.Fill(bad);
    switch (transport_) {
      case Transport::kAbridged:  // long form announcing fewer than 0x7f words
        bad[0] = 0x7f;
        bad[1] = static_cast<uint8_t>(r.Below(0x7f));
        bad[2] = bad[3] = 0;
        break;
      case Transport::kIntermediate:  // length not a multiple of 4
        StoreLe32At(bad, (r.Range(1, 4000) * 4 + r.Range(1, 3)) & 0x3fffffffu);
        break;
      case Transport::kPadded:  // bit 30 set
        StoreLe32At(bad, 0x40000000u | r.Below(1000));
        break;
    }
    if (!world_.me_mode) direct_expect_.Append(bad, sizeof(bad));
    encrypt_.Apply(bad, bad, sizeof(bad));
    out_.insert(out_.end(), bad, bad + sizeof(bad));
    frames_sent_ = frames_total_;
    return;
  }
  if (kind_ == ClientKind::kHoldPartialFrame) {
    // A frame announcing up to 256 KiB, of which only a part is ever sent.
    const uint32_t payload = r.Range(1024, 64 * 1024) * 4;
    uint8_t header[kMaxFrameHeaderBytes];
    const size_t prefix =
        EncodeClientFrameHeader(transport_, payload, 0, false, FrameHeaderBuffer(header, 4));
    std::vector<uint8_t> plain(prefix + r.Below(payload));
    std::memcpy(plain.data(), header, prefix);
    FillBody(r.Next64(), kBodyData,
             std::span<uint8_t>(plain.data() + prefix, plain.size() - prefix));
    if (!world_.me_mode) direct_expect_.Append(plain.data(), plain.size());
    encrypt_.Apply(plain.data(), plain.data(), plain.size());
    out_.insert(out_.end(), plain.begin(), plain.end());
    frames_sent_ = frames_total_;
    return;
  }
  // Good kinds (and wrong-secret, whose frames the proxy discards).
  const uint64_t seed = r.Next64();
  const bool quick_ack = r.Chance(150);
  const uint32_t pick = r.Below(100);
  uint32_t payload;
  uint32_t padding = 0;
  bool ping = false;
  if (pick < 5) {
    ping = true;
    payload = 12;
    if (transport_ == Transport::kPadded) padding = r.Below(4);
  } else if (pick < 9) {
    payload = r.Range(7, 13) * 4;  // encrypted but shorter than 56 bytes: the filter drops it
  } else {
    payload = r.Range(14, std::max<uint32_t>(14, max_frame_bytes_ / 4)) * 4;
  }
  if (transport_ == Transport::kPadded && !ping) padding = r.Below(16);
  const uint32_t body = payload + padding;
  const uint32_t fwd = transport_ == Transport::kPadded ? (body & ~3u) : payload;
  AppendFrame(body, fwd, seed, quick_ack, ping);
  ++frames_sent_;
}

void SimClient::WriteSome(bool quiesce) {
  if (out_.empty() || conn_ < 0) return;
  SimConn& c = world_.engine->conn(conn());
  if (c.reset || c.proxy_closed || c.peer_fin) {
    out_.clear();  // nobody reads them any more
    return;
  }
  SimRandom& r = *world_.random;
  size_t n = out_.size();
  if (!quiesce) {
    if (kind_ == ClientKind::kSlowSender) {
      if (!r.Chance(300)) return;
      n = std::min<size_t>(n, r.Range(1, 3));
    } else if (!r.Chance(500)) {
      n = r.Range(1, static_cast<uint32_t>(std::min<size_t>(n, 1u << 20)));
    }
  }
  c.to_proxy.Append(out_.data(), n);
  out_.erase(out_.begin(), out_.begin() + static_cast<ptrdiff_t>(n));
}

void SimClient::ReadSome(bool quiesce) {
  if (conn_ < 0) return;
  SimConn& c = world_.engine->conn(conn());
  if (c.to_peer.empty() || c.peer_gone) return;
  if (!quiesce && (!reads_ || world_.step < read_paused_until_)) return;
  SimRandom& r = *world_.random;
  size_t n = c.to_peer.size();
  if (!quiesce && r.Chance(500))
    n = r.Range(1, static_cast<uint32_t>(std::min<size_t>(n, 1u << 20)));
  std::vector<uint8_t> bytes(c.to_peer.data(), c.to_peer.data() + n);
  c.to_peer.Consume(n);
  if (kind_ == ClientKind::kGarbage || kind_ == ClientKind::kPartialHeader ||
      kind_ == ClientKind::kWrongSecret) {
    Fail(absl::StrFormat("received %zu byte(s) although its header was never valid", n));
    return;
  }
  decrypt_.Apply(bytes.data(), bytes.data(), n);
  OnPlaintext(bytes.data(), n);
}

void SimClient::OnPlaintext(const uint8_t* data, size_t n) {
  if (!world_.me_mode) {
    if (n > direct_expect_.size()) {
      Fail(absl::StrFormat("got %zu echoed byte(s) but only %zu were sent and not yet echoed", n,
                           direct_expect_.size()));
      return;
    }
    if (std::memcmp(data, direct_expect_.data(), n) != 0) {
      size_t at = 0;
      while (data[at] == direct_expect_.data()[at]) ++at;
      Fail(absl::StrFormat("the DC echo differs from what it sent at byte %zu of %zu", at, n));
      return;
    }
    direct_expect_.Consume(n);
    echo_got_ += n;
    return;
  }
  rx_.insert(rx_.end(), data, data + n);
  DecodeFrames();
}

void SimClient::DecodeFrames() {
  size_t pos = 0;
  while (!failed_) {
    ServerFrame f = DecodeServerFrame(transport_, ByteSpan(rx_.data() + pos, rx_.size() - pos));
    if (f.kind == ServerFrameKind::kNeedMore) break;
    if (f.kind == ServerFrameKind::kError) {
      Fail("cannot decode what the proxy sent (bad frame length)");
      break;
    }
    if (f.kind == ServerFrameKind::kQuickAck) {
      if (acks_.empty() || acks_.front() != f.quick_ack_token) {
        Fail(absl::StrFormat("unexpected quick ack %08x (expected %s)", f.quick_ack_token,
                             acks_.empty() ? "none" : absl::StrFormat("%08x", acks_.front())));
        break;
      }
      acks_.pop_front();
    } else if (f.kind == ServerFrameKind::kFrame) {
      const uint8_t* payload = rx_.data() + pos + f.prefix_bytes;
      if (f.payload_bytes == kPongPayloadBytes && LoadLe32At(payload) == kRpcPongConstructor) {
        uint64_t id = 0;
        std::memcpy(&id, payload + 4, 8);
        if (pings_.empty() || pings_.front() != id) {
          Fail("unexpected PONG");
          break;
        }
        pings_.pop_front();
      } else {
        if (echo_got_ >= forwarded_.size()) {
          Fail(absl::StrFormat("got echo #%zu of a %u-byte frame but sent only %zu forwardable",
                               echo_got_ + 1, f.payload_bytes, forwarded_.size()));
          break;
        }
        const SentFrame& s = forwarded_[echo_got_];
        std::vector<uint8_t> body(s.body_bytes);
        FillBody(s.seed, kBodyData, body);
        if (f.payload_bytes != s.fwd_bytes || std::memcmp(payload, body.data(), s.fwd_bytes) != 0) {
          Fail(absl::StrFormat("echo #%zu (%u bytes) differs from frame #%zu it sent (%u bytes)",
                               echo_got_, f.payload_bytes, echo_got_, s.fwd_bytes));
          break;
        }
        ++echo_got_;
      }
    }
    pos += f.frame_bytes();
  }
  rx_.erase(rx_.begin(), rx_.begin() + static_cast<ptrdiff_t>(pos));
}

std::string SimClient::OnMeRequest(uint64_t ext_conn_id, ByteSpan data, bool quick_ack_flag) {
  if (ext_conn_id_ == 0) ext_conn_id_ = ext_conn_id;
  if (ext_conn_id != ext_conn_id_) {
    return absl::StrFormat("ext_conn_id changed from %016x to %016x", ext_conn_id_, ext_conn_id);
  }
  if (me_got_ >= forwarded_.size()) {
    return absl::StrFormat(
        "the ME got request #%zu (%zu bytes) but the client sent only %zu "
        "forwardable frame(s)",
        me_got_ + 1, data.size(), forwarded_.size());
  }
  const SentFrame& s = forwarded_[me_got_];
  std::vector<uint8_t> body(s.body_bytes);
  FillBody(s.seed, kBodyData, body);
  if (data.size() != s.fwd_bytes || std::memcmp(data.data(), body.data(), s.fwd_bytes) != 0) {
    // Find which sent frame it is, if any, to say "out of order" or "duplicate".
    std::string which = "matches no frame it sent (corrupt)";
    for (size_t i = 0; i < forwarded_.size(); ++i) {
      const SentFrame& o = forwarded_[i];
      if (o.fwd_bytes != data.size()) continue;
      std::vector<uint8_t> ob(o.body_bytes);
      FillBody(o.seed, kBodyData, ob);
      if (std::memcmp(ob.data(), data.data(), data.size()) == 0) {
        which = absl::StrFormat("is frame #%zu (%s)", i, i < me_got_ ? "a duplicate" : "a hole");
        break;
      }
    }
    return absl::StrFormat("the ME expected frame #%zu (%u bytes) and got %zu bytes that %s",
                           me_got_, s.fwd_bytes, data.size(), which);
  }
  if (quick_ack_flag != s.quick_ack) {
    return absl::StrFormat("frame #%zu: quick-ack flag %d at the ME, %d sent", me_got_,
                           quick_ack_flag, s.quick_ack);
  }
  ++me_got_;
  return "";
}

void SimClient::Step(bool quiesce) {
  SimRandom& r = *world_.random;
  if (conn_ < 0) {
    Connect();
    return;
  }
  if (closed_by_us_ || failed_) return;
  SimConn& c = world_.engine->conn(conn());
  if (closed_by_proxy()) {
    c.peer_fin = c.peer_gone = true;  // the client closes its end too
    return;
  }
  if (!quiesce) Generate();
  WriteSome(quiesce);
  ReadSome(quiesce);
  // A good client that got everything back sometimes leaves.
  if (!quiesce && finished_sending() && kind_ == ClientKind::kGood &&
      echo_got_ == forwarded_.size() && pings_.empty() && direct_expect_.empty() && r.Chance(5)) {
    closed_by_us_ = true;
    c.peer_fin = c.peer_gone = true;
  }
}

void SimClient::Abort(bool reset) {
  if (conn_ < 0 || closed_by_us_) return;
  SimConn& c = world_.engine->conn(conn());
  closed_by_us_ = true;
  if (reset) {
    c.reset = true;
  } else {
    c.peer_fin = c.peer_gone = true;
  }
}

std::string SimClient::CheckComplete(bool me_mode) const {
  if (conn_ < 0 || closed_by_us_ || closed_by_proxy() || failed_) return "";
  // Still in the listen backlog (the -C limit paused accepts): served once a session ends.
  if (world_.engine->conn(conn()).proxy_fd < 0) return "";
  switch (kind_) {
    case ClientKind::kGarbage:
    case ClientKind::kPartialHeader:
    case ClientKind::kWrongSecret:
      return "";
    case ClientKind::kBadFrame:
    case ClientKind::kHoldPartialFrame:
      if (me_mode) return "";
      break;
    default:
      break;
  }
  if (!out_.empty()) return absl::StrFormat("%zu byte(s) never written", out_.size());
  if (me_mode) {
    if (me_got_ != forwarded_.size() || echo_got_ != forwarded_.size() || !pings_.empty() ||
        !acks_.empty()) {
      return absl::StrFormat(
          "open, but the ME got %zu of %zu frame(s), %zu echo(es) came back, "
          "%zu PONG(s) and %zu quick ack(s) missing",
          me_got_, forwarded_.size(), echo_got_, pings_.size(), acks_.size());
    }
  } else if (!direct_expect_.empty()) {
    return absl::StrFormat("open, but %zu byte(s) sent to the DC never came back",
                           direct_expect_.size());
  }
  return "";
}

std::string SimClient::Describe() const {
  std::string s = absl::StrFormat("client %u %s %s dc %d", id_, ClientKindName(kind_),
                                  TransportName(transport_), dc_id_);
  if (conn_ < 0) return s + " (not connected)";
  const SimConn& c = world_.engine->conn(conn());
  s += absl::StrFormat(" conn %u fd %d: sent %u/%u frames, me %zu/%zu, echo %zu, unsent %zu%s%s",
                       c.id, c.proxy_fd, frames_sent_, frames_total_, me_got_, forwarded_.size(),
                       echo_got_, out_.size(), closed_by_us_ ? " closed-by-us" : "",
                       closed_by_proxy() ? " closed-by-proxy" : "");
  return s;
}

// ---- middle-ends ---------------------------------------------------------------------------

SimMeLink::SimMeLink(SimWorld& world, uint32_t conn, const SocketAddress& me_address)
    : world_(world), conn_(conn) {
  SimConn& c = world.engine->conn(conn);
  RpcLinkConfig config;
  config.role = RpcRole::kServer;
  config.secret = ByteSpan(world.proxy_secret.data(), world.proxy_secret.size());
  if (!MakeRpcLinkAddresses(RpcRole::kServer, me_address.sockaddr_ptr(),
                            c.proxy_address.sockaddr_ptr(), &config.addresses)) {
    world.violation("ME: cannot describe the link's addresses");
  }
  config.own_pid = MakeProcessId(me_address.ipv4(), me_address.port(), 4242,
                                 static_cast<int32_t>(SimClock::kStartUnixS));
  RpcNonceBytes nonce;
  world.random->Fill(nonce);
  config.fixed_nonce = nonce;
  auto link = RpcLink::Create(config);
  if (!link.ok()) {
    world.violation("ME: " + std::string(link.status().message()));
    done_ = true;
    return;
  }
  link_ = std::move(*link);
  link_->Start(world.clock->UnixSeconds());
}

void SimMeLink::OnRpcLinkReady(RpcLink&, const RpcHandshake&) { ready_ = true; }

void SimMeLink::OnRpcMessage(RpcLink& link, uint32_t type, ByteSpan payload) {
  if (type != kRpcProxyReq) return;  // RPC_CLOSE_CONN, PONG: nothing to check
  RpcProxyReqView req;
  if (!DecodeRpcProxyReq(payload, &req)) {
    world_.violation("ME: undecodable RPC_PROXY_REQ");
    return;
  }
  const bool quick_ack = (req.flags & kRpcReqFlagQuickAck) != 0;
  std::optional<uint32_t> id = SimWorld::ClientIdFromIp(req.client_ip);
  SimClient* client = id ? world_.client(*id) : nullptr;
  if (client != nullptr) {
    std::string wrong = client->OnMeRequest(req.ext_conn_id, req.data, quick_ack);
    if (!wrong.empty()) {
      world_.violation(absl::StrFormat("client %u: %s", *id, wrong));
      return;
    }
  } else if (req.client_ip != std::array<uint8_t, 16>{}) {
    // All zero: the proxy could not learn the address (the client had reset). Else a bug.
    world_.violation("ME: RPC_PROXY_REQ from an unknown client address");
    return;
  }
  if (quick_ack) {
    uint8_t ack[kRpcSimpleAckBytes];
    EncodeRpcSimpleAck({req.ext_conn_id, SimClient::AckToken(req.data)}, ack);
    (void)link.SendMessage(ack);
  }
  MutableByteSpan out = link.BeginMessage(kRpcProxyAnsHeaderBytes + req.data.size());
  if (out.empty()) return;
  EncodeRpcProxyAnsHeader(0, req.ext_conn_id, out);
  std::memcpy(out.data() + kRpcProxyAnsHeaderBytes, req.data.data(), req.data.size());
  link.CommitMessage();
  if (world_.random->Chance(world_.faults.me_close_ext)) {
    uint8_t close[kRpcCloseBytes];
    EncodeRpcClose(kRpcCloseExt, req.ext_conn_id, close);
    (void)link.SendMessage(close);
  }
}

void SimMeLink::Hangup() {
  if (done_) return;
  SimConn& c = world_.engine->conn(conn_);
  c.peer_fin = c.peer_gone = true;
  done_ = true;
}

void SimMeLink::Step(bool quiesce) {
  if (done_) return;
  SimConn& c = world_.engine->conn(conn_);
  SimRandom& r = *world_.random;
  if (c.reset) {
    done_ = true;
    return;
  }
  if (c.proxy_closed && c.to_peer.empty()) {
    c.peer_fin = c.peer_gone = true;
    done_ = true;
    return;
  }
  if (!c.to_peer.empty() && (quiesce || world_.step >= read_paused_until_)) {
    size_t n = c.to_peer.size();
    if (!quiesce && r.Chance(500))
      n = r.Range(1, static_cast<uint32_t>(std::min<size_t>(n, 1u << 20)));
    std::vector<uint8_t> bytes(c.to_peer.data(), c.to_peer.data() + n);
    c.to_peer.Consume(n);
    const bool was_ready = ready_;
    RpcError e = link_->Feed(ByteSpan(bytes.data(), n), *this);
    if (e != RpcError::kOk) {
      if (was_ready) {
        world_.violation(absl::StrFormat("ME: the proxy's stream broke after the handshake: %s",
                                         RpcErrorName(e)));
      }
      // A handshake failure (a clock jump between the nonces, say): the ME hangs up.
      c.peer_fin = c.peer_gone = true;
      done_ = true;
    }
  }
  if (link_->HasPendingOutput()) {
    scratch_.resize(link_->PendingOutputBytes());
    const size_t n = link_->FlushTo(MutableByteSpan(scratch_.data(), scratch_.size()));
    if (!c.peer_gone) c.to_proxy.Append(scratch_.data(), n);
  }
}

// ---- DCs -----------------------------------------------------------------------------------

SimDcLink::SimDcLink(SimWorld& world, uint32_t conn) : world_(world), conn_(conn) {}

void SimDcLink::Hangup() {
  if (done_) return;
  SimConn& c = world_.engine->conn(conn_);
  c.peer_fin = c.peer_gone = true;
  done_ = true;
}

void SimDcLink::Step(bool quiesce) {
  if (done_) return;
  SimConn& c = world_.engine->conn(conn_);
  SimRandom& r = *world_.random;
  if (c.reset) {
    done_ = true;
    return;
  }
  if (c.proxy_closed && c.to_peer.empty()) {
    c.peer_fin = c.peer_gone = true;
    done_ = true;
    return;
  }
  if (c.to_peer.empty() || (!quiesce && world_.step < read_paused_until_)) return;
  size_t n = c.to_peer.size();
  if (!quiesce && r.Chance(500))
    n = r.Range(1, static_cast<uint32_t>(std::min<size_t>(n, 1u << 20)));
  std::vector<uint8_t> bytes(c.to_peer.data(), c.to_peer.data() + n);
  c.to_peer.Consume(n);
  size_t at = 0;
  if (!accepted_) {
    const size_t take = std::min(n, kObfuscated2HeaderBytes - header_.size());
    header_.insert(header_.end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(take));
    at = take;
    if (header_.size() < kObfuscated2HeaderBytes) return;
    Obfuscated2Header h;
    std::copy(header_.begin(), header_.end(), h.begin());
    Obfuscated2ServerResult result = AcceptObfuscated2(h, {});
    if (!result.accepted()) {
      world_.violation("DC: the proxy's obfuscated2 header does not decode");
      done_ = true;
      return;
    }
    accepted_ = true;
    decrypt_ = std::move(result.decrypt);
    encrypt_ = std::move(result.encrypt);
  }
  if (at == n) return;
  uint8_t* p = bytes.data() + at;
  decrypt_.Apply(p, p, n - at);
  encrypt_.Apply(p, p, n - at);
  if (!c.peer_gone) c.to_proxy.Append(p, n - at);
}

}  // namespace mtp::sim
