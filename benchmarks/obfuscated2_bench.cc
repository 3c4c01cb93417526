// Obfuscated2 handshake cost: server-side header accept by secret count and match position,
// the no-match (skip-mode) cost, and client-side header construction.
#include <benchmark/benchmark.h>

#include <vector>

#include "proto/obfuscated2.h"

namespace mtp {
namespace {

std::vector<ClientSecret> Secrets(size_t n) {
  std::vector<ClientSecret> secrets(n);
  for (size_t i = 0; i < n; ++i) secrets[i].fill(static_cast<uint8_t>(i + 1));
  return secrets;
}

// Arg(0) = number of secrets; the client uses the last one (worst case: every secret tried).
void BM_AcceptObfuscated2(benchmark::State& state) {
  std::vector<ClientSecret> secrets = Secrets(static_cast<size_t>(state.range(0)));
  const ClientSecret* client_secret = secrets.empty() ? nullptr : &secrets.back();
  Obfuscated2Header header =
      BuildObfuscated2ClientHeader(client_secret, Transport::kPadded, 2).value().header;
  for (auto _ : state) {
    Obfuscated2ServerResult r = AcceptObfuscated2(header, secrets);
    if (!r.accepted()) state.SkipWithError("header not accepted");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_AcceptObfuscated2)->Arg(0)->Arg(1)->Arg(4)->Arg(16);

// Garbage headers (scanners, wrong secret): every secret is tried and nothing is built.
void BM_RejectObfuscated2(benchmark::State& state) {
  std::vector<ClientSecret> secrets = Secrets(static_cast<size_t>(state.range(0)));
  Obfuscated2Header header;
  for (size_t i = 0; i < header.size(); ++i) header[i] = static_cast<uint8_t>(i * 31 + 7);
  for (auto _ : state) {
    Obfuscated2ServerResult r = AcceptObfuscated2(header, secrets);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RejectObfuscated2)->Arg(1)->Arg(16);

void BM_BuildObfuscated2ClientHeader(benchmark::State& state) {
  ClientSecret secret = Secrets(1)[0];
  for (auto _ : state) {
    auto hs = BuildObfuscated2ClientHeader(&secret, Transport::kIntermediate, 2);
    benchmark::DoNotOptimize(hs);
  }
}
BENCHMARK(BM_BuildObfuscated2ClientHeader);

}  // namespace
}  // namespace mtp

BENCHMARK_MAIN();
