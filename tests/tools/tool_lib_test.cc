// Unit tests of the test peers' shared plumbing: flags, histogram, JSON, /proc parsing, echo
// payloads, socket helpers.
#include <gtest/gtest.h>

#include <unistd.h>

#include <string>
#include <vector>

#include "core/hex.h"
#include "tools/echo_payload.h"
#include "tools/flags.h"
#include "tools/json_line.h"
#include "tools/latency_histogram.h"
#include "tools/net_util.h"
#include "tools/proc_stats.h"

namespace mtp::tools {
namespace {

struct Argv {
  explicit Argv(std::vector<std::string> a) : args(std::move(a)) {
    for (std::string& s : args) ptrs.push_back(s.data());
  }
  int argc() { return static_cast<int>(ptrs.size()); }
  char** argv() { return ptrs.data(); }
  std::vector<std::string> args;
  std::vector<char*> ptrs;
};

TEST(FlagParserTest, ParsesAllKinds) {
  std::string s = "def";
  int64_t n = 5;
  double d = 1.5;
  bool b = false;
  std::vector<std::string> list;
  std::string choice = "a";
  FlagParser p("prog", "summary");
  p.AddString("str", &s, "a string");
  p.AddInt("num", &n, "a number", 0, 100);
  p.AddDouble("dbl", &d, "a double", 0, 10);
  p.AddBool("flag", &b, "a bool");
  p.AddList("item", &list, "items");
  p.AddChoice("mode", &choice, {"a", "b"}, "choice");
  Argv a({"prog", "--str", "x", "--num=42", "--dbl", "2.5", "--flag", "--item", "i1",
          "--item=i2", "--mode", "b"});
  ASSERT_EQ(p.Parse(a.argc(), a.argv()), FlagParser::Result::kOk) << p.error();
  EXPECT_EQ(s, "x");
  EXPECT_EQ(n, 42);
  EXPECT_EQ(d, 2.5);
  EXPECT_TRUE(b);
  EXPECT_EQ(list, (std::vector<std::string>{"i1", "i2"}));
  EXPECT_EQ(choice, "b");
  EXPECT_NE(p.Usage().find("--num N"), std::string::npos);
  EXPECT_NE(p.Usage().find("[5]"), std::string::npos);  // default shown
}

TEST(FlagParserTest, RejectsBadInput) {
  int64_t n = 0;
  std::string choice = "a";
  bool b = true;
  FlagParser p("prog", "summary");
  p.AddInt("num", &n, "a number", 1, 10);
  p.AddChoice("mode", &choice, {"a", "b"}, "choice");
  p.AddBool("flag", &b, "a bool");
  for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
           {"prog", "--num", "11"},
           {"prog", "--num", "x"},
           {"prog", "--num"},
           {"prog", "--nope"},
           {"prog", "positional"},
           {"prog", "--mode", "c"},
           {"prog", "--flag=maybe"}}) {
    Argv a(bad);
    EXPECT_EQ(p.Parse(a.argc(), a.argv()), FlagParser::Result::kError) << bad.back();
    EXPECT_FALSE(p.error().empty());
  }
  Argv off({"prog", "--flag=false"});
  EXPECT_EQ(p.Parse(off.argc(), off.argv()), FlagParser::Result::kOk);
  EXPECT_FALSE(b);
  Argv help({"prog", "--help"});
  EXPECT_EQ(p.Parse(help.argc(), help.argv()), FlagParser::Result::kHelp);
}

TEST(LatencyHistogramTest, BucketsCoverValuesWithBoundedError) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 129ull, 1000ull, 123456789ull, 1ull << 40,
                     (1ull << 63) + 12345}) {
    size_t b = LatencyHistogram::BucketOf(v);
    EXPECT_LE(LatencyHistogram::BucketLow(b), v);
    EXPECT_GE(LatencyHistogram::BucketHigh(b), v);
    double width = static_cast<double>(LatencyHistogram::BucketHigh(b) -
                                       LatencyHistogram::BucketLow(b));
    EXPECT_LE(width, static_cast<double>(v) / 60.0 + 1.0);
  }
}

TEST(LatencyHistogramTest, Percentiles) {
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(0.5), 0u);
  for (uint64_t i = 1; i <= 1000; ++i) h.Record(i * 1000);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 1000000u);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.5)), 500000.0, 500000.0 * 0.02);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.99)), 990000.0, 990000.0 * 0.02);
  EXPECT_EQ(h.Percentile(1.0), 1000000u);
  LatencyHistogram other;
  other.Record(5);
  h.Merge(other);
  EXPECT_EQ(h.count(), 1001u);
  EXPECT_EQ(h.min(), 5u);
  EXPECT_EQ(h.Percentile(0.0), 5u);
}

TEST(JsonLineTest, FormatsAndEscapes) {
  JsonLine j;
  j.Add("mode", "throughput").Add("n", int64_t{-3}).Add("u", uint64_t{7}).Add("ok", true);
  j.Add("x", 1.5).Add("bad", 0.0 / 0.0).Add("s", "a\"b\\c\n").AddRaw("o", "{\"k\":1}");
  EXPECT_EQ(j.str(),
            "{\"mode\":\"throughput\",\"n\":-3,\"u\":7,\"ok\":true,\"x\":1.5,\"bad\":null,"
            "\"s\":\"a\\\"b\\\\c\\n\",\"o\":{\"k\":1}}");
  EXPECT_EQ(JsonLine().str(), "{}");
  EXPECT_EQ(JsonLine().AddFixed("ts", 1795459241.25, 6).str(), "{\"ts\":1795459241.250000}");
}

TEST(ProcStatsTest, ParsesStatAndStatus) {
  // Field 14/15 (utime/stime) = 250/50 ticks; the command contains spaces and ')'.
  std::string stat =
      "1234 (mtp proxy) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 "
      "1000000 200 18446744073709551615";
  absl::StatusOr<double> cpu = ParseProcStatCpuSeconds(stat, 100);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_DOUBLE_EQ(*cpu, 3.0);
  EXPECT_FALSE(ParseProcStatCpuSeconds("1234 (x) S 1 2", 100).ok());

  std::string status = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t3\n";
  absl::StatusOr<ProcessSample> s = ParseProcStatus(status);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->rss_kb, 1024);
  EXPECT_EQ(s->hwm_kb, 2048);
  EXPECT_EQ(s->threads, 3);
  EXPECT_FALSE(ParseProcStatus("Name:\tx\n").ok());
}

TEST(ProcStatsTest, SamplesOwnProcess) {
  absl::StatusOr<ProcessSample> s = SampleProcess(getpid());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_GT(s->rss_kb, 0);
  EXPECT_GE(s->cpu_seconds, 0.0);
  EXPECT_GE(s->threads, 1);
}

TEST(EchoPayloadTest, DeterministicAndVerifiable) {
  for (size_t size : {size_t{56}, size_t{60}, size_t{1024}, size_t{1028}, kMaxPayloadBytes}) {
    std::vector<uint8_t> a(size), b(size);
    FillPayload(0x1122334455667788ull, 99, 7, a);
    FillPayload(0x1122334455667788ull, 99, 7, b);
    EXPECT_EQ(a, b);
    EXPECT_EQ(LoadLe64(a.data()), 0x1122334455667788ull);
    EXPECT_EQ(LoadLe64(a.data() + 8), 7u);
    EXPECT_EQ(LoadLe32(a.data() + 16), size);
    EXPECT_TRUE(VerifyPayload(0x1122334455667788ull, 99, 7, size, a));
    size_t bad = 0;
    EXPECT_FALSE(VerifyPayload(0x1122334455667788ull, 99, 8, size, a, &bad));
    EXPECT_EQ(bad, 8u);  // the seq field differs first
    EXPECT_FALSE(VerifyPayload(0x1122334455667788ull, 98, 7, size, a, &bad));
    EXPECT_GE(bad, 20u);
    EXPECT_FALSE(VerifyPayload(0x1122334455667788ull, 99, 7, size + 4, a, &bad));
    a[size - 1] ^= 1;
    EXPECT_FALSE(VerifyPayload(0x1122334455667788ull, 99, 7, size, a, &bad));
    EXPECT_EQ(bad, size - 1);
    uint64_t id = 0, seq = 0;
    uint32_t sz = 0;
    ASSERT_TRUE(PeekPayloadHeader(a, &id, &seq, &sz));
    EXPECT_EQ(seq, 7u);
    EXPECT_EQ(sz, size);
  }
  // Different sequence numbers give different bodies.
  std::vector<uint8_t> x(64), y(64);
  FillPayload(1, 2, 3, x);
  FillPayload(1, 2, 4, y);
  EXPECT_NE(std::vector<uint8_t>(x.begin() + 24, x.end()),
            std::vector<uint8_t>(y.begin() + 24, y.end()));
}

TEST(EchoPayloadTest, AuthKeyIdAndReqPq) {
  for (int i = 0; i < 100; ++i) {
    uint64_t id = RandomAuthKeyId();
    EXPECT_NE(id, 0u);
    EXPECT_NE(static_cast<uint32_t>(id), kRpcPingConstructor);
  }
  std::array<uint8_t, 16> nonce;
  for (int i = 0; i < 16; ++i) nonce[i] = static_cast<uint8_t>(i);
  // test-vectors.md A.5: the 40-byte req_pq_multi after the 4-byte length prefix.
  EXPECT_EQ(HexEncode(BuildReqPqMulti(0x5e0b800000000000ull, nonce)),
            "00000000000000000000000000800b5e14000000f18e7ebe00010203"
            "0405060708090a0b0c0d0e0f");
  std::vector<uint8_t> p(56, 1);
  EXPECT_NE(EchoQuickAckToken(p) & 0x80000000u, 0u);
  p[3] = 2;
  EXPECT_NE(EchoQuickAckToken(p), EchoQuickAckToken(std::vector<uint8_t>(56, 1)));
}

TEST(NetUtilTest, AddressesParse) {
  absl::StatusOr<SocketAddress> a = SocketAddress::Parse("127.0.0.1:443");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port(), 443);
  EXPECT_EQ(a->ipv4(), 0x7f000001u);
  EXPECT_TRUE(a->is_loopback());
  EXPECT_EQ(a->ToString(), "127.0.0.1:443");
  auto v6 = a->ipv6_bytes();
  EXPECT_EQ(HexEncode(v6), "00000000000000000000ffff7f000001");
  absl::StatusOr<SocketAddress> b = SocketAddress::Parse("[::1]:80");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->is_ipv6());
  EXPECT_EQ(b->ToString(), "[::1]:80");
  EXPECT_EQ(b->ipv4(), 0u);
  absl::StatusOr<SocketAddress> c = SocketAddress::Parse("8443");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ToString(), "127.0.0.1:8443");
  EXPECT_FALSE(SocketAddress::Parse("::1:80").ok());
  EXPECT_FALSE(SocketAddress::Parse("1.2.3.4:99999").ok());
  EXPECT_FALSE(SocketAddress::Parse("nohost").ok());
}

TEST(NetUtilTest, LoopbackRoundTripWithDeadlines) {
  absl::StatusOr<Listener> l = ListenTcp(*SocketAddress::Parse("127.0.0.1:0"));
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_NE(l->address.port(), 0);
  absl::StatusOr<UniqueFd> c = ConnectTcp(l->address, 2000);
  ASSERT_TRUE(c.ok()) << c.status();
  UniqueFd s(::accept(l->fd.get(), nullptr, nullptr));
  ASSERT_TRUE(s.valid());
  const int64_t deadline = MonotonicMillis() + 2000;
  std::vector<uint8_t> data(100000, 0x5a);
  std::vector<uint8_t> got(data.size());
  ASSERT_TRUE(SendAll(c->get(), std::vector<uint8_t>(1000, 0x5a), deadline).ok());
  ASSERT_TRUE(ReceiveExact(s.get(), MutableByteSpan(got.data(), 1000), deadline).ok());
  // Nothing more to read: a short deadline expires.
  uint8_t b;
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      ReceiveSome(s.get(), MutableByteSpan(&b, 1), MonotonicMillis() + 50).status()));
  c->reset();
  absl::StatusOr<size_t> eof = ReceiveSome(s.get(), MutableByteSpan(&b, 1), deadline);
  ASSERT_TRUE(eof.ok());
  EXPECT_EQ(*eof, 0u);
  EXPECT_FALSE(ReceiveExact(s.get(), MutableByteSpan(&b, 1), deadline).ok());
}

}  // namespace
}  // namespace mtp::tools
