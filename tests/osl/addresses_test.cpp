// IPv4 and IPv6 addresses on links.

#include <gmock/gmock.h>
#include <unistd.h>

#include "osl/addresses.h"
#include "tests/osl/osl_fixture.h"

namespace trellis::osl {
namespace {

using ipam::InterfaceAddress;

class AddressesTest : public OslTest {
 protected:
  void SetUp() override {
    OslTest::SetUp();
    create_bridge(sock_, "trlbr0");
  }
  NetlinkSocket sock_{host_};
};

TEST_F(AddressesTest, AddsIPv4AndIPv6AndReadsThemBack) {
  add_address(sock_, "trlbr0", InterfaceAddress::parse("10.0.0.2/24"));
  add_address(sock_, "trlbr0", InterfaceAddress::parse("10.0.1.2/16"));
  add_address(sock_, "trlbr0", InterfaceAddress::parse("2001:db8::2/64"));
  EXPECT_THAT(list_addresses(sock_, "trlbr0"),
              ::testing::UnorderedElementsAre(InterfaceAddress::parse("10.0.0.2/24"),
                                              InterfaceAddress::parse("10.0.1.2/16"),
                                              InterfaceAddress::parse("2001:db8::2/64")));
}

TEST_F(AddressesTest, ADuplicateIsAConflictWithTheKernelsReason) {
  add_address(sock_, "trlbr0", InterfaceAddress::parse("10.0.0.2/24"));
  try {
    add_address(sock_, "trlbr0", InterfaceAddress::parse("10.0.0.2/24"));
    FAIL() << "duplicate address added";
  } catch (const ConflictError& e) {
    // The errno text, then the kernel's extended-ack message when it sends one.
    EXPECT_THAT(e.what(),
                ::testing::StartsWith("add address 10.0.0.2/24 to trlbr0 in ns host: File exists"));
  }
  add_address(sock_, "trlbr0", InterfaceAddress::parse("2001:db8::2/64"));
  EXPECT_THROW(add_address(sock_, "trlbr0", InterfaceAddress::parse("2001:db8::2/64")),
               ConflictError);
  EXPECT_EQ(list_addresses(sock_, "trlbr0").size(), 2u);
}

TEST_F(AddressesTest, RemoveAndRemoveIfPresent) {
  const auto a4 = InterfaceAddress::parse("10.0.0.2/24");
  const auto a6 = InterfaceAddress::parse("2001:db8::2/64");
  add_address(sock_, "trlbr0", a4);
  add_address(sock_, "trlbr0", a6);
  remove_address(sock_, "trlbr0", a4);
  EXPECT_TRUE(remove_address_if_present(sock_, "trlbr0", a6));
  EXPECT_TRUE(list_addresses(sock_, "trlbr0").empty());
  EXPECT_FALSE(remove_address_if_present(sock_, "trlbr0", a4));
  EXPECT_THROW(remove_address(sock_, "trlbr0", a6), NotFoundError);
}

TEST_F(AddressesTest, EnsureAddressIsIdempotent) {
  const auto a = InterfaceAddress::parse("10.0.0.2/24");
  EXPECT_TRUE(ensure_address(sock_, "trlbr0", a));
  EXPECT_FALSE(ensure_address(sock_, "trlbr0", a));
  EXPECT_EQ(list_addresses(sock_, "trlbr0").size(), 1u);
}

TEST_F(AddressesTest, AMissingLinkIsNotFound) {
  const auto a = InterfaceAddress::parse("10.0.0.2/24");
  EXPECT_THROW(add_address(sock_, "trlnope", a), NotFoundError);
  EXPECT_THROW(remove_address_if_present(sock_, "trlnope", a), NotFoundError);
  EXPECT_THROW(list_addresses(sock_, "trlnope"), NotFoundError);
  EXPECT_THROW(add_address(sock_, "bad/name", a), InvalidArgumentError);
}

TEST_F(AddressesTest, WorksInsideAnotherNamespaceOnly) {
  Netns ns = make_ns("trl-a");
  NetlinkSocket inner(ns);
  create_bridge(inner, "trlbr0");
  add_address(inner, "trlbr0", InterfaceAddress::parse("10.0.0.9/24"));
  EXPECT_EQ(list_addresses(inner, "trlbr0").size(), 1u);
  EXPECT_TRUE(list_addresses(sock_, "trlbr0").empty());
}

TEST_F(AddressesTest, LinkLocalIPv6IsListedOnlyOnRequest) {
  create_veth(sock_, "trlv0", {}, "trlv1", nullptr);
  set_link_up(sock_, "trlv0", true);
  set_link_up(sock_, "trlv1", true);
  // The kernel adds fe80:: when the link comes up; wait for it (bounded).
  bool seen = false;
  for (int i = 0; i < 300 && !seen; ++i) {
    for (const auto& a : list_addresses(sock_, "trlv0", true)) seen |= a.address.is_v6();
    if (!seen) ::usleep(10'000);
  }
  EXPECT_TRUE(seen);
  EXPECT_TRUE(list_addresses(sock_, "trlv0").empty());
}

}  // namespace
}  // namespace trellis::osl
