// Fuzz target: the shard simulator (tests/sim, docs/simulator.md) driven by the input. Byte 0
// picks the mode (ME or direct); every later byte is one choice of the run: the configuration,
// the faults' odds, which client connects and what it sends, chunk sizes, cancels racing
// completions, clock jumps. When the bytes run out the run quiesces and stops the shard. Any
// broken invariant (budget accounting, descriptor and buffer leaks, ops counted in flight,
// bytes reaching the ME or DC once and in order, stale completions, logged errors, a frame
// that never arrives while its client is open, a stuck session) aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "tests/sim/simulator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  mtp::sim::SimOptions options;
  options.mode = (data[0] & 1) != 0 ? mtp::sim::SimMode::kDirect : mtp::sim::SimMode::kMiddleEnd;
  options.fuzz_bytes = std::span<const uint8_t>(data + 1, size - 1);
  options.steps = 4000;
  mtp::sim::SimResult result = mtp::sim::RunSimulation(options);
  if (!result.ok) {
    std::fprintf(stderr, "%s", result.report.c_str());
    std::abort();
  }
  return 0;
}
