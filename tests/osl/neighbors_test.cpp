// Neighbour entries.

#include <gmock/gmock.h>
#include <sys/socket.h>

#include "osl/neighbors.h"
#include "tests/osl/osl_fixture.h"

namespace trellis::osl {
namespace {

using ipam::IpAddress;

class NeighborsTest : public OslTest {
 protected:
  void SetUp() override {
    OslTest::SetUp();
    create_veth(sock_, "trlv0", {}, "trlv1", nullptr);
    set_link_up(sock_, "trlv0", true);
  }
  NetlinkSocket sock_{host_};
};

TEST_F(NeighborsTest, PermanentEntriesReadBackForBothFamilies) {
  add_neighbor(
      sock_,
      Neighbor{.ip = IpAddress::parse("10.0.0.5"), .mac = "02:00:00:00:00:05", .link = "trlv0"});
  add_neighbor(
      sock_,
      Neighbor{.ip = IpAddress::parse("2001:db8::5"), .mac = "02:00:00:00:00:06", .link = "trlv0"});
  const auto entries = list_neighbors(sock_, "trlv0");
  EXPECT_THAT(entries,
              ::testing::UnorderedElementsAre(
                  Neighbor{IpAddress::parse("10.0.0.5"), "02:00:00:00:00:05", "trlv0", true},
                  Neighbor{IpAddress::parse("2001:db8::5"), "02:00:00:00:00:06", "trlv0", true}));
  EXPECT_EQ(list_neighbors(sock_, "trlv0", AF_INET).size(), 1u);
  EXPECT_EQ(list_neighbors(sock_, "", AF_INET6).size(), 1u);
}

TEST_F(NeighborsTest, DuplicateAddIsAConflictAndReplaceChangesTheMac) {
  const Neighbor n{.ip = IpAddress::parse("10.0.0.5"), .mac = "02:00:00:00:00:05", .link = "trlv0"};
  add_neighbor(sock_, n);
  EXPECT_THROW(add_neighbor(sock_, n), ConflictError);
  Neighbor changed = n;
  changed.mac = "02:00:00:00:00:99";
  replace_neighbor(sock_, changed);
  replace_neighbor(sock_, changed);
  const auto entries = list_neighbors(sock_, "trlv0");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].mac, "02:00:00:00:00:99");
}

TEST_F(NeighborsTest, DeleteAndTypedErrors) {
  const Neighbor n{.ip = IpAddress::parse("10.0.0.5"), .mac = "02:00:00:00:00:05", .link = "trlv0"};
  add_neighbor(sock_, n);
  delete_neighbor(sock_, n.ip, "trlv0");
  EXPECT_TRUE(list_neighbors(sock_, "trlv0").empty());
  EXPECT_THROW(delete_neighbor(sock_, n.ip, "trlv0"), NotFoundError);
  EXPECT_FALSE(delete_neighbor_if_exists(sock_, n.ip, "trlv0"));
  Neighbor bad = n;
  bad.mac = "nonsense";
  EXPECT_THROW(add_neighbor(sock_, bad), InvalidArgumentError);
  bad = n;
  bad.link = "trlnope";
  EXPECT_THROW(add_neighbor(sock_, bad), NotFoundError);
  EXPECT_THROW(list_neighbors(sock_, "trlnope"), NotFoundError);
  EXPECT_TRUE(list_neighbors(sock_, "trlv0").empty());
}

}  // namespace
}  // namespace trellis::osl
