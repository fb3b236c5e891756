#include "node/drivers/overlay/overlay_driver.h"

#include <vector>

#include "common/error.h"
#include "ipam/ip.h"
#include "node/drivers/option_parsing.h"
#include "node/drivers/pool_rules.h"
#include "node/model/state_cache.h"
#include "overlay/peer_table.h"
#include "overlay/space_planner.h"
#include "overlay/space_request.h"

namespace trellis::node {

namespace {

uint32_t parse_vni(const std::string& value) {
  return parse_number_option("vni", value, kMinUserVni, kMaxVni);
}

// A user's subnet that cannot be used fails before any donation is asked for (the pool rules
// check it again with the others).
void check_user_subnet(const PlanningContext& context, const store::IpamPoolConfig& pool,
                       const std::string& what) {
  if (pool.subnet.empty()) {
    if (!pool.ip_range.empty() || !pool.gateway.empty())
      throw InvalidArgumentError(what + ": an ip range or gateway needs a subnet");
    return;
  }
  check_subnet_free(context.state, context.self, context.host_prefixes,
                    ipam::Prefix::parse(pool.subnet), what);
}

// The VNI the user asked for: free, and in this node's share (else ask its owner).
std::optional<SpaceWanted> plan_chosen_vni(const PlanningContext& context, uint32_t vni,
                                           const ipam::OwnedSpace& space,
                                           const std::vector<store::NetworkInfo>& networks,
                                           const std::string& what) {
  for (const auto& n : networks) {
    if (n.spec.ipam_result.vni == vni) {
      throw ConflictError(what + ": VNI " + std::to_string(vni) + " is used by network " +
                          describe_network(n));
    }
  }
  if (space.is_allocated(vni))
    throw ConflictError(what + ": VNI " + std::to_string(vni) + " is in use");
  const store::NodeId owner = space.ownership().owner_of(vni);
  if (owner == context.self) return std::nullopt;
  if (!overlay::Membership{context.self, context.live}.alive(owner)) {
    throw overlay::NoSpaceReachableError(what + ": VNI " + std::to_string(vni) +
                                         " belongs to node " + store::format_node_id(owner) +
                                         ", which is not reachable");
  }
  const std::string key(store::kVniSpace);
  return SpaceWanted{owner, "VNI " + std::to_string(vni), key,
                     overlay::encode_space_request({key, 0, vni})};
}

// A share-wide pick that found nothing free here: ask its donor, or fail when there is none.
SpaceWanted wanted_from(const overlay::SpacePick& pick, const std::string& what,
                        overlay::SpaceKind kind, std::string wanted, std::string key) {
  if (!pick.shortage.donor) overlay::throw_no_space(pick.shortage, what, kind);
  const std::string payload =
      overlay::encode_space_request({key, overlay::kClusterSpaceRequestSize, std::nullopt});
  return SpaceWanted{*pick.shortage.donor, std::move(wanted), std::move(key), payload};
}

}  // namespace

OverlayOptions overlay_options(const std::map<std::string, std::string>& options) {
  OverlayOptions o;
  for (const auto& [key, value] : options) {
    if (key == "vni") {
      o.vni = parse_vni(value);
    } else if (key == "mtu") {
      o.mtu = parse_mtu_option(value);
    } else if (key == "egress") {
      o.egress = parse_bool_option(key, value);
    } else {
      throw InvalidArgumentError("unknown overlay option '" + key + "'");
    }
  }
  return o;
}

const DriverCapabilities& OverlayDriver::capabilities() const {
  static const DriverCapabilities kCapabilities{
      .scope = DriverScope::kCluster, .needs_clustering = true, .needs_ipam = true};
  return kCapabilities;
}

std::map<std::string, std::string> OverlayDriver::normalize_options(
    const std::map<std::string, std::string>& options) const {
  static const std::map<std::string, std::string> kAliases = {
      {"com.docker.network.driver.overlay.vxlanid_list", "vni"},
      {"com.docker.network.driver.mtu", "mtu"},
  };
  std::map<std::string, std::string> out;
  for (const auto& [raw_key, value] : options) {
    const std::string key = short_option_key(raw_key, kAliases);
    if (out.count(key)) throw InvalidArgumentError("option " + key + " is given twice");
    if (key == "vni") {
      if (value.find(',') != std::string::npos)
        throw InvalidArgumentError("option vni=" + value + ": one VNI per network");
      out[key] = std::to_string(parse_vni(value));
    } else if (key == "mtu") {
      out[key] = std::to_string(parse_mtu_option(value));
    } else if (key == "egress") {
      out[key] = parse_bool_option(key, value) ? "true" : "false";
    } else {
      throw InvalidArgumentError("unknown overlay option '" + raw_key +
                                 "' (expected vni, mtu or egress)");
    }
  }
  return out;
}

std::optional<SpaceWanted> OverlayDriver::plan_network(const PlanningContext& context,
                                                       store::NetworkCreated& spec,
                                                       store::IpamPoolConfig& pool,
                                                       const std::string& what) const {
  check_user_subnet(context, pool, what);
  const overlay::Membership members{context.self, context.live};
  const store::ReadView view = context.store.read();
  const auto vni_space = view.space(std::string(store::kVniSpace));
  const auto pool_space = view.space(std::string(store::kSubnetPoolSpace));
  if (!vni_space || !pool_space) {
    throw UnavailableError(what +
                           ": the cluster's VNI and subnet spaces are not known on this node yet "
                           "(it has not founded a cluster or not caught up with one)");
  }
  const std::vector<store::NetworkInfo> networks = view.networks();

  const OverlayOptions opts = overlay_options(spec.options);
  spec.options.erase("vni");  // recorded as ipam_result.vni
  if (opts.vni != 0) {
    if (auto wanted = plan_chosen_vni(context, opts.vni, vni_space->space, networks, what))
      return wanted;
    spec.ipam_result.vni = opts.vni;
  } else {
    const overlay::SpacePick pick = overlay::pick_vni(vni_space->space, networks, members);
    if (!pick.value)
      return wanted_from(pick, what, overlay::SpaceKind::kVni, "VNIs",
                         std::string(store::kVniSpace));
    spec.ipam_result.vni = static_cast<uint32_t>(*pick.value);
  }

  if (pool.subnet.empty()) {
    std::vector<ipam::Prefix> host;
    for (const HostPrefix& h : context.host_prefixes) host.push_back(h.prefix);
    const overlay::SpacePick pick =
        overlay::pick_pool_subnet(pool_space->space, networks, members, host);
    if (!pick.value) {
      return wanted_from(pick, what, overlay::SpaceKind::kSubnet, "subnets",
                         std::string(store::kSubnetPoolSpace));
    }
    pool.subnet = overlay::pool_subnet(*pick.value).to_string();
    pool.gateway = overlay::pool_gateway(*pick.value).to_string();
    spec.ipam_result.has_pool_index = true;
    spec.ipam_result.pool_index = *pick.value;
  }
  return std::nullopt;
}

AddressPlan OverlayDriver::plan_address(const PlanningContext& context,
                                        const store::NetworkInfo& net, const std::string& preferred,
                                        const std::string& what) const {
  const overlay::Membership members{context.self, context.live};
  const std::string key = store::network_space_key(net.spec.id, 0);
  const store::SpaceInfo* space = context.state.space(key);
  if (!space) throw InternalError(what + ": the address space of the network is missing");
  const ipam::Prefix subnet = ipam::Prefix::parse(net.spec.ipam_result.pools.front().subnet);
  const std::string suffix = "/" + std::to_string(subnet.length());
  if (!preferred.empty()) {
    const ipam::IpAddress a = parse_v4("address", preferred);
    const overlay::StaticAddressPlan plan =
        overlay::plan_static_address(net, 0, space->space, a, members);
    if (!plan.mine) {
      return {"", SpaceWanted{plan.owner, "address " + a.to_string(), key,
                              overlay::encode_space_request({key, 0, plan.offset})}};
    }
    return {a.to_string() + suffix, std::nullopt};
  }
  const overlay::SpacePick pick = overlay::pick_address(net, 0, space->space, members);
  if (!pick.value) {
    if (!pick.shortage.donor) overlay::throw_no_space(pick.shortage, what);
    return {"", SpaceWanted{*pick.shortage.donor, "addresses", key,
                            overlay::encode_space_request(
                                {key, overlay::kAddressRequestSize, std::nullopt})}};
  }
  return {subnet.address_at(*pick.value).to_string() + suffix, std::nullopt};
}

}  // namespace trellis::node
