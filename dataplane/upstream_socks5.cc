// The SOCKS5 dialing steps of an upstream leg (see the header).
#include "dataplane/upstream_socks5.h"

#include <cstring>

#include "core/log.h"
#include "dataplane/session/leg_send.h"

namespace mtp {

namespace {

constexpr double kFailureReportIntervalS = 10.0;

// Rate-limited summary per shard thread (each shard is one thread).
thread_local double next_report_s = 0;
thread_local uint64_t unreported = 0;

Socks5FailStage StageOf(const UpstreamLeg& leg) {
  if (leg.connecting) return Socks5FailStage::kTcpConnect;
  switch (leg.socks5.phase) {
    case Socks5Phase::kAuth:
      return Socks5FailStage::kAuth;
    case Socks5Phase::kConnect:
      return Socks5FailStage::kConnect;
    default:
      return Socks5FailStage::kMethod;
  }
}

void Count(ShardContext& ctx, Socks5FailStage stage, Socks5Error error, const char* what,
           const char* detail) {
  ctx.counters.upstream_socks5_failures[static_cast<size_t>(stage)][static_cast<size_t>(error)]
      .Add();
  const std::string_view stage_name = Socks5FailStageName(stage);
  const std::string_view reason = Socks5ErrorName(error);
  MTP_LOG(1, "shard %u: %s: SOCKS5 %.*s failed: %.*s%s", ctx.index, what,
          static_cast<int>(stage_name.size()), stage_name.data(), static_cast<int>(reason.size()),
          reason.data(), detail);
  ++unreported;
  if (ctx.now_s >= next_report_s) {
    MTP_WARN(
        "shard %u: upstream SOCKS5 server %s: %llu failed dial(s) since "
        "the last report, last: "
        "%s at %.*s: %.*s%s",
        ctx.index, ctx.config.upstream_socks5 ? ctx.config.upstream_socks5->server.ToString() : "?",
        static_cast<unsigned long long>(unreported), what, static_cast<int>(stage_name.size()),
        stage_name.data(), static_cast<int>(reason.size()), reason.data(), detail);
    unreported = 0;
    next_report_s = ctx.now_s + kFailureReportIntervalS;
  }
}

// Starts (or continues) the send of the current request if none is in flight.
void SendCurrent(ShardContext& ctx, UpstreamLeg& leg, uint64_t send_tag) {
  if (leg.socks5.send_left > 0 && !leg.send_inflight) {
    SubmitLegSend(ctx, leg, send_tag, leg.socks5.send_left);
  }
}

// Moves on once the current request is sent and its reply is in.
Socks5Progress Advance(ShardContext& ctx, UpstreamLeg& leg, uint64_t send_tag) {
  LegSocks5& d = leg.socks5;
  if (d.send_left > 0 || !d.reader.finished()) {
    SendCurrent(ctx, leg, send_tag);
    return Socks5Progress::kPending;
  }
  switch (d.phase) {
    case Socks5Phase::kMethod:
      if (d.auth_bytes > 0) {
        d.phase = Socks5Phase::kAuth;
        d.send_left = d.auth_bytes;
        d.reader.Expect(Socks5Stage::kAuth);
        break;
      }
      [[fallthrough]];
    case Socks5Phase::kAuth:
      d.phase = Socks5Phase::kConnect;
      d.send_left = d.connect_bytes;
      d.reader.Expect(Socks5Stage::kConnect);
      break;
    case Socks5Phase::kConnect:
      d.phase = Socks5Phase::kDone;
      return Socks5Progress::kDone;
    default:
      return Socks5Progress::kPending;
  }
  SendCurrent(ctx, leg, send_tag);
  return Socks5Progress::kPending;
}

}  // namespace

std::string_view Socks5FailStageName(Socks5FailStage stage) {
  switch (stage) {
    case Socks5FailStage::kTcpConnect:
      return "tcp_connect";
    case Socks5FailStage::kMethod:
      return "method";
    case Socks5FailStage::kAuth:
      return "auth";
    case Socks5FailStage::kConnect:
      return "connect";
  }
  return "?";
}

bool QueueSocks5Requests(ShardContext& ctx, UpstreamLeg& leg, const SocketAddress& target) {
  const DataplaneConfig::UpstreamSocks5& cfg = *ctx.config.upstream_socks5;
  const bool creds = cfg.with_credentials();
  const Socks5Request greeting = BuildSocks5Greeting(creds);
  const Socks5Request connect = BuildSocks5Connect(target);
  bool ok = connect.size > 0 && ctx.chains.AppendCopy(leg.out, greeting.span());
  LegSocks5& d = leg.socks5;
  d = LegSocks5{};
  if (ok && creds) {
    const Socks5Request auth = BuildSocks5UserPass(cfg.user, cfg.password);
    ok = auth.size > 0 && ctx.chains.AppendCopy(leg.out, auth.span());
    d.auth_bytes = auth.size;
  }
  ok = ok && ctx.chains.AppendCopy(leg.out, connect.span());
  if (!ok) return false;
  d.phase = Socks5Phase::kMethod;
  d.send_left = greeting.size;
  d.connect_bytes = static_cast<uint8_t>(connect.size);
  d.reader.Expect(Socks5Stage::kMethod, creds);
  return true;
}

void BeginSocks5(ShardContext& ctx, UpstreamLeg& leg, uint64_t send_tag, uint64_t recv_tag) {
  if (!leg.recv_armed) {
    ctx.engine->Recv(leg.fd, recv_tag);
    leg.BeginRecv();
  }
  SendCurrent(ctx, leg, send_tag);
}

Socks5Progress OnSocks5Sent(ShardContext& ctx, UpstreamLeg& leg, uint32_t sent, uint64_t send_tag) {
  LegSocks5& d = leg.socks5;
  const uint32_t n = sent < d.send_left ? sent : d.send_left;  // a send never spans requests
  ctx.chains.Consume(leg.out, n);
  d.send_left = static_cast<uint16_t>(d.send_left - n);
  return Advance(ctx, leg, send_tag);
}

Socks5Progress OnSocks5Bytes(ShardContext& ctx, UpstreamLeg& leg, ByteSpan bytes, uint64_t send_tag,
                             const char* what, SocketAddress* bound) {
  LegSocks5& d = leg.socks5;
  size_t used = 0;
  const Socks5Reply r = d.reader.Feed(bytes, &used);
  if (r.status == Socks5Status::kError) {
    NoteSocks5Failure(ctx, leg, r.error, what, r.reply_code);
    return Socks5Progress::kFailed;
  }
  if (used < bytes.size()) {
    // Nothing may follow a reply before the next request (the real peer speaks
    // after us).
    NoteSocks5Failure(ctx, leg, Socks5Error::kUnexpectedBytes, what);
    return Socks5Progress::kFailed;
  }
  if (r.status == Socks5Status::kDone && d.phase == Socks5Phase::kConnect && bound != nullptr) {
    *bound = r.bound;
  }
  return Advance(ctx, leg, send_tag);
}

void NoteSocks5Failure(ShardContext& ctx, const UpstreamLeg& leg, Socks5Error error,
                       const char* what, uint8_t reply_code) {
  char detail[64] = "";
  if (error == Socks5Error::kRequestFailed) {
    const std::string_view code = Socks5ReplyCodeName(reply_code);
    snprintf(detail, sizeof(detail), " (reply %u: %.*s)", reply_code, static_cast<int>(code.size()),
             code.data());
  }
  Count(ctx, StageOf(leg), error, what, detail);
}

void NoteSocks5ConnectFailure(ShardContext& ctx, int err, const char* what) {
  char detail[80];
  snprintf(detail, sizeof(detail), " (%s)", strerror(err));
  Count(ctx, Socks5FailStage::kTcpConnect, Socks5Error::kIoError, what, detail);
}

}  // namespace mtp
