// The Testbed harness itself: hosts on the underlay reach each other, containers attach, and
// nothing is left after cleanup.

#include <gmock/gmock.h>

#include "osl/addresses.h"
#include "tests/harness/testbed.h"
#include "tests/osl/osl_fixture.h"

namespace trellis::osl {
namespace {

using trellis::testing::run_command_in;
using trellis::testing::Testbed;

using HarnessTest = OslTest;

TEST_F(HarnessTest, HostsOnTheUnderlayPingEachOther) {
  Testbed bed("trlt");
  auto& h1 = bed.add_host();
  auto& h2 = bed.add_host();
  EXPECT_EQ(h1.underlay_ip.to_string(), "192.0.2.11");
  EXPECT_EQ(h2.underlay_ip.to_string(), "192.0.2.12");
  NetlinkSocket s1 = bed.socket(h1);
  const LinkInfo eth0 = get_link(s1, "eth0");
  EXPECT_EQ(eth0.mac, "02:00:c0:00:02:0b");
  EXPECT_TRUE(eth0.up);
  NetlinkSocket test_sock = bed.test_socket();
  EXPECT_EQ(get_link(test_sock, h1.bridge_port).master, bed.underlay_bridge());

  EXPECT_EQ(run_command_in(h1.ns, {"ping", "-c", "1", "-W", "5", "192.0.2.12"}), 0);
  EXPECT_EQ(run_command_in(h2.ns, {"ping", "-c", "1", "-W", "5", "192.0.2.1"}), 0);

  bed.cleanup();
  EXPECT_THAT(bed.leftovers(), ::testing::IsEmpty());
}

TEST_F(HarnessTest, ContainersAttachToAHostBridge) {
  Testbed bed("trlt");
  auto& host = bed.add_host();
  {
    NetlinkSocket hs = bed.socket(host);
    create_bridge(hs, "br0");
    add_address(hs, "br0", ipam::InterfaceAddress::parse("10.9.0.1/24"));
    set_link_up(hs, "br0", true);
  }
  auto& c1 = bed.add_container();
  auto& c2 = bed.add_container();
  bed.attach_container(c1, host, "br0", ipam::InterfaceAddress::parse("10.9.0.2/24"),
                       "02:00:0a:09:00:02", std::nullopt, ipam::IpAddress::parse("10.9.0.1"));
  bed.attach_container(c2, host, "br0", ipam::InterfaceAddress::parse("10.9.0.3/24"));
  EXPECT_EQ(run_command_in(c1.ns, {"ping", "-c", "1", "-W", "5", "10.9.0.3"}), 0);
  EXPECT_EQ(run_command_in(c2.ns, {"ping", "-c", "1", "-W", "5", "10.9.0.1"}), 0);
  // A failing command reports its status.
  EXPECT_NE(run_command_in(c2.ns, {"ping", "-c", "1", "-W", "1", "10.9.0.99"}), 0);
  EXPECT_EQ(run_command_in(c2.ns, {"/nonexistent/program"}), 127);

  EXPECT_THAT(bed.leftovers(), ::testing::Not(::testing::IsEmpty()));
  bed.cleanup();
  EXPECT_THAT(bed.leftovers(), ::testing::IsEmpty());
  bed.cleanup();  // idempotent
}

TEST_F(HarnessTest, DestructorRemovesEverything) {
  {
    Testbed bed("trlt");
    bed.add_host();
    bed.add_container();
  }
  EXPECT_TRUE(list_named_netns(dir_, "trlt").empty());
  NetlinkSocket sock(host_);
  EXPECT_TRUE(list_links(sock, "trlt").empty());
  EXPECT_THROW(Testbed("Bad!"), InvalidArgumentError);
}

}  // namespace
}  // namespace trellis::osl
