// The deterministic simulator of one dataplane shard (issue 9 item 4; TigerBeetle's VOPR is the
// model). One run = one seed (or one fuzz input): a ProxyShard on a SimEngine and SimClock, a
// world of simulated clients, middle-ends or DCs, and faults, all drawn from that seed. After
// every step (one RunOnce plus the peers' moves) the invariants are checked (docs/simulator.md);
// the first broken one ends the run with a report that names the seed and the command that
// replays it.
//
// Thread ownership: a run owns the calling thread (it seeds the thread's FastRandom and sets
// the process's log sink while it runs): one run at a time per process.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "tests/sim/sim_engine.h"

namespace mtp::sim {

enum class SimMode : uint8_t { kMiddleEnd, kDirect };

struct SimOptions {
  uint64_t seed = 1;
  SimMode mode = SimMode::kMiddleEnd;
  uint32_t steps = 2000;  // steps of the main phase (then the quiesce, timeout and stop phases)
  // Non-empty: every choice comes from these bytes (fuzzing); the main phase ends when they
  // are used up (or after `steps`).
  std::span<const uint8_t> fuzz_bytes;
  PlantedBug bug = PlantedBug::kNone;  // for the checker's own tests
  // The liveness invariants (what was sent arrives while the client is open; no session is
  // left once every timer has passed). Off, a run still checks every safety invariant.
  bool check_liveness = true;
  bool echo_log = false;  // print the proxy's log lines as they come
};

struct SimResult {
  bool ok = true;
  std::string report;  // the failure report (empty when ok)
  // What the run did (for the runner's summary and for tests that the world is not idle).
  uint64_t steps = 0;
  uint64_t clients = 0;
  uint64_t frames_sent = 0;
  uint64_t frames_echoed = 0;  // ME mode: frames; direct mode: bytes
  uint64_t completions = 0;
  uint64_t sessions_closed = 0;
  uint64_t me_links_ready = 0;
  double sim_seconds = 0;
};

SimResult RunSimulation(const SimOptions& options);

std::string_view SimModeName(SimMode mode);
// The command line that replays a run.
std::string ReplayCommand(const SimOptions& options);

}  // namespace mtp::sim
