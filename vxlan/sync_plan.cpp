#include "vxlan/sync_plan.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "common/error.h"

namespace trellis::vxlan {

namespace {

std::string describe(const Peer& p) {
  return "peer " + p.mac.to_string() + " " + p.ip.to_string() + " via " + p.vtep.to_string();
}

}  // namespace

void validate_desired(const DesiredPeers& desired) {
  std::map<MacAddress, const Peer*> by_mac;
  std::map<Ipv4Address, const Peer*> by_ip;
  for (const Peer& p : desired.peers) {
    if (p.mac.is_zero() || p.mac.is_multicast()) {
      throw InvalidArgumentError(describe(p) + ": the MAC address must be unicast and non-zero");
    }
    if (p.ip.is_unspecified()) {
      throw InvalidArgumentError(describe(p) + ": the IP address must not be 0.0.0.0");
    }
    if (p.vtep.is_unspecified()) {
      throw InvalidArgumentError(describe(p) + ": the VTEP address must not be 0.0.0.0");
    }
    auto [mac_it, mac_new] = by_mac.emplace(p.mac, &p);
    if (!mac_new && mac_it->second->vtep != p.vtep) {
      throw InvalidArgumentError(describe(p) + " conflicts with " + describe(*mac_it->second) +
                                 ": one MAC address cannot be behind two VTEPs");
    }
    auto [ip_it, ip_new] = by_ip.emplace(p.ip, &p);
    if (!ip_new && ip_it->second->mac != p.mac) {
      throw InvalidArgumentError(describe(p) + " conflicts with " + describe(*ip_it->second) +
                                 ": one IP address cannot have two MAC addresses");
    }
  }
  if (desired.flood_vteps) {
    for (const Ipv4Address& vtep : *desired.flood_vteps) {
      if (vtep.is_unspecified()) {
        throw InvalidArgumentError("flood VTEP 0.0.0.0 is not a valid tunnel endpoint");
      }
    }
  }
}

SyncPlan plan_sync(const DesiredPeers& desired, const std::vector<FdbEntry>& current_fdb,
                   const std::vector<NeighborEntry>& current_neighbors) {
  validate_desired(desired);
  SyncPlan plan;

  // --- FDB (unicast MACs) ---
  std::map<MacAddress, Ipv4Address> want_fdb;
  for (const Peer& p : desired.peers) want_fdb.emplace(p.mac, p.vtep);

  // Our rows are the permanent ones. A unicast MAC normally has one remote; more can exist if
  // someone appended, so keep all of them. The state is per MAC (per kernel entry), so once
  // we write a MAC's entry, all of its remotes are ours.
  std::map<MacAddress, std::set<Ipv4Address>> all_fdb;   // every unicast row
  std::map<MacAddress, std::set<Ipv4Address>> have_fdb;  // permanent unicast rows
  std::set<Ipv4Address> have_flood;
  for (const FdbEntry& e : current_fdb) {
    if (e.mac.is_zero()) {
      if (e.permanent) have_flood.insert(e.vtep);
    } else if (!e.mac.is_multicast()) {
      all_fdb[e.mac].insert(e.vtep);
      if (e.permanent) have_fdb[e.mac].insert(e.vtep);
    }
  }

  for (const auto& [mac, vtep] : want_fdb) {
    auto it = have_fdb.find(mac);
    if (it == have_fdb.end()) {
      // Absent, or held only by a dynamic row: a create-or-replace makes it ours.
      plan.fdb.added.push_back(FdbEntry{mac, vtep, true});
    } else if (it->second.count(vtep) == 0) {
      plan.fdb.updated.push_back(FdbEntry{mac, vtep, true});
    }
    // A replace rewrites one remote in place (or none, if `vtep` is already one of them);
    // any further remotes must go. Removing the rewritten one then finds nothing, which
    // sync tolerates.
    auto all = all_fdb.find(mac);
    if (all != all_fdb.end() && all->second.size() > 1) {
      for (const Ipv4Address& old : all->second) {
        if (old != vtep) plan.fdb.removed.push_back(FdbEntry{mac, old, true});
      }
    }
  }
  for (const auto& [mac, rows] : have_fdb) {
    if (want_fdb.count(mac) != 0) continue;
    for (const Ipv4Address& old : rows) plan.fdb.removed.push_back(FdbEntry{mac, old, true});
  }
  std::sort(plan.fdb.removed.begin(), plan.fdb.removed.end());

  // --- head-end replication (all-zeros MAC), only when asked ---
  if (desired.flood_vteps) {
    const std::set<Ipv4Address> want_flood(desired.flood_vteps->begin(),
                                           desired.flood_vteps->end());
    for (const Ipv4Address& vtep : want_flood) {
      if (have_flood.count(vtep) == 0) plan.flood.added.push_back(FdbEntry{MacAddress{}, vtep});
    }
    for (const Ipv4Address& vtep : have_flood) {
      if (want_flood.count(vtep) == 0) {
        plan.flood.removed.push_back(FdbEntry{MacAddress{}, vtep});
      }
    }
  }

  // --- neighbours ---
  std::map<Ipv4Address, MacAddress> want_neigh;
  for (const Peer& p : desired.peers) want_neigh.emplace(p.ip, p.mac);
  std::map<Ipv4Address, MacAddress> have_neigh;
  for (const NeighborEntry& n : current_neighbors) {
    if (n.permanent) have_neigh[n.ip] = n.mac;
  }
  for (const auto& [ip, mac] : want_neigh) {
    auto it = have_neigh.find(ip);
    if (it == have_neigh.end()) {
      plan.neighbors.added.push_back(NeighborEntry{ip, mac, true});
    } else if (it->second != mac) {
      plan.neighbors.updated.push_back(NeighborEntry{ip, mac, true});
    }
  }
  for (const auto& [ip, mac] : have_neigh) {
    if (want_neigh.count(ip) == 0) plan.neighbors.removed.push_back(NeighborEntry{ip, mac, true});
  }
  return plan;
}

}  // namespace trellis::vxlan
