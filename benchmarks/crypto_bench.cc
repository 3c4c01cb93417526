// Throughput of the relay ciphers and framing hashes by buffer size.
#include <benchmark/benchmark.h>

#include <vector>

#include "crypto/aes.h"
#include "crypto/crc32.h"

namespace mtp {
namespace {

const uint8_t kKey[32] = {1, 2, 3};
const uint8_t kIv[16] = {4, 5, 6};

void BM_AesCtr(benchmark::State& state) {
  auto ctr = AesCtr::Create(AesKey(kKey), AesIv(kIv)).value();
  std::vector<uint8_t> buf(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    ctr.Apply(MutableByteSpan(buf));
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_AesCtr)->Arg(64)->Arg(1024)->Arg(16384)->Arg(65536);

void BM_AesCbcEncrypt(benchmark::State& state) {
  auto cbc = AesCbc::Create(AesKey(kKey), AesIv(kIv), AesCbc::Direction::kEncrypt).value();
  std::vector<uint8_t> buf(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    cbc.Process(MutableByteSpan(buf));
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_AesCbcEncrypt)->Arg(64)->Arg(1024)->Arg(16384)->Arg(65536);

void BM_AesCbcDecrypt(benchmark::State& state) {
  auto cbc = AesCbc::Create(AesKey(kKey), AesIv(kIv), AesCbc::Direction::kDecrypt).value();
  std::vector<uint8_t> buf(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    cbc.Process(MutableByteSpan(buf));
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_AesCbcDecrypt)->Arg(1024)->Arg(65536);

void BM_Crc32(benchmark::State& state) {
  std::vector<uint8_t> buf(static_cast<size_t>(state.range(0)), 0x5a);
  for (auto _ : state) benchmark::DoNotOptimize(Crc32(ByteSpan(buf)));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32)->Arg(1024)->Arg(65536);

void BM_Crc32c(benchmark::State& state) {
  std::vector<uint8_t> buf(static_cast<size_t>(state.range(0)), 0x5a);
  for (auto _ : state) benchmark::DoNotOptimize(Crc32c(ByteSpan(buf)));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(1024)->Arg(65536);

}  // namespace
}  // namespace mtp

BENCHMARK_MAIN();
