// Per-namespace sysctls.

#include <gmock/gmock.h>

#include "osl/sysctl.h"
#include "tests/osl/osl_fixture.h"

namespace trellis::osl {
namespace {

using SysctlTest = OslTest;

TEST_F(SysctlTest, WritesLandInTheTargetNamespaceOnly) {
  Netns ns = make_ns("trl-s");
  const std::string before = read_sysctl(host_, "net/ipv4/ip_forward");
  set_ip_forward(ns, true);
  EXPECT_EQ(read_sysctl(ns, "net/ipv4/ip_forward"), "1");
  EXPECT_EQ(read_sysctl(host_, "net/ipv4/ip_forward"), before);
  set_ip_forward(ns, false);
  EXPECT_EQ(read_sysctl(ns, "net/ipv4/ip_forward"), "0");
}

TEST_F(SysctlTest, PerLinkSysctlsTheDriversNeed) {
  Netns ns = make_ns("trl-s");
  NetlinkSocket sock(ns);
  create_bridge(sock, "trlbr0");
  set_accept_ra(ns, "trlbr0", 0);
  EXPECT_EQ(read_sysctl(ns, "net/ipv6/conf/trlbr0/accept_ra"), "0");
  set_accept_ra(ns, "trlbr0", 2);
  EXPECT_EQ(read_sysctl(ns, "net/ipv6/conf/trlbr0/accept_ra"), "2");
  set_disable_ipv6(ns, "trlbr0", true);
  EXPECT_EQ(read_sysctl(ns, "net/ipv6/conf/trlbr0/disable_ipv6"), "1");
  set_route_localnet(ns, "trlbr0", true);
  EXPECT_EQ(read_sysctl(ns, "net/ipv4/conf/trlbr0/route_localnet"), "1");
  set_ipv6_forwarding(ns, "all", true);
  EXPECT_EQ(read_sysctl(ns, "net/ipv6/conf/all/forwarding"), "1");
  set_disable_ipv6(ns, "default", false);
  EXPECT_EQ(read_sysctl(ns, "net/ipv6/conf/default/disable_ipv6"), "0");
}

TEST_F(SysctlTest, MissingSysctlsAndBadKeysAreTypedErrors) {
  Netns ns = make_ns("trl-s");
  try {
    set_accept_ra(ns, "trlnope", 1);
    FAIL() << "wrote a sysctl of a missing link";
  } catch (const NotFoundError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("trlnope"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr(ns.label()));
  }
  EXPECT_THROW(read_sysctl(ns, "net/ipv4/no_such_thing"), NotFoundError);
  for (const std::string bad : {"", "net/", "/proc/sys/net/ipv4/ip_forward", "kernel/hostname",
                                "net/../kernel/hostname", "net/ipv4//ip_forward"}) {
    EXPECT_THROW(write_sysctl(ns, bad, "1"), InvalidArgumentError) << bad;
  }
  EXPECT_THROW(set_accept_ra(ns, "all", 7), InvalidArgumentError);
  EXPECT_THROW(set_accept_ra(ns, "bad/link", 1), InvalidArgumentError);
  EXPECT_THROW(write_sysctl(ns, "net/ipv4/ip_forward", "not-a-number"), InvalidArgumentError);
}

}  // namespace
}  // namespace trellis::osl
