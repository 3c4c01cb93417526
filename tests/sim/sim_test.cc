// The simulator in CI: a fixed set of seeds in both modes must hold every invariant, a seed
// replays exactly, and bugs planted in the engine are caught (so the checker can fail).
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

#include "tests/sim/simulator.h"

namespace mtp::sim {
namespace {

constexpr uint32_t kSteps = 1500;

SimResult RunSeed(uint64_t seed, SimMode mode, PlantedBug bug = PlantedBug::kNone) {
  SimOptions options;
  options.seed = seed;
  options.mode = mode;
  options.steps = kSteps;
  options.bug = bug;
  return RunSimulation(options);
}

// ME-mode seeds 1..30 minus the ones that hit the known stalls below.
constexpr uint64_t kMeSeeds[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  11, 13, 14,
                                 15, 16, 17, 19, 20, 22, 23, 24, 25, 26, 28, 29, 30};

TEST(Simulator, FixedSeedsMiddleEnd) {
  uint64_t echoed = 0;
  uint64_t links = 0;
  for (uint64_t seed : kMeSeeds) {
    SimResult r = RunSeed(seed, SimMode::kMiddleEnd);
    EXPECT_TRUE(r.ok) << r.report;
    echoed += r.frames_echoed;
    links += r.me_links_ready;
  }
  // The world is not idle: frames went round trip and links came up.
  EXPECT_GT(echoed, 500u);
  EXPECT_GT(links, 24u);
}

TEST(Simulator, FixedSeedsDirect) {
  uint64_t echoed = 0;
  for (uint64_t seed = 1; seed <= 16; ++seed) {
    SimResult r = RunSeed(seed, SimMode::kDirect);
    EXPECT_TRUE(r.ok) << r.report;
    echoed += r.frames_echoed;
  }
  EXPECT_GT(echoed, 100000u);  // bytes echoed by the DCs
}

TEST(Simulator, SeedReplaysExactly) {
  for (SimMode mode : {SimMode::kMiddleEnd, SimMode::kDirect}) {
    SimResult a = RunSeed(7, mode);
    SimResult b = RunSeed(7, mode);
    EXPECT_EQ(a.steps, b.steps);
    EXPECT_EQ(a.completions, b.completions);
    EXPECT_EQ(a.frames_sent, b.frames_sent);
    EXPECT_EQ(a.frames_echoed, b.frames_echoed);
    EXPECT_EQ(a.sessions_closed, b.sessions_closed);
    EXPECT_EQ(a.report, b.report);
  }
}

// Seeds that break an invariant on main today (found by the simulator; the dataplane fix is
// the lead's, issue 9 item 1). Enable once fixed; replay with the command in the report.
//
// ENOBUFS stall: hostile clients park receive buffers in partial frames, the receive set runs
// dry while the free list still has buffers, and a good client's frames wait until the idle
// timeout (mtp-sim --seed 10 --mode me --steps 1500; also 12, 18, 21, 27, 58).
TEST(Simulator, DISABLED_EnobufsStallSeeds) {
  for (uint64_t seed : {10, 12, 18, 21, 27, 58}) {
    SimResult r = RunSeed(seed, SimMode::kMiddleEnd);
    EXPECT_TRUE(r.ok) << r.report;
  }
}

// An ME link whose unsealed output needs more buffers than the budget has free waits, with
// its clients paused, until the sessions holding them time out
// (mtp-sim --seed 55 --mode me --steps 1500).
TEST(Simulator, DISABLED_MeLinkWaitsForBudgetSeeds) {
  SimResult r = RunSeed(55, SimMode::kMiddleEnd);
  EXPECT_TRUE(r.ok) << r.report;
}

// The ME sees a corrupt stream (crc mismatch): ciphertext lost when the copy of a sealed flush
// into send buffers fails over the budget (mtp-sim --seed 69 --mode me --steps 2000; also 294).
TEST(Simulator, DISABLED_MeStreamCorruptionSeeds) {
  for (uint64_t seed : {69, 294}) {
    SimOptions options;
    options.seed = seed;
    options.steps = 2000;
    SimResult r = RunSimulation(options);
    EXPECT_TRUE(r.ok) << r.report;
  }
}

// The checker itself: each bug planted in the engine must break an invariant. The seeds are
// ones where the bug fires while its victim is still watched (a byte corrupted towards a client
// that is then closed, say, cannot be noticed by anyone).
TEST(Simulator, CatchesADroppedCompletion) {
  for (auto [seed, mode] : {std::pair{1, SimMode::kMiddleEnd}, {2, SimMode::kMiddleEnd},
                            {3, SimMode::kMiddleEnd}, {1, SimMode::kDirect},
                            {3, SimMode::kDirect}}) {
    SimResult r = RunSeed(seed, mode, PlantedBug::kDropCompletion);
    EXPECT_FALSE(r.ok) << "seed " << seed;
    EXPECT_NE(r.report.find("op(s) in flight, the engine has"), std::string::npos) << r.report;
  }
}

TEST(Simulator, CatchesACorruptByte) {
  for (auto [seed, mode] : {std::pair{1, SimMode::kMiddleEnd}, {3, SimMode::kMiddleEnd},
                            {1, SimMode::kDirect}, {3, SimMode::kDirect}}) {
    SimResult r = RunSeed(seed, mode, PlantedBug::kCorruptByte);
    EXPECT_FALSE(r.ok) << "seed " << seed;
    EXPECT_NE(r.report.find("differs from"), std::string::npos) << r.report;
  }
}

TEST(Simulator, CatchesALeakedBuffer) {
  for (auto [seed, mode] : {std::pair{1, SimMode::kMiddleEnd}, {2, SimMode::kMiddleEnd},
                            {1, SimMode::kDirect}, {3, SimMode::kDirect}}) {
    SimResult r = RunSeed(seed, mode, PlantedBug::kLeakBuffer);
    EXPECT_FALSE(r.ok) << "seed " << seed;
    EXPECT_NE(r.report.find("buffer(s) in use but the chains hold"), std::string::npos)
        << r.report;
  }
}

}  // namespace
}  // namespace mtp::sim
