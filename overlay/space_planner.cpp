#include "overlay/space_planner.h"

#include <algorithm>
#include <utility>

#include "bitseq/sequence.h"

namespace trellis::overlay {
namespace {

constexpr uint32_t kPoolBase = 0x0A000000;  // 10.0.0.0

const ipam::OwnedSpace& space_or_throw(const store::ReadView& view, std::string_view key,
                                       std::optional<store::SpaceInfo>& holder) {
  holder = view.space(std::string(key));
  if (!holder) {
    throw NotFoundError("space '" + std::string(key) +
                        "' does not exist (no cluster has been founded yet)");
  }
  return holder->space;
}

// Takes integers from a scratch copy of `space` for `self`, lowest first, until `usable`
// accepts one. Each rejected integer is marked allocated in the scratch copy, so the loop ends.
template <class Usable>
std::optional<uint64_t> first_usable(const ipam::OwnedSpace& space, store::NodeId self,
                                     Usable usable) {
  if (space.free_count(self) == 0) return std::nullopt;
  ipam::OwnedSpace scratch = space;
  for (;;) {
    uint64_t v = 0;
    try {
      v = scratch.allocate(self, false);
    } catch (const bitseq::NoBitAvailableError&) {
      return std::nullopt;
    }
    if (usable(v)) return v;
  }
}

// Pool indices [first, last] covered by `subnet` (nullopt when it is outside 10.0.0.0/8).
std::optional<ipam::Range> pool_indices_of(const ipam::Prefix& subnet) {
  static const ipam::Prefix kPool = ipam::Prefix::parse("10.0.0.0/8");
  if (!subnet.is_v4() || !kPool.overlaps(subnet)) return std::nullopt;
  if (subnet.length() < 8) return ipam::Range{store::kSubnetPoolFirst, store::kSubnetPoolLast};
  const uint64_t first = (subnet.network().to_v4_uint() - kPoolBase) >> 8;
  const uint64_t last = (subnet.last().to_v4_uint() - kPoolBase) >> 8;
  return ipam::Range{first, last};
}

std::string space_word(SpaceKind kind, bool plural) {
  switch (kind) {
    case SpaceKind::kVni:
      return plural ? "VNIs" : "VNI";
    case SpaceKind::kSubnet:
      return plural ? "subnets" : "subnet";
    case SpaceKind::kAddress:
      break;
  }
  return plural ? "addresses" : "address";
}

SpacePick with_shortage(std::optional<uint64_t> value, const ipam::OwnedSpace& space,
                        const Membership& members) {
  SpacePick pick;
  pick.value = value;
  if (!value) pick.shortage = choose_donor(space, members);
  return pick;
}

std::string network_label(const store::NetworkInfo& n) {
  return "network " + n.spec.name + " (" + n.spec.id + ")";
}

struct PoolView {
  ipam::Prefix subnet;
  store::IpamPoolConfig config;
  std::optional<uint64_t> gateway;  // offset
  std::set<uint64_t> aux;           // offsets
  // Offsets dynamic allocation may use: the host offsets, narrowed to the ip_range if set.
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool ranged = false;  // an ip_range narrows [lo, hi]

  bool usable(uint64_t off) const {
    return off >= lo && off <= hi && !aux.count(off) && off != gateway;
  }
};

PoolView pool_view(const store::NetworkInfo& network, size_t pool_index) {
  if (pool_index >= network.spec.ipam_result.pools.size()) {
    throw NotFoundError(network_label(network) + " has no address pool " +
                        std::to_string(pool_index));
  }
  PoolView v;
  const store::IpamPoolResult& result = network.spec.ipam_result.pools[pool_index];
  v.subnet = ipam::Prefix::parse(result.subnet);
  if (pool_index < network.spec.ipam.pools.size()) v.config = network.spec.ipam.pools[pool_index];
  if (!result.gateway.empty()) {
    const ipam::IpAddress g = ipam::IpAddress::parse(result.gateway);
    if (v.subnet.contains(g)) v.gateway = v.subnet.offset_of(g);
  }
  v.lo = v.subnet.first_host_offset();
  v.hi = v.subnet.last_host_offset();
  if (!v.config.ip_range.empty()) {
    const ipam::Prefix range = ipam::Prefix::parse(v.config.ip_range);
    if (v.subnet.contains(range)) {
      v.ranged = true;
      v.lo = std::max(v.lo, v.subnet.offset_of(range.network()));
      v.hi = std::min(v.hi, v.subnet.offset_of(range.last()));
    }
  }
  for (const auto& [name, text] : v.config.aux_addresses) {
    try {
      const ipam::IpAddress a = ipam::IpAddress::parse(text);
      if (v.subnet.contains(a)) v.aux.insert(v.subnet.offset_of(a));
    } catch (const Error&) {
      // Validated at creation; an unparsable one reserves nothing.
    }
  }
  return v;
}

// Calls fn(first, last) for each maximal run of offsets in `owner`'s ranges within the
// pool's [lo, hi] that are free and usable. O(hi - lo).
template <class Fn>
void for_each_usable_run(const PoolView& pool, const ipam::OwnedSpace& space, store::NodeId owner,
                         Fn fn) {
  for (const ipam::Range& r : space.ownership().ranges_of(owner)) {
    const uint64_t first = std::max(pool.lo, r.first);
    const uint64_t last = std::min(pool.hi, r.last);
    std::optional<uint64_t> run;
    for (uint64_t off = first; first <= last && off <= last; ++off) {
      const bool ok = pool.usable(off) && !space.is_allocated(off);
      if (ok && !run) run = off;
      if (!ok && run) {
        fn(*run, off - 1);
        run.reset();
      }
    }
    if (run) fn(*run, last);
  }
}

}  // namespace

ipam::Prefix pool_subnet(uint64_t index) {
  if (index > store::kSubnetPoolLast)
    throw InvalidArgumentError("subnet pool index " + std::to_string(index) + " is beyond 65535");
  return ipam::Prefix(ipam::IpAddress::v4(kPoolBase + static_cast<uint32_t>(index << 8)), 24);
}

ipam::IpAddress pool_gateway(uint64_t index) {
  const ipam::Prefix p = pool_subnet(index);
  return p.address_at(p.first_host_offset());
}

DonorChoice choose_donor(const ipam::OwnedSpace& space, const Membership& members) {
  return choose_donor(space.free_by_owner(), members);
}

DonorChoice choose_donor(const std::map<store::NodeId, uint64_t>& free_by_owner,
                         const Membership& members) {
  DonorChoice choice;
  for (const auto& [owner, free] : free_by_owner) {
    if (owner == members.self || free == 0) continue;
    if (!members.alive(owner)) {
      choice.unreachable_free += free;
      continue;
    }
    // free_by_owner is ascending by id, so a strict ">" keeps the lowest id among equals.
    if (!choice.donor || free > choice.donor_free) {
      choice.donor = owner;
      choice.donor_free = free;
    }
  }
  return choice;
}

void throw_no_space(const DonorChoice& choice, std::string_view what, SpaceKind kind) {
  const std::string prefix = what.empty() ? "" : std::string(what) + ": ";
  if (choice.unreachable_free > 0) {
    throw NoSpaceReachableError(prefix + "no " + space_word(kind, false) +
                                " space reachable: " + std::to_string(choice.unreachable_free) +
                                " " + space_word(kind, true) + " owned by unreachable nodes");
  }
  throw SpaceExhaustedError(prefix + "no free " + space_word(kind, true) + " left in the cluster");
}

// ---- network creation ----------------------------------------------------------------------

SpacePick pick_vni(const ipam::OwnedSpace& vni_space,
                   const std::vector<store::NetworkInfo>& networks, const Membership& members) {
  std::set<uint64_t> used;
  for (const auto& n : networks) {
    if (n.spec.ipam_result.vni != 0) used.insert(n.spec.ipam_result.vni);
  }
  auto v = first_usable(vni_space, members.self, [&](uint64_t i) { return !used.count(i); });
  return with_shortage(v, vni_space, members);
}

SpacePick pick_vni(const store::ReadView& view, const Membership& members) {
  std::optional<store::SpaceInfo> holder;
  const ipam::OwnedSpace& space = space_or_throw(view, store::kVniSpace, holder);
  return pick_vni(space, view.networks(), members);
}

SpacePick pick_pool_subnet(const ipam::OwnedSpace& pool,
                           const std::vector<store::NetworkInfo>& networks,
                           const Membership& members, const std::vector<ipam::Prefix>& avoid_too) {
  // Index ranges to avoid, as first -> last (may overlap; checked linearly per candidate
  // through a sorted map, so a large user subnet costs one comparison per candidate).
  std::map<uint64_t, uint64_t> avoid;
  auto add_avoided = [&](const ipam::Prefix& p) {
    if (auto r = pool_indices_of(p)) {
      auto [it, inserted] = avoid.emplace(r->first, r->last);
      if (!inserted) it->second = std::max(it->second, r->last);
    }
  };
  for (const ipam::Prefix& p : avoid_too) add_avoided(p);
  std::set<uint64_t> claimed;
  for (const auto& n : networks) {
    if (n.spec.ipam_result.has_pool_index) claimed.insert(n.spec.ipam_result.pool_index);
    const bool relevant = n.spec.cluster_scope || n.owner == members.self;
    if (!relevant) continue;
    for (const auto& p : n.spec.ipam_result.pools) {
      try {
        add_avoided(ipam::Prefix::parse(p.subnet));
      } catch (const Error&) {
        // Not a prefix: nothing to avoid.
      }
    }
  }
  auto usable = [&](uint64_t i) {
    if (claimed.count(i)) return false;
    // Any avoided range starting at or below i that reaches i.
    for (auto it = avoid.begin(); it != avoid.end() && it->first <= i; ++it) {
      if (it->second >= i) return false;
    }
    return true;
  };
  return with_shortage(first_usable(pool, members.self, usable), pool, members);
}

SpacePick pick_pool_subnet(const store::ReadView& view, const Membership& members) {
  std::optional<store::SpaceInfo> holder;
  const ipam::OwnedSpace& space = space_or_throw(view, store::kSubnetPoolSpace, holder);
  return pick_pool_subnet(space, view.networks(), members);
}

// ---- endpoint addresses --------------------------------------------------------------------

std::map<store::NodeId, uint64_t> usable_free_by_owner(const store::NetworkInfo& network,
                                                       size_t pool_index,
                                                       const ipam::OwnedSpace& space) {
  const PoolView pool = pool_view(network, pool_index);
  std::map<store::NodeId, uint64_t> out = space.free_by_owner();
  if (!pool.ranged) {
    // Only the free aux addresses are not usable.
    for (uint64_t off : pool.aux) {
      if (off < pool.lo || off > pool.hi || space.is_allocated(off)) continue;
      auto it = out.find(space.ownership().owner_of(off));
      if (it != out.end() && it->second > 0) --it->second;
    }
    return out;
  }
  for (auto it = out.begin(); it != out.end(); ++it) {
    uint64_t& count = it->second;
    count = 0;
    for_each_usable_run(pool, space, it->first,
                        [&count](uint64_t first, uint64_t last) { count += last - first + 1; });
  }
  return out;
}

SpacePick pick_address(const store::NetworkInfo& network, size_t pool_index,
                       const ipam::OwnedSpace& space, const Membership& members) {
  const PoolView pool = pool_view(network, pool_index);
  std::optional<uint64_t> found;
  if (pool.ranged) {
    for_each_usable_run(pool, space, members.self, [&](uint64_t first, uint64_t) {
      if (!found) found = first;
    });
  } else {
    found = first_usable(space, members.self, [&](uint64_t off) { return pool.usable(off); });
  }
  SpacePick pick;
  pick.value = found;
  if (!found)
    pick.shortage = choose_donor(usable_free_by_owner(network, pool_index, space), members);
  return pick;
}

SpacePick pick_address(const store::ReadView& view, const std::string& network_id,
                       size_t pool_index, const Membership& members) {
  std::optional<store::NetworkInfo> network = view.network(network_id);
  if (!network) throw NotFoundError("pick address: no network " + network_id);
  std::optional<store::SpaceInfo> holder;
  const ipam::OwnedSpace& space =
      space_or_throw(view, store::network_space_key(network_id, pool_index), holder);
  return pick_address(*network, pool_index, space, members);
}

StaticAddressPlan plan_static_address(const store::NetworkInfo& network, size_t pool_index,
                                      const ipam::OwnedSpace& space, const ipam::IpAddress& address,
                                      const Membership& members) {
  const PoolView pool = pool_view(network, pool_index);
  const std::string what = "address " + address.to_string() + " on " + network_label(network);
  if (!pool.subnet.contains(address))
    throw InvalidArgumentError(what + ": not in subnet " + pool.subnet.to_string());
  const uint64_t off = pool.subnet.offset_of(address);
  if (off < pool.subnet.first_host_offset() || off > pool.subnet.last_host_offset())
    throw InvalidArgumentError(what + ": not a host address of " + pool.subnet.to_string());
  if (pool.gateway && off == *pool.gateway) throw ConflictError(what + ": it is the gateway");
  if (pool.aux.count(off)) throw ConflictError(what + ": it is reserved (aux address)");
  if (space.is_allocated(off)) throw ConflictError(what + ": already in use");
  StaticAddressPlan plan;
  plan.offset = off;
  plan.owner = space.ownership().owner_of(off);
  plan.mine = plan.owner == members.self;
  if (!plan.mine && !members.alive(plan.owner)) {
    throw NoSpaceReachableError(what + ": no address space reachable: it is owned by node " +
                                store::format_node_id(plan.owner) + ", which is unreachable");
  }
  return plan;
}

// ---- donations -----------------------------------------------------------------------------

std::optional<store::RangeDonated> plan_requested_donation(const ipam::OwnedSpace& space,
                                                           const std::string& space_key,
                                                           store::NodeId self,
                                                           store::NodeId requester,
                                                           uint64_t wanted) {
  if (requester == self || requester == 0 || wanted == 0) return std::nullopt;
  std::optional<ipam::Donation> d = space.plan_donation(self, requester, wanted);
  if (!d) return std::nullopt;
  return store::RangeDonated{space_key, requester, d->range.first, d->range.last};
}

std::optional<store::RangeDonated> plan_address_donation(const store::NetworkInfo& network,
                                                         size_t pool_index,
                                                         const ipam::OwnedSpace& space,
                                                         store::NodeId self,
                                                         store::NodeId requester, uint64_t wanted) {
  const std::string key = store::network_space_key(network.spec.id, pool_index);
  if (requester == self || requester == 0 || wanted == 0) return std::nullopt;
  const PoolView pool = pool_view(network, pool_index);
  if (!pool.ranged && pool.aux.empty())
    return plan_requested_donation(space, key, self, requester, wanted);
  // The largest usable run (the lowest among equals), of which the upper half goes, as ipam's
  // plan_donation does for a whole space.
  uint64_t best_first = 0, best_length = 0;
  for_each_usable_run(pool, space, self, [&](uint64_t first, uint64_t last) {
    if (last - first + 1 > best_length) {
      best_first = first;
      best_length = last - first + 1;
    }
  });
  if (best_length == 0) return std::nullopt;
  const uint64_t give = std::min(wanted, std::max<uint64_t>(1, best_length / 2));
  const uint64_t last = best_first + best_length - 1;
  return store::RangeDonated{key, requester, last - give + 1, last};
}

std::optional<store::RangeDonated> plan_specific_donation(const ipam::OwnedSpace& space,
                                                          const std::string& space_key,
                                                          store::NodeId self,
                                                          store::NodeId requester,
                                                          uint64_t offset) {
  if (requester == self || requester == 0) return std::nullopt;
  if (!space.ownership().owns(self, {offset, offset})) return std::nullopt;
  if (space.is_allocated(offset)) return std::nullopt;
  return store::RangeDonated{space_key, requester, offset, offset};
}

std::vector<store::RangeDonated> plan_join_donations(const store::ReadView& view,
                                                     const Membership& members,
                                                     store::NodeId joiner) {
  std::vector<store::RangeDonated> out;
  if (joiner == 0 || joiner == members.self || !members.alive(joiner)) return out;
  for (std::string_view key : {store::kVniSpace, store::kSubnetPoolSpace}) {
    std::optional<store::SpaceInfo> info = view.space(std::string(key));
    if (!info) continue;
    const ipam::OwnedSpace& space = info->space;
    if (space.ownership().owned_count(joiner) > 0) continue;  // it has its share already
    uint64_t total = 0;
    uint64_t owners = 0;
    std::optional<store::NodeId> donor;
    uint64_t donor_free = 0;
    for (const auto& [owner, free] : space.free_by_owner()) {
      if (free == 0 || !members.alive(owner)) continue;
      total += free;
      ++owners;
      if (!donor || free > donor_free) {
        donor = owner;
        donor_free = free;
      }
    }
    if (!donor || *donor != members.self) continue;
    const uint64_t share = std::max<uint64_t>(1, total / (owners + 1));
    if (auto d = plan_requested_donation(space, std::string(key), members.self, joiner, share))
      out.push_back(*d);
  }
  return out;
}

std::vector<store::SpaceInitialised> missing_cluster_spaces(const store::ReadView& view) {
  std::vector<store::SpaceInitialised> out;
  if (!view.space(std::string(store::kVniSpace))) {
    out.push_back({std::string(store::kVniSpace), store::kVniFirst, store::kVniLast});
  }
  if (!view.space(std::string(store::kSubnetPoolSpace))) {
    out.push_back(
        {std::string(store::kSubnetPoolSpace), store::kSubnetPoolFirst, store::kSubnetPoolLast});
  }
  return out;
}

std::map<std::string, std::map<store::NodeId, SpaceShare>> space_shares(
    const store::ReadView& view) {
  std::map<std::string, std::map<store::NodeId, SpaceShare>> out;
  for (const auto& key : view.space_keys()) {
    std::optional<store::SpaceInfo> info = view.space(key);
    if (!info) continue;
    auto& shares = out[key];
    for (const auto& [range, owner] : info->space.ownership().all())
      shares[owner].owned += range.size();
    for (const auto& [owner, free] : info->space.free_by_owner()) shares[owner].free = free;
  }
  return out;
}

}  // namespace trellis::overlay
