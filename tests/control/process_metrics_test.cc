// Standard process metrics: /proc parsers and the live reading of this test process.
#include "control/process_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ctime>

namespace mtp {
namespace {

TEST(ProcessMetricsTest, ParsesProcStatPastACommandNameWithSpacesAndParens) {
  // Fields 14/15 utime/stime, 22 starttime, 23 vsize, 24 rss.
  const char* text =
      "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 "
      "123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  std::optional<ProcStat> s = ParseProcStat(text);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->utime_ticks, 250u);
  EXPECT_EQ(s->stime_ticks, 50u);
  EXPECT_EQ(s->start_ticks, 123456u);
  EXPECT_EQ(s->vsize_bytes, 987654321u);
  EXPECT_EQ(s->rss_pages, 2048u);
  EXPECT_FALSE(ParseProcStat("4242 (x) S 1 2 3").has_value());
  EXPECT_FALSE(ParseProcStat("no parenthesis at all").has_value());
}

TEST(ProcessMetricsTest, ParsesBootTime) {
  EXPECT_EQ(ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"), 1700000000);
  EXPECT_EQ(ParseBootTime("btime 17\n"), 17);
  EXPECT_FALSE(ParseBootTime("cpu 1\nbtime x\n").has_value());
  EXPECT_FALSE(ParseBootTime("cpu 1\n").has_value());
}

TEST(ProcessMetricsTest, ReadsThisProcess) {
  std::optional<ProcessMetrics> before = ReadProcessMetrics();
  ASSERT_TRUE(before.has_value());
  // Three more descriptors are seen as three more.
  int fds[3];
  for (int& fd : fds) fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::optional<ProcessMetrics> after = ReadProcessMetrics();
  for (int fd : fds) close(fd);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->open_fds, before->open_fds + 3);
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(after->max_fds, static_cast<int64_t>(limit.rlim_cur));
  EXPECT_GT(after->resident_bytes, 1 << 20);
  EXPECT_GE(after->virtual_bytes, after->resident_bytes);
  // Started within the last hour (a test binary), not in the future.
  const double now = static_cast<double>(time(nullptr));
  EXPECT_LE(after->start_time_seconds, now + 1);
  EXPECT_GT(after->start_time_seconds, now - 3600);
  // Burn some CPU: the counter moves.
  volatile uint64_t x = 0;
  const std::clock_t until = std::clock() + CLOCKS_PER_SEC / 20;
  while (std::clock() < until) x = x + 1;
  EXPECT_GT(ReadProcessMetrics()->cpu_seconds, before->cpu_seconds);
}

}  // namespace
}  // namespace mtp
