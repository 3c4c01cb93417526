// ME TCP-RPC data path by payload size: RPC_PROXY_REQ + packet + CBC encrypt, CBC decrypt +
// packet decode, the round trip through two links, and the cost of one link handshake.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "crypto/rpc_keys.h"
#include "proto/rpc_link.h"
#include "proto/rpc_messages.h"

namespace mtp {
namespace {

const std::vector<uint8_t>& Secret() {
  static const std::vector<uint8_t> secret(128, 0x5a);
  return secret;
}

RpcLinkConfig Config(RpcRole role) {
  RpcLinkConfig c;
  c.role = role;
  c.secret = ByteSpan(Secret());
  c.addresses.client_ipv4 = 0xc000020a;
  c.addresses.client_port = 40000;
  c.addresses.server_ipv4 = 0x959aaf32;
  c.addresses.server_port = 8888;
  c.own_pid = role == RpcRole::kClient ? MakeProcessId(0xc000020a, 8888, 4242, 1700000000)
                                       : MakeProcessId(0x959aaf32, 8888, 1, 1600000000);
  return c;
}

struct CountingVisitor : RpcLinkVisitor {
  size_t bytes = 0;
  size_t messages = 0;
  void OnRpcMessage(RpcLink&, uint32_t, ByteSpan payload) override {
    bytes += payload.size();
    ++messages;
    benchmark::DoNotOptimize(payload.data());
  }
};

struct ReadyPair {
  std::unique_ptr<RpcLink> client = RpcLink::Create(Config(RpcRole::kClient)).value();
  std::unique_ptr<RpcLink> server = RpcLink::Create(Config(RpcRole::kServer)).value();
  CountingVisitor cv, sv;

  ReadyPair() {
    client->Start(1700000000);
    server->Start(1700000000);
    for (int i = 0; i < 2; ++i) {
      if (server->Feed(client->Flush(), sv) != RpcError::kOk) std::abort();
      if (client->Feed(server->Flush(), cv) != RpcError::kOk) std::abort();
    }
    if (!client->ready() || !server->ready()) std::abort();
  }
};

// Appends one RPC_PROXY_REQ (with ad tag) carrying `frame` to the client link.
void AppendProxyReq(RpcLink& link, ByteSpan frame) {
  static const uint8_t kTag[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  RpcProxyReqHeader h;
  h.flags = MakeRpcProxyReqFlags(RpcClientFraming::kIntermediate, true, false, false);
  h.ext_conn_id = 0x40000d;
  h.client_ip = Ipv4MappedIpv6(0xcb007107);
  h.client_port = 51234;
  h.proxy_ip = Ipv4MappedIpv6(0xc000020a);
  h.proxy_port = 443;
  h.ad_tag = ByteSpan(kTag);
  const size_t header = RpcProxyReqHeaderSize(h.flags, sizeof(kTag));
  MutableByteSpan dst = link.BeginMessage(header + frame.size());
  if (dst.empty()) {
    std::fprintf(stderr, "BeginMessage: error %d\n", static_cast<int>(link.last_output_error()));
    std::abort();
  }
  EncodeRpcProxyReqHeader(h, dst);
  std::memcpy(dst.data() + header, frame.data(), frame.size());
  link.CommitMessage();
}

void BM_RpcEncodeEncrypt(benchmark::State& state) {
  ReadyPair pair;
  std::vector<uint8_t> frame(static_cast<size_t>(state.range(0)), 0x33);
  std::vector<uint8_t> out(frame.size() + 256);
  for (auto _ : state) {
    AppendProxyReq(*pair.client, ByteSpan(frame));
    size_t n = pair.client->FlushTo(MutableByteSpan(out));
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_RpcEncodeEncrypt)->Arg(64)->Arg(1024)->Arg(65536);

void BM_RpcDecryptDecode(benchmark::State& state) {
  ReadyPair pair;
  std::vector<uint8_t> frame(static_cast<size_t>(state.range(0)), 0x33);
  constexpr size_t kBatch = 256;
  std::vector<std::vector<uint8_t>> flushes(kBatch);
  size_t next = kBatch;
  for (auto _ : state) {
    if (next == kBatch) {  // the CBC chain forbids replaying ciphertext: make a fresh batch
      state.PauseTiming();
      for (auto& f : flushes) {
        AppendProxyReq(*pair.client, ByteSpan(frame));
        ByteSpan out = pair.client->Flush();
        f.assign(out.begin(), out.end());
      }
      next = 0;
      state.ResumeTiming();
    }
    if (pair.server->Feed(ByteSpan(flushes[next++]), pair.sv) != RpcError::kOk) std::abort();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_RpcDecryptDecode)->Arg(64)->Arg(1024)->Arg(65536);

// Both halves plus decoding the request on the "ME" side, as fake-me does.
void BM_RpcRoundTrip(benchmark::State& state) {
  ReadyPair pair;
  std::vector<uint8_t> frame(static_cast<size_t>(state.range(0)), 0x33);
  std::vector<uint8_t> wire(frame.size() + 256);
  for (auto _ : state) {
    AppendProxyReq(*pair.client, ByteSpan(frame));
    size_t n = pair.client->FlushTo(MutableByteSpan(wire));
    if (pair.server->Feed(ByteSpan(wire.data(), n), pair.sv) != RpcError::kOk) std::abort();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_RpcRoundTrip)->Arg(64)->Arg(1024)->Arg(65536);

void BM_RpcLinkHandshake(benchmark::State& state) {
  for (auto _ : state) {
    ReadyPair pair;
    benchmark::DoNotOptimize(pair.client.get());
  }
}
BENCHMARK(BM_RpcLinkHandshake);

void BM_RpcKeyDerivation(benchmark::State& state) {
  RpcKeyInput in;
  in.addresses = Config(RpcRole::kClient).addresses;
  in.secret = ByteSpan(Secret());
  for (auto _ : state) {
    auto keys = DeriveRpcLinkKeys(in, RpcRole::kClient);
    benchmark::DoNotOptimize(keys);
  }
}
BENCHMARK(BM_RpcKeyDerivation);

// A link behind a slow ME: a backlog of range(0) bytes near the output bound, drained by
// capped flushes of about 32 KiB (MePool's per-pass cap) while new 4-KiB messages keep
// arriving at the same rate.
// Bytes processed = bytes flushed.
void BM_RpcLinkBacklogCappedFlush(benchmark::State& state) {
  const size_t backlog = static_cast<size_t>(state.range(0));
  RpcLinkConfig cc = Config(RpcRole::kClient);
  cc.max_output_bytes = backlog + (128u << 10);
  RpcLinkConfig sc = Config(RpcRole::kServer);
  auto client = RpcLink::Create(cc).value();
  auto server = RpcLink::Create(sc).value();
  CountingVisitor cv, sv;
  client->Start(1700000000);
  server->Start(1700000000);
  for (int i = 0; i < 2; ++i) {
    if (server->Feed(client->Flush(), sv) != RpcError::kOk) std::abort();
    if (client->Feed(server->Flush(), cv) != RpcError::kOk) std::abort();
  }
  std::vector<uint8_t> frame(4096 - 64, 0x33);
  while (client->PendingOutputBytes() < backlog) AppendProxyReq(*client, ByteSpan(frame));
  uint64_t flushed = 0;
  for (auto _ : state) {
    for (int i = 0; i < 8; ++i) AppendProxyReq(*client, ByteSpan(frame));
    AesCbc::Job job;
    // About what was just appended (some 32 KiB), so the backlog stays where it is.
    const size_t pending = client->PendingOutputBytes();
    ByteSpan sealed = client->BeginFlush(&job, pending > backlog ? pending - backlog : 16);
    if (job.n > 0) job.cbc->Process(job.in, job.out, job.n);
    flushed += sealed.size();
    benchmark::DoNotOptimize(sealed.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(flushed));
}
BENCHMARK(BM_RpcLinkBacklogCappedFlush)->Arg(256 << 10)->Arg(1 << 20)->Arg(4 << 20);

}  // namespace
}  // namespace mtp

BENCHMARK_MAIN();
