// Routes: connected, next-hop, default gateway (replace semantics), IPv4 and IPv6.

#include <gmock/gmock.h>
#include <sys/socket.h>

#include <algorithm>

#include "osl/addresses.h"
#include "osl/routes.h"
#include "tests/osl/osl_fixture.h"

namespace trellis::osl {
namespace {

using ipam::InterfaceAddress;
using ipam::IpAddress;
using ipam::Prefix;

class RoutesTest : public OslTest {
 protected:
  void SetUp() override {
    OslTest::SetUp();
    ns_.emplace(make_ns("trl-r"));
    sock_.emplace(*ns_);
    create_veth(*sock_, "eth0", {}, "trlpeer", nullptr);
    add_address(*sock_, "eth0", InterfaceAddress::parse("10.1.0.1/24"));
    add_address(*sock_, "eth0", InterfaceAddress::parse("2001:db8:1::1/64"));
    set_link_up(*sock_, "eth0", true);
    set_link_up(*sock_, "trlpeer", true);
  }
  void TearDown() override {
    sock_.reset();
    ns_.reset();
    OslTest::TearDown();
  }

  std::vector<Route> static_routes(int family) {
    auto all = list_routes(*sock_, family);
    std::erase_if(all, [](const Route& r) { return r.protocol != 4; });  // RTPROT_STATIC
    return all;
  }

  std::optional<Netns> ns_;
  std::optional<NetlinkSocket> sock_;
};

TEST_F(RoutesTest, NextHopAndConnectedRoutesReadBack) {
  add_route(*sock_, Route{.destination = Prefix::parse("10.2.0.0/16"),
                          .gateway = IpAddress::parse("10.1.0.254"),
                          .link = "eth0"});
  add_route(*sock_, Route{.destination = Prefix::parse("10.3.0.0/24"), .link = "eth0"});
  add_route(*sock_, Route{.destination = Prefix::parse("2001:db8:2::/48"),
                          .gateway = IpAddress::parse("2001:db8:1::fe"),
                          .link = "eth0"});
  const auto v4 = static_routes(AF_INET);
  ASSERT_EQ(v4.size(), 2u);
  EXPECT_EQ(v4[0].destination, Prefix::parse("10.2.0.0/16"));
  EXPECT_EQ(v4[0].gateway, IpAddress::parse("10.1.0.254"));
  EXPECT_EQ(v4[0].link, "eth0");
  EXPECT_EQ(v4[1].destination, Prefix::parse("10.3.0.0/24"));
  EXPECT_FALSE(v4[1].gateway.has_value());
  const auto v6 = static_routes(AF_INET6);
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].gateway, IpAddress::parse("2001:db8:1::fe"));
  // The kernel's own connected routes are listed too (protocol kernel).
  const auto all = list_routes(*sock_, AF_INET);
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [](const Route& r) {
    return r.destination == Prefix::parse("10.1.0.0/24") && r.link == "eth0";
  }));
}

TEST_F(RoutesTest, DefaultGatewayIsReplacedNotDuplicated) {
  set_default_gateway(*sock_, IpAddress::parse("10.1.0.254"), "eth0");
  set_default_gateway(*sock_, IpAddress::parse("10.1.0.253"), "eth0");
  auto def = default_route(*sock_, AF_INET);
  ASSERT_TRUE(def.has_value());
  EXPECT_EQ(def->gateway, IpAddress::parse("10.1.0.253"));
  EXPECT_EQ(def->link, "eth0");
  EXPECT_EQ(static_routes(AF_INET).size(), 1u);

  set_default_gateway(*sock_, IpAddress::parse("2001:db8:1::fe"), "eth0");
  set_default_gateway(*sock_, IpAddress::parse("2001:db8:1::fd"), "eth0");
  auto def6 = default_route(*sock_, AF_INET6);
  ASSERT_TRUE(def6.has_value());
  EXPECT_EQ(def6->gateway, IpAddress::parse("2001:db8:1::fd"));
  EXPECT_EQ(static_routes(AF_INET6).size(), 1u);

  EXPECT_TRUE(clear_default_gateway(*sock_, AF_INET));
  EXPECT_FALSE(clear_default_gateway(*sock_, AF_INET));
  EXPECT_FALSE(default_route(*sock_, AF_INET).has_value());
  EXPECT_TRUE(clear_default_gateway(*sock_, AF_INET6));
  EXPECT_FALSE(default_route(*sock_, AF_INET6).has_value());
}

TEST_F(RoutesTest, ReplaceRouteUpdatesInPlace) {
  Route r{.destination = Prefix::parse("10.2.0.0/16"),
          .gateway = IpAddress::parse("10.1.0.254"),
          .link = "eth0"};
  replace_route(*sock_, r);
  replace_route(*sock_, r);
  r.gateway = IpAddress::parse("10.1.0.200");
  replace_route(*sock_, r);
  const auto v4 = static_routes(AF_INET);
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].gateway, IpAddress::parse("10.1.0.200"));
}

TEST_F(RoutesTest, DuplicateAddIsAConflictAndDeleteOfAMissingRouteIsNotFound) {
  const Route r{.destination = Prefix::parse("10.2.0.0/16"),
                .gateway = IpAddress::parse("10.1.0.254"),
                .link = "eth0"};
  add_route(*sock_, r);
  EXPECT_THROW(add_route(*sock_, r), ConflictError);
  delete_route(*sock_, r);
  EXPECT_TRUE(static_routes(AF_INET).empty());
  EXPECT_THROW(delete_route(*sock_, r), NotFoundError);
  EXPECT_FALSE(delete_route_if_exists(*sock_, r));
}

TEST_F(RoutesTest, BadRoutesAreTypedErrors) {
  EXPECT_THROW(add_route(*sock_, Route{.destination = Prefix::parse("10.2.0.0/16")}),
               InvalidArgumentError);
  EXPECT_THROW(add_route(*sock_, Route{.destination = Prefix::parse("10.2.0.0/16"),
                                       .gateway = IpAddress::parse("2001:db8::1")}),
               InvalidArgumentError);
  EXPECT_THROW(
      add_route(*sock_, Route{.destination = Prefix::parse("10.2.0.0/16"), .link = "trlnope"}),
      NotFoundError);
  // A gateway that is not on any connected network: the kernel refuses it.
  EXPECT_THROW(add_route(*sock_, Route{.destination = Prefix::parse("10.2.0.0/16"),
                                       .gateway = IpAddress::parse("192.0.2.99"),
                                       .link = "eth0"}),
               Error);
  EXPECT_THROW(clear_default_gateway(*sock_, 12345), InvalidArgumentError);
  EXPECT_TRUE(static_routes(AF_INET).empty());
}

}  // namespace
}  // namespace trellis::osl
