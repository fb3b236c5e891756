#include "node/drivers/pool_rules.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "common/error.h"
#include "ipam/allocator.h"
#include "ipam/ip.h"
#include "node/model/ids.h"
#include "node/model/state_cache.h"

namespace trellis::node {

ipam::IpAddress parse_v4(std::string_view what, std::string_view text) {
  ipam::IpAddress a = ipam::IpAddress::parse(text);
  if (!a.is_v4()) {
    throw InvalidArgumentError(std::string(what) + " " + std::string(text) +
                               ": IPv6 is not implemented yet");
  }
  return a;
}

namespace {

// A prefix a new network's subnet may not overlap, and what holds it (for messages).
struct TakenSubnet {
  ipam::Prefix prefix;
  std::string holder;  // "network web (1a2b3c4d5e6f)", "address 172.17.0.1/16 on docker0"
};
using TakenSubnets = std::vector<TakenSubnet>;

// Subnets of this node's local networks and of every cluster-scope network, the prefixes the
// host namespace uses, and the reserved ranges: a new network's may not overlap them.
TakenSubnets taken_subnets(const StateCache& state, store::NodeId self,
                           const std::vector<HostPrefix>& host) {
  TakenSubnets taken;
  for (const auto& [id, n] : state.networks()) {
    if (!n.spec.cluster_scope && n.owner != self) continue;
    for (const auto& p : n.spec.ipam_result.pools)
      taken.push_back({ipam::Prefix::parse(p.subnet), "network " + describe_network(n)});
  }
  for (const HostPrefix& h : host) taken.push_back({h.prefix, h.source + " (on this host)"});
  // Ranges no network may take, whatever the host has: a bridge on 127.0.0.0/24 breaks the
  // host's loopback, the others are not unicast host addresses one can route to a bridge.
  static const std::vector<std::pair<const char*, const char*>> kReserved = {
      {"0.0.0.0/8", "'this network' (reserved)"},
      {"127.0.0.0/8", "loopback (reserved)"},
      {"169.254.0.0/16", "link-local addresses (reserved)"},
      {"224.0.0.0/4", "multicast (reserved)"},
      {"240.0.0.0/4", "the reserved class E range"}};
  for (const auto& [prefix, what] : kReserved) taken.push_back({ipam::Prefix::parse(prefix), what});
  return taken;
}

void check_free(const TakenSubnets& taken, const ipam::Prefix& subnet, const std::string& what) {
  for (const TakenSubnet& t : taken) {
    if (t.prefix.overlaps(subnet)) {
      throw ConflictError(what + ": subnet " + subnet.to_string() + " overlaps " +
                          t.prefix.to_string() + " of " + t.holder);
    }
  }
}

ipam::Prefix choose_subnet(const TakenSubnets& taken, const store::IpamPoolConfig& pool,
                           const std::string& what) {
  if (pool.subnet.empty()) {
    if (!pool.ip_range.empty() || !pool.gateway.empty())
      throw InvalidArgumentError(what + ": an ip range or gateway needs a subnet");
    ipam::Allocator allocator;
    ipam::PoolOptions opts;
    for (const TakenSubnet& t : taken) opts.avoid.push_back(t.prefix);
    return allocator.request_pool(ipam::kLocalSpace, std::string_view{}, std::string_view{}, opts)
        .pool;
  }
  const ipam::Prefix subnet = ipam::Prefix::parse(pool.subnet);
  if (!subnet.is_v4()) throw InvalidArgumentError(what + ": IPv6 is not implemented yet");
  if (subnet.length() > 30) {
    throw InvalidArgumentError(what + ": subnet " + subnet.to_string() +
                               " is too small (at most /30)");
  }
  check_free(taken, subnet, what);
  return subnet;
}

ipam::IpAddress choose_gateway(const ipam::Prefix& subnet, const store::IpamPoolConfig& pool,
                               const std::string& what) {
  if (pool.gateway.empty()) return subnet.address_at(subnet.first_host_offset());
  const ipam::IpAddress gateway = parse_v4("gateway", pool.gateway);
  const uint64_t off = subnet.contains(gateway) ? subnet.offset_of(gateway) : 0;
  if (!subnet.contains(gateway) || off < subnet.first_host_offset() ||
      off > subnet.last_host_offset()) {
    throw InvalidArgumentError(what + ": gateway " + gateway.to_string() +
                               " is not a host address of " + subnet.to_string());
  }
  return gateway;
}

}  // namespace

std::string describe_network(const store::NetworkInfo& network) {
  return network.spec.name + " (" + short_id(network.spec.id) + ")";
}

void check_subnet_free(const StateCache& state, store::NodeId self,
                       const std::vector<HostPrefix>& host, const ipam::Prefix& subnet,
                       const std::string& what) {
  check_free(taken_subnets(state, self, host), subnet, what);
}

void complete_pool(const StateCache& state, store::NodeId self, const std::vector<HostPrefix>& host,
                   store::NetworkCreated& spec, store::IpamPoolConfig pool,
                   const std::string& what) {
  const ipam::Prefix subnet = choose_subnet(taken_subnets(state, self, host), pool, what);
  pool.subnet = subnet.to_string();
  if (!pool.ip_range.empty()) {
    const ipam::Prefix range = ipam::Prefix::parse(pool.ip_range);
    if (!subnet.contains(range)) {
      throw InvalidArgumentError(what + ": ip range " + range.to_string() +
                                 " is not inside subnet " + subnet.to_string());
    }
    pool.ip_range = range.to_string();
  }
  const ipam::IpAddress gateway = choose_gateway(subnet, pool, what);
  pool.gateway = gateway.to_string();
  for (auto& [name, address] : pool.aux_addresses) {
    const ipam::IpAddress a = parse_v4("aux address " + name, address);
    if (!subnet.contains(a)) {
      throw InvalidArgumentError(what + ": aux address " + name + "=" + address + " is not in " +
                                 subnet.to_string());
    }
    if (a == gateway)
      throw InvalidArgumentError(what + ": aux address " + name + " is the gateway");
    address = a.to_string();
  }
  spec.ipam.pools = {pool};
  spec.ipam_result.pools = {{subnet.to_string(), gateway.to_string()}};
}

std::string pick_owned_address(const StateCache& state, store::NodeId self,
                               const store::NetworkInfo& net, const std::string& preferred) {
  const std::string what = "network " + describe_network(net);
  const store::IpamPoolResult& result = net.spec.ipam_result.pools.front();
  const store::IpamPoolConfig config =
      net.spec.ipam.pools.empty() ? store::IpamPoolConfig{} : net.spec.ipam.pools.front();
  const ipam::Prefix subnet = ipam::Prefix::parse(result.subnet);
  const store::SpaceInfo* space = state.space(store::network_space_key(net.spec.id, 0));
  if (!space) throw InternalError(what + ": its address space is missing");
  std::set<uint64_t> aux;
  for (const auto& [name, address] : config.aux_addresses)
    aux.insert(subnet.offset_of(ipam::IpAddress::parse(address)));
  const std::string suffix = "/" + std::to_string(subnet.length());

  if (!preferred.empty()) {
    const ipam::IpAddress a = parse_v4("address", preferred);
    if (!subnet.contains(a)) {
      throw InvalidArgumentError("address " + preferred + " is not in subnet " +
                                 subnet.to_string() + " of " + what);
    }
    const uint64_t off = subnet.offset_of(a);
    if (off < subnet.first_host_offset() || off > subnet.last_host_offset()) {
      throw InvalidArgumentError("address " + preferred + " is not a host address of " +
                                 subnet.to_string());
    }
    if (!result.gateway.empty() && a == ipam::IpAddress::parse(result.gateway))
      throw ConflictError("address " + preferred + " is the gateway of " + what);
    if (aux.count(off)) throw ConflictError("address " + preferred + " is reserved on " + what);
    if (space->space.is_allocated(off))
      throw ConflictError("address " + preferred + " is already in use on " + what);
    return a.to_string() + suffix;
  }

  if (!config.ip_range.empty()) {
    const ipam::Prefix range = ipam::Prefix::parse(config.ip_range);
    const uint64_t lo = std::max(subnet.offset_of(range.network()), subnet.first_host_offset());
    const uint64_t hi = std::min(subnet.offset_of(range.last()), subnet.last_host_offset());
    for (uint64_t off = lo; off <= hi; ++off) {
      if (!space->space.is_allocated(off) && !aux.count(off))
        return subnet.address_at(off).to_string() + suffix;
    }
    throw UnavailableError(what + ": no free address in ip range " + range.to_string());
  }
  // Allocating from a copy finds the lowest free offset the way the store will record it.
  ipam::OwnedSpace scratch = space->space;
  for (;;) {
    uint64_t off = 0;
    try {
      off = scratch.allocate(self, false);
    } catch (const Error&) {
      throw UnavailableError(what + ": no free address in " + subnet.to_string());
    }
    if (!aux.count(off)) return subnet.address_at(off).to_string() + suffix;
  }
}

}  // namespace trellis::node
