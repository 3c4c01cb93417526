// Fake-TLS costs: ClientHello validation with 1 and 16 secrets (matching secret tried last),
// ServerHello generation, X25519 keygen, and record unwrap/wrap throughput.
#include <benchmark/benchmark.h>

#include <optional>
#include <string>
#include <vector>

#include "crypto/aes.h"
#include "proto/fake_tls.h"

namespace mtp {
namespace {

// Never reports a replay, so one hello can be validated over and over.
class NoReplayCache final : public ReplayCache {
 public:
  bool CheckAndInsert(const ReplayKey&, int64_t) override { return false; }
  std::optional<int64_t> OldestEntryTime() const override { return oldest_; }

 private:
  int64_t oldest_ = 1700000000;
};

constexpr int64_t kNow = 1700000000;

std::vector<ClientSecret> Secrets(size_t n) {
  std::vector<ClientSecret> s(n);
  for (size_t i = 0; i < n; ++i) s[i].fill(static_cast<uint8_t>(i + 1));
  return s;
}

void ValidateBench(benchmark::State& state, ClientHelloLayout layout) {
  const std::vector<ClientSecret> secrets = Secrets(static_cast<size_t>(state.range(0)));
  const std::vector<std::string> domains = {"example.com"};
  const std::vector<uint8_t> hello =
      BuildClientHello(secrets.back(), "example.com", static_cast<int32_t>(kNow), layout).value();
  NoReplayCache cache;
  const ClientHelloConfig config{secrets, domains};
  for (auto _ : state) {
    ClientHelloResult r = ValidateClientHello(hello, config, 443, kNow, cache);
    if (!r.accepted()) state.SkipWithError("not accepted");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ValidateClientHello517(benchmark::State& state) {
  ValidateBench(state, ClientHelloLayout::kLegacy517);
}
BENCHMARK(BM_ValidateClientHello517)->Arg(1)->Arg(16);

void BM_ValidateClientHelloModern(benchmark::State& state) {
  ValidateBench(state, ClientHelloLayout::kModern);
}
BENCHMARK(BM_ValidateClientHelloModern)->Arg(1)->Arg(16);

// A rejected hello (wrong secret) costs one HMAC per configured secret.
void BM_RejectBadDigest(benchmark::State& state) {
  const std::vector<ClientSecret> secrets = Secrets(static_cast<size_t>(state.range(0)));
  const std::vector<std::string> domains = {"example.com"};
  ClientSecret other;
  other.fill(0xee);
  const std::vector<uint8_t> hello =
      BuildClientHello(other, "example.com", static_cast<int32_t>(kNow),
                       ClientHelloLayout::kLegacy517).value();
  NoReplayCache cache;
  for (auto _ : state) {
    ClientHelloResult r =
        ValidateClientHello(hello, ClientHelloConfig{secrets, domains}, 443, kNow, cache);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RejectBadDigest)->Arg(1)->Arg(16);

void BM_X25519PublicKey(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(GenerateX25519PublicKey());
}
BENCHMARK(BM_X25519PublicKey);

void BM_ServerHelloFresh(benchmark::State& state) {
  ServerHelloParams params;
  params.secret.fill(7);
  std::vector<uint8_t> out(ServerHelloSize(static_cast<size_t>(state.range(0))));
  for (auto _ : state) {
    WriteServerHelloFresh(params, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_ServerHelloFresh)->Arg(23)->Arg(2500);

// Unwraps a 64 KiB stream of records of range(0) payload bytes each, in place.
void BM_UnwrapRecords(benchmark::State& state) {
  const size_t record = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> stream;
  size_t payload = 0;
  while (stream.size() + 5 + record <= 65536) {
    stream.insert(stream.end(), {0x17, 0x03, 0x03, static_cast<uint8_t>(record >> 8),
                                 static_cast<uint8_t>(record)});
    stream.resize(stream.size() + record, 0x42);
    payload += record;
  }
  std::vector<uint8_t> work(stream.size());
  TlsRecordReader reader(TlsRecordReader::Start::kRecords);
  for (auto _ : state) {
    std::copy(stream.begin(), stream.end(), work.begin());
    TlsReadError error;
    size_t n = reader.UnwrapInPlace(MutableByteSpan(work), &error);
    if (n != payload) state.SkipWithError("bad unwrap");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stream.size()));
}
BENCHMARK(BM_UnwrapRecords)->Arg(1425)->Arg(2878)->Arg(16401);

// Wraps 64 KiB per flush; range(0): 0 = reference, 1 = adaptive; range(1): 1 = encrypt too.
void BM_WrapRecords(benchmark::State& state) {
  const TlsRecordSizing sizing =
      state.range(0) == 0 ? TlsRecordSizing::kReference : TlsRecordSizing::kAdaptive;
  const bool encrypt = state.range(1) != 0;
  static const uint8_t kKey[32] = {1};
  static const uint8_t kIv[16] = {2};
  AesCtr ctr = AesCtr::Create(AesKey(kKey), AesIv(kIv)).value();
  std::vector<uint8_t> payload(65536, 0x33);
  std::vector<uint8_t> out(MaxWrappedSize(payload.size()));
  TlsRecordSizer sizer(sizing);
  int64_t now_ms = 0;
  for (auto _ : state) {
    sizer.BeginFlush(now_ms++);
    size_t n = WrapTlsRecords(sizer, payload, out, encrypt ? &ctr : nullptr);
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_WrapRecords)->Args({0, 0})->Args({1, 0})->Args({0, 1})->Args({1, 1});

}  // namespace
}  // namespace mtp

BENCHMARK_MAIN();
