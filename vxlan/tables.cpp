#include "vxlan/tables.h"

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/route/neighbour.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>

#include "common/error.h"
#include "vxlan/netlink_util.h"

namespace trellis::vxlan {

namespace {

std::string fdb_text(const MacAddress& mac, Ipv4Address vtep) {
  return "fdb entry " + mac.to_string() + " dst " + vtep.to_string();
}

std::string neigh_text(Ipv4Address ip, const MacAddress& mac) {
  return "neighbor " + ip.to_string() + " lladdr " + mac.to_string();
}

// One FDB request on the device's own table (NTF_SELF, family AF_BRIDGE, NDA_DST = VTEP).
// Returns libnl's result code.
int fdb_request(nl_sock* sock, int ifindex, const MacAddress& mac, Ipv4Address vtep, bool add,
                int nl_flags) {
  osl::RtnlNeighPtr neigh(rtnl_neigh_alloc());
  if (!neigh) return -NLE_NOMEM;
  osl::NlAddrPtr dst = internal::to_nl_addr(vtep);
  osl::NlAddrPtr lladdr = internal::to_nl_addr(mac);
  rtnl_neigh_set_ifindex(neigh.get(), ifindex);
  // libnl derives the family from the destination address; set AF_BRIDGE after it, so the
  // request goes to the device's FDB and carries the VTEP as NDA_DST.
  if (int err = rtnl_neigh_set_dst(neigh.get(), dst.get()); err < 0) return err;
  rtnl_neigh_set_family(neigh.get(), AF_BRIDGE);
  rtnl_neigh_set_lladdr(neigh.get(), lladdr.get());
  rtnl_neigh_set_flags(neigh.get(), NTF_SELF);
  if (add) {
    rtnl_neigh_set_state(neigh.get(), NUD_PERMANENT);
    // libnl adds no NLM_F_CREATE of its own; without it the kernel only updates (ENOENT).
    return rtnl_neigh_add(sock, neigh.get(), NLM_F_CREATE | nl_flags);
  }
  return rtnl_neigh_delete(sock, neigh.get(), 0);
}

// One IPv4 neighbour request. `mac` is ignored for a removal.
int neigh_request(nl_sock* sock, int ifindex, Ipv4Address ip, const MacAddress& mac, bool add) {
  osl::RtnlNeighPtr neigh(rtnl_neigh_alloc());
  if (!neigh) return -NLE_NOMEM;
  osl::NlAddrPtr dst = internal::to_nl_addr(ip);
  rtnl_neigh_set_ifindex(neigh.get(), ifindex);
  if (int err = rtnl_neigh_set_dst(neigh.get(), dst.get()); err < 0) return err;
  rtnl_neigh_set_family(neigh.get(), AF_INET);
  if (add) {
    osl::NlAddrPtr lladdr = internal::to_nl_addr(mac);
    rtnl_neigh_set_lladdr(neigh.get(), lladdr.get());
    rtnl_neigh_set_state(neigh.get(), NUD_PERMANENT);
    // REPLACE: a changed MAC, or a dynamic entry for this IP, becomes our permanent one.
    return rtnl_neigh_add(sock, neigh.get(), NLM_F_CREATE | NLM_F_REPLACE);
  }
  return rtnl_neigh_delete(sock, neigh.get(), 0);
}

bool is_not_found(int err) { return err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV; }

void check_peer_mac(const MacAddress& mac, const std::string& operation) {
  if (mac.is_zero() || mac.is_multicast()) {
    throw InvalidArgumentError(operation + ": the MAC address must be unicast and non-zero");
  }
}

void check_address(Ipv4Address ip, const char* what, const std::string& operation) {
  if (ip.is_unspecified()) {
    throw InvalidArgumentError(operation + ": the " + what + " must not be 0.0.0.0");
  }
}

std::vector<FdbEntry> read_fdb(osl::NetlinkSocket& sock, int ifindex,
                               const std::string& operation) {
  std::vector<FdbEntry> out;
  for (const internal::NeighRow& row :
       internal::dump_neighbors(sock, AF_BRIDGE, ifindex, operation)) {
    // NTF_MASTER rows are the bridge's entries for this device as its port, not the
    // device's own table; rows without an IPv4 remote are not tunnel entries.
    if ((row.flags & NTF_MASTER) || !row.has_dst || !row.has_lladdr) continue;
    out.push_back(FdbEntry{row.lladdr, row.dst, (row.state & NUD_PERMANENT) != 0});
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<NeighborEntry> read_neighbors(osl::NetlinkSocket& sock, int ifindex,
                                          const std::string& operation) {
  std::vector<NeighborEntry> out;
  for (const internal::NeighRow& row :
       internal::dump_neighbors(sock, AF_INET, ifindex, operation)) {
    if (!row.has_dst) continue;
    out.push_back(NeighborEntry{row.dst, row.has_lladdr ? row.lladdr : MacAddress{},
                                (row.state & NUD_PERMANENT) != 0});
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// --- FDB ---

void add_fdb_entry(osl::NetlinkSocket& sock, const std::string& device, const MacAddress& mac,
                   Ipv4Address vtep) {
  const std::string operation =
      "add " + fdb_text(mac, vtep) + " on " + internal::where(sock, device);
  check_peer_mac(mac, operation);
  check_address(vtep, "VTEP address", operation);
  const int ifindex = internal::vxlan_index(sock, device, operation);
  if (int err = fdb_request(sock.get(), ifindex, mac, vtep, true, NLM_F_REPLACE); err < 0) {
    osl::throw_netlink_error(err, operation);
  }
  internal::log().debug("{}", operation);
}

bool remove_fdb_entry(osl::NetlinkSocket& sock, const std::string& device, const MacAddress& mac,
                      Ipv4Address vtep) {
  const std::string operation =
      "remove " + fdb_text(mac, vtep) + " from " + internal::where(sock, device);
  const int ifindex = internal::vxlan_index(sock, device, operation);
  // The kernel answers success to a removal naming a remote the entry does not have (and
  // removes nothing), so look first to report the truth.
  const std::vector<FdbEntry> rows = read_fdb(sock, ifindex, operation);
  if (std::none_of(rows.begin(), rows.end(),
                   [&](const FdbEntry& e) { return e.mac == mac && e.vtep == vtep; })) {
    return false;
  }
  const int err = fdb_request(sock.get(), ifindex, mac, vtep, false, 0);
  if (is_not_found(err)) return false;
  if (err < 0) osl::throw_netlink_error(err, operation);
  internal::log().debug("{}", operation);
  return true;
}

void add_flood_vtep(osl::NetlinkSocket& sock, const std::string& device, Ipv4Address vtep) {
  const std::string operation =
      "add " + fdb_text(MacAddress{}, vtep) + " on " + internal::where(sock, device);
  check_address(vtep, "VTEP address", operation);
  const int ifindex = internal::vxlan_index(sock, device, operation);
  // APPEND: the all-zeros entry holds a list of remotes (the kernel refuses REPLACE for it).
  if (int err = fdb_request(sock.get(), ifindex, MacAddress{}, vtep, true, NLM_F_APPEND); err < 0) {
    osl::throw_netlink_error(err, operation);
  }
  internal::log().debug("{}", operation);
}

bool remove_flood_vtep(osl::NetlinkSocket& sock, const std::string& device, Ipv4Address vtep) {
  return remove_fdb_entry(sock, device, MacAddress{}, vtep);
}

std::vector<FdbEntry> list_fdb(osl::NetlinkSocket& sock, const std::string& device) {
  const std::string operation = "list fdb of " + internal::where(sock, device);
  return read_fdb(sock, internal::vxlan_index(sock, device, operation), operation);
}

// --- neighbours ---

void add_neighbor_entry(osl::NetlinkSocket& sock, const std::string& device, Ipv4Address ip,
                        const MacAddress& mac) {
  const std::string operation =
      "add " + neigh_text(ip, mac) + " on " + internal::where(sock, device);
  check_address(ip, "IP address", operation);
  check_peer_mac(mac, operation);
  const int ifindex = internal::device_index(sock, device, operation);
  if (int err = neigh_request(sock.get(), ifindex, ip, mac, true); err < 0) {
    osl::throw_netlink_error(err, operation);
  }
  internal::log().debug("{}", operation);
}

bool remove_neighbor_entry(osl::NetlinkSocket& sock, const std::string& device, Ipv4Address ip) {
  const std::string operation =
      "remove neighbor " + ip.to_string() + " from " + internal::where(sock, device);
  const int ifindex = internal::device_index(sock, device, operation);
  const int err = neigh_request(sock.get(), ifindex, ip, MacAddress{}, false);
  if (is_not_found(err)) return false;
  if (err < 0) osl::throw_netlink_error(err, operation);
  internal::log().debug("{}", operation);
  return true;
}

std::vector<NeighborEntry> list_neighbor_entries(osl::NetlinkSocket& sock,
                                                 const std::string& device) {
  const std::string operation = "list neighbors of " + internal::where(sock, device);
  return read_neighbors(sock, internal::device_index(sock, device, operation), operation);
}

// --- sync ---

SyncPlan sync_peers(osl::NetlinkSocket& sock, const std::string& device,
                    const DesiredPeers& desired) {
  const std::string operation = "sync peers on " + internal::where(sock, device);
  try {
    validate_desired(desired);
  } catch (const InvalidArgumentError& e) {
    throw InvalidArgumentError(operation + ": " + e.what());
  }
  const int ifindex = internal::vxlan_index(sock, device, operation);
  const SyncPlan plan = plan_sync(desired, read_fdb(sock, ifindex, operation),
                                  read_neighbors(sock, ifindex, operation));
  nl_sock* nl = sock.get();

  // Additions first, so a peer being moved is never unreachable; FDB rows before the
  // neighbour rows that make traffic use them; removals in the opposite order.
  for (const auto* list : {&plan.fdb.added, &plan.fdb.updated}) {
    for (const FdbEntry& e : *list) {
      if (int err = fdb_request(nl, ifindex, e.mac, e.vtep, true, NLM_F_REPLACE); err < 0) {
        osl::throw_netlink_error(err, operation + ": add " + fdb_text(e.mac, e.vtep));
      }
    }
  }
  for (const FdbEntry& e : plan.flood.added) {
    if (int err = fdb_request(nl, ifindex, e.mac, e.vtep, true, NLM_F_APPEND); err < 0) {
      osl::throw_netlink_error(err, operation + ": add " + fdb_text(e.mac, e.vtep));
    }
  }
  for (const auto* list : {&plan.neighbors.added, &plan.neighbors.updated}) {
    for (const NeighborEntry& n : *list) {
      if (int err = neigh_request(nl, ifindex, n.ip, n.mac, true); err < 0) {
        osl::throw_netlink_error(err, operation + ": add " + neigh_text(n.ip, n.mac));
      }
    }
  }
  for (const NeighborEntry& n : plan.neighbors.removed) {
    const int err = neigh_request(nl, ifindex, n.ip, n.mac, false);
    if (err < 0 && !is_not_found(err)) {
      osl::throw_netlink_error(err, operation + ": remove " + neigh_text(n.ip, n.mac));
    }
  }
  for (const auto* list : {&plan.fdb.removed, &plan.flood.removed}) {
    for (const FdbEntry& e : *list) {
      // Not found is expected for a remote a replace already rewrote (see plan_sync).
      const int err = fdb_request(nl, ifindex, e.mac, e.vtep, false, 0);
      if (err < 0 && !is_not_found(err)) {
        osl::throw_netlink_error(err, operation + ": remove " + fdb_text(e.mac, e.vtep));
      }
    }
  }
  if (!plan.empty()) {
    internal::log().debug("{}: fdb +{} ~{} -{}, flood +{} -{}, neighbors +{} ~{} -{}", operation,
                          plan.fdb.added.size(), plan.fdb.updated.size(), plan.fdb.removed.size(),
                          plan.flood.added.size(), plan.flood.removed.size(),
                          plan.neighbors.added.size(), plan.neighbors.updated.size(),
                          plan.neighbors.removed.size());
  }
  return plan;
}

}  // namespace trellis::vxlan
