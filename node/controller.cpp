#include "node/controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "ipam/allocator.h"
#include "ipam/ip.h"
#include "node/drivers.h"
#include "node/ids.h"
#include "node/log.h"
#include "node/throw_kind.h"
#include "overlay/peer_table.h"
#include "overlay/space_planner.h"
#include "overlay/space_request.h"

namespace trellis::node {

namespace {

spdlog::logger& logger() { return log("controller"); }

bool valid_hostname(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '.') {
      if (label == 0 || name[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != '-') return false;
    if (label == 0 && c == '-') return false;
    if (++label > 63) return false;
  }
  return name.back() != '-' && name.back() != '.';
}

void check_hostname(std::string_view what, std::string_view name) {
  if (!valid_hostname(name)) {
    throw InvalidArgumentError(std::string(what) + " '" + std::string(name) +
                               "' is not a valid host name");
  }
}

ipam::IpAddress parse_v4(std::string_view what, std::string_view text) {
  ipam::IpAddress a = ipam::IpAddress::parse(text);
  if (!a.is_v4()) {
    throw InvalidArgumentError(std::string(what) + " " + std::string(text) +
                               ": IPv6 is not implemented yet");
  }
  return a;
}

// Ports overlap when protocol and port match and the host addresses can collide (an empty
// or 0.0.0.0 host address listens on every address).
bool ports_collide(const store::PortBinding& a, const store::PortBinding& b) {
  if (a.protocol != b.protocol || a.host_port != b.host_port) return false;
  auto any = [](const std::string& ip) { return ip.empty() || ip == "0.0.0.0"; };
  return any(a.host_ip) || any(b.host_ip) || a.host_ip == b.host_ip;
}

std::string network_label(const store::NetworkInfo& n) {
  return n.spec.name + " (" + short_id(n.spec.id) + ")";
}

}  // namespace

Controller::Controller(store::Store& store, Reconciler& reconciler, ControllerOptions options)
    : store_(store),
      reconciler_(reconciler),
      options_(std::move(options)),
      paths_(options_.run_dir),
      identity_(store.identity()),
      cache_(store, identity_.id) {
  store_.set_change_listener([this](const store::ChangeSet& changes) { on_change(changes); });
}

Controller::~Controller() { store_.set_change_listener(nullptr); }

void Controller::on_change(const store::ChangeSet& changes) {
  // Runs inside the store's write call, after commit: must not throw.
  try {
    pending_.merge(changes);
    if (!reload_) cache_.apply(changes);
  } catch (const std::exception& e) {
    logger().error("refreshing the state cache failed, reloading it: {}", e.what());
    reload_ = true;
    pending_.all = true;
  }
  if (!committing_ && !pending_.empty() && options_.schedule_reconcile) {
    try {
      options_.schedule_reconcile();
    } catch (const std::exception& e) {
      logger().error("scheduling a reconciliation failed: {}", e.what());
    }
  }
  for (const auto& observer : observers_) {
    try {
      observer(changes);
    } catch (const std::exception& e) {
      logger().error("a change observer failed: {}", e.what());
    }
  }
}

void Controller::add_change_observer(std::function<void(const store::ChangeSet&)> observer) {
  observers_.push_back(std::move(observer));
}

void Controller::start() {
  cache_.load_all();
  logger().info("state: {} networks, {} endpoints, {} sandboxes", cache_.networks().size(),
                cache_.endpoints().size(), cache_.sandboxes().size());
  pending_.all = true;
  reconcile_pending();
}

Failures Controller::reconcile_pending() {
  if (reload_) {
    cache_.load_all();
    reload_ = false;
  }
  Dirty dirty = std::move(pending_);
  pending_ = {};
  if (dirty.empty()) return {};
  Failures found = reconciler_.reconcile(cache_, dirty);
  // Forget old failures of what was just reconciled, record the new ones.
  if (dirty.all) {
    failures_.clear();
  } else {
    for (const auto& id : dirty.networks) failures_.erase("network/" + id);
    for (const auto& id : dirty.endpoints) failures_.erase("endpoint/" + id);
    for (const auto& id : dirty.sandboxes) failures_.erase("sandbox/" + id);
    failures_.erase("nftables");
  }
  for (const auto& [key, failure] : found) failures_[key] = failure;
  return found;
}

Failures Controller::commit(std::vector<store::Body> bodies) {
  const auto t0 = std::chrono::steady_clock::now();
  const size_t events = bodies.size();
  committing_ = true;
  try {
    if (bodies.size() == 1) {
      store_.append_local(std::move(bodies.front()));
    } else {
      store_.append_local(std::move(bodies));
    }
  } catch (...) {
    committing_ = false;
    throw;
  }
  committing_ = false;
  if (options_.after_local_commit) {
    try {
      options_.after_local_commit();
    } catch (const std::exception& e) {
      logger().error("after-commit hook failed: {}", e.what());
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  Failures failures = reconcile_pending();
  const auto t2 = std::chrono::steady_clock::now();
  logger().debug("commit of {} events: store {} us, reconcile {} us", events,
                 std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count(),
                 std::chrono::duration_cast<std::chrono::microseconds>(t2 - t1).count());
  return failures;
}

void Controller::retry_failed() {
  if (failures_.empty()) return;
  Dirty dirty;
  for (const auto& [key, failure] : failures_) {
    const auto slash = key.find('/');
    const std::string kind = key.substr(0, slash);
    const std::string id = slash == std::string::npos ? "" : key.substr(slash + 1);
    if (kind == "network") {
      dirty.networks.insert(id);
    } else if (kind == "endpoint") {
      dirty.endpoints.insert(id);
    } else if (kind == "sandbox") {
      dirty.sandboxes.insert(id);
    } else {
      dirty.all = true;  // nftables, start-up preparation, stray links
    }
  }
  pending_.merge(dirty);
  Failures left = reconcile_pending();
  if (!left.empty()) logger().debug("{} objects still failing after retry", left.size());
}

// ---- lookups ---------------------------------------------------------------------------------

bool Controller::visible(const store::NetworkInfo& n) const {
  return n.spec.cluster_scope || n.owner == identity_.id;
}

const store::NetworkInfo& Controller::find_network(std::string_view ref) const {
  const std::string key(ref);
  if (key.empty()) throw InvalidArgumentError("no network given");
  if (const auto* n = cache_.network(key)) return *n;
  const store::NetworkInfo* by_name = nullptr;
  for (const auto& [id, n] : cache_.networks()) {
    if (n.spec.name != key || !visible(n)) continue;
    if (!by_name || (by_name->name_conflict && !n.name_conflict)) by_name = &n;
  }
  if (by_name) return *by_name;
  const store::NetworkInfo* by_prefix = nullptr;
  for (const auto& [id, n] : cache_.networks()) {
    if (id.compare(0, key.size(), key) != 0) continue;
    if (by_prefix) throw InvalidArgumentError("network id prefix '" + key + "' is ambiguous");
    by_prefix = &n;
  }
  if (by_prefix) return *by_prefix;
  throw NotFoundError("network '" + key + "' not found");
}

const store::EndpointInfo& Controller::find_endpoint(std::string_view ref,
                                                     std::string_view network_ref) const {
  const std::string key(ref);
  if (key.empty()) throw InvalidArgumentError("no endpoint given");
  std::string network_id;
  if (!network_ref.empty()) network_id = find_network(network_ref).spec.id;
  if (const auto* e = cache_.endpoint(key)) {
    if (network_id.empty() || e->spec.network == network_id) return *e;
  }
  const store::EndpointInfo* by_name = nullptr;
  for (const auto& [id, e] : cache_.endpoints()) {
    if (e.spec.name != key) continue;
    if (!network_id.empty() && e.spec.network != network_id) continue;
    if (network_id.empty() && e.spec.owner != identity_.id) continue;
    if (by_name) {
      throw InvalidArgumentError("endpoint name '" + key +
                                 "' is used on several networks: name the network too");
    }
    by_name = &e;
  }
  if (by_name) return *by_name;
  const store::EndpointInfo* by_prefix = nullptr;
  for (const auto& [id, e] : cache_.endpoints()) {
    if (id.compare(0, key.size(), key) != 0) continue;
    if (!network_id.empty() && e.spec.network != network_id) continue;
    if (by_prefix) throw InvalidArgumentError("endpoint id prefix '" + key + "' is ambiguous");
    by_prefix = &e;
  }
  if (by_prefix) return *by_prefix;
  throw NotFoundError("endpoint '" + key + "' not found" +
                      (network_ref.empty() ? "" : " on network " + std::string(network_ref)));
}

const store::SandboxInfo& Controller::find_sandbox(std::string_view ref) const {
  const std::string key(ref);
  if (key.empty()) throw InvalidArgumentError("no sandbox given");
  if (const auto* s = cache_.sandbox(key)) return *s;
  for (const auto& [id, s] : cache_.sandboxes()) {
    if (s.spec.container_id == key && s.owner == identity_.id) return s;
  }
  const store::SandboxInfo* by_prefix = nullptr;
  for (const auto& [id, s] : cache_.sandboxes()) {
    if (id.compare(0, key.size(), key) != 0) continue;
    if (by_prefix) throw InvalidArgumentError("sandbox id prefix '" + key + "' is ambiguous");
    by_prefix = &s;
  }
  if (by_prefix) return *by_prefix;
  throw NotFoundError("sandbox '" + key + "' not found");
}

store::NetworkInfo Controller::network(std::string_view ref) const { return find_network(ref); }

std::vector<store::NetworkInfo> Controller::networks(bool all) const {
  std::vector<store::NetworkInfo> out;
  for (const auto& [id, n] : cache_.networks()) {
    if (all || visible(n)) out.push_back(n);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.spec.name < b.spec.name; });
  return out;
}

size_t Controller::endpoint_count(const std::string& network_id) const {
  return cache_.endpoints_of_network(network_id).size();
}

store::EndpointInfo Controller::endpoint(std::string_view ref, std::string_view network_ref) const {
  return find_endpoint(ref, network_ref);
}

std::vector<store::EndpointInfo> Controller::endpoints(std::string_view network_ref) const {
  std::vector<store::EndpointInfo> out;
  if (network_ref.empty()) {
    for (const auto& [id, e] : cache_.endpoints()) out.push_back(e);
  } else {
    for (const auto* e : cache_.endpoints_of_network(find_network(network_ref).spec.id))
      out.push_back(*e);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.spec.name, a.spec.id) < std::tie(b.spec.name, b.spec.id);
  });
  return out;
}

store::SandboxInfo Controller::sandbox(std::string_view ref) const { return find_sandbox(ref); }

std::vector<store::SandboxInfo> Controller::sandboxes() const {
  std::vector<store::SandboxInfo> out;
  for (const auto& [id, s] : cache_.sandboxes()) out.push_back(s);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.spec.container_id, a.spec.id) < std::tie(b.spec.container_id, b.spec.id);
  });
  return out;
}

bool Controller::host_mode(const std::string& sandbox_id) const {
  for (const auto* e : cache_.joined_endpoints(sandbox_id)) {
    const auto* n = cache_.network(e->spec.network);
    if (n && n->spec.driver == "host") return true;
  }
  return false;
}

std::string Controller::netns_path(const std::string& sandbox_id) const {
  return host_mode(sandbox_id) ? paths_.host_netns() : paths_.sandbox_netns(sandbox_id);
}

// ---- networks --------------------------------------------------------------------------------

store::NetworkInfo Controller::create_network(const NetworkRequest& request) {
  const std::string what = "create network '" + request.name + "'";
  validate_name("network name", request.name);
  const DriverTraits& traits = driver_traits(request.driver);
  for (const auto& [id, n] : cache_.networks()) {
    if (!visible(n)) continue;
    if (n.spec.name == request.name) {
      throw ConflictError(what + ": the name is taken by network " + short_id(id));
    }
    if (traits.exclusive && n.spec.driver == traits.name) {
      throw ConflictError(what + ": only one " + std::string(traits.name) +
                          " network per node (there is " + network_label(n) + ")");
    }
  }
  if (request.enable_ipv6) throw InvalidArgumentError(what + ": IPv6 is not implemented yet");
  const bool overlay = traits.name == overlay::kOverlayDriver;
  if (request.internal && traits.name != "bridge" && !overlay) {
    throw InvalidArgumentError(what + ": only bridge and overlay networks can be internal");
  }

  store::NetworkCreated spec;
  spec.id = new_id();
  spec.name = request.name;
  spec.driver = std::string(traits.name);
  spec.internal = request.internal;
  spec.attachable = request.attachable;
  spec.options = normalize_driver_options(traits.name, request.options);
  spec.labels = request.labels;
  spec.ipam = request.ipam;
  if (spec.ipam.driver.empty()) spec.ipam.driver = "default";
  if (spec.ipam.driver != "default") {
    throw InvalidArgumentError(what + ": unknown IPAM driver '" + spec.ipam.driver +
                               "' (only \"default\")");
  }
  if (!spec.ipam.options.empty())
    throw InvalidArgumentError(what + ": the default IPAM driver takes no options");

  uint32_t mtu = request.mtu;
  if (auto it = spec.options.find("mtu"); it != spec.options.end()) {
    const uint32_t opt = static_cast<uint32_t>(std::stoul(it->second));
    if (mtu != 0 && mtu != opt)
      throw InvalidArgumentError(what + ": the mtu field and the mtu option disagree");
    mtu = opt;
    spec.options.erase(it);
  }
  if (mtu != 0 && (mtu < 68 || mtu > 65535))
    throw InvalidArgumentError(what + ": mtu " + std::to_string(mtu) + " is not in 68..65535");
  spec.mtu = mtu;

  if (!traits.needs_ipam) {
    if (!spec.ipam.pools.empty())
      throw InvalidArgumentError(what + ": driver " + spec.driver + " takes no subnet");
  } else {
    if (spec.ipam.pools.size() > 1) {
      throw InvalidArgumentError(what +
                                 ": more than one subnet per network is not implemented yet");
    }
    store::IpamPoolConfig pool =
        spec.ipam.pools.empty() ? store::IpamPoolConfig{} : spec.ipam.pools.front();
    // VNI and (without --subnet) a /24 of the cluster's pool, from this node's share.
    if (overlay) plan_overlay_network(spec, pool, what);
    // Subnets of this node's other local networks and of every cluster-scope network: a new
    // one may not overlap them.
    std::vector<std::pair<ipam::Prefix, const store::NetworkInfo*>> taken;
    for (const auto& [id, n] : cache_.networks()) {
      if (!n.spec.cluster_scope && n.owner != identity_.id) continue;
      for (const auto& p : n.spec.ipam_result.pools)
        taken.emplace_back(ipam::Prefix::parse(p.subnet), &n);
    }
    ipam::Prefix subnet;
    if (!pool.subnet.empty()) {
      subnet = ipam::Prefix::parse(pool.subnet);
      if (!subnet.is_v4()) throw InvalidArgumentError(what + ": IPv6 is not implemented yet");
      if (subnet.length() > 30) {
        throw InvalidArgumentError(what + ": subnet " + subnet.to_string() +
                                   " is too small (at most /30)");
      }
      for (const auto& [p, n] : taken) {
        if (p.overlaps(subnet)) {
          throw ConflictError(what + ": subnet " + subnet.to_string() + " overlaps " +
                              p.to_string() + " of network " + network_label(*n));
        }
      }
    } else {
      if (!pool.ip_range.empty() || !pool.gateway.empty())
        throw InvalidArgumentError(what + ": an ip range or gateway needs a subnet");
      ipam::Allocator allocator;
      ipam::PoolOptions opts;
      for (const auto& [p, n] : taken) opts.avoid.push_back(p);
      subnet =
          allocator.request_pool(ipam::kLocalSpace, std::string_view{}, std::string_view{}, opts)
              .pool;
    }
    pool.subnet = subnet.to_string();
    if (!pool.ip_range.empty()) {
      ipam::Prefix range = ipam::Prefix::parse(pool.ip_range);
      if (!subnet.contains(range)) {
        throw InvalidArgumentError(what + ": ip range " + range.to_string() +
                                   " is not inside subnet " + subnet.to_string());
      }
      pool.ip_range = range.to_string();
    }
    auto host_offset_ok = [&](const ipam::IpAddress& a) {
      const uint64_t off = subnet.offset_of(a);
      return off >= subnet.first_host_offset() && off <= subnet.last_host_offset();
    };
    ipam::IpAddress gateway;
    if (!pool.gateway.empty()) {
      gateway = parse_v4("gateway", pool.gateway);
      if (!subnet.contains(gateway) || !host_offset_ok(gateway)) {
        throw InvalidArgumentError(what + ": gateway " + gateway.to_string() +
                                   " is not a host address of " + subnet.to_string());
      }
    } else {
      gateway = subnet.address_at(subnet.first_host_offset());
    }
    pool.gateway = gateway.to_string();
    for (auto& [name, address] : pool.aux_addresses) {
      ipam::IpAddress a = parse_v4("aux address " + name, address);
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

  const std::string id = spec.id;
  Failures failures = commit({std::move(spec)});
  if (auto it = failures.find("network/" + id); it != failures.end()) {
    const Failure failure = it->second;
    logger().warn("network {} could not be set up, removing it: {}", request.name, failure.message);
    commit({store::NetworkRemoved{id}});
    throw_error(failure.kind, what + ": " + failure.message);
  }
  const auto* created = cache_.network(id);
  if (!created) throw InternalError(what + ": the network vanished after commit");
  logger().info("network {} created ({}, {}{})", request.name, short_id(id), created->spec.driver,
                created->spec.ipam_result.pools.empty()
                    ? ""
                    : ", " + created->spec.ipam_result.pools.front().subnet);
  return *created;
}

void Controller::plan_overlay_network(store::NetworkCreated& spec, store::IpamPoolConfig& pool,
                                      const std::string& what) const {
  if (!options_.clustering) {
    throw InvalidArgumentError(what +
                               ": driver overlay needs clustering: start trellisd with "
                               "--advertise-addr");
  }
  if (pool.subnet.empty() && (!pool.ip_range.empty() || !pool.gateway.empty()))
    throw InvalidArgumentError(what + ": an ip range or gateway needs a subnet");
  if (!pool.subnet.empty()) {
    // A user's subnet that cannot be used fails before any donation is asked for (checked
    // again with the other pool rules by the caller).
    const ipam::Prefix subnet = ipam::Prefix::parse(pool.subnet);
    for (const auto& [id, n] : cache_.networks()) {
      if (!n.spec.cluster_scope && n.owner != identity_.id) continue;
      for (const auto& p : n.spec.ipam_result.pools) {
        const ipam::Prefix taken = ipam::Prefix::parse(p.subnet);
        if (taken.overlaps(subnet)) {
          throw ConflictError(what + ": subnet " + subnet.to_string() + " overlaps " +
                              taken.to_string() + " of network " + network_label(n));
        }
      }
    }
  }
  const overlay::Membership members{identity_.id, live_};
  const store::ReadView view = store_.read();
  const auto vni_space = view.space(std::string(store::kVniSpace));
  const auto pool_space = view.space(std::string(store::kSubnetPoolSpace));
  if (!vni_space || !pool_space) {
    throw UnavailableError(what +
                           ": the cluster's VNI and subnet spaces are not known on this node yet "
                           "(it has not founded a cluster or not caught up with one)");
  }
  const std::vector<store::NetworkInfo> networks = view.networks();
  spec.cluster_scope = true;

  const OverlayOptions opts = overlay_options(spec.options);
  spec.options.erase("vni");  // recorded as ipam_result.vni
  if (opts.vni != 0) {
    const uint64_t vni = opts.vni;
    for (const auto& n : networks) {
      if (n.spec.ipam_result.vni == vni) {
        throw ConflictError(what + ": VNI " + std::to_string(vni) + " is used by network " +
                            network_label(n));
      }
    }
    if (vni_space->space.is_allocated(vni))
      throw ConflictError(what + ": VNI " + std::to_string(vni) + " is in use");
    const store::NodeId owner = vni_space->space.ownership().owner_of(vni);
    if (owner != identity_.id) {
      if (!members.alive(owner)) {
        throw overlay::NoSpaceReachableError(what + ": VNI " + std::to_string(vni) +
                                             " belongs to node " + store::format_node_id(owner) +
                                             ", which is not reachable");
      }
      throw SpaceShortage(what, owner, "VNI " + std::to_string(vni), std::string(store::kVniSpace),
                          overlay::encode_space_request({std::string(store::kVniSpace), 0, vni}));
    }
    spec.ipam_result.vni = opts.vni;
  } else {
    const overlay::SpacePick pick = overlay::pick_vni(vni_space->space, networks, members);
    if (!pick.value) {
      if (!pick.shortage.donor)
        overlay::throw_no_space(pick.shortage, what, overlay::SpaceKind::kVni);
      throw SpaceShortage(
          what, *pick.shortage.donor, "VNIs", std::string(store::kVniSpace),
          overlay::encode_space_request(
              {std::string(store::kVniSpace), overlay::kClusterSpaceRequestSize, std::nullopt}));
    }
    spec.ipam_result.vni = static_cast<uint32_t>(*pick.value);
  }

  if (pool.subnet.empty()) {
    const overlay::SpacePick pick = overlay::pick_pool_subnet(pool_space->space, networks, members);
    if (!pick.value) {
      if (!pick.shortage.donor)
        overlay::throw_no_space(pick.shortage, what, overlay::SpaceKind::kSubnet);
      throw SpaceShortage(
          what, *pick.shortage.donor, "subnets", std::string(store::kSubnetPoolSpace),
          overlay::encode_space_request({std::string(store::kSubnetPoolSpace),
                                         overlay::kClusterSpaceRequestSize, std::nullopt}));
    }
    pool.subnet = overlay::pool_subnet(*pick.value).to_string();
    pool.gateway = overlay::pool_gateway(*pick.value).to_string();
    spec.ipam_result.has_pool_index = true;
    spec.ipam_result.pool_index = *pick.value;
  }
}

void Controller::remove_network(std::string_view ref) {
  const store::NetworkInfo n = find_network(ref);
  const std::string what = "remove network " + network_label(n);
  if (n.owner != identity_.id) {
    throw ConflictError(what + ": it belongs to node " + store::format_node_id(n.owner));
  }
  const size_t used = cache_.endpoints_of_network(n.spec.id).size();
  if (used > 0) {
    throw ConflictError(what + ": it has " + std::to_string(used) + " endpoint" +
                        (used == 1 ? "" : "s"));
  }
  commit({store::NetworkRemoved{n.spec.id}});
  logger().info("network {} removed", network_label(n));
}

// ---- endpoints -------------------------------------------------------------------------------

std::string Controller::pick_address(const store::NetworkInfo& net,
                                     const std::string& preferred) const {
  const std::string what = "network " + network_label(net);
  const store::IpamPoolResult& result = net.spec.ipam_result.pools.front();
  const store::IpamPoolConfig config =
      net.spec.ipam.pools.empty() ? store::IpamPoolConfig{} : net.spec.ipam.pools.front();
  const ipam::Prefix subnet = ipam::Prefix::parse(result.subnet);
  const store::SpaceInfo* space = cache_.space(store::network_space_key(net.spec.id, 0));
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
    uint64_t lo = subnet.offset_of(range.network());
    uint64_t hi = subnet.offset_of(range.last());
    lo = std::max(lo, subnet.first_host_offset());
    hi = std::min(hi, subnet.last_host_offset());
    for (uint64_t off = lo; off <= hi; ++off) {
      if (!space->space.is_allocated(off) && !aux.count(off))
        return subnet.address_at(off).to_string() + suffix;
    }
    throw UnavailableError(what + ": no free address in ip range " + range.to_string());
  }
  ipam::OwnedSpace scratch = space->space;
  for (;;) {
    uint64_t off = 0;
    try {
      off = scratch.allocate(identity_.id, false);
    } catch (const Error&) {
      throw UnavailableError(what + ": no free address in " + subnet.to_string());
    }
    if (!aux.count(off)) return subnet.address_at(off).to_string() + suffix;
  }
}

std::string Controller::pick_overlay_address(const store::NetworkInfo& net,
                                             const std::string& preferred,
                                             const std::string& what) const {
  const overlay::Membership members{identity_.id, live_};
  const std::string key = store::network_space_key(net.spec.id, 0);
  const store::SpaceInfo* space = cache_.space(key);
  if (!space) throw InternalError(what + ": the address space of the network is missing");
  const ipam::Prefix subnet = ipam::Prefix::parse(net.spec.ipam_result.pools.front().subnet);
  const std::string suffix = "/" + std::to_string(subnet.length());
  if (!preferred.empty()) {
    const ipam::IpAddress a = parse_v4("address", preferred);
    const overlay::StaticAddressPlan plan =
        overlay::plan_static_address(net, 0, space->space, a, members);
    if (!plan.mine) {
      throw SpaceShortage(what, plan.owner, "address " + a.to_string(), key,
                          overlay::encode_space_request({key, 0, plan.offset}));
    }
    return a.to_string() + suffix;
  }
  const overlay::SpacePick pick = overlay::pick_address(net, 0, space->space, members);
  if (!pick.value) {
    if (!pick.shortage.donor) overlay::throw_no_space(pick.shortage, what);
    throw SpaceShortage(
        what, *pick.shortage.donor, "addresses", key,
        overlay::encode_space_request({key, overlay::kAddressRequestSize, std::nullopt}));
  }
  return subnet.address_at(*pick.value).to_string() + suffix;
}

std::vector<store::PortBinding> Controller::check_ports(
    const std::vector<store::PortBinding>& requested) const {
  std::vector<store::PortBinding> used;
  for (const auto& [id, e] : cache_.endpoints()) {
    if (e.spec.owner != identity_.id) continue;
    used.insert(used.end(), e.spec.ports.begin(), e.spec.ports.end());
  }
  std::vector<store::PortBinding> out;
  for (store::PortBinding p : requested) {
    if (p.protocol.empty()) p.protocol = "tcp";
    if (p.protocol != "tcp" && p.protocol != "udp")
      throw InvalidArgumentError("port protocol '" + p.protocol + "' (expected tcp or udp)");
    if (p.container_port == 0 || p.container_port > 65535) {
      throw InvalidArgumentError("container port " + std::to_string(p.container_port) +
                                 " is not in 1..65535");
    }
    if (p.host_port > 65535)
      throw InvalidArgumentError("host port " + std::to_string(p.host_port) + " > 65535");
    if (!p.host_ip.empty()) p.host_ip = parse_v4("host ip", p.host_ip).to_string();
    if (p.host_ip == "0.0.0.0") p.host_ip.clear();
    auto collides = [&](const store::PortBinding& candidate) {
      for (const auto& u : used)
        if (ports_collide(u, candidate)) return true;
      for (const auto& u : out)
        if (ports_collide(u, candidate)) return true;
      return false;
    };
    if (p.host_port == 0) {
      bool found = false;
      for (uint32_t port = options_.dynamic_port_first;
           port <= options_.dynamic_port_last && !found; ++port) {
        p.host_port = port;
        found = !collides(p);
      }
      if (!found) {
        throw UnavailableError("no free host port for " + p.protocol + " in " +
                               std::to_string(options_.dynamic_port_first) + ".." +
                               std::to_string(options_.dynamic_port_last));
      }
    } else if (collides(p)) {
      throw ConflictError("host port " + std::to_string(p.host_port) + "/" + p.protocol +
                          " is already published");
    }
    out.push_back(p);
  }
  return out;
}

store::EndpointInfo Controller::create_endpoint(const EndpointRequest& request) {
  const std::string what = "create endpoint '" + request.name + "'";
  validate_name("endpoint name", request.name);
  const store::NetworkInfo& net = find_network(request.network);
  const std::string where = what + " on network " + network_label(net);
  if (!visible(net)) {
    throw ConflictError(where + ": the network is local to node " +
                        store::format_node_id(net.owner));
  }
  const DriverTraits& traits = driver_traits(net.spec.driver);
  for (const auto* e : cache_.endpoints_of_network(net.spec.id)) {
    if (e->spec.name == request.name)
      throw ConflictError(where + ": the name is taken by endpoint " + short_id(e->spec.id));
  }
  for (const auto& alias : request.aliases) check_hostname("alias", alias);

  store::EndpointSpec spec;
  spec.id = new_id();
  spec.network = net.spec.id;
  spec.name = request.name;
  spec.aliases = request.aliases;
  spec.owner = identity_.id;
  const bool overlay = traits.name == overlay::kOverlayDriver;
  if (overlay && !request.ports.empty()) {
    throw InvalidArgumentError(where +
                               ": publishing ports of overlay endpoints is not implemented yet");
  }
  if (traits.needs_ipam) {
    spec.addresses = {overlay ? pick_overlay_address(net, request.ip, where)
                              : pick_address(net, request.ip)};
    spec.mac = request.mac.empty()
                   ? mac_from_ipv4(ipam::InterfaceAddress::parse(spec.addresses[0]).address)
                   : normalize_mac(request.mac);
    if (!request.ports.empty() && net.spec.internal)
      throw InvalidArgumentError(where + ": an internal network cannot publish ports");
    spec.ports = check_ports(request.ports);
  } else {
    if (!request.ip.empty() || !request.mac.empty() || !request.ports.empty()) {
      throw InvalidArgumentError(where + ": driver " + net.spec.driver +
                                 " endpoints take no address, MAC or ports");
    }
  }
  const std::string id = spec.id;
  commit({store::EndpointCreated{std::move(spec)}});
  const auto* created = cache_.endpoint(id);
  if (!created) throw InternalError(where + ": the endpoint vanished after commit");
  logger().debug("endpoint {} ({}) created on {}", request.name, short_id(id), network_label(net));
  return *created;
}

void Controller::remove_endpoint(std::string_view ref, std::string_view network_ref, bool force) {
  const store::EndpointInfo e = find_endpoint(ref, network_ref);
  const std::string what = "remove endpoint " + e.spec.name + " (" + short_id(e.spec.id) + ")";
  if (e.spec.owner != identity_.id) {
    throw ConflictError(what + ": it belongs to node " + store::format_node_id(e.spec.owner));
  }
  std::vector<store::Body> bodies;
  if (!e.sandbox.empty()) {
    if (!force) {
      throw ConflictError(what + ": it is joined to sandbox " + short_id(e.sandbox) +
                          " (leave first, or force)");
    }
    bodies.push_back(store::EndpointLeft{e.spec.id, e.sandbox});
  }
  bodies.push_back(store::EndpointRemoved{e.spec.id});
  commit(std::move(bodies));
  logger().debug("endpoint {} removed", short_id(e.spec.id));
}

void Controller::join(std::string_view endpoint_ref, std::string_view network_ref,
                      std::string_view sandbox_ref) {
  const store::EndpointInfo e = find_endpoint(endpoint_ref, network_ref);
  const store::SandboxInfo s = find_sandbox(sandbox_ref);
  const std::string what = "join endpoint " + e.spec.name + " (" + short_id(e.spec.id) +
                           ") to sandbox " + s.spec.container_id + " (" + short_id(s.spec.id) + ")";
  if (e.spec.owner != identity_.id)
    throw ConflictError(what + ": the endpoint belongs to another node");
  if (s.owner != identity_.id) throw ConflictError(what + ": the sandbox belongs to another node");
  if (!e.sandbox.empty()) {
    throw ConflictError(what + ": the endpoint is already joined to sandbox " +
                        short_id(e.sandbox));
  }
  const store::NetworkInfo* net = cache_.network(e.spec.network);
  if (!net) throw ConflictError(what + ": its network was removed");
  const DriverTraits& traits = driver_traits(net->spec.driver);
  for (const auto* other : cache_.joined_endpoints(s.spec.id)) {
    const store::NetworkInfo* on = cache_.network(other->spec.network);
    if (traits.exclusive) {
      throw ConflictError(what + ": a sandbox on a " + net->spec.driver +
                          " network joins nothing else (it has endpoint " + other->spec.name + ")");
    }
    if (on && driver_traits(on->spec.driver).exclusive) {
      throw ConflictError(what + ": the sandbox is on " + on->spec.driver + " network " +
                          network_label(*on) + " and joins nothing else");
    }
    if (other->spec.network == e.spec.network) {
      throw ConflictError(what + ": the sandbox is already on network " + network_label(*net) +
                          " (endpoint " + other->spec.name + ")");
    }
  }
  Failures failures = commit({store::EndpointJoined{e.spec.id, s.spec.id}});
  for (const std::string& key :
       {"endpoint/" + e.spec.id, "sandbox/" + s.spec.id, std::string("nftables")}) {
    auto it = failures.find(key);
    if (it == failures.end()) continue;
    const Failure failure = it->second;
    logger().warn("{} failed, leaving again: {}", what, failure.message);
    commit({store::EndpointLeft{e.spec.id, s.spec.id}});
    throw_error(failure.kind, what + ": " + failure.message);
  }
  logger().debug("endpoint {} joined sandbox {}", short_id(e.spec.id), short_id(s.spec.id));
}

void Controller::leave(std::string_view endpoint_ref, std::string_view network_ref,
                       std::string_view sandbox_ref) {
  const store::EndpointInfo e = find_endpoint(endpoint_ref, network_ref);
  const std::string what = "leave: endpoint " + e.spec.name + " (" + short_id(e.spec.id) + ")";
  if (e.spec.owner != identity_.id)
    throw ConflictError(what + ": the endpoint belongs to another node");
  if (e.sandbox.empty()) throw ConflictError(what + " is not joined to a sandbox");
  if (!sandbox_ref.empty()) {
    const store::SandboxInfo& s = find_sandbox(sandbox_ref);
    if (s.spec.id != e.sandbox) {
      throw ConflictError(what + " is joined to sandbox " + short_id(e.sandbox) + ", not to " +
                          s.spec.container_id);
    }
  }
  commit({store::EndpointLeft{e.spec.id, e.sandbox}});
  logger().debug("endpoint {} left sandbox {}", short_id(e.spec.id), short_id(e.sandbox));
}

// ---- cluster ---------------------------------------------------------------------------------

void Controller::set_live_nodes(std::set<store::NodeId> live) {
  live.erase(identity_.id);
  if (live == live_) return;
  live_ = live;
  reconciler_.set_live_nodes(std::move(live));
}

std::set<std::string> Controller::overlay_networks() const {
  std::set<std::string> out;
  for (const auto& [id, n] : cache_.networks()) {
    if (n.spec.driver == overlay::kOverlayDriver) out.insert(id);
  }
  return out;
}

Failures Controller::reconcile_networks(const std::set<std::string>& network_ids) {
  pending_.networks.insert(network_ids.begin(), network_ids.end());
  return reconcile_pending();
}

void Controller::append(std::vector<store::Body> bodies) {
  if (bodies.empty()) return;
  commit(std::move(bodies));
}

store::NodeInfo Controller::remove_node(std::string_view ref) {
  const std::string key(ref);
  if (key.empty()) throw InvalidArgumentError("remove node: no node given");
  const store::ReadView view = store_.read();
  const std::vector<store::NodeInfo> nodes = view.nodes();
  std::optional<store::NodeInfo> found;
  for (const auto& n : nodes) {
    if (store::format_node_id(n.id) == key || n.name == key) {
      if (found && found->id != n.id) {
        throw InvalidArgumentError("remove node: the name '" + key +
                                   "' is used by several nodes: give the node id");
      }
      found = n;
    }
  }
  if (!found) {
    for (const auto& n : nodes) {
      if (store::format_node_id(n.id).compare(0, key.size(), key) != 0) continue;
      if (found) throw InvalidArgumentError("remove node: id prefix '" + key + "' is ambiguous");
      found = n;
    }
  }
  if (!found) throw NotFoundError("remove node: node '" + key + "' not found");
  const store::NodeInfo node = *found;
  const std::string what = "remove node " + (node.name.empty() ? "" : node.name + " ") + "(" +
                           store::format_node_id(node.id) + ")";
  if (node.id == identity_.id) throw InvalidArgumentError(what + ": this is the node itself");
  if (node.status == store::NodeStatus::kRemoved) throw ConflictError(what + ": already removed");
  if (live_.count(node.id)) {
    throw ConflictError(what +
                        ": it is alive (or suspected, not yet declared dead); `trellis node rm` "
                        "is for nodes gone for good: stop it first");
  }
  const store::VersionVector vv = store_.version_vector();
  const auto it = vv.find(node.id);
  commit({store::NodeRemoved{node.id, it == vv.end() ? 0 : it->second}});
  logger().warn("{}: its endpoints and sandboxes are gone, its ranges and networks are ours", what);
  return node;
}

// ---- sandboxes -------------------------------------------------------------------------------

store::SandboxInfo Controller::create_sandbox(const SandboxRequest& request) {
  const std::string what = "create sandbox '" + request.name + "'";
  validate_name("sandbox name", request.name);
  for (const auto& [id, s] : cache_.sandboxes()) {
    if (s.owner == identity_.id && s.spec.container_id == request.name)
      throw ConflictError(what + ": the name is taken by sandbox " + short_id(id));
  }
  store::SandboxCreated spec;
  spec.id = new_id();
  spec.container_id = request.name;
  if (!request.hostname.empty()) {
    check_hostname("hostname", request.hostname);
    spec.hostname = request.hostname;
  } else {
    spec.hostname = valid_hostname(request.name) ? request.name : short_id(spec.id);
  }
  if (!request.domain.empty()) check_hostname("domain", request.domain);
  spec.domain = request.domain;
  for (const auto& server : request.dns_servers)
    spec.dns_servers.push_back(ipam::IpAddress::parse(server).to_string());
  for (const auto& search : request.dns_search) check_hostname("dns search domain", search);
  spec.dns_search = request.dns_search;
  for (const auto& option : request.dns_options) {
    if (option.empty() || option.find_first_of(" \t\n") != std::string::npos)
      throw InvalidArgumentError("dns option '" + option + "' is empty or has white space");
  }
  spec.dns_options = request.dns_options;
  for (const auto& host : request.extra_hosts) {
    check_hostname("extra host name", host.name);
    spec.extra_hosts.push_back({host.name, ipam::IpAddress::parse(host.address).to_string()});
  }
  const std::string id = spec.id;
  Failures failures = commit({std::move(spec)});
  if (auto it = failures.find("sandbox/" + id); it != failures.end()) {
    const Failure failure = it->second;
    logger().warn("sandbox {} could not be set up, removing it: {}", request.name, failure.message);
    commit({store::SandboxRemoved{id}});
    throw_error(failure.kind, what + ": " + failure.message);
  }
  const auto* created = cache_.sandbox(id);
  if (!created) throw InternalError(what + ": the sandbox vanished after commit");
  logger().debug("sandbox {} ({}) created", request.name, short_id(id));
  return *created;
}

store::SandboxInfo Controller::remove_sandbox(std::string_view ref) {
  const store::SandboxInfo s = find_sandbox(ref);
  const std::string what =
      "remove sandbox " + s.spec.container_id + " (" + short_id(s.spec.id) + ")";
  if (s.owner != identity_.id)
    throw ConflictError(what + ": it belongs to node " + store::format_node_id(s.owner));
  std::vector<store::Body> bodies;
  for (const auto& ep : s.endpoints) bodies.push_back(store::EndpointRemoved{ep});
  bodies.push_back(store::SandboxRemoved{s.spec.id});
  commit(std::move(bodies));
  logger().debug("sandbox {} removed with {} endpoints", short_id(s.spec.id), s.endpoints.size());
  return s;
}

}  // namespace trellis::node
