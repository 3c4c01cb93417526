#include "dataplane/me/me_routing.h"

#include <gtest/gtest.h>

namespace mtp {
namespace {

SocketAddress Addr(uint16_t port) { return SocketAddress::FromIpv4(0x7f000001, port); }

TEST(MeRoutingTest, ClustersShareTargetsAndFallBackToTheDefault) {
  MeRouting r;
  r.Add(1, Addr(1000), 4, 8);
  r.Add(-1, Addr(1000), 4, 8);  // same address: same target (one pool)
  r.Add(2, Addr(2000), 2, 3);
  r.Add(2, Addr(2001), 2, 3);
  r.SetDefault(2);
  ASSERT_EQ(r.targets().size(), 3u);
  ASSERT_NE(r.ClusterFor(1), nullptr);
  ASSERT_NE(r.ClusterFor(-1), nullptr);
  EXPECT_EQ(r.ClusterFor(1)->targets, r.ClusterFor(-1)->targets);
  EXPECT_EQ(r.ClusterFor(2)->targets.size(), 2u);
  EXPECT_EQ(r.ClusterFor(7), r.ClusterFor(2));      // unknown id: default cluster
  EXPECT_EQ(r.ClusterFor(10002), r.ClusterFor(2));  // test DCs too
  EXPECT_EQ(r.targets()[1].min_connections, 2u);
  EXPECT_EQ(r.targets()[1].max_connections, 3u);
}

TEST(MeRoutingTest, NoDefaultClusterMeansNoRoute) {
  MeRouting r;
  r.Add(1, Addr(1000), 1, 1);
  r.SetDefault(5);  // no cluster 5
  EXPECT_NE(r.ClusterFor(1), nullptr);
  EXPECT_EQ(r.ClusterFor(2), nullptr);
  MeRouting empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.ClusterFor(0), nullptr);
}

}  // namespace
}  // namespace mtp
