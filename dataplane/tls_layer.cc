// Fake-TLS stage of a client session: hello checks over buffer chains, ServerHello, record
// unwrap in place and record framing of the output chain.
#include "dataplane/tls_layer.h"

#include <algorithm>
#include <cassert>
#include <optional>
#include <string>

#include "proto/fake_tls_ja4.h"

namespace mtp {
namespace {

// The largest record the framing rule may make us wait for: 5 + 65535.
constexpr size_t kMaxHelloWaitBytes = kTlsRecordHeaderSize + 0xffff;
// Scratch for a hello check: the linear copy of the input, then a re-framed fragmented hello
// plus one byte (kMaxHelloRecords records of at most 4091 payload bytes fit the copy).
constexpr size_t kHelloScratchBytes = kMaxHelloWaitBytes + 1 + kMaxClientHelloBytes + 1;
static_assert(kMaxHelloRecords * (kTlsRecordHeaderSize + 1) + kMaxClientHelloBytes <
              kMaxHelloWaitBytes);

// The fingerprint of a complete hello record, before any secret check.
void CountJa4(const FakeTlsConfig& config, ByteSpan record) {
  if (config.ja4_counter == nullptr) return;
  const std::optional<std::string> ja4 = Ja4Fingerprint(record);
  config.ja4_counter->Add(ja4.has_value() ? *ja4 : std::string("unparsable"));
}

}  // namespace

void BeginTlsSession(const FakeTlsConfig& config, TlsSessionState& tls) {
  tls = TlsSessionState{};
  if (!config.enabled()) return;
  tls.phase = TlsPhase::kClientHello;
  tls.sizer = TlsRecordSizer(config.record_sizing);
}

ClientHelloResult CheckBufferedClientHello(const BufferChains& chains, const BufferChain& in,
                                           std::vector<uint8_t>& scratch,
                                           const FakeTlsConfig& config,
                                           std::span<const ClientSecret> secrets,
                                           uint16_t local_port, int64_t now_unix_s) {
  ClientHelloConfig hello_config{secrets, config.domains};
  // Everything buffered is looked at (extra bytes after the record are a rejection), but never
  // more than the largest record plus one byte: that is enough to see "extra bytes".
  const size_t have = std::min<size_t>(in.bytes, kMaxHelloWaitBytes + 1);
  // The first bytes decide whether the hello is fragmented over several records; the scratch
  // then also holds the re-framed hello after the linear copy (sized before any view into it).
  uint8_t first[kClassifyMinBytes];
  const size_t first_n = chains.CopyOut(in, 0, MutableByteSpan(first, sizeof(first)));
  const bool fragmented = !secrets.empty() && IsFragmentedClientHello(ByteSpan(first, first_n));
  ByteSpan view = chains.Front(in);
  if (view.size() < have || fragmented) {
    if (scratch.size() < kHelloScratchBytes) scratch.resize(kHelloScratchBytes);
  }
  if (view.size() < have) {
    const size_t n = chains.CopyOut(in, 0, MutableByteSpan(scratch.data(), have));
    view = ByteSpan(scratch.data(), n);
  } else {
    view = view.first(have);
  }
  assert(config.replay_cache != nullptr);
  if (!fragmented) {
    const HelloFrame frame = CheckClientHelloFraming(view);
    if (frame.status == HelloFraming::kComplete) CountJa4(config, view.first(frame.record_size));
    return ValidateClientHello(view, hello_config, local_port, now_unix_s, *config.replay_cache);
  }
  // A hello cut into several records: validate the single record the client signed, followed
  // by at most one of the bytes after the records (the extra-bytes rule still applies).
  const MutableByteSpan hello(scratch.data() + kMaxHelloWaitBytes + 1, kMaxClientHelloBytes + 1);
  const HelloReassembly a = ReassembleClientHello(view, hello);
  ClientHelloResult r;
  r.records = static_cast<uint16_t>(a.records);
  if (a.need_more()) {
    r.bytes_needed = a.bytes_needed;
    return r;
  }
  if (a.rejected()) {
    r.status = ClientHelloStatus::kBadFragments;
    r.fragments_error = a.error;
    return r;
  }
  CountJa4(config, hello.first(a.hello_size));
  const size_t extra = std::min<size_t>(view.size() - a.consumed, 1);
  std::copy_n(view.data() + a.consumed, extra, hello.data() + a.hello_size);
  r = ValidateClientHello(hello.first(a.hello_size + extra), hello_config, local_port, now_unix_s,
                          *config.replay_cache);
  r.records = static_cast<uint16_t>(a.records);
  if (r.accepted()) r.record_size = a.consumed;  // the raw bytes to consume
  return r;
}

bool AcceptClientHello(BufferChains& chains, BufferChain& in, BufferChain& out,
                       std::vector<uint8_t>& scratch, const ClientHelloResult& hello,
                       const FakeTlsConfig& config, std::span<const ClientSecret> secrets,
                       TlsSessionState& tls) {
  assert(hello.accepted() && hello.secret_index < secrets.size());
  assert(out.empty() && tls.framed_bytes == 0);
  TlsDomainProfile profile;
  if (config.registry != nullptr && hello.domain_index < config.registry->size()) {
    profile = config.registry->Get(hello.domain_index)->profile;
  }
  KeySharePolicy key_share = config.key_share;
  if (config.pq_follow_site && profile.pq_answer_group == kGroupX25519MlKem768) {
    key_share.post_quantum = true;
  }
  const ServerHelloParams params =
      MakeServerHelloParams(hello, secrets[hello.secret_index], profile, key_share);
  const size_t size = ServerHelloSize(params, PickEncryptedSize(profile));
  if (!chains.CanTake(size)) return false;
  if (scratch.size() < size) scratch.resize(std::max(size, kMaxHelloWaitBytes + 1));
  const MutableByteSpan bytes(scratch.data(), size);
  WriteServerHelloFresh(params, bytes);
  if (!chains.AppendCopy(out, bytes)) return false;
  chains.Consume(in, hello.record_size);
  tls.framed_bytes = out.bytes;
  if (config.handshake_fragment_bytes > 0) {
    tls.flight_left = static_cast<uint32_t>(out.bytes);
    tls.fragment_bytes = config.handshake_fragment_bytes;
  }
  tls.domain_index = static_cast<uint8_t>(hello.domain_index);
  tls.phase = TlsPhase::kRecords;
  tls.reader = TlsRecordReader(TlsRecordReader::Start::kAfterServerHello);
  return true;
}

uint32_t UnwrapTlsInput(TlsSessionState& tls, MutableByteSpan data, TlsReadError* error) {
  assert(tls.phase == TlsPhase::kRecords);
  const size_t n = tls.reader.UnwrapInPlace(data, error);
  return *error == TlsReadError::kNone ? static_cast<uint32_t>(n) : 0;
}

bool WrapTlsOutput(BufferChains& chains, BufferChain& out, TlsSessionState& tls, int64_t now_ms) {
  if (!tls.on() || tls.framed_bytes != 0 || out.empty()) return true;
  const size_t payload = out.bytes;
  if (!chains.CanTake(MaxWrappedSize(payload))) return false;
  tls.sizer.BeginFlush(now_ms);
  BufferChain framed;
  size_t offset = 0;
  bool ok = true;
  while (ok && offset < payload) {
    const size_t n = tls.sizer.NextRecordSize(payload - offset);
    uint8_t header[kTlsRecordHeaderSize];
    WriteTlsRecordHeader(header, static_cast<uint16_t>(n));
    ok = chains.AppendCopy(framed, ByteSpan(header, sizeof(header)));
    chains.ForEachSegment(out, offset, n, [&](MutableByteSpan seg) {
      ok = ok && chains.AppendCopy(framed, seg);
    });
    offset += n;
  }
  if (!ok) {
    chains.Clear(framed);
    return false;
  }
  chains.Clear(out);
  out = framed;
  tls.framed_bytes = out.bytes;
  return true;
}

}  // namespace mtp
