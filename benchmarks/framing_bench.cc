// Framing codecs per transport and frame size: proxy-side decode of client frames, the
// payload filter, and encode of answers (header only: the payload is never copied).
#include <benchmark/benchmark.h>

#include <vector>

#include "proto/framing.h"
#include "proto/mtproto_filter.h"

namespace mtp {
namespace {

// A buffer holding as many back-to-back client frames of `payload` bytes as fit in ~64 KiB.
std::vector<uint8_t> ClientStream(Transport t, uint32_t payload, size_t* frames) {
  std::vector<uint8_t> out;
  *frames = 0;
  while (out.size() < 65536 || *frames == 0) {
    std::array<uint8_t, kMaxFrameHeaderBytes> hdr{};
    uint32_t pad = t == Transport::kPadded ? 3 : 0;
    size_t n = EncodeClientFrameHeader(t, payload, pad, false, hdr);
    out.insert(out.end(), hdr.begin(), hdr.begin() + n);
    size_t start = out.size();
    out.resize(start + payload + pad, 0x5a);
    ++*frames;
  }
  out.resize(out.size() + 12, 0);  // clears the minimum-buffering rule for the last frame
  return out;
}

// Arg(0) = transport, Arg(1) = payload bytes.
void BM_DecodeClientFrames(benchmark::State& state) {
  const auto t = static_cast<Transport>(state.range(0));
  const auto payload = static_cast<uint32_t>(state.range(1));
  size_t frames = 0;
  std::vector<uint8_t> stream = ClientStream(t, payload, &frames);
  for (auto _ : state) {
    ByteSpan rest(stream);
    for (size_t i = 0; i < frames; ++i) {
      ClientFrame f = DecodeClientFrame(t, rest);
      FilterResult r = ClassifyClientPayload(rest.subspan(f.prefix_bytes, f.payload_bytes));
      benchmark::DoNotOptimize(r);
      rest = rest.subspan(f.frame_bytes());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * frames));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (stream.size() - 12)));
  state.SetLabel(std::string(TransportName(t)));
}

void BM_EncodeServerFrameHeader(benchmark::State& state) {
  const auto t = static_cast<Transport>(state.range(0));
  const auto payload = static_cast<uint32_t>(state.range(1));
  std::array<uint8_t, kMaxFrameHeaderBytes> hdr{};
  for (auto _ : state) {
    uint32_t pad = ServerPaddingBytes(t);
    size_t n = EncodeServerFrameHeader(t, payload, pad, hdr);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(hdr.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(std::string(TransportName(t)));
}

void BM_EncodeServerQuickAck(benchmark::State& state) {
  const auto t = static_cast<Transport>(state.range(0));
  std::array<uint8_t, kMaxServerQuickAckBytes> out{};
  for (auto _ : state) {
    size_t n = EncodeServerQuickAck(t, 0x81234567, DrawQuickAckRandom(), out);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(std::string(TransportName(t)));
}

void SizesByTransport(benchmark::internal::Benchmark* b) {
  for (int t = 0; t < 3; ++t) {
    for (int size : {40, 256, 1024, 16384, 1044480}) b->Args({t, size});
  }
}

BENCHMARK(BM_DecodeClientFrames)->Apply(SizesByTransport);
BENCHMARK(BM_EncodeServerFrameHeader)->Apply(SizesByTransport);
BENCHMARK(BM_EncodeServerQuickAck)->DenseRange(0, 2);

}  // namespace
}  // namespace mtp

BENCHMARK_MAIN();
