#pragma once
// Shared fixture of the osl kernel tests: runs only inside in-private-netns.sh, names every
// object with the "trl" prefix, and checks in TearDown that nothing is left behind.

#include <gtest/gtest.h>

#include <string>

#include "osl/links.h"
#include "osl/netlink.h"
#include "osl/netns.h"
#include "tests/harness/testbed.h"

namespace trellis::osl {

class OslTest : public ::testing::Test {
 protected:
  void SetUp() override {
    trellis::testing::require_private_netns();
    dir_ = trellis::testing::test_netns_dir();
  }

  void TearDown() override {
    // Clean up what a failing test may have left, then prove nothing remains.
    NetlinkSocket sock(host_);
    for (const auto& link : list_links(sock, "trl")) delete_link_if_exists(sock, link.name);
    for (const auto& name : list_named_netns(dir_, "trl")) delete_named_netns(dir_, name);
    EXPECT_TRUE(list_links(sock, "trl").empty());
    EXPECT_TRUE(list_named_netns(dir_, "").empty());
  }

  Netns make_ns(const std::string& name) { return create_named_netns(dir_, name); }

  std::string dir_;
  Netns host_ = Netns::current();  // the test's private namespace (labelled "host")
};

}  // namespace trellis::osl
