// /ready decisions from the snapshot's serving facts.
#include "control/readiness.h"

#include <gtest/gtest.h>

namespace mtp {
namespace {

StatsSnapshot Serving(bool middle_end, int64_t listeners, int64_t shards_without_me) {
  StatsSnapshot s;
  s.extended.shards = 4;
  s.extended.serving.middle_end = middle_end;
  s.extended.serving.listeners = listeners;
  s.extended.serving.shards_without_ready_me = shards_without_me;
  return s;
}

TEST(ReadinessTest, MiddleEndModeNeedsAReadyTargetOnEveryShard) {
  Readiness all = EvaluateReadiness(Serving(true, 4, 0), false);
  EXPECT_TRUE(all.ready);
  EXPECT_EQ(all.reason, "serving (middle-end)");
  Readiness one_missing = EvaluateReadiness(Serving(true, 4, 1), false);
  EXPECT_FALSE(one_missing.ready);
  EXPECT_EQ(one_missing.reason, "1 of 4 shards have no ready middle-end connection");
}

TEST(ReadinessTest, DirectModeIsReadyOnceListening) {
  // The ME figure means nothing in direct mode.
  Readiness direct = EvaluateReadiness(Serving(false, 4, 4), false);
  EXPECT_TRUE(direct.ready);
  EXPECT_EQ(direct.reason, "serving (direct)");
}

TEST(ReadinessTest, NotReadyWithoutListenersOrWhileDraining) {
  Readiness none = EvaluateReadiness(Serving(false, 0, 0), false);
  EXPECT_FALSE(none.ready);
  EXPECT_EQ(none.reason, "no client listener open");
  Readiness draining = EvaluateReadiness(Serving(true, 4, 0), true);
  EXPECT_FALSE(draining.ready);
  EXPECT_EQ(draining.reason, "draining: listeners closed");
  // One line each: the HTTP body is the reason plus one newline.
  for (const Readiness& r : {none, draining}) {
    EXPECT_EQ(r.reason.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace mtp
