// The one-call container interface setup and its rollback.

#include <gmock/gmock.h>
#include <sys/socket.h>

#include "osl/addresses.h"
#include "osl/container_interface.h"
#include "osl/routes.h"
#include "tests/osl/osl_fixture.h"

namespace trellis::osl {
namespace {

using ipam::InterfaceAddress;
using ipam::IpAddress;

class ContainerInterfaceTest : public OslTest {
 protected:
  void SetUp() override {
    OslTest::SetUp();
    ensure_bridge(outer_, "trlbr0", LinkOptions{.mtu = 1450});
    add_address(outer_, "trlbr0", InterfaceAddress::parse("10.5.0.1/24"));
    add_address(outer_, "trlbr0", InterfaceAddress::parse("2001:db8:5::1/64"));
  }
  ContainerInterfaceSpec spec() const {
    return ContainerInterfaceSpec{
        .outer_name = "trlv1",
        .outer_alias = "endpoint e1",
        .bridge = "trlbr0",
        .inner_name = "eth0",
        .mac = "02:42:0a:05:00:02",
        .mtu = 1450,
        .addresses = {InterfaceAddress::parse("10.5.0.2/24"),
                      InterfaceAddress::parse("2001:db8:5::2/64")},
        .gateway = IpAddress::parse("10.5.0.1"),
        .gateway6 = IpAddress::parse("2001:db8:5::1"),
    };
  }
  NetlinkSocket outer_{host_};
};

TEST_F(ContainerInterfaceTest, SetupConfiguresBothEnds) {
  Netns ns = make_ns("trl-c1");
  NetlinkSocket inner(ns);
  setup_container_interface(outer_, inner, ns, spec());

  const LinkInfo in = get_link(inner, "eth0");
  EXPECT_EQ(in.kind, "veth");
  EXPECT_EQ(in.mac, "02:42:0a:05:00:02");
  EXPECT_EQ(in.mtu, 1450u);
  EXPECT_TRUE(in.up);
  EXPECT_EQ(in.addresses, spec().addresses);
  const auto def = default_route(inner, AF_INET);
  ASSERT_TRUE(def.has_value());
  EXPECT_EQ(def->gateway, IpAddress::parse("10.5.0.1"));
  EXPECT_EQ(def->link, "eth0");
  const auto def6 = default_route(inner, AF_INET6);
  ASSERT_TRUE(def6.has_value());
  EXPECT_EQ(def6->gateway, IpAddress::parse("2001:db8:5::1"));

  const LinkInfo out = get_link(outer_, "trlv1");
  EXPECT_EQ(out.master, "trlbr0");
  EXPECT_TRUE(out.up);
  EXPECT_EQ(out.alias, "endpoint e1");
  EXPECT_EQ(out.mtu, 1450u);

  EXPECT_TRUE(teardown_container_interface(outer_, "trlv1"));
  EXPECT_FALSE(find_link(inner, "eth0").has_value());
  EXPECT_FALSE(teardown_container_interface(outer_, "trlv1"));
}

TEST_F(ContainerInterfaceTest, AFailedSetupLeavesNothingBehind) {
  Netns ns = make_ns("trl-c1");
  NetlinkSocket inner(ns);
  // Fails at the very last step (enslaving to a missing bridge).
  auto bad_bridge = spec();
  bad_bridge.bridge = "trlnobr";
  EXPECT_THROW(setup_container_interface(outer_, inner, ns, bad_bridge), NotFoundError);
  EXPECT_FALSE(find_link(outer_, "trlv1").has_value());
  EXPECT_FALSE(find_link(inner, "eth0").has_value());

  // Fails in the middle (a gateway that is not on the container's network).
  auto bad_gateway = spec();
  bad_gateway.gateway = IpAddress::parse("192.0.2.77");
  EXPECT_THROW(setup_container_interface(outer_, inner, ns, bad_gateway), Error);
  EXPECT_FALSE(find_link(outer_, "trlv1").has_value());
  EXPECT_FALSE(find_link(inner, "eth0").has_value());

  // Fails at the first step (the outer name is taken): the existing link is not touched.
  create_bridge(outer_, "trlv1");
  EXPECT_THROW(setup_container_interface(outer_, inner, ns, spec()), ConflictError);
  EXPECT_EQ(get_link(outer_, "trlv1").kind, "bridge");
  EXPECT_FALSE(find_link(inner, "eth0").has_value());
}

TEST_F(ContainerInterfaceTest, ManyContainersOnOneBridge) {
  std::vector<Netns> namespaces;
  for (int i = 0; i < 8; ++i) {
    namespaces.push_back(make_ns("trl-c" + std::to_string(i)));
    NetlinkSocket inner(namespaces.back());
    auto s = spec();
    s.outer_name = "trlv" + std::to_string(i);
    s.mac = "02:42:0a:05:00:" + std::string(i < 8 ? "1" : "2") + std::to_string(i);
    s.addresses = {InterfaceAddress::parse("10.5.0." + std::to_string(10 + i) + "/24")};
    s.gateway6.reset();
    setup_container_interface(outer_, inner, namespaces.back(), s);
  }
  const auto ports = list_links(outer_, "trlv");
  ASSERT_EQ(ports.size(), 8u);
  for (const auto& p : ports) EXPECT_EQ(p.master, "trlbr0");
}

}  // namespace
}  // namespace trellis::osl
