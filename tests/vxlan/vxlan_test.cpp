// Every vxlan/ kernel operation, read back through netlink (and cross-checked with iproute2's
// own reader where it is cheap), plus bad input: typed errors and nothing left behind.
// Runs inside tests/harness/in-private-netns.sh; the Testbed refuses to run anywhere else.

#include <gtest/gtest.h>
#include <linux/neighbour.h>
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "osl/links.h"
#include "osl/neighbors.h"
#include "osl/netlink.h"
#include "osl/netns.h"
#include "tests/harness/testbed.h"
#include "vxlan/device.h"
#include "vxlan/tables.h"

namespace trellis::vxlan {
namespace {

using testing::Testbed;

MacAddress mac(int n) {
  return MacAddress{
      {0x02, 0x42, 0x0a, 0x0a, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n & 0xFF)}};
}
Ipv4Address ip(int n) { return Ipv4Address{0x0A0A0000u + static_cast<uint32_t>(n)}; }  // 10.10.x.y
Ipv4Address vtep(int n) {
  return Ipv4Address{0xC0000200u + static_cast<uint32_t>(n)};
}  // 192.0.2.n

// Output of a shell command (for cross-checks with iproute2 only; never in the product).
std::string capture(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

std::vector<std::string> lines_containing(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

VxlanConfig config(const std::string& name, uint32_t vni) {
  VxlanConfig c;
  c.name = name;
  c.vni = vni;
  c.local = Ipv4Address::parse("192.0.2.11");
  return c;
}

class VxlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::require_private_netns();
    tb_ = std::make_unique<Testbed>("vxt");
    a_ = &tb_->add_container();
    b_ = &tb_->add_container();
    sock_a_ = std::make_unique<osl::NetlinkSocket>(tb_->socket(*a_));
    sock_b_ = std::make_unique<osl::NetlinkSocket>(tb_->socket(*b_));
  }
  void TearDown() override {
    sock_a_.reset();
    sock_b_.reset();
    tb_->cleanup();
    EXPECT_TRUE(tb_->leftovers().empty());
  }
  std::string path(const Testbed::Container& c) const { return tb_->netns_dir() + "/" + c.name; }
  // iproute2's view of a namespace, as a cross-check of our own netlink reader.
  std::string iproute(const Testbed::Container& c, const std::string& args) const {
    return capture("nsenter --net=" + path(c) + " " + args);
  }

  std::unique_ptr<Testbed> tb_;
  Testbed::Container* a_ = nullptr;
  Testbed::Container* b_ = nullptr;
  std::unique_ptr<osl::NetlinkSocket> sock_a_;
  std::unique_ptr<osl::NetlinkSocket> sock_b_;
};

// ---- devices ------------------------------------------------------------------------------

TEST_F(VxlanTest, CreatedAndMovedDeviceKeepsItsConfigurationInTheTargetNamespace) {
  VxlanConfig c = config("trlvx0", 4242);
  c.mtu = 1400;
  c.proxy_arp = true;
  c.alias = "trellis network net-1";
  create_vxlan(*sock_a_, c, &b_->ns);

  EXPECT_FALSE(find_vxlan(*sock_a_, "trlvx0").has_value());
  const auto info = find_vxlan(*sock_b_, "trlvx0");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->name, "trlvx0");
  EXPECT_EQ(info->vni, 4242u);
  EXPECT_EQ(info->local, Ipv4Address::parse("192.0.2.11"));
  EXPECT_EQ(info->port, 4789);
  EXPECT_EQ(info->mtu, 1400u);
  EXPECT_FALSE(info->learning);
  EXPECT_TRUE(info->proxy_arp);
  EXPECT_FALSE(info->up);
  EXPECT_EQ(info->alias, "trellis network net-1");
  EXPECT_FALSE(info->mac.is_zero());

  // osl sees the same device, and iproute2 agrees on the VXLAN attributes.
  const auto link = osl::find_link(*sock_b_, "trlvx0");
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(link->kind, "vxlan");
  EXPECT_EQ(link->alias, "trellis network net-1");
  const std::string details = iproute(*b_, "ip -d link show trlvx0");
  EXPECT_NE(details.find("vxlan id 4242 local 192.0.2.11"), std::string::npos) << details;
  EXPECT_NE(details.find("dstport 4789"), std::string::npos) << details;
  EXPECT_NE(details.find("nolearning"), std::string::npos) << details;
  EXPECT_NE(details.find("proxy"), std::string::npos) << details;
}

TEST_F(VxlanTest, DeviceCreatedWithoutMoveStaysAndUsesTheGivenPortAndDefaultMtu) {
  VxlanConfig c = config("trlvx1", 7);
  c.port = 8472;
  create_vxlan(*sock_a_, c);
  const auto info = find_vxlan(*sock_a_, "trlvx1");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->port, 8472);
  EXPECT_GT(info->mtu, 0u);  // the kernel's choice (the overlay always sets it)
  EXPECT_EQ(info->alias, "");
  EXPECT_FALSE(info->proxy_arp);
  EXPECT_FALSE(find_vxlan(*sock_b_, "trlvx1").has_value());
}

// The property the overlay is built on: a moved device's UDP socket stays in the namespace
// that created it, so encapsulated traffic uses that namespace's underlay.
TEST_F(VxlanTest, MovedDeviceListensInTheNamespaceThatCreatedIt) {
  VxlanConfig c = config("trlvx0", 99);
  c.port = 4790;  // 0x12B6
  create_vxlan(*sock_a_, c, &b_->ns);
  osl::set_link_up(*sock_b_, "trlvx0", true);

  auto udp_table = [](const osl::Netns& ns) {
    return osl::run_in_netns(ns, [] {
      std::ifstream in("/proc/thread-self/net/udp");
      return std::string(std::istreambuf_iterator<char>(in), {});
    });
  };
  EXPECT_NE(udp_table(a_->ns).find(":12B6 "), std::string::npos) << udp_table(a_->ns);
  EXPECT_EQ(udp_table(b_->ns).find(":12B6 "), std::string::npos) << udp_table(b_->ns);
}

TEST_F(VxlanTest, ListReturnsOnlyVxlanDevicesSortedByName) {
  create_vxlan(*sock_a_, config("trlvxb", 2));
  create_vxlan(*sock_a_, config("trlvxa", 1));
  osl::create_bridge(*sock_a_, "trlbr0");
  const auto all = list_vxlans(*sock_a_);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "trlvxa");
  EXPECT_EQ(all[0].vni, 1u);
  EXPECT_EQ(all[1].name, "trlvxb");
  EXPECT_TRUE(list_vxlans(*sock_b_).empty());
}

TEST_F(VxlanTest, DeleteRemovesTheDeviceAndReportsWhenThereIsNone) {
  create_vxlan(*sock_a_, config("trlvx0", 5));
  EXPECT_TRUE(delete_vxlan(*sock_a_, "trlvx0"));
  EXPECT_FALSE(osl::find_link(*sock_a_, "trlvx0").has_value());
  EXPECT_FALSE(delete_vxlan(*sock_a_, "trlvx0"));
}

TEST_F(VxlanTest, DeleteAndFindRefuseANonVxlanLinkWithConflict) {
  osl::create_bridge(*sock_a_, "trlbr0");
  EXPECT_THROW(delete_vxlan(*sock_a_, "trlbr0"), ConflictError);
  EXPECT_THROW(find_vxlan(*sock_a_, "trlbr0"), ConflictError);
  EXPECT_TRUE(osl::find_link(*sock_a_, "trlbr0").has_value());
}

// ---- bad input ------------------------------------------------------------------------------

TEST_F(VxlanTest, VniOutOfRangeIsInvalidArgumentAndCreatesNothing) {
  for (uint32_t vni : {0u, kMaxVni + 1, 0xFFFFFFFFu}) {
    try {
      create_vxlan(*sock_a_, config("trlvx0", vni), &b_->ns);
      ADD_FAILURE() << "VNI " << vni << " accepted";
    } catch (const InvalidArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(vni)), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(list_vxlans(*sock_a_).empty());
  EXPECT_TRUE(list_vxlans(*sock_b_).empty());
  EXPECT_NO_THROW(create_vxlan(*sock_a_, config("trlvx0", kMaxVni)));
}

TEST_F(VxlanTest, MalformedConfigIsInvalidArgument) {
  for (const std::string name : {"", "0123456789abcdef", "a/b", "a b", "a:b", ".."}) {
    EXPECT_THROW(create_vxlan(*sock_a_, config(name, 1)), InvalidArgumentError) << name;
  }
  VxlanConfig no_local = config("trlvx0", 1);
  no_local.local = Ipv4Address{};
  EXPECT_THROW(create_vxlan(*sock_a_, no_local), InvalidArgumentError);
  VxlanConfig no_port = config("trlvx0", 1);
  no_port.port = 0;
  EXPECT_THROW(create_vxlan(*sock_a_, no_port), InvalidArgumentError);
  VxlanConfig long_alias = config("trlvx0", 1);
  long_alias.alias = std::string(256, 'x');
  EXPECT_THROW(create_vxlan(*sock_a_, long_alias), InvalidArgumentError);
  EXPECT_TRUE(list_vxlans(*sock_a_).empty());
}

TEST_F(VxlanTest, DuplicateNameIsConflictAndLeavesTheExistingDeviceUntouched) {
  create_vxlan(*sock_a_, config("trlvx0", 10));
  try {
    create_vxlan(*sock_a_, config("trlvx0", 11));
    ADD_FAILURE() << "duplicate accepted";
  } catch (const ConflictError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("trlvx0"), std::string::npos) << what;
    EXPECT_NE(what.find(a_->ns.label()), std::string::npos) << what;
  }
  const auto all = list_vxlans(*sock_a_);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].vni, 10u);
}

TEST_F(VxlanTest, SecondDeviceWithTheSameVniAndPortIsConflict) {
  create_vxlan(*sock_a_, config("trlvx0", 10));
  EXPECT_THROW(create_vxlan(*sock_a_, config("trlvx1", 10)), ConflictError);
  EXPECT_EQ(list_vxlans(*sock_a_).size(), 1u);
}

// The move fails after the device exists: the device must be deleted again.
TEST_F(VxlanTest, NameTakenInTheTargetNamespaceRollsBackTheNewDevice) {
  osl::create_bridge(*sock_b_, "trlvx0");
  VxlanConfig c = config("trlvx0", 10);
  c.alias = "to be rolled back";
  EXPECT_THROW(create_vxlan(*sock_a_, c, &b_->ns), ConflictError);
  EXPECT_FALSE(osl::find_link(*sock_a_, "trlvx0").has_value());
  const auto left = osl::find_link(*sock_b_, "trlvx0");
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->kind, "bridge");
  // The VNI/port is free again: the same device can be created now.
  EXPECT_NO_THROW(create_vxlan(*sock_a_, config("trlvx9", 10)));
}

TEST_F(VxlanTest, MissingNamespaceIsNotFound) {
  EXPECT_THROW(osl::Netns::open(tb_->netns_dir() + "/vxt-missing"), NotFoundError);
}

TEST_F(VxlanTest, TableOperationsOnAMissingDeviceAreNotFoundNamingDeviceAndNamespace) {
  try {
    add_fdb_entry(*sock_a_, "trlnope", mac(1), vtep(12));
    ADD_FAILURE() << "no error";
  } catch (const NotFoundError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("trlnope"), std::string::npos) << what;
    EXPECT_NE(what.find(a_->ns.label()), std::string::npos) << what;
    EXPECT_NE(what.find("add fdb entry"), std::string::npos) << what;
  }
  EXPECT_THROW(remove_fdb_entry(*sock_a_, "trlnope", mac(1), vtep(12)), NotFoundError);
  EXPECT_THROW(add_flood_vtep(*sock_a_, "trlnope", vtep(12)), NotFoundError);
  EXPECT_THROW(list_fdb(*sock_a_, "trlnope"), NotFoundError);
  EXPECT_THROW(add_neighbor_entry(*sock_a_, "trlnope", ip(1), mac(1)), NotFoundError);
  EXPECT_THROW(remove_neighbor_entry(*sock_a_, "trlnope", ip(1)), NotFoundError);
  EXPECT_THROW(list_neighbor_entries(*sock_a_, "trlnope"), NotFoundError);
  EXPECT_THROW(sync_peers(*sock_a_, "trlnope", {}), NotFoundError);
}

// ---- FDB ----------------------------------------------------------------------------------

class VxlanTablesTest : public VxlanTest {
 protected:
  void SetUp() override {
    VxlanTest::SetUp();
    VxlanConfig c = config("trlvx0", 42);
    c.proxy_arp = true;
    create_vxlan(*sock_a_, c, &b_->ns);
  }
  osl::NetlinkSocket& sock() { return *sock_b_; }
};

TEST_F(VxlanTablesTest, FdbEntriesAreAddedPermanentListedReplacedAndRemoved) {
  add_fdb_entry(sock(), "trlvx0", mac(2), vtep(12));
  add_fdb_entry(sock(), "trlvx0", mac(1), vtep(13));
  add_fdb_entry(sock(), "trlvx0", mac(1), vtep(13));  // idempotent
  EXPECT_EQ(list_fdb(sock(), "trlvx0"),
            (std::vector<FdbEntry>{{mac(1), vtep(13), true}, {mac(2), vtep(12), true}}));

  const auto rows = lines_containing(iproute(*b_, "bridge fdb show dev trlvx0"), "dst");
  ASSERT_EQ(rows.size(), 2u);
  for (const std::string& row : rows) {
    EXPECT_NE(row.find("self permanent"), std::string::npos) << row;
  }
  EXPECT_EQ(lines_containing(iproute(*b_, "bridge fdb show dev trlvx0"),
                             mac(2).to_string() + " dst 192.0.2.12")
                .size(),
            1u);

  add_fdb_entry(sock(), "trlvx0", mac(1), vtep(14));  // the peer moved host: replaced
  EXPECT_EQ(list_fdb(sock(), "trlvx0"),
            (std::vector<FdbEntry>{{mac(1), vtep(14), true}, {mac(2), vtep(12), true}}));

  EXPECT_TRUE(remove_fdb_entry(sock(), "trlvx0", mac(1), vtep(14)));
  EXPECT_FALSE(remove_fdb_entry(sock(), "trlvx0", mac(1), vtep(14)));
  EXPECT_FALSE(remove_fdb_entry(sock(), "trlvx0", mac(2), vtep(99)));  // wrong remote
  EXPECT_EQ(list_fdb(sock(), "trlvx0"), (std::vector<FdbEntry>{{mac(2), vtep(12), true}}));
}

TEST_F(VxlanTablesTest, FdbEntryForAZeroOrGroupMacOrNoVtepIsInvalidArgument) {
  EXPECT_THROW(add_fdb_entry(sock(), "trlvx0", MacAddress{}, vtep(12)), InvalidArgumentError);
  EXPECT_THROW(add_fdb_entry(sock(), "trlvx0", MacAddress::parse("ff:ff:ff:ff:ff:ff"), vtep(12)),
               InvalidArgumentError);
  EXPECT_THROW(add_fdb_entry(sock(), "trlvx0", mac(1), Ipv4Address{}), InvalidArgumentError);
  EXPECT_TRUE(list_fdb(sock(), "trlvx0").empty());
}

TEST_F(VxlanTablesTest, FloodEntryHoldsOneRemotePerVtep) {
  add_flood_vtep(sock(), "trlvx0", vtep(12));
  add_flood_vtep(sock(), "trlvx0", vtep(13));
  add_flood_vtep(sock(), "trlvx0", vtep(12));  // idempotent
  EXPECT_EQ(list_fdb(sock(), "trlvx0"), (std::vector<FdbEntry>{{MacAddress{}, vtep(12), true},
                                                               {MacAddress{}, vtep(13), true}}));
  EXPECT_EQ(
      lines_containing(iproute(*b_, "bridge fdb show dev trlvx0"), "00:00:00:00:00:00").size(), 2u);
  EXPECT_TRUE(remove_flood_vtep(sock(), "trlvx0", vtep(12)));
  EXPECT_FALSE(remove_flood_vtep(sock(), "trlvx0", vtep(12)));
  EXPECT_EQ(list_fdb(sock(), "trlvx0"), (std::vector<FdbEntry>{{MacAddress{}, vtep(13), true}}));
}

// Once the VXLAN device is a bridge port, an AF_BRIDGE dump also carries the bridge's own rows
// for the port (NTF_MASTER). They are not the device's: not listed, never removed by sync.
TEST_F(VxlanTablesTest, BridgeRowsOfTheEnslavedDeviceAreNotOurs) {
  osl::create_bridge(sock(), "trlbr0");
  osl::set_link_master(sock(), "trlvx0", "trlbr0");
  osl::set_link_up(sock(), "trlbr0", true);
  osl::set_link_up(sock(), "trlvx0", true);
  add_fdb_entry(sock(), "trlvx0", mac(1), vtep(12));
  ASSERT_FALSE(
      lines_containing(iproute(*b_, "bridge fdb show dev trlvx0"), "master trlbr0").empty());

  EXPECT_EQ(list_fdb(sock(), "trlvx0"), (std::vector<FdbEntry>{{mac(1), vtep(12), true}}));
  const SyncPlan plan = sync_peers(sock(), "trlvx0", {});
  EXPECT_EQ(plan.fdb.removed, (std::vector<FdbEntry>{{mac(1), vtep(12), true}}));
  EXPECT_EQ(plan.size(), 1u);
  EXPECT_TRUE(list_fdb(sock(), "trlvx0").empty());
  EXPECT_FALSE(
      lines_containing(iproute(*b_, "bridge fdb show dev trlvx0"), "master trlbr0").empty());
}

TEST_F(VxlanTablesTest, FdbOperationsOnANonVxlanDeviceAreInvalidArgument) {
  osl::create_bridge(sock(), "trlbr0");
  EXPECT_THROW(add_fdb_entry(sock(), "trlbr0", mac(1), vtep(12)), InvalidArgumentError);
  EXPECT_THROW(add_flood_vtep(sock(), "trlbr0", vtep(12)), InvalidArgumentError);
  EXPECT_THROW(list_fdb(sock(), "trlbr0"), InvalidArgumentError);
  EXPECT_THROW(sync_peers(sock(), "trlbr0", {}), InvalidArgumentError);
  // Neighbour entries belong on any link.
  add_neighbor_entry(sock(), "trlbr0", ip(1), mac(1));
  EXPECT_EQ(list_neighbor_entries(sock(), "trlbr0"),
            (std::vector<NeighborEntry>{{ip(1), mac(1), true}}));
}

// ---- neighbours ---------------------------------------------------------------------------

TEST_F(VxlanTablesTest, NeighborEntriesAreAddedPermanentListedReplacedAndRemoved) {
  add_neighbor_entry(sock(), "trlvx0", ip(2), mac(2));
  add_neighbor_entry(sock(), "trlvx0", ip(1), mac(1));
  add_neighbor_entry(sock(), "trlvx0", ip(1), mac(1));  // idempotent
  EXPECT_EQ(list_neighbor_entries(sock(), "trlvx0"),
            (std::vector<NeighborEntry>{{ip(1), mac(1), true}, {ip(2), mac(2), true}}));
  // osl's independent reader agrees.
  const auto seen = osl::list_neighbors(sock(), "trlvx0", AF_INET);
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& n : seen) EXPECT_TRUE(n.permanent);

  add_neighbor_entry(sock(), "trlvx0", ip(1), mac(7));  // address reused by another endpoint
  EXPECT_EQ(list_neighbor_entries(sock(), "trlvx0"),
            (std::vector<NeighborEntry>{{ip(1), mac(7), true}, {ip(2), mac(2), true}}));

  EXPECT_TRUE(remove_neighbor_entry(sock(), "trlvx0", ip(1)));
  EXPECT_FALSE(remove_neighbor_entry(sock(), "trlvx0", ip(1)));
  EXPECT_EQ(list_neighbor_entries(sock(), "trlvx0"),
            (std::vector<NeighborEntry>{{ip(2), mac(2), true}}));
  EXPECT_THROW(add_neighbor_entry(sock(), "trlvx0", Ipv4Address{}, mac(1)), InvalidArgumentError);
  EXPECT_THROW(add_neighbor_entry(sock(), "trlvx0", ip(3), MacAddress{}), InvalidArgumentError);
}

// ---- sync ---------------------------------------------------------------------------------

TEST_F(VxlanTablesTest, SyncAddsWhatIsMissingRemovesWhatIsExtraAndIsIdempotent) {
  DesiredPeers want;
  want.peers = {{mac(1), ip(1), vtep(12)}, {mac(2), ip(2), vtep(12)}, {mac(3), ip(3), vtep(13)}};
  want.flood_vteps = std::vector<Ipv4Address>{vtep(12), vtep(13)};
  add_fdb_entry(sock(), "trlvx0", mac(9), vtep(19));  // stale: must go
  add_neighbor_entry(sock(), "trlvx0", ip(9), mac(9));

  SyncPlan plan = sync_peers(sock(), "trlvx0", want);
  EXPECT_EQ(plan.fdb.added.size(), 3u);
  EXPECT_EQ(plan.fdb.removed, (std::vector<FdbEntry>{{mac(9), vtep(19), true}}));
  EXPECT_EQ(plan.flood.added.size(), 2u);
  EXPECT_EQ(plan.neighbors.added.size(), 3u);
  EXPECT_EQ(plan.neighbors.removed, (std::vector<NeighborEntry>{{ip(9), mac(9), true}}));

  EXPECT_EQ(list_fdb(sock(), "trlvx0"), (std::vector<FdbEntry>{{MacAddress{}, vtep(12), true},
                                                               {MacAddress{}, vtep(13), true},
                                                               {mac(1), vtep(12), true},
                                                               {mac(2), vtep(12), true},
                                                               {mac(3), vtep(13), true}}));
  EXPECT_EQ(list_neighbor_entries(sock(), "trlvx0"),
            (std::vector<NeighborEntry>{
                {ip(1), mac(1), true}, {ip(2), mac(2), true}, {ip(3), mac(3), true}}));

  EXPECT_TRUE(sync_peers(sock(), "trlvx0", want).empty());

  // One peer leaves, one moves host, one arrives, the flood list shrinks.
  want.peers = {{mac(1), ip(1), vtep(12)}, {mac(3), ip(3), vtep(14)}, {mac(4), ip(4), vtep(14)}};
  want.flood_vteps = std::vector<Ipv4Address>{vtep(12)};
  plan = sync_peers(sock(), "trlvx0", want);
  EXPECT_EQ(plan.fdb.added, (std::vector<FdbEntry>{{mac(4), vtep(14), true}}));
  EXPECT_EQ(plan.fdb.updated, (std::vector<FdbEntry>{{mac(3), vtep(14), true}}));
  EXPECT_EQ(plan.fdb.removed, (std::vector<FdbEntry>{{mac(2), vtep(12), true}}));
  EXPECT_EQ(plan.flood.removed, (std::vector<FdbEntry>{{MacAddress{}, vtep(13), true}}));
  EXPECT_EQ(plan.neighbors.added, (std::vector<NeighborEntry>{{ip(4), mac(4), true}}));
  EXPECT_EQ(plan.neighbors.removed, (std::vector<NeighborEntry>{{ip(2), mac(2), true}}));
  EXPECT_EQ(plan.size(), 6u);
  EXPECT_EQ(list_fdb(sock(), "trlvx0"), (std::vector<FdbEntry>{{MacAddress{}, vtep(12), true},
                                                               {mac(1), vtep(12), true},
                                                               {mac(3), vtep(14), true},
                                                               {mac(4), vtep(14), true}}));
  EXPECT_TRUE(sync_peers(sock(), "trlvx0", want).empty());

  EXPECT_EQ(sync_peers(sock(), "trlvx0", DesiredPeers{{}, std::vector<Ipv4Address>{}}).size(), 7u);
  EXPECT_TRUE(list_fdb(sock(), "trlvx0").empty());
  EXPECT_TRUE(list_neighbor_entries(sock(), "trlvx0").empty());
}

TEST_F(VxlanTablesTest, SyncLeavesTheKernelsDynamicEntriesAlone) {
  // A neighbour the kernel resolved itself (not permanent), made here with iproute2.
  ASSERT_EQ(iproute(*b_, "ip neigh add 10.10.0.99 lladdr 02:42:0a:0a:00:63 dev trlvx0 nud stale"),
            "");
  EXPECT_EQ(list_neighbor_entries(sock(), "trlvx0"),
            (std::vector<NeighborEntry>{{ip(99), mac(99), false}}));
  EXPECT_TRUE(sync_peers(sock(), "trlvx0", {}).empty());
  EXPECT_EQ(list_neighbor_entries(sock(), "trlvx0").size(), 1u);

  // But a desired key held by a dynamic entry becomes ours.
  DesiredPeers want;
  want.peers = {{mac(5), ip(99), vtep(12)}};
  const SyncPlan plan = sync_peers(sock(), "trlvx0", want);
  EXPECT_EQ(plan.neighbors.added, (std::vector<NeighborEntry>{{ip(99), mac(5), true}}));
  EXPECT_EQ(list_neighbor_entries(sock(), "trlvx0"),
            (std::vector<NeighborEntry>{{ip(99), mac(5), true}}));
}

TEST_F(VxlanTablesTest, InconsistentDesiredPeersAreInvalidArgumentAndChangeNothing) {
  add_fdb_entry(sock(), "trlvx0", mac(1), vtep(12));
  DesiredPeers want;
  want.peers = {{mac(2), ip(2), vtep(12)}, {mac(2), ip(3), vtep(13)}};  // one MAC, two VTEPs
  EXPECT_THROW(sync_peers(sock(), "trlvx0", want), InvalidArgumentError);
  EXPECT_EQ(list_fdb(sock(), "trlvx0"), (std::vector<FdbEntry>{{mac(1), vtep(12), true}}));
}

// Docker's overlay was capped near 1,000 endpoints by the neighbour table's gc_thresh3
// (default 1024). Permanent entries do not count against it.
TEST_F(VxlanTablesTest, SyncInstallsMorePeersThanTheDefaultNeighborTableLimit) {
  constexpr int kPeers = 1100;
  DesiredPeers want;
  for (int i = 1; i <= kPeers; ++i) want.peers.push_back({mac(i), ip(i), vtep(10 + i % 50)});
  const SyncPlan plan = sync_peers(sock(), "trlvx0", want);
  EXPECT_EQ(plan.fdb.added.size(), static_cast<size_t>(kPeers));
  EXPECT_EQ(plan.neighbors.added.size(), static_cast<size_t>(kPeers));
  EXPECT_EQ(list_fdb(sock(), "trlvx0").size(), static_cast<size_t>(kPeers));
  EXPECT_EQ(list_neighbor_entries(sock(), "trlvx0").size(), static_cast<size_t>(kPeers));
  EXPECT_TRUE(sync_peers(sock(), "trlvx0", want).empty());
}

}  // namespace
}  // namespace trellis::vxlan
