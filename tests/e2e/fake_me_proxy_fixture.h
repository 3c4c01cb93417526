// Test fixture base for control-plane e2e suites: the real binary behind an in-process fake ME
// (tests/dataplane/loopback_peers.h), with the proxy secret and the config in a SharedDir.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/dataplane/loopback_peers.h"
#include "tests/e2e/control_e2e_util.h"
#include "tests/e2e/e2e_data.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/proxy_process.h"

namespace mtp::e2e {

class FakeMeProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    aes_pwd_ = dir_.Write("proxy-secret", ProxySecretText());
    me_ = std::make_unique<testing_peers::FakeMe>(ProxySecretBytes());
  }

  // Starts the binary with `args`, --aes-pwd and a config routing every DC to the fake ME (the
  // last argument), then waits until `shards` ME links are ready: a frame that finds no ready
  // link is dropped (spec §8.3). nullptr if the proxy or its links did not come up.
  std::unique_ptr<ProxyProcess> StartBehindFakeMe(std::vector<std::string> args, int shards) {
    args.insert(args.end(), {"--aes-pwd", aes_pwd_});
    args.push_back(dir_.Write("proxy-multi.conf", ConfigFor(me_->port())));
    auto proxy = ProxyProcess::Start(args);
    if (proxy && !WaitFor([&] { return me_->links_ready() >= shards; }, 8000)) return nullptr;
    return proxy;
  }

  SharedDir dir_;
  std::string aes_pwd_;
  std::unique_ptr<testing_peers::FakeMe> me_;
};

}  // namespace mtp::e2e
