// mtp-client: one MTProto-shaped client connection through a proxy (or straight to a fake DC).
// Sends N frames with verifiable payloads, checks every echo and quick ack byte for byte, and
// reports one JSON line. Also does the negative cases (garbage, wrong secret, raw bytes, idle
// hold) with an --expect'ed outcome. Single thread, non-blocking socket + poll.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/hex.h"
#include "core/log.h"
#include "crypto/random.h"
#include "tools/client_codec.h"
#include "tools/client_flags.h"
#include "tools/echo_payload.h"
#include "tools/echo_tracker.h"
#include "tools/epoll_loop.h"
#include "tools/flags.h"
#include "tools/json_line.h"
#include "tools/net_util.h"
#include "tools/stop_signal.h"

namespace mtp::tools {
namespace {

// Exit codes beyond the shared ones.
constexpr int kExitConnect = 3;
constexpr int kExitTimeout = 4;
constexpr int kExitClosed = 5;
constexpr int kExitRejected = 6;

enum class Expect { kEcho, kSilence, kClose, kReject };

struct Options {
  SocketAddress server;
  ClientCodecConfig codec;
  ClientPadding padding = ClientPadding::kTdlib;
  int64_t packets = 10;
  size_t size_min = 256;
  size_t size_max = 256;
  int64_t window = 1;
  int64_t quick_ack_every = 0;  // 0 = never, 1 = every frame, k = every k-th
  bool req_pq = false;
  int64_t garbage_bytes = 0;
  std::vector<uint8_t> raw;
  Expect expect = Expect::kEcho;
  int64_t timeout_ms = 5000;
  double hold_seconds = 0;
  int64_t write_chunk = 0;     // bytes per send() (0 = everything at once)
  int64_t write_delay_ms = 0;  // pause between chunks
  int64_t read_pause_ms = 0;   // read nothing for this long after connecting (slow reader)
  int64_t hello_segments = 1;  // the handshake bytes in this many sends, 30 ms apart
};

struct Outcome {
  int code = kExitOk;
  std::string result = "ok";
  std::string error;
};

class ClientRun {
 public:
  ClientRun(const Options& options, ClientCodec codec, UniqueFd fd)
      : o_(options), codec_(std::move(codec)), fd_(std::move(fd)),
        tracker_(RandomAuthKeyId(), FastRandom64(), options.padding) {}

  Outcome Run();
  JsonLine Report(const Outcome& outcome) const;

 private:
  // Waits for IO until `done()` or the deadline; returns false with `outcome_` set on failure
  // or timeout. `allow_timeout` turns the timeout into success (silence / hold phases).
  template <typename Done>
  bool Pump(Done done, int64_t deadline_ms, bool allow_timeout);
  bool HandleInput();
  void QueueFrames();
  bool SendHelloInSegments();
  bool Fail(int code, std::string result, std::string error) {
    outcome_ = {code, std::move(result), std::move(error)};
    return false;
  }
  size_t NextSize() {
    if (o_.size_max == o_.size_min) return o_.size_min;
    size_t words = (o_.size_max - o_.size_min) / 4 + 1;
    return o_.size_min + 4 * static_cast<size_t>(FastRandomBelow(static_cast<uint32_t>(words)));
  }

  const Options& o_;
  ClientCodec codec_;
  UniqueFd fd_;
  EchoTracker tracker_;
  SendQueue out_;
  Outcome outcome_;
  bool peer_closed_ = false;
  uint64_t bytes_received_ = 0;
  int64_t frames_queued_ = 0;
  int64_t rtt_sum_ns_ = 0;
  int64_t rtt_max_ns_ = 0;
  int64_t start_ns_ = MonotonicNanos();
  int64_t handshake_ns_ = -1;
  int64_t next_write_ms_ = 0;
  int64_t read_resume_ms_ = 0;  // --read-pause-ms: no reads before this
};

void ClientRun::QueueFrames() {
  while (frames_queued_ < o_.packets &&
         static_cast<int64_t>(tracker_.in_flight()) < o_.window) {
    const int64_t now = MonotonicNanos();
    const bool ack = o_.quick_ack_every > 0 && (frames_queued_ % o_.quick_ack_every) == 0;
    if (o_.req_pq && frames_queued_ == 0) {
      std::array<uint8_t, 16> nonce;
      SecureRandom(nonce);
      auto msg = BuildReqPqMulti(static_cast<uint64_t>(time(nullptr)) << 32, nonce);
      tracker_.SendLiteral(codec_, msg, ack, now, &out_.buffer());
    } else {
      tracker_.SendGenerated(codec_, NextSize(), ack, now, &out_.buffer());
    }
    ++frames_queued_;
  }
}

bool ClientRun::HandleInput() {
  for (;;) {
    MutableByteSpan buf = codec_.ReceiveBuffer();
    ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n == 0) {
      peer_closed_ = true;
      return true;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      peer_closed_ = true;  // RST counts as a close by the server
      return true;
    }
    bytes_received_ += static_cast<uint64_t>(n);
    const bool was_pending = codec_.handshake_pending();
    absl::Status st = codec_.CommitReceived(static_cast<size_t>(n), &out_.buffer());
    if (!st.ok()) {
      if (absl::IsPermissionDenied(st)) return Fail(kExitRejected, "rejected", st.ToString());
      return Fail(kExitFailure, "bad_stream", st.ToString());
    }
    if (was_pending && !codec_.handshake_pending()) {
      handshake_ns_ = MonotonicNanos() - start_ns_;
      MTP_LOG(1, "fake-TLS ServerHello verified");
    }
    for (;;) {
      absl::StatusOr<ClientCodec::Event> ev = codec_.Next();
      if (!ev.ok()) return Fail(kExitFailure, "bad_frame", ev.status().ToString());
      if (ev->kind == ClientCodec::EventKind::kNone) break;
      std::string error;
      if (ev->kind == ClientCodec::EventKind::kQuickAck) {
        if (!tracker_.OnQuickAck(ev->token, &error)) {
          return Fail(kExitFailure, "mismatch", error);
        }
        continue;
      }
      int64_t rtt = 0;
      if (!tracker_.OnEcho(ev->payload, MonotonicNanos(), &rtt, &error)) {
        return Fail(kExitFailure, "mismatch", error);
      }
      rtt_sum_ns_ += rtt;
      rtt_max_ns_ = std::max(rtt_max_ns_, rtt);
    }
  }
}

// --hello-segments: the handshake bytes queued so far go out as N sends 30 ms apart (with
// TCP_NODELAY each leaves as its own TCP segment), before anything else is queued.
bool ClientRun::SendHelloInSegments() {
  const size_t total = out_.pending();
  const int64_t deadline_ms = MonotonicMillis() + o_.timeout_ms;
  size_t sent = 0;
  for (int64_t i = 0; i < o_.hello_segments; ++i) {
    const size_t end =
        total * static_cast<size_t>(i + 1) / static_cast<size_t>(o_.hello_segments);
    while (sent < end) {
      uint64_t written = 0;
      if (!out_.Flush(fd_.get(), &written, end - sent)) {
        return Fail(kExitClosed, "closed", "send failed: connection closed by the server");
      }
      sent += written;
      if (sent < end) {
        if (MonotonicMillis() > deadline_ms) return Fail(kExitTimeout, "timeout", "send stalled");
        pollfd p{fd_.get(), POLLOUT, 0};
        ::poll(&p, 1, 100);
      }
    }
    if (i + 1 < o_.hello_segments) ::poll(nullptr, 0, 30);
  }
  return true;
}

template <typename Done>
bool ClientRun::Pump(Done done, int64_t deadline_ms, bool allow_timeout) {
  while (!done()) {
    if (StopRequested()) return Fail(kExitFailure, "interrupted", "stopped by signal");
    QueueFrames();
    const bool paced = o_.write_chunk > 0 && o_.write_delay_ms > 0 &&
                       MonotonicMillis() < next_write_ms_;
    if (!out_.empty() && !paced) {
      // With --write-chunk: one chunk now, the next after --write-delay-ms.
      uint64_t written = 0;
      if (!out_.Flush(fd_.get(), &written, static_cast<size_t>(o_.write_chunk))) {
        peer_closed_ = true;
        return Fail(kExitClosed, "closed", "send failed: connection closed by the server");
      }
      if (written > 0) {
        next_write_ms_ = MonotonicMillis() + o_.write_delay_ms;
        // Sending is progress too (a slow fragmented send must not time out).
        if (!allow_timeout) deadline_ms = MonotonicMillis() + o_.timeout_ms;
      }
    }
    if (peer_closed_) return Fail(kExitClosed, "closed", "connection closed by the server");
    int64_t left = deadline_ms - MonotonicMillis();
    if (left <= 0) {
      if (allow_timeout) return true;
      return Fail(kExitTimeout, "timeout",
                  absl::StrCat("no answer within ", o_.timeout_ms, " ms (", tracker_.verified(),
                               "/", o_.packets, " frames verified)"));
    }
    const bool pacing = o_.write_chunk > 0 && o_.write_delay_ms > 0;
    // --read-pause-ms: a reader that has stopped; the inactivity deadline waits for it.
    const bool reading = MonotonicMillis() >= read_resume_ms_;
    if (!reading && !allow_timeout) {
      deadline_ms = std::max(deadline_ms, read_resume_ms_ + o_.timeout_ms);
    }
    pollfd p{fd_.get(),
             static_cast<short>((reading ? POLLIN : 0) |
                                (out_.empty() || pacing ? 0 : POLLOUT)),
             0};
    int64_t slice = std::min<int64_t>(left, 100);
    if (pacing && !out_.empty()) slice = std::min<int64_t>(slice, o_.write_delay_ms);
    int rc = ::poll(&p, 1, static_cast<int>(slice));
    if (rc <= 0) continue;
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const uint64_t before = bytes_received_;
      if (!HandleInput()) return false;
      // Any progress restarts the inactivity deadline.
      if (bytes_received_ != before && !allow_timeout) {
        deadline_ms = MonotonicMillis() + o_.timeout_ms;
      }
    }
  }
  return true;
}

Outcome ClientRun::Run() {
  if (o_.read_pause_ms > 0) read_resume_ms_ = MonotonicMillis() + o_.read_pause_ms;
  if (o_.garbage_bytes > 0) {
    std::vector<uint8_t> junk(static_cast<size_t>(o_.garbage_bytes));
    SecureRandom(junk);
    out_.buffer().insert(out_.buffer().end(), junk.begin(), junk.end());
  } else {
    codec_.Start(&out_.buffer());
    if (o_.hello_segments > 1 && !SendHelloInSegments()) return outcome_;
    if (!o_.raw.empty()) codec_.AppendRaw(o_.raw, &out_.buffer());
  }

  auto deadline = [&] { return MonotonicMillis() + o_.timeout_ms; };
  switch (o_.expect) {
    case Expect::kEcho:
    case Expect::kClose: {
      if (!Pump([&] { return tracker_.verified() == static_cast<uint64_t>(o_.packets); },
                deadline(), false)) {
        return outcome_;
      }
      if (o_.expect == Expect::kClose) {
        // Now the server must close (e.g. RPC_CLOSE_EXT, a bad frame, a dropped ME link).
        bool ok = Pump([&] { return peer_closed_; }, deadline(), false);
        if (!ok && outcome_.code == kExitClosed) return Outcome{};
        if (ok) return Outcome{};
        return Outcome{kExitFailure, "not_closed", "the server did not close the connection"};
      }
      if (o_.hold_seconds > 0) {
        const int64_t until = MonotonicMillis() + static_cast<int64_t>(o_.hold_seconds * 1000);
        if (!Pump([] { return false; }, until, true)) return outcome_;
      }
      return Outcome{};
    }
    case Expect::kSilence: {
      // Send what was asked (frames are queued by Pump) and require that nothing comes back
      // and the connection stays open for the whole wait.
      const int64_t wait_ms =
          o_.hold_seconds > 0 ? static_cast<int64_t>(o_.hold_seconds * 1000) : o_.timeout_ms;
      if (!Pump([&] { return bytes_received_ > 0; }, MonotonicMillis() + wait_ms, true)) {
        if (outcome_.code == kExitClosed) return outcome_;
        return Outcome{kExitFailure, "not_silent", outcome_.error};
      }
      if (bytes_received_ > 0) {
        return Outcome{kExitFailure, "not_silent",
                       absl::StrCat("received ", bytes_received_, " bytes")};
      }
      return Outcome{};
    }
    case Expect::kReject: {
      bool done = Pump([&] { return !codec_.handshake_pending(); }, deadline(), false);
      if (done) {
        return Outcome{kExitFailure, "accepted", "the server answered a valid ServerHello"};
      }
      if (outcome_.code == kExitRejected || outcome_.code == kExitClosed) {
        return Outcome{kExitOk, outcome_.result, outcome_.error};
      }
      return outcome_;
    }
  }
  return Outcome{};
}

JsonLine ClientRun::Report(const Outcome& outcome) const {
  const uint64_t verified = tracker_.verified();
  JsonLine j;
  j.Add("result", outcome.result)
      .Add("exit_code", int64_t{outcome.code})
      .Add("transport", TransportName(codec_.transport()))
      .Add("fake_tls", codec_.fake_tls())
      .Add("packets_sent", tracker_.sent())
      .Add("packets_verified", verified)
      .Add("quick_acks", tracker_.quick_acks())
      .Add("payload_bytes_sent", tracker_.payload_bytes_sent())
      .Add("payload_bytes_verified", tracker_.payload_bytes_verified())
      .Add("wire_bytes_sent", codec_.wire_bytes_out())
      .Add("wire_bytes_received", codec_.wire_bytes_in())
      .Add("rtt_avg_us", verified > 0 ? rtt_sum_ns_ / 1000.0 / verified : 0.0)
      .Add("rtt_max_us", rtt_max_ns_ / 1000.0)
      .Add("duration_ms", (MonotonicNanos() - start_ns_) / 1e6);
  if (handshake_ns_ >= 0) j.Add("tls_handshake_ms", handshake_ns_ / 1e6);
  if (!outcome.error.empty()) j.Add("error", outcome.error);
  return j;
}

int Main(int argc, char** argv) {
  ClientFlags cf;
  std::string raw_hex;
  std::string bind_ip;
  std::string expect = "echo";
  int64_t packets = 10;
  int64_t window = 1;
  int64_t quick_ack_every = 0;
  bool quick_ack = false;
  bool req_pq = false;
  int64_t garbage = 0;
  int64_t timeout_ms = 5000;
  double hold_seconds = 0;
  int64_t write_chunk = 0;
  int64_t write_delay_ms = 0;
  int64_t read_pause_ms = 0;
  int64_t hello_segments = 1;
  int64_t verbosity = 0;

  FlagParser flags(
      "mtp-client",
      "Test client: connects to an MTProto proxy (or a fake DC), sends N MTProto-shaped\n"
      "frames and verifies every echo byte for byte. Prints one JSON line on stdout.");
  RegisterClientFlags(flags, &cf);
  flags.AddString("bind", &bind_ip,
                  "local IPv4 to connect from (a loopback alias such as 127.0.0.2 stands for "
                  "another client in tests)",
                  "IP");
  flags.AddInt("packets", &packets, "frames to send", 0, INT64_MAX);
  flags.AddInt("window", &window, "frames in flight (pipelining)", 1, 1 << 20);
  flags.AddBool("quick-ack", &quick_ack, "request a quick ack on every frame");
  flags.AddInt("quick-ack-every", &quick_ack_every, "request a quick ack on every K-th frame",
               0, INT64_MAX, "K");
  flags.AddBool("req-pq", &req_pq, "make the first frame an unencrypted req_pq_multi");
  flags.AddInt("send-garbage", &garbage,
               "send N random bytes instead of the handshake (negative tests)", 0, 1 << 20);
  flags.AddString("send-raw", &raw_hex,
                  "inject these plaintext bytes into the stream right after the handshake",
                  "HEX");
  flags.AddChoice("expect", &expect, {"echo", "silence", "close", "reject"},
                  "outcome that counts as success: all echoes verified; nothing received; "
                  "echoes then a close by the server; fake-TLS handshake refused");
  flags.AddInt("timeout-ms", &timeout_ms, "connect / inactivity timeout", 1, 3600000);
  flags.AddDouble("hold-seconds", &hold_seconds,
                  "keep the connection open this long after the exchange (idle tests); with "
                  "--expect silence: how long to watch",
                  0, 1e7, "S");
  flags.AddInt("write-chunk", &write_chunk,
               "send at most N bytes per send() call (fragmentation tests; 0 = no limit)", 0,
               1 << 30);
  flags.AddInt("write-delay-ms", &write_delay_ms, "pause between --write-chunk sends", 0,
               60'000);
  flags.AddInt("read-pause-ms", &read_pause_ms,
               "read nothing from the socket for this long after connecting, while still "
               "sending (slow-reader and write-stall tests)",
               0, 3'600'000);
  flags.AddInt("hello-segments", &hello_segments,
               "send the ClientHello (or obfuscated2 header) in N TCP segments, 30 ms apart",
               1, 1024, "N");
  flags.AddInt("verbosity", &verbosity, "log verbosity on stderr (0..3)", 0, 9);
  flags.AddEpilog(
      "Examples:\n"
      "  mtp-client --server 127.0.0.1:8443 --secret dd0123456789abcdef0123456789abcdef\n"
      "  mtp-client --server 127.0.0.1:8443 --secret ee<32hex><hex(domain)> --size 56-1044480\n"
      "  mtp-client --server 127.0.0.1:8443 --send-garbage 64 --expect silence\n"
      "Exit codes: 0 expected outcome; 1 mismatch / wrong outcome; 2 usage; 3 connect failed;\n"
      "4 timeout; 5 closed by the server; 6 fake-TLS handshake rejected.");
  flags.ParseOrExit(argc, argv);
  SetLogVerbosity(static_cast<int>(verbosity));
  auto usage = [](const std::string& msg) {
    std::fprintf(stderr, "mtp-client: %s\n", msg.c_str());
    return kExitUsage;
  };

  absl::StatusOr<ResolvedClient> resolved = ResolveClientFlags(cf);
  if (!resolved.ok()) return usage(std::string(resolved.status().message()));
  Options o;
  o.server = resolved->server;
  o.codec = resolved->codec;
  o.padding = resolved->padding;
  o.size_min = resolved->size_min;
  o.size_max = resolved->size_max;
  if (req_pq && packets == 0) return usage("--req-pq needs --packets >= 1");
  o.packets = packets;
  o.window = window;
  o.quick_ack_every = quick_ack ? 1 : quick_ack_every;
  o.req_pq = req_pq;
  o.garbage_bytes = garbage;
  if (!raw_hex.empty()) {
    std::optional<std::vector<uint8_t>> raw = HexDecode(raw_hex);
    if (!raw.has_value()) return usage("--send-raw: bad hex");
    o.raw = *std::move(raw);
  }
  o.expect = expect == "silence" ? Expect::kSilence
             : expect == "close" ? Expect::kClose
             : expect == "reject" ? Expect::kReject
                                  : Expect::kEcho;
  if (o.expect == Expect::kReject && o.codec.tls_domain.empty()) {
    return usage("--expect reject applies to fake-TLS only");
  }
  o.timeout_ms = timeout_ms;
  o.hold_seconds = hold_seconds;
  o.write_chunk = write_chunk;
  o.write_delay_ms = write_delay_ms;
  o.read_pause_ms = read_pause_ms;
  o.hello_segments = hello_segments;

  InstallStopSignals();
  absl::StatusOr<ClientCodec> codec = ClientCodec::Create(o.codec);
  if (!codec.ok()) return usage(codec.status().ToString());
  std::optional<SocketAddress> source;
  if (!bind_ip.empty()) {
    absl::StatusOr<SocketAddress> parsed = SocketAddress::Parse(absl::StrCat(bind_ip, ":0"));
    if (!parsed.ok()) return usage(absl::StrCat("--bind: ", parsed.status().message()));
    source = *parsed;
  }
  absl::StatusOr<UniqueFd> fd =
      ConnectTcp(o.server, static_cast<int>(o.timeout_ms), source ? &*source : nullptr);
  if (!fd.ok()) {
    JsonLine j;
    j.Add("result", "connect_failed").Add("exit_code", int64_t{kExitConnect});
    j.Add("error", fd.status().ToString());
    std::printf("%s\n", j.str().c_str());
    return kExitConnect;
  }
  (void)SetNonBlocking(fd->get());
  MTP_LOG(1, "connected to %s (%s%s, dc %d)", o.server.ToString(),
          std::string(TransportName(o.codec.transport)),
          o.codec.tls_domain.empty() ? "" : ", fake-TLS", o.codec.dc_id);
  ClientRun run(o, *std::move(codec), *std::move(fd));
  Outcome outcome = run.Run();
  std::printf("%s\n", run.Report(outcome).str().c_str());
  std::fflush(stdout);
  if (outcome.code != kExitOk) MTP_LOG(0, "mtp-client: %s: %s", outcome.result, outcome.error);
  return outcome.code;
}

}  // namespace
}  // namespace mtp::tools

int main(int argc, char** argv) { return mtp::tools::Main(argc, argv); }
