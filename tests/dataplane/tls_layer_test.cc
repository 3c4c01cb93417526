// The fake-TLS session stage over buffer chains: hello checks (split input, several secrets and
// domains, rejections, replays), the ServerHello as a client verifies it, record unwrapping in
// place, output framing under both record-size policies, and the handshake deadline queue.
#include "dataplane/tls_layer.h"

#include <gtest/gtest.h>

#include <ctime>
#include <vector>

#include "dataplane/deadline_fifo.h"
#include "dataplane/replay_cache.h"
#include "proto/fake_tls_ja4.h"
#include "tests/dataplane/fake_buffer_pool.h"

namespace mtp {
namespace {

const ClientSecret kSecretA = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
const ClientSecret kSecretB = {0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
                               0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf};
const ClientSecret kWrongSecret = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee,
                                   0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee};

std::vector<uint8_t> Pattern(size_t n, uint8_t seed = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 13 + seed);
  return v;
}

std::vector<uint8_t> Contents(BufferChains& chains, const BufferChain& chain) {
  std::vector<uint8_t> v(chain.bytes);
  chains.CopyOut(chain, 0, MutableByteSpan(v));
  return v;
}

class TlsLayerTest : public ::testing::Test {
 protected:
  TlsLayerTest()
      : pool_(512, 256),  // small buffers: hellos straddle several of them
        chains_(pool_, 512),
        registry_({"a.example", "b.example"}, TlsDomainProfile{false, 2000, false}),
        cache_(SharedReplayCacheOptions{.slots = 1024}) {
    config_.domains = {"a.example", "b.example"};
    config_.registry = &registry_;
    config_.replay_cache = &cache_;
    auto b = std::make_shared<TlsDomainInfo>();
    b->name = "b.example";
    b->profile = TlsDomainProfile{true, 1500, false};
    b->probed = true;
    registry_.Publish(1, b);
    now_ = static_cast<int64_t>(std::time(nullptr));
  }

  ~TlsLayerTest() override {
    chains_.Clear(in_);
    chains_.Clear(out_);
  }

  std::vector<uint8_t> Hello(const ClientSecret& secret, std::string_view domain,
                             ClientHelloLayout layout = ClientHelloLayout::kModern) {
    return BuildClientHello(secret, domain, static_cast<int32_t>(now_), layout).value();
  }

  ClientHelloResult Check(uint16_t port = 443) {
    return CheckBufferedClientHello(chains_, in_, scratch_, config_, secrets_, port, now_);
  }

  FakeBufferPool pool_;
  BufferChains chains_;
  TlsDomainRegistry registry_;
  SharedReplayCache cache_;
  FakeTlsConfig config_;
  std::vector<ClientSecret> secrets_ = {kSecretA, kSecretB};
  std::vector<uint8_t> scratch_;
  BufferChain in_;
  BufferChain out_;
  TlsSessionState tls_;
  int64_t now_ = 0;
};

TEST_F(TlsLayerTest, OffWithoutDomains) {
  FakeTlsConfig off;
  BeginTlsSession(off, tls_);
  EXPECT_FALSE(tls_.on());
  EXPECT_EQ(TlsSendableBytes(tls_, 1000), 1000u);
  ASSERT_TRUE(chains_.AppendCopy(out_, Pattern(100)));
  EXPECT_TRUE(WrapTlsOutput(chains_, out_, tls_, 0));
  EXPECT_EQ(out_.bytes, 100u);  // untouched
}

TEST_F(TlsLayerTest, SplitHelloIsAcceptedAndTheServerHelloVerifies) {
  BeginTlsSession(config_, tls_);
  ASSERT_EQ(tls_.phase, TlsPhase::kClientHello);
  const auto hello = Hello(kSecretB, "b.example");
  ASSERT_TRUE(chains_.AppendCopy(in_, ByteSpan(hello).first(300)));
  EXPECT_TRUE(Check().need_more());
  ASSERT_TRUE(chains_.AppendCopy(in_, ByteSpan(hello).subspan(300)));
  const ClientHelloResult r = Check();
  ASSERT_TRUE(r.accepted()) << ClientHelloStatusName(r.status);
  EXPECT_EQ(r.secret_index, 1u);
  EXPECT_EQ(r.domain_index, 1u);

  ASSERT_TRUE(AcceptClientHello(chains_, in_, out_, scratch_, r, config_, secrets_, tls_));
  EXPECT_TRUE(in_.empty());
  EXPECT_EQ(tls_.phase, TlsPhase::kRecords);
  EXPECT_EQ(tls_.domain_index, 1);
  // Domain b's profile: E = 1500 exactly (not randomised), reversed extension order.
  EXPECT_EQ(out_.bytes, ServerHelloSize(1500));
  EXPECT_EQ(tls_.framed_bytes, out_.bytes);  // sent as is, never re-framed
  const auto server_hello = Contents(chains_, out_);
  EXPECT_EQ(server_hello[81], 0x00);
  EXPECT_EQ(server_hello[82], 0x2b);  // supported_versions first
  const ServerHelloCheck check = VerifyServerHello(kSecretB, r.client_random, server_hello);
  EXPECT_EQ(check.status, ServerHelloCheckStatus::kOk);
  EXPECT_EQ(check.size, server_hello.size());
  EXPECT_EQ(VerifyServerHello(kSecretA, r.client_random, server_hello).status,
            ServerHelloCheckStatus::kBadDigest);
  // Nothing new to frame while the ServerHello is unsent; sends stop at the framed prefix.
  EXPECT_TRUE(WrapTlsOutput(chains_, out_, tls_, 0));
  EXPECT_EQ(out_.bytes, server_hello.size());
}

// --tls-handshake-fragment: the flight is handed out one piece per send (short sends
// included), and once it is out, later framed output goes in whole sends again.
TEST_F(TlsLayerTest, HandshakeFragmentCutsOnlyTheFlight) {
  config_.handshake_fragment_bytes = 100;
  BeginTlsSession(config_, tls_);
  const auto hello = Hello(kSecretA, "b.example");
  ASSERT_TRUE(chains_.AppendCopy(in_, hello));
  const ClientHelloResult r = Check();
  ASSERT_TRUE(r.accepted());
  ASSERT_TRUE(AcceptClientHello(chains_, in_, out_, scratch_, r, config_, secrets_, tls_));
  const uint32_t flight = static_cast<uint32_t>(out_.bytes);
  EXPECT_EQ(tls_.flight_left, flight);
  uint32_t sent = 0;
  int sends = 0;
  while (sent < flight) {
    const uint32_t n = TlsSendableBytes(tls_, 1 << 18);
    ASSERT_EQ(n, std::min<uint32_t>(100, flight - sent));
    const uint32_t taken = sends == 3 ? n / 2 : n;  // one short send: the rest comes next
    chains_.Consume(out_, taken);
    TlsOnSent(tls_, taken);
    sent += taken;
    ++sends;
  }
  EXPECT_EQ(tls_.flight_left, 0u);
  // Three 100-byte pieces, a short 50-byte send, then 100-byte pieces from there on.
  EXPECT_EQ(sends, static_cast<int>(4 + (flight - 350 + 99) / 100));
  ASSERT_TRUE(chains_.AppendCopy(out_, Pattern(5000)));
  ASSERT_TRUE(WrapTlsOutput(chains_, out_, tls_, 0));
  EXPECT_EQ(TlsSendableBytes(tls_, 1 << 18), out_.bytes);  // whole again
}

// The single record `hello` cut into records of the given payload sizes (the last takes the
// rest), as DPI-evasion tools send it.
std::vector<uint8_t> SplitIntoRecords(const std::vector<uint8_t>& hello,
                                      const std::vector<size_t>& sizes) {
  std::vector<uint8_t> raw;
  size_t at = kTlsRecordHeaderSize;
  for (size_t i = 0; at < hello.size(); ++i) {
    const size_t n = std::min(i < sizes.size() ? sizes[i] : hello.size(), hello.size() - at);
    raw.insert(raw.end(), {kTlsHandshake, 0x03, 0x01, static_cast<uint8_t>(n >> 8),
                           static_cast<uint8_t>(n)});
    raw.insert(raw.end(), hello.begin() + at, hello.begin() + at + n);
    at += n;
  }
  return raw;
}

TEST_F(TlsLayerTest, HelloFragmentedOverRecordsAndSegmentsIsAcceptedAndConsumed) {
  struct Case {
    ClientHelloLayout layout;
    std::vector<size_t> sizes;
  };
  const std::vector<Case> cases = {
      {ClientHelloLayout::kLegacy517, {256}},
      {ClientHelloLayout::kModern, {900}},
      {ClientHelloLayout::kLegacy517, std::vector<size_t>(64, 1)},
      {ClientHelloLayout::kModern, std::vector<size_t>(64, 1)},
      {ClientHelloLayout::kModern, {1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377}},
  };
  for (const Case& c : cases) {
    BeginTlsSession(config_, tls_);
    chains_.Clear(in_);
    chains_.Clear(out_);
    const auto hello = Hello(kSecretB, "b.example", c.layout);
    const auto raw = SplitIntoRecords(hello, c.sizes);
    // Arrives in TCP segments of 7 bytes, then the rest: need-more until the last byte.
    size_t fed = 0;
    while (raw.size() - fed > 200) {
      ASSERT_TRUE(chains_.AppendCopy(in_, ByteSpan(raw).subspan(fed, 7)));
      fed += 7;
      const ClientHelloResult r = Check();
      ASSERT_TRUE(r.need_more()) << fed << ": " << ClientHelloStatusName(r.status);
    }
    ASSERT_TRUE(chains_.AppendCopy(in_, ByteSpan(raw).subspan(fed)));
    const ClientHelloResult r = Check();
    ASSERT_TRUE(r.accepted()) << ClientHelloStatusName(r.status);
    EXPECT_EQ(r.record_size, raw.size());
    EXPECT_EQ(r.records, c.sizes.size() + 1);
    EXPECT_EQ(r.domain_index, 1u);
    ASSERT_TRUE(AcceptClientHello(chains_, in_, out_, scratch_, r, config_, secrets_, tls_));
    EXPECT_TRUE(in_.empty());
    EXPECT_EQ(VerifyServerHello(kSecretB, r.client_random, Contents(chains_, out_)).status,
              ServerHelloCheckStatus::kOk);
  }
}

TEST_F(TlsLayerTest, EveryCompleteHelloIsFingerprintedOnceBeforeTheSecretCheck) {
  Ja4Counter counter;
  config_.ja4_counter = &counter;
  const auto good = Hello(kSecretA, "a.example", ClientHelloLayout::kLegacy517);
  const auto wrong = Hello(kWrongSecret, "a.example", ClientHelloLayout::kLegacy517);
  const std::string ja4 = Ja4Fingerprint(good).value();
  ASSERT_EQ(Ja4Fingerprint(wrong), ja4);
  ASSERT_TRUE(chains_.AppendCopy(in_, ByteSpan(good).first(200)));
  EXPECT_TRUE(Check().need_more());
  EXPECT_EQ(counter.total(), 0u);  // not before the hello is complete
  ASSERT_TRUE(chains_.AppendCopy(in_, ByteSpan(good).subspan(200)));
  EXPECT_TRUE(Check().accepted());
  chains_.Clear(in_);
  ASSERT_TRUE(chains_.AppendCopy(in_, SplitIntoRecords(wrong, {1, 1, 1})));
  EXPECT_EQ(Check().status, ClientHelloStatus::kBadDigest);
  chains_.Clear(in_);
  ASSERT_TRUE(chains_.AppendCopy(in_, std::vector<uint8_t>(64, 'G')));
  EXPECT_EQ(Check().status, ClientHelloStatus::kNotTls);
  const auto top = counter.Top(5);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].first, ja4);
  EXPECT_EQ(top[0].second, 2u);
  config_.ja4_counter = nullptr;
}

TEST_F(TlsLayerTest, FragmentedHelloRejections) {
  const auto hello = Hello(kSecretA, "b.example");
  auto not_handshake = SplitIntoRecords(hello, {1, 1});
  not_handshake[12] = 0x17;  // third record: application data
  auto extra = SplitIntoRecords(hello, {100});
  extra.push_back(0x14);
  struct Case {
    std::vector<uint8_t> bytes;
    ClientHelloStatus status;
    size_t domain_index;
  };
  const std::vector<Case> cases = {
      {not_handshake, ClientHelloStatus::kBadFragments, 0},
      {SplitIntoRecords(Hello(kWrongSecret, "b.example"), {50}), ClientHelloStatus::kBadDigest, 1},
      {SplitIntoRecords(Hello(kSecretA, "c.example"), {50}), ClientHelloStatus::kUnknownSni, 0},
      {extra, ClientHelloStatus::kExtraBytes, 1},
  };
  for (const Case& c : cases) {
    BeginTlsSession(config_, tls_);
    chains_.Clear(in_);
    ASSERT_TRUE(chains_.AppendCopy(in_, c.bytes));
    const ClientHelloResult r = Check();
    EXPECT_EQ(r.status, c.status) << ClientHelloStatusName(r.status);
    EXPECT_EQ(r.domain_index, c.domain_index);
    EXPECT_EQ(in_.bytes, c.bytes.size());  // nothing consumed: fronted from the first byte
  }
  EXPECT_EQ(Check().fragments_error, HelloReassemblyError::kNone);  // the last case: validated
  chains_.Clear(in_);
  ASSERT_TRUE(chains_.AppendCopy(in_, not_handshake));
  EXPECT_EQ(Check().fragments_error, HelloReassemblyError::kNotHandshake);
}

TEST_F(TlsLayerTest, LegacyHelloToTheDefaultDomain) {
  BeginTlsSession(config_, tls_);
  const auto hello = Hello(kSecretA, "a.example", ClientHelloLayout::kLegacy517);
  ASSERT_TRUE(chains_.AppendCopy(in_, hello));
  const ClientHelloResult r = Check();
  ASSERT_TRUE(r.accepted()) << ClientHelloStatusName(r.status);
  EXPECT_EQ(r.secret_index, 0u);
  EXPECT_EQ(r.domain_index, 0u);
  ASSERT_TRUE(AcceptClientHello(chains_, in_, out_, scratch_, r, config_, secrets_, tls_));
  EXPECT_EQ(out_.bytes, ServerHelloSize(2000));
  EXPECT_EQ(VerifyServerHello(kSecretA, r.client_random, Contents(chains_, out_)).status,
            ServerHelloCheckStatus::kOk);
}

TEST_F(TlsLayerTest, RejectionsNameTheSiteToFront) {
  BeginTlsSession(config_, tls_);
  struct Case {
    std::vector<uint8_t> bytes;
    ClientHelloStatus status;
    size_t domain_index;
  };
  std::vector<uint8_t> garbage(64, 'G');
  std::vector<uint8_t> extra = Hello(kSecretA, "b.example");
  extra.push_back(0x17);
  const std::vector<Case> cases = {
      {Hello(kWrongSecret, "b.example"), ClientHelloStatus::kBadDigest, 1},
      {Hello(kSecretA, "c.example"), ClientHelloStatus::kUnknownSni, 0},
      {garbage, ClientHelloStatus::kNotTls, 0},
      {extra, ClientHelloStatus::kExtraBytes, 1},
  };
  for (const Case& c : cases) {
    chains_.Clear(in_);
    ASSERT_TRUE(chains_.AppendCopy(in_, c.bytes));
    const ClientHelloResult r = Check();
    EXPECT_EQ(r.status, c.status) << ClientHelloStatusName(r.status);
    EXPECT_EQ(r.domain_index, c.domain_index);
  }
  // Local port 80 goes to the matched domain's port 80 site.
  chains_.Clear(in_);
  ASSERT_TRUE(chains_.AppendCopy(in_, Hello(kSecretA, "b.example")));
  EXPECT_EQ(Check(80).status, ClientHelloStatus::kPort80);
}

TEST_F(TlsLayerTest, ReplayedHelloIsRefusedAfterTheFirst) {
  const auto hello = Hello(kSecretA, "a.example");
  ASSERT_TRUE(chains_.AppendCopy(in_, hello));
  EXPECT_TRUE(Check().accepted());
  EXPECT_EQ(Check().status, ClientHelloStatus::kReplay);
  EXPECT_EQ(cache_.stats().replays, 1u);
}

// Client-side framing: CCS + first application-data record, then records.
std::vector<uint8_t> ClientRecords(ByteSpan payload, size_t first_len, size_t record_len) {
  std::vector<uint8_t> wire = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01};
  size_t off = 0;
  bool first = true;
  while (off < payload.size()) {
    const size_t n = std::min(first ? first_len : record_len, payload.size() - off);
    wire.insert(wire.end(), {0x17, 0x03, 0x03, static_cast<uint8_t>(n >> 8),
                             static_cast<uint8_t>(n)});
    wire.insert(wire.end(), payload.begin() + off, payload.begin() + off + n);
    off += n;
    first = false;
  }
  return wire;
}

TEST_F(TlsLayerTest, UnwrapsRecordsSplitAcrossReceives) {
  tls_.phase = TlsPhase::kRecords;
  const auto payload = Pattern(5000, 9);
  auto wire = ClientRecords(payload, 100, 777);
  std::vector<uint8_t> got;
  for (size_t off = 0; off < wire.size();) {
    const size_t n = std::min<size_t>(37 + off % 501, wire.size() - off);  // odd cut points
    std::vector<uint8_t> piece(wire.begin() + off, wire.begin() + off + n);
    TlsReadError error = TlsReadError::kNone;
    const uint32_t m = UnwrapTlsInput(tls_, MutableByteSpan(piece), &error);
    ASSERT_EQ(error, TlsReadError::kNone);
    got.insert(got.end(), piece.begin(), piece.begin() + m);
    off += n;
  }
  EXPECT_EQ(got, payload);
}

TEST_F(TlsLayerTest, UnwrapErrorsCloseTheSession) {
  tls_.phase = TlsPhase::kRecords;
  std::vector<uint8_t> not_ccs = {0x17, 0x03, 0x03, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0};
  TlsReadError error = TlsReadError::kNone;
  EXPECT_EQ(UnwrapTlsInput(tls_, MutableByteSpan(not_ccs), &error), 0u);
  EXPECT_EQ(error, TlsReadError::kBadFirstPrefix);

  TlsSessionState short_first;
  short_first.phase = TlsPhase::kRecords;
  auto wire = ClientRecords(Pattern(63), 63, 63);
  EXPECT_EQ(UnwrapTlsInput(short_first, MutableByteSpan(wire), &error), 0u);
  EXPECT_EQ(error, TlsReadError::kFirstRecordTooShort);

  TlsSessionState bad_later;
  bad_later.phase = TlsPhase::kRecords;
  wire = ClientRecords(Pattern(200), 100, 100);
  wire[6 + 5 + 100] = 0x16;  // second record header
  EXPECT_EQ(UnwrapTlsInput(bad_later, MutableByteSpan(wire), &error), 0u);
  EXPECT_EQ(error, TlsReadError::kBadRecordHeader);
}

// Parses server records back; returns the payload and the record sizes.
std::vector<uint8_t> ParseServerRecords(ByteSpan wire, std::vector<size_t>* sizes) {
  std::vector<uint8_t> payload;
  size_t off = 0;
  while (off < wire.size()) {
    EXPECT_GE(wire.size() - off, kTlsRecordHeaderSize);
    EXPECT_EQ(wire[off], 0x17);
    EXPECT_EQ(wire[off + 1], 0x03);
    EXPECT_EQ(wire[off + 2], 0x03);
    const size_t n = LoadBe16(wire.data() + off + 3);
    sizes->push_back(n);
    payload.insert(payload.end(), wire.begin() + off + 5, wire.begin() + off + 5 + n);
    off += 5 + n;
  }
  return payload;
}

TEST_F(TlsLayerTest, ReferenceSizingCutsEachFlushIn1425ByteRecords) {
  config_.record_sizing = TlsRecordSizing::kReference;
  BeginTlsSession(config_, tls_);
  tls_.phase = TlsPhase::kRecords;
  const auto payload = Pattern(4000, 1);
  ASSERT_TRUE(chains_.AppendCopy(out_, payload));
  ASSERT_TRUE(WrapTlsOutput(chains_, out_, tls_, 1000));
  EXPECT_EQ(tls_.framed_bytes, out_.bytes);
  std::vector<size_t> sizes;
  EXPECT_EQ(ParseServerRecords(Contents(chains_, out_), &sizes), payload);
  EXPECT_EQ(sizes, (std::vector<size_t>{1425, 1425, 1150}));
}

TEST_F(TlsLayerTest, AdaptiveSizingGrowsWithinABurstAndRestartsAfterIdle) {
  config_.record_sizing = TlsRecordSizing::kAdaptive;
  BeginTlsSession(config_, tls_);
  tls_.phase = TlsPhase::kRecords;
  const auto payload = Pattern(60000, 2);
  ASSERT_TRUE(chains_.AppendCopy(out_, payload));
  ASSERT_TRUE(WrapTlsOutput(chains_, out_, tls_, 1000));
  std::vector<size_t> sizes;
  EXPECT_EQ(ParseServerRecords(Contents(chains_, out_), &sizes), payload);
  EXPECT_EQ(sizes, (std::vector<size_t>{1400, 2800, 5600, 11200, 16401, 16401, 6198}));

  // Send it all, then more output 5 s later: a new burst starts small again.
  const uint32_t framed = out_.bytes;
  chains_.Consume(out_, framed);
  TlsOnSent(tls_, framed);
  EXPECT_EQ(tls_.framed_bytes, 0u);
  ASSERT_TRUE(chains_.AppendCopy(out_, Pattern(3000, 3)));
  ASSERT_TRUE(WrapTlsOutput(chains_, out_, tls_, 6000));
  sizes.clear();
  ParseServerRecords(Contents(chains_, out_), &sizes);
  EXPECT_EQ(sizes, (std::vector<size_t>{1400, 1600}));
}

TEST_F(TlsLayerTest, OutputAppendedDuringASendIsFramedAfterIt) {
  config_.record_sizing = TlsRecordSizing::kReference;
  BeginTlsSession(config_, tls_);
  tls_.phase = TlsPhase::kRecords;
  ASSERT_TRUE(chains_.AppendCopy(out_, Pattern(100, 4)));
  ASSERT_TRUE(WrapTlsOutput(chains_, out_, tls_, 0));
  EXPECT_EQ(tls_.framed_bytes, 105u);
  // More ciphertext arrives while the framed 105 bytes are in flight.
  const auto more = Pattern(50, 5);
  ASSERT_TRUE(chains_.AppendCopy(out_, more));
  EXPECT_TRUE(WrapTlsOutput(chains_, out_, tls_, 0));  // not yet: framed bytes unsent
  EXPECT_EQ(out_.bytes, 155u);
  EXPECT_EQ(TlsSendableBytes(tls_, chains_.Front(out_).size()), 105u);
  chains_.Consume(out_, 60);  // a short send
  TlsOnSent(tls_, 60);
  EXPECT_EQ(TlsSendableBytes(tls_, chains_.Front(out_).size()), 45u);
  chains_.Consume(out_, 45);
  TlsOnSent(tls_, 45);
  ASSERT_TRUE(WrapTlsOutput(chains_, out_, tls_, 0));
  std::vector<size_t> sizes;
  EXPECT_EQ(ParseServerRecords(Contents(chains_, out_), &sizes), more);
  EXPECT_EQ(sizes, (std::vector<size_t>{50}));
}

TEST_F(TlsLayerTest, FramingThatDoesNotFitTheBudgetLeavesTheOutputAlone) {
  FakeBufferPool pool(64, 256);
  BufferChains tight(pool, 10);
  BufferChain out;
  BeginTlsSession(config_, tls_);
  tls_.phase = TlsPhase::kRecords;
  ASSERT_TRUE(tight.AppendCopy(out, Pattern(2000)));  // 8 buffers held
  EXPECT_FALSE(WrapTlsOutput(tight, out, tls_, 0));
  EXPECT_EQ(out.bytes, 2000u);
  EXPECT_EQ(tls_.framed_bytes, 0u);
  EXPECT_EQ(tight.held(), 8u);
  tight.Clear(out);
}

TEST(DeadlineFifo, ExpiresInOrderAndBounded) {
  DeadlineFifo fifo(3);
  std::vector<uint32_t> early;
  auto record_early = [&](const DeadlineFifo::Entry& e) { early.push_back(e.slot); };
  fifo.Push({1, 10, 100}, record_early);
  fifo.Push({2, 10, 150}, record_early);
  fifo.Push({3, 10, 150}, record_early);
  EXPECT_EQ(fifo.size(), 3u);
  fifo.Push({4, 11, 200}, record_early);  // full: the oldest expires early
  EXPECT_EQ(early, (std::vector<uint32_t>{1}));
  std::vector<uint32_t> expired;
  auto record = [&](const DeadlineFifo::Entry& e) { expired.push_back(e.slot); };
  EXPECT_EQ(fifo.PopExpired(99, 10, record), 0u);
  EXPECT_EQ(fifo.PopExpired(150, 1, record), 1u);  // bounded per call
  EXPECT_EQ(fifo.PopExpired(150, 10, record), 1u);
  EXPECT_EQ(expired, (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(fifo.PopExpired(1000, 10, record), 1u);
  EXPECT_TRUE(fifo.empty());
  for (uint32_t i = 0; i < 10; ++i) fifo.Push({i, 0, 300 + i}, record_early);  // wraps around
  expired.clear();
  fifo.PopExpired(1000, 10, record);
  EXPECT_EQ(expired, (std::vector<uint32_t>{7, 8, 9}));
}

}  // namespace
}  // namespace mtp
