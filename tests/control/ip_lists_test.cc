// Allow / block list files: loading, verdicts, errors naming file and line, and a reload with
// a broken file keeping the running lists.
#include "control/ip_lists.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "tests/control/temp_dir.h"

namespace mtp {
namespace {

SocketAddress A(std::string_view ip) { return SocketAddress::FromIp(ip, 443).value(); }

class IpListsTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content) {
    return tmp_.Write(name, content);
  }
  testing_util::TempDir tmp_{"mtp-ip-lists"};
  const std::string dir_ = tmp_.path();
};

TEST_F(IpListsTest, NoFilesAllowEveryone) {
  absl::StatusOr<std::shared_ptr<const IpAccessLists>> lists = LoadIpLists({}, 1);
  ASSERT_TRUE(lists.ok()) << lists.status();
  EXPECT_EQ((*lists)->Check(A("1.2.3.4")), IpAccessVerdict::kAllowed);
  EXPECT_EQ((*lists)->Check(A("::1")), IpAccessVerdict::kAllowed);
  EXPECT_FALSE(IpListPaths{}.any());
}

TEST_F(IpListsTest, BlockWinsOverAllow) {
  IpListPaths paths{Write("allow", "# customers\n10.0.0.0/8\n2001:db8::/32\n"),
                    Write("block", "10.6.6.0/24\n")};
  absl::StatusOr<std::shared_ptr<const IpAccessLists>> lists = LoadIpLists(paths, 7);
  ASSERT_TRUE(lists.ok()) << lists.status();
  const IpAccessLists& l = **lists;
  EXPECT_EQ(l.generation, 7u);
  EXPECT_EQ(l.Check(A("10.1.2.3")), IpAccessVerdict::kAllowed);
  EXPECT_EQ(l.Check(A("::ffff:10.1.2.3")), IpAccessVerdict::kAllowed);
  EXPECT_EQ(l.Check(A("2001:db8::9")), IpAccessVerdict::kAllowed);
  EXPECT_EQ(l.Check(A("10.6.6.6")), IpAccessVerdict::kBlocked);
  EXPECT_EQ(l.Check(A("::ffff:10.6.6.6")), IpAccessVerdict::kBlocked);
  EXPECT_EQ(l.Check(A("192.0.2.1")), IpAccessVerdict::kNotAllowed);
  EXPECT_EQ(l.Check(A("2001:db9::1")), IpAccessVerdict::kNotAllowed);
  EXPECT_EQ(IpAccessVerdictName(IpAccessVerdict::kNotAllowed), "not_allowed");
}

TEST_F(IpListsTest, BlockListOnly) {
  IpListPaths paths{"", Write("block", "192.0.2.0/24\n::1\n")};
  absl::StatusOr<std::shared_ptr<const IpAccessLists>> lists = LoadIpLists(paths, 1);
  ASSERT_TRUE(lists.ok()) << lists.status();
  EXPECT_EQ((*lists)->Check(A("192.0.2.9")), IpAccessVerdict::kBlocked);
  EXPECT_EQ((*lists)->Check(A("::1")), IpAccessVerdict::kBlocked);
  EXPECT_EQ((*lists)->Check(A("198.51.100.1")), IpAccessVerdict::kAllowed);
  // An empty block list is fine (nothing blocked).
  paths.block_file = Write("empty", "# nobody yet\n");
  lists = LoadIpLists(paths, 1);
  ASSERT_TRUE(lists.ok()) << lists.status();
  EXPECT_EQ((*lists)->Check(A("192.0.2.9")), IpAccessVerdict::kAllowed);
}

TEST_F(IpListsTest, ErrorsNameTheFileAndLine) {
  const std::string allow = Write("allow", "10.0.0.0/8\n\n10.0.0.0/40\n");
  absl::Status s = LoadIpLists({allow, ""}, 1).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "allow list " + allow +
                             ":3: bad prefix length in '10.0.0.0/40' (want 0..32)");
  const std::string block = Write("block", "bad.example\n");
  s = LoadIpLists({"", block}, 1).status();
  EXPECT_EQ(s.message(), "block list " + block +
                             ":1: bad address 'bad.example' in 'bad.example' (want IPv4 or IPv6)");
  s = LoadIpLists({dir_ + "/missing", ""}, 1).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(),
            "allow list " + dir_ + "/missing: cannot open: No such file or directory");
  const std::string empty_allow = Write("empty-allow", "# all commented out\n# 10.0.0.0/8\n");
  s = LoadIpLists({empty_allow, ""}, 1).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("would refuse every client"), absl::string_view::npos) << s;
}

TEST_F(IpListsTest, BrokenReloadKeepsTheRunningLists) {
  const std::string block = Write("block", "192.0.2.0/24\n");
  IpListStore store({"", block});
  EXPECT_EQ(store.current(), nullptr);
  ASSERT_TRUE(store.Load().ok());
  std::shared_ptr<const IpAccessLists> first = store.current();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->generation, 1u);
  EXPECT_EQ(first->Check(A("192.0.2.1")), IpAccessVerdict::kBlocked);

  // The operator breaks the file and sends SIGHUP: the error names the line, the old lists stay.
  Write("block", "192.0.2.0/24\n198.51.100.0/24\n203.0.113.300\n");
  absl::Status s = store.Load();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(block + ":3: "), absl::string_view::npos) << s;
  EXPECT_EQ(store.current(), first);
  EXPECT_EQ(store.failed_loads(), 1u);
  EXPECT_EQ(store.current()->Check(A("198.51.100.1")), IpAccessVerdict::kAllowed);

  // A deleted file is a failed load too.
  unlink(block.c_str());
  EXPECT_EQ(store.Load().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.current(), first);
  EXPECT_EQ(store.failed_loads(), 2u);

  // Fixed: the new lists replace the old, the old value is untouched for whoever holds it.
  Write("block", "198.51.100.0/24\n");
  ASSERT_TRUE(store.Load().ok());
  EXPECT_NE(store.current(), first);
  EXPECT_EQ(store.current()->generation, 2u);
  EXPECT_EQ(store.current()->Check(A("198.51.100.1")), IpAccessVerdict::kBlocked);
  EXPECT_EQ(store.current()->Check(A("192.0.2.1")), IpAccessVerdict::kAllowed);
  EXPECT_EQ(first->Check(A("192.0.2.1")), IpAccessVerdict::kBlocked);
}

}  // namespace
}  // namespace mtp
