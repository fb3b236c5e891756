// Links: create, move, rename, change, list, delete, ensure; errors and rollback.

#include <gmock/gmock.h>
#include <unistd.h>

#include "osl/addresses.h"
#include "tests/osl/osl_fixture.h"

namespace trellis::osl {
namespace {

using ::testing::HasSubstr;

class LinksTest : public OslTest {
 protected:
  NetlinkSocket sock_{host_};
};

TEST_F(LinksTest, CreateBridgeReadsBackKindMtuMacAndAlias) {
  create_bridge(sock_, "trlbr0",
                LinkOptions{.alias = "net-1", .mtu = 1400, .mac = "02:AA:00:00:00:01"});
  const LinkInfo br = get_link(sock_, "trlbr0");
  EXPECT_EQ(br.kind, "bridge");
  EXPECT_EQ(br.mtu, 1400u);
  EXPECT_EQ(br.mac, "02:aa:00:00:00:01");
  // The kernel ignores IFLA_IFALIAS when creating: osl sets it in a second request.
  EXPECT_EQ(br.alias, "net-1");
  EXPECT_FALSE(br.up);
  EXPECT_EQ(br.master, "");
  EXPECT_GT(br.index, 0);
  EXPECT_EQ(link_index(sock_, "trlbr0"), br.index);
}

TEST_F(LinksTest, CreatingADuplicateIsAConflictNamingTheObjectAndNamespace) {
  create_bridge(sock_, "trlbr0", LinkOptions{.alias = "first"});
  try {
    create_bridge(sock_, "trlbr0", LinkOptions{.alias = "second"});
    FAIL() << "duplicate bridge created";
  } catch (const ConflictError& e) {
    EXPECT_THAT(e.what(), ::testing::StartsWith("create bridge trlbr0 in ns host: File exists"));
  }
  EXPECT_EQ(get_link(sock_, "trlbr0").alias, "first");
}

TEST_F(LinksTest, DummyLinksFailClearlyOnAKernelWithoutTheDriver) {
  try {
    create_dummy(sock_, "trldummy0");
    // A kernel with the dummy driver: then it must really be a dummy link.
    EXPECT_EQ(get_link(sock_, "trldummy0").kind, "dummy");
    GTEST_SKIP() << "this kernel has the dummy driver";
  } catch (const UnavailableError& e) {
    EXPECT_THAT(e.what(), HasSubstr("create dummy link trldummy0 in ns host"));
    EXPECT_THAT(e.what(), HasSubstr("not supported by this kernel"));
    RecordProperty("message", e.what());
  }
  EXPECT_FALSE(find_link(sock_, "trldummy0").has_value());
}

TEST_F(LinksTest, VethPeerIsCreatedDirectlyInAnotherNamespace) {
  Netns ns = make_ns("trl-a");
  NetlinkSocket inner(ns);
  create_veth(sock_, "trlv0", LinkOptions{.alias = "ep-1", .mtu = 1450}, "eth0", &ns,
              LinkOptions{.alias = "inner", .mtu = 1450, .mac = "02:00:00:00:00:42"});
  const LinkInfo outer = get_link(sock_, "trlv0");
  EXPECT_EQ(outer.kind, "veth");
  EXPECT_EQ(outer.alias, "ep-1");
  EXPECT_EQ(outer.mtu, 1450u);
  EXPECT_FALSE(find_link(sock_, "eth0").has_value());
  const LinkInfo peer = get_link(inner, "eth0");
  EXPECT_EQ(peer.kind, "veth");
  EXPECT_EQ(peer.mac, "02:00:00:00:00:42");
  EXPECT_EQ(peer.mtu, 1450u);
  EXPECT_EQ(peer.alias, "inner");
  // Deleting one end removes both.
  delete_link(sock_, "trlv0");
  EXPECT_FALSE(find_link(inner, "eth0").has_value());
}

TEST_F(LinksTest, VethInOneNamespaceAndNameClashes) {
  create_veth(sock_, "trlv0", {}, "trlv1", nullptr);
  EXPECT_EQ(get_link(sock_, "trlv1").kind, "veth");
  EXPECT_THROW(create_veth(sock_, "trlv0", {}, "trlv9", nullptr), ConflictError);
  EXPECT_THROW(create_veth(sock_, "trlv8", {}, "trlv8", nullptr), InvalidArgumentError);
  EXPECT_FALSE(find_link(sock_, "trlv9").has_value());
  EXPECT_FALSE(find_link(sock_, "trlv8").has_value());
}

TEST_F(LinksTest, MoveLinkToANamespaceWithRename) {
  Netns ns = make_ns("trl-a");
  NetlinkSocket inner(ns);
  create_veth(sock_, "trlv0", {}, "trlv1", nullptr);
  move_link(sock_, "trlv1", ns, "eth0");
  EXPECT_FALSE(find_link(sock_, "trlv1").has_value());
  const LinkInfo moved = get_link(inner, "eth0");
  EXPECT_EQ(moved.kind, "veth");
  move_link(inner, "eth0", host_);  // and back, keeping the name
  EXPECT_TRUE(find_link(sock_, "eth0").has_value());
  delete_link(sock_, "trlv0");
  EXPECT_FALSE(find_link(sock_, "eth0").has_value());
}

TEST_F(LinksTest, MovingAMissingLinkIsNotFound) {
  Netns ns = make_ns("trl-a");
  try {
    move_link(sock_, "trlnope", ns);
    FAIL() << "moved a missing link";
  } catch (const NotFoundError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no link trlnope in ns host"));
  }
}

TEST_F(LinksTest, ChangeLinkSetsMacMtuAliasMasterAndUp) {
  create_bridge(sock_, "trlbr0");
  create_veth(sock_, "trlv0", {}, "trlv1", nullptr);
  change_link(
      sock_, "trlv0",
      LinkChange{
          .mac = "02:00:00:00:00:07", .mtu = 1300, .alias = "x", .master = "trlbr0", .up = true});
  LinkInfo v = get_link(sock_, "trlv0");
  EXPECT_EQ(v.mac, "02:00:00:00:00:07");
  EXPECT_EQ(v.mtu, 1300u);
  EXPECT_EQ(v.alias, "x");
  EXPECT_EQ(v.master, "trlbr0");
  EXPECT_TRUE(v.up);

  set_link_master(sock_, "trlv0", "");
  set_link_up(sock_, "trlv0", false);
  set_link_mtu(sock_, "trlv0", 1500);
  set_link_mac(sock_, "trlv0", "02:00:00:00:00:08");
  set_link_alias(sock_, "trlv0", "y");
  v = get_link(sock_, "trlv0");
  EXPECT_EQ(v.master, "");
  EXPECT_FALSE(v.up);
  EXPECT_EQ(v.mtu, 1500u);
  EXPECT_EQ(v.mac, "02:00:00:00:00:08");
  EXPECT_EQ(v.alias, "y");
}

TEST_F(LinksTest, ChangeErrorsAreTyped) {
  create_veth(sock_, "trlv0", {}, "trlv1", nullptr);
  EXPECT_THROW(change_link(sock_, "trlnope", LinkChange{.up = true}), NotFoundError);
  EXPECT_THROW(set_link_master(sock_, "trlv0", "trlnobr"), NotFoundError);
  EXPECT_THROW(set_link_mac(sock_, "trlv0", "zz:00:00:00:00:00"), InvalidArgumentError);
  EXPECT_THROW(set_link_mtu(sock_, "trlv0", 20), InvalidArgumentError);  // below the minimum
  EXPECT_THROW(change_link(sock_, "trlv0", LinkChange{.name = "trlv1"}), ConflictError);
}

TEST_F(LinksTest, RenamingAnUpLinkKeepsItUp) {
  create_veth(sock_, "trlv0", {}, "trlv1", nullptr);
  set_link_up(sock_, "trlv0", true);
  set_link_name(sock_, "trlv0", "trlv2");
  EXPECT_FALSE(find_link(sock_, "trlv0").has_value());
  EXPECT_TRUE(get_link(sock_, "trlv2").up);
  // A failed rename (the name is taken) leaves the link as it was, up.
  EXPECT_THROW(set_link_name(sock_, "trlv2", "trlv1"), ConflictError);
  EXPECT_TRUE(get_link(sock_, "trlv2").up);
}

TEST_F(LinksTest, ListLinksFiltersByPrefixAndCarriesAddresses) {
  create_bridge(sock_, "trlbr0");
  create_bridge(sock_, "trlbr1");
  add_address(sock_, "trlbr1", ipam::InterfaceAddress::parse("10.0.0.1/24"));
  add_address(sock_, "trlbr1", ipam::InterfaceAddress::parse("2001:db8::1/64"));
  const auto links = list_links(sock_, "trlbr");
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links[0].name, "trlbr0");
  EXPECT_EQ(links[1].name, "trlbr1");
  EXPECT_TRUE(links[0].addresses.empty());
  EXPECT_EQ(links[1].addresses,
            (std::vector<ipam::InterfaceAddress>{ipam::InterfaceAddress::parse("10.0.0.1/24"),
                                                 ipam::InterfaceAddress::parse("2001:db8::1/64")}));
  EXPECT_EQ(get_link(sock_, "trlbr1").addresses, links[1].addresses);
  EXPECT_EQ(list_links(sock_, "trlbr1").size(), 1u);
  const auto all = list_links(sock_);
  EXPECT_GE(all.size(), 3u);  // lo too
  EXPECT_EQ(all[0].name, "lo");
  EXPECT_EQ(all[0].kind, "");
}

TEST_F(LinksTest, DeletingAMissingLinkIsNotFoundUnlessAskedIfExists) {
  EXPECT_THROW(delete_link(sock_, "trlnope"), NotFoundError);
  EXPECT_FALSE(delete_link_if_exists(sock_, "trlnope"));
  create_bridge(sock_, "trlbr0");
  EXPECT_TRUE(delete_link_if_exists(sock_, "trlbr0"));
  EXPECT_FALSE(find_link(sock_, "trlbr0").has_value());
  EXPECT_THROW(get_link(sock_, "trlbr0"), NotFoundError);
  EXPECT_THROW(link_index(sock_, "trlbr0"), NotFoundError);
}

TEST_F(LinksTest, InvalidNamesAndMacsAreRejectedBeforeTheKernelSeesThem) {
  for (const std::string bad : {"", ".", "..", "a/b", "a:b", "has space", "sixteen-chars-xx"}) {
    EXPECT_THROW(create_bridge(sock_, bad), InvalidArgumentError) << bad;
    EXPECT_THROW(delete_link_if_exists(sock_, bad), InvalidArgumentError) << bad;
  }
  EXPECT_THROW(create_bridge(sock_, "trlbr0", LinkOptions{.mac = "02:00:00:00:00"}),
               InvalidArgumentError);
  EXPECT_THROW(create_bridge(sock_, "trlbr0", LinkOptions{.alias = std::string(300, 'a')}),
               InvalidArgumentError);
  EXPECT_FALSE(find_link(sock_, "trlbr0").has_value());
}

TEST_F(LinksTest, EnsureBridgeIsIdempotentAndFixesDrift) {
  EXPECT_TRUE(ensure_bridge(sock_, "trlbr0", LinkOptions{.alias = "net", .mtu = 1400}));
  const LinkInfo first = get_link(sock_, "trlbr0");
  EXPECT_TRUE(first.up);
  EXPECT_EQ(first.alias, "net");
  EXPECT_FALSE(ensure_bridge(sock_, "trlbr0", LinkOptions{.alias = "net", .mtu = 1400}));
  EXPECT_EQ(get_link(sock_, "trlbr0").index, first.index);  // not recreated

  set_link_mtu(sock_, "trlbr0", 1300);
  set_link_up(sock_, "trlbr0", false);
  EXPECT_FALSE(ensure_bridge(sock_, "trlbr0", LinkOptions{.alias = "net", .mtu = 1400}));
  const LinkInfo fixed = get_link(sock_, "trlbr0");
  EXPECT_EQ(fixed.mtu, 1400u);
  EXPECT_TRUE(fixed.up);
}

TEST_F(LinksTest, EnsureBridgeNeverTakesOverALinkOfAnotherKind) {
  create_veth(sock_, "trlv0", {}, "trlv1", nullptr);
  EXPECT_THROW(ensure_bridge(sock_, "trlv0", {}), ConflictError);
  EXPECT_EQ(get_link(sock_, "trlv0").kind, "veth");
}

TEST_F(LinksTest, EnsureLinkChangesOnlyWhatDiffers) {
  create_bridge(sock_, "trlbr0");
  create_veth(sock_, "trlv0", {}, "trlv1", nullptr);
  const LinkChange want{.mtu = 1400, .alias = "a", .master = "trlbr0", .up = true};
  EXPECT_TRUE(ensure_link(sock_, "trlv0", want));
  EXPECT_FALSE(ensure_link(sock_, "trlv0", want));
  const LinkInfo v = get_link(sock_, "trlv0");
  EXPECT_EQ(v.master, "trlbr0");
  EXPECT_EQ(v.mtu, 1400u);
  EXPECT_THROW(ensure_link(sock_, "trlnope", want), NotFoundError);
}

TEST_F(LinksTest, LinksOfANamespaceDisappearWithIt) {
  {
    Netns ns = make_ns("trl-a");
    create_veth(sock_, "trlv0", {}, "eth0", &ns);
  }
  delete_named_netns(dir_, "trl-a");
  // The kernel destroys the namespace asynchronously; its veth end takes ours with it.
  for (int i = 0; i < 500 && find_link(sock_, "trlv0"); ++i) ::usleep(10'000);
  EXPECT_FALSE(find_link(sock_, "trlv0").has_value());
}

}  // namespace
}  // namespace trellis::osl
