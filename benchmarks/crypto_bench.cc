// Throughput of the relay ciphers and framing hashes by buffer size.
#include <benchmark/benchmark.h>

#include <vector>

#include "crypto/aes.h"
#include "crypto/aes_ni.h"
#include "crypto/crc32.h"
#include "crypto/lean_ctr.h"

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
BENCHMARK(BM_AesCtr)->Arg(64)->Arg(256)->Arg(1024)->Arg(16384)->Arg(65536);

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
BENCHMARK(BM_AesCbcDecrypt)->Arg(256)->Arg(1024)->Arg(16384)->Arg(65536);

// Arg 1: 0 = AES-NI kernels (when present), 1 = OpenSSL EVP.
void BM_AesCtrPath(benchmark::State& state) {
  SetAesForceOpenSslForTesting(state.range(1) != 0);
  auto ctr = AesCtr::Create(AesKey(kKey), AesIv(kIv)).value();
  SetAesForceOpenSslForTesting(false);
  std::vector<uint8_t> buf(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    ctr.Apply(MutableByteSpan(buf));
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_AesCtrPath)->ArgsProduct({{256, 16384}, {0, 1}});

// Per-connection cost of the client leg: create both CTR streams, use them once, free them.
void BM_AesCtrCreatePair(benchmark::State& state) {
  SetAesForceOpenSslForTesting(state.range(0) != 0);
  uint8_t buf[64] = {};
  for (auto _ : state) {
    auto a = AesCtr::Create(AesKey(kKey), AesIv(kIv)).value();
    auto b = AesCtr::Create(AesKey(kKey), AesIv(kIv)).value();
    a.Apply(MutableByteSpan(buf));
    b.Apply(MutableByteSpan(buf));
    benchmark::DoNotOptimize(buf);
  }
  SetAesForceOpenSslForTesting(false);
}
BENCHMARK(BM_AesCtrCreatePair)->Arg(0)->Arg(1);

// A lean stream's Apply of 256 bytes through the shard's key cache. Arg 0 = streams applied in
// turn through one two-way set: 2 always hit, 3 always miss (each Apply expands its round keys
// again). The difference is the cost of an eviction.
void BM_LeanAesCtrApply(benchmark::State& state) {
  CtrKeyCache cache(1);
  std::vector<LeanAesCtr> streams;
  for (int64_t i = 0; i < state.range(0); ++i) {
    streams.push_back(LeanAesCtr::Create(cache, AesKey(kKey), AesIv(kIv)).value());
  }
  uint8_t buf[256] = {};
  size_t next = 0;
  for (auto _ : state) {
    streams[next].Apply(cache, MutableByteSpan(buf));
    next = next + 1 == streams.size() ? 0 : next + 1;
    benchmark::DoNotOptimize(buf);
  }
  state.counters["misses"] = static_cast<double>(cache.misses());
}
BENCHMARK(BM_LeanAesCtrApply)->Arg(2)->Arg(3);

// CBC encryption of N links' flushes in one ProcessBatch (the shard's flush pass) versus the
// same bytes through one chain: Arg 0 = links, Arg 1 = bytes per link.
void BM_AesCbcEncryptBatch(benchmark::State& state) {
  const size_t links = static_cast<size_t>(state.range(0));
  const size_t bytes = static_cast<size_t>(state.range(1));
  std::vector<AesCbc> cbcs;
  std::vector<std::vector<uint8_t>> bufs;
  for (size_t i = 0; i < links; ++i) {
    cbcs.push_back(
        AesCbc::Create(AesKey(kKey), AesIv(kIv), AesCbc::Direction::kEncrypt).value());
    bufs.emplace_back(bytes);
  }
  std::vector<AesCbc::Job> jobs(links);
  for (auto _ : state) {
    for (size_t i = 0; i < links; ++i) jobs[i] = {&cbcs[i], bufs[i].data(), bufs[i].data(), bytes};
    AesCbc::ProcessBatch(jobs);
    benchmark::DoNotOptimize(bufs[0].data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * links * bytes));
}
BENCHMARK(BM_AesCbcEncryptBatch)->ArgsProduct({{1, 2, 4, 6, 8, 9, 16}, {1024, 65536}});

// A flush pass with uneven links (what the shard sees: one or two busy links, the rest small):
// Arg 0 = links; link i carries 64 KiB >> (i % 7) rounded to blocks, so lane scheduling matters.
void BM_AesCbcEncryptBatchUneven(benchmark::State& state) {
  const size_t links = static_cast<size_t>(state.range(0));
  std::vector<AesCbc> cbcs;
  std::vector<std::vector<uint8_t>> bufs;
  size_t total = 0;
  for (size_t i = 0; i < links; ++i) {
    cbcs.push_back(
        AesCbc::Create(AesKey(kKey), AesIv(kIv), AesCbc::Direction::kEncrypt).value());
    bufs.emplace_back(size_t{65536} >> (i % 7));
    total += bufs.back().size();
  }
  std::vector<AesCbc::Job> jobs(links);
  for (auto _ : state) {
    for (size_t i = 0; i < links; ++i) {
      jobs[i] = {&cbcs[i], bufs[i].data(), bufs[i].data(), bufs[i].size()};
    }
    AesCbc::ProcessBatch(jobs);
    benchmark::DoNotOptimize(bufs[0].data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * total));
}
BENCHMARK(BM_AesCbcEncryptBatchUneven)->Arg(4)->Arg(8)->Arg(12);

// The kernels capped at a vector width: Arg 0 = links of 16 KiB each, Arg 1 = 128/256/512.
// CBC encryption (one ProcessBatch), decryption and CTR of the same bytes.
AesNiWidth WidthArg(int64_t bits) {
  return bits == 128 ? AesNiWidth::k128 : bits == 256 ? AesNiWidth::k256 : AesNiWidth::k512;
}

void BM_AesCbcEncryptBatchWidth(benchmark::State& state) {
  SetAesNiWidthCapForTesting(WidthArg(state.range(1)));
  const size_t links = static_cast<size_t>(state.range(0));
  constexpr size_t kBytes = 16384;
  std::vector<AesCbc> cbcs;
  std::vector<std::vector<uint8_t>> bufs;
  for (size_t i = 0; i < links; ++i) {
    cbcs.push_back(
        AesCbc::Create(AesKey(kKey), AesIv(kIv), AesCbc::Direction::kEncrypt).value());
    bufs.emplace_back(kBytes);
  }
  std::vector<AesCbc::Job> jobs(links);
  for (auto _ : state) {
    for (size_t i = 0; i < links; ++i) jobs[i] = {&cbcs[i], bufs[i].data(), bufs[i].data(), kBytes};
    AesCbc::ProcessBatch(jobs);
    benchmark::DoNotOptimize(bufs[0].data());
  }
  SetAesNiWidthCapForTesting(AesNiWidth::k512);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * links * kBytes));
}
BENCHMARK(BM_AesCbcEncryptBatchWidth)->ArgsProduct({{1, 4, 8, 16}, {128, 256, 512}});

void BM_AesCbcDecryptWidth(benchmark::State& state) {
  SetAesNiWidthCapForTesting(WidthArg(state.range(1)));
  auto cbc = AesCbc::Create(AesKey(kKey), AesIv(kIv), AesCbc::Direction::kDecrypt).value();
  std::vector<uint8_t> buf(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    cbc.Process(MutableByteSpan(buf));
    benchmark::DoNotOptimize(buf.data());
  }
  SetAesNiWidthCapForTesting(AesNiWidth::k512);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_AesCbcDecryptWidth)->ArgsProduct({{16384}, {128, 256, 512}});

void BM_AesCtrWidth(benchmark::State& state) {
  SetAesNiWidthCapForTesting(WidthArg(state.range(1)));
  auto ctr = AesCtr::Create(AesKey(kKey), AesIv(kIv)).value();
  std::vector<uint8_t> buf(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    ctr.Apply(MutableByteSpan(buf));
    benchmark::DoNotOptimize(buf.data());
  }
  SetAesNiWidthCapForTesting(AesNiWidth::k512);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_AesCtrWidth)->ArgsProduct({{256, 16384}, {128, 256, 512}});

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
BENCHMARK(BM_Crc32c)->Arg(64)->Arg(256)->Arg(1024)->Arg(4096)->Arg(16384)->Arg(65536);

// Arg 1: 0 = default path (folding where the CPU has it), 1 = the crc32 instruction only.
void BM_Crc32cPath(benchmark::State& state) {
  SetCrcFoldDisabledForTesting(state.range(1) != 0);
  std::vector<uint8_t> buf(static_cast<size_t>(state.range(0)), 0x5a);
  for (auto _ : state) benchmark::DoNotOptimize(Crc32c(ByteSpan(buf)));
  SetCrcFoldDisabledForTesting(false);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32cPath)->ArgsProduct({{64, 128, 256, 512, 1024, 4096, 65536}, {0, 1}});

// CRC-32 (IEEE) the same way: Arg 1 = 1 keeps it on the tables.
void BM_Crc32Path(benchmark::State& state) {
  SetCrcFoldDisabledForTesting(state.range(1) != 0);
  std::vector<uint8_t> buf(static_cast<size_t>(state.range(0)), 0x5a);
  for (auto _ : state) benchmark::DoNotOptimize(Crc32(ByteSpan(buf)));
  SetCrcFoldDisabledForTesting(false);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32Path)->ArgsProduct({{64, 128, 256, 512, 1024, 4096, 65536}, {0, 1}});

}  // namespace
}  // namespace mtp

BENCHMARK_MAIN();
