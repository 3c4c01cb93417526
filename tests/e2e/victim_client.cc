// Victim clients of the adversarial e2e suite.
#include "tests/e2e/victim_client.h"

#include "absl/strings/str_cat.h"
#include "tests/e2e/e2e_data.h"

namespace mtp::e2e {

std::unique_ptr<VictimClient> VictimClient::Connect(uint16_t port,
                                                    const tools::ClientCodecConfig& config,
                                                    int timeout_ms) {
  absl::StatusOr<tools::ClientCodec> codec = tools::ClientCodec::Create(config);
  if (!codec.ok()) return nullptr;
  absl::StatusOr<tools::SocketAddress> address =
      tools::SocketAddress::Parse("127.0.0.1:" + std::to_string(port));
  if (!address.ok()) return nullptr;
  absl::StatusOr<tools::UniqueFd> fd = tools::ConnectTcp(*address, timeout_ms);
  if (!fd.ok()) return nullptr;
  std::unique_ptr<VictimClient> v(new VictimClient(*std::move(codec), *std::move(fd)));
  v->codec_.Start(&v->out_);
  if (!v->Send(tools::MonotonicMillis() + timeout_ms)) return nullptr;
  return v;
}

bool VictimClient::Send(int64_t deadline_ms) {
  if (out_.empty()) return true;
  absl::Status st = tools::SendAll(fd_.get(), out_, deadline_ms);
  out_.clear();
  return st.ok() ? true : Fail(absl::StrCat("send: ", st.ToString()));
}

bool VictimClient::Echo(size_t size, int timeout_ms) {
  const int64_t deadline = tools::MonotonicMillis() + timeout_ms;
  const std::vector<uint8_t> msg = Message(size, seed_++);
  codec_.AppendFrame(msg, /*quick_ack=*/false, &out_);
  if (!Send(deadline)) return false;
  for (;;) {
    for (;;) {
      absl::StatusOr<tools::ClientCodec::Event> ev = codec_.Next();
      if (!ev.ok()) return Fail(absl::StrCat("bad frame: ", ev.status().ToString()));
      if (ev->kind == tools::ClientCodec::EventKind::kNone) break;
      if (ev->kind != tools::ClientCodec::EventKind::kFrame) continue;
      if (ev->payload.size() == msg.size() &&
          std::equal(msg.begin(), msg.end(), ev->payload.begin())) {
        return true;
      }
      return Fail(absl::StrCat("wrong answer of ", ev->payload.size(), " bytes"));
    }
    MutableByteSpan buf = codec_.ReceiveBuffer();
    absl::StatusOr<size_t> n = tools::ReceiveSome(fd_.get(), buf, deadline);
    if (!n.ok()) return Fail(absl::StrCat("no echo of ", size, " bytes: ", n.status().ToString()));
    if (*n == 0) return Fail("closed by the proxy");
    absl::Status st = codec_.CommitReceived(*n, &out_);
    if (!st.ok()) return Fail(absl::StrCat("bad stream: ", st.ToString()));
    if (!Send(deadline)) return false;
  }
}

int NewVictimsEcho(uint16_t port, const tools::ClientCodecConfig& config, int count, int timeout_ms,
                   std::string* error) {
  int ok = 0;
  for (int i = 0; i < count; ++i) {
    std::unique_ptr<VictimClient> v = VictimClient::Connect(port, config, timeout_ms);
    const size_t size = i % 2 == 0 ? 256 : 40000;
    if (v != nullptr && v->Echo(size, timeout_ms)) {
      ++ok;
    } else if (error != nullptr && error->empty()) {
      *error = v == nullptr ? "connect failed" : v->error();
    }
  }
  return ok;
}

}  // namespace mtp::e2e
