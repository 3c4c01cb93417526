#include "control/privileges.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <map>
#include <string>

namespace mtp {
namespace {

UserLookup FakeUsers(std::map<std::string, UserIds> users) {
  return [users = std::move(users)](const std::string& name) -> std::optional<UserIds> {
    auto it = users.find(name);
    if (it == users.end()) return std::nullopt;
    return it->second;
  };
}

const UserIds kMtproxy{"mtproxy", 990, 990};
const UserIds kNobody{"nobody", 65534, 65534};
const UserIds kAlice{"alice", 1000, 100};

TEST(ChooseDropUserTest, NotRootNeverDrops) {
  std::string warning;
  auto r = ChooseDropUser(std::string("alice"), false, FakeUsers({{"alice", kAlice}}), &warning);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  r = ChooseDropUser(std::nullopt, false, FakeUsers({}), &warning);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_TRUE(warning.empty());
}

TEST(ChooseDropUserTest, ExplicitUser) {
  std::string warning;
  auto r = ChooseDropUser(std::string("alice"), true,
                          FakeUsers({{"alice", kAlice}, {"mtproxy", kMtproxy}}), &warning);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->uid, 1000u);
  EXPECT_EQ((*r)->gid, 100u);
  EXPECT_TRUE(warning.empty());
}

TEST(ChooseDropUserTest, ExplicitUnknownUserIsFatal) {
  std::string warning;
  auto r = ChooseDropUser(std::string("ghost"), true, FakeUsers({{"nobody", kNobody}}), &warning);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "fatal: cannot change user to ghost");
}

TEST(ChooseDropUserTest, DefaultUserWhenItExists) {
  std::string warning;
  auto r = ChooseDropUser(std::nullopt, true,
                          FakeUsers({{"mtproxy", kMtproxy}, {"nobody", kNobody}}), &warning);
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->name, "mtproxy");
  EXPECT_TRUE(warning.empty());
}

TEST(ChooseDropUserTest, FallsBackToNobodyWithWarning) {
  std::string warning;
  auto r = ChooseDropUser(std::nullopt, true, FakeUsers({{"nobody", kNobody}}), &warning);
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->name, "nobody");
  EXPECT_EQ((*r)->uid, 65534u);
  EXPECT_NE(warning.find("'mtproxy' does not exist"), std::string::npos) << warning;
}

TEST(ChooseDropUserTest, NoDefaultAndNoFallbackIsFatal) {
  std::string warning;
  auto r = ChooseDropUser(std::nullopt, true, FakeUsers({}), &warning);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("pass -u"), std::string::npos);
}

TEST(LookupUserTest, RootExistsAndGhostDoesNot) {
  auto root = LookupUser("root");
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->uid, 0u);
  EXPECT_FALSE(LookupUser("no-such-user-mtproxy-ng").has_value());
}

TEST(ApplyFdLimitTest, ModestLimitFitsAndKeepsSpecialRule) {
  FdLimitPlan plan = ApplyFdLimit(64, 0);
  EXPECT_EQ(plan.max_connections, 64);
  EXPECT_EQ(plan.max_special_connections, 64);
  EXPECT_TRUE(plan.warning.empty());
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_GE(limit.rlim_cur, 64u + kFdLimitReserve);
}

TEST(ApplyFdLimitTest, AboveHardLimitIsLoweredWithWarning) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (geteuid() == 0 || limit.rlim_max == RLIM_INFINITY || limit.rlim_max > (1u << 29)) {
    GTEST_SKIP() << "root may raise the hard limit; nothing to lower";
  }
  const int asked = static_cast<int>(limit.rlim_max) + 1000;
  FdLimitPlan plan = ApplyFdLimit(asked, 0);
  EXPECT_EQ(plan.max_connections, static_cast<int>(limit.rlim_max) - kFdLimitReserve);
  EXPECT_FALSE(plan.warning.empty());
}

}  // namespace
}  // namespace mtp
