#include "node/control/controller.h"
#include "node/control/references.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "common/error.h"
#include "common/log.h"
#include "ipam/allocator.h"
#include "ipam/ip.h"
#include "node/drivers/pool_rules.h"
#include "node/drivers/registry.h"
#include "node/model/ids.h"

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
  ReconcileResult result = reconciler_.reconcile(cache_, dirty);
  // Forget old failures of what the pass looked at (only those: an object it did not attempt
  // is still to be retried), record the new ones.
  if (dirty.all) failures_.clear();
  for (const auto& ref : result.examined) failures_.erase(ref);
  for (const auto& [ref, failure] : result.failures) failures_[ref] = failure;
  return std::move(result.failures);
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
  for (const auto& [ref, failure] : failures_) {
    switch (ref.kind) {
      case ObjectRef::Kind::kNetwork:
        dirty.networks.insert(ref.id);
        break;
      case ObjectRef::Kind::kEndpoint:
        dirty.endpoints.insert(ref.id);
        break;
      case ObjectRef::Kind::kSandbox:
        dirty.sandboxes.insert(ref.id);
        break;
      default:
        dirty.all = true;  // nftables, a driver's node-wide work, stray links, preparation
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
  std::vector<ReferenceCandidate<store::NetworkInfo>> candidates;
  for (const auto& [id, n] : cache_.networks()) {
    // A network that lost a name conflict answers to its id, not to the name it lost.
    if (visible(n)) candidates.push_back({id, n.spec.name, &n, !n.name_conflict});
  }
  return resolve_reference(ref, candidates, {"network"});
}

const store::EndpointInfo& Controller::find_endpoint(std::string_view ref,
                                                     std::string_view network_ref) const {
  std::string network_id;
  if (!network_ref.empty()) network_id = find_network(network_ref).spec.id;
  std::vector<ReferenceCandidate<store::EndpointInfo>> candidates;
  for (const auto& [id, e] : cache_.endpoints()) {
    if (!network_id.empty() && e.spec.network != network_id) continue;
    // Without a network, a name means one of this node's endpoints; ids reach every one.
    const bool named = !network_id.empty() || e.spec.owner == identity_.id;
    candidates.push_back({id, named ? std::string_view(e.spec.name) : std::string_view(), &e});
  }
  ReferenceRules rules{"endpoint", "name the network too"};
  if (!network_ref.empty()) rules.not_found_suffix = " on network " + std::string(network_ref);
  return resolve_reference(ref, candidates, rules);
}

const store::SandboxInfo& Controller::find_sandbox(std::string_view ref) const {
  std::vector<ReferenceCandidate<store::SandboxInfo>> candidates;
  for (const auto& [id, s] : cache_.sandboxes()) {
    // Sandbox names are unique per node: only this node's sandboxes answer to a name.
    const bool named = s.owner == identity_.id;
    candidates.push_back(
        {id, named ? std::string_view(s.spec.container_id) : std::string_view(), &s});
  }
  return resolve_reference(ref, candidates, {"sandbox"});
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
    const NetworkDriver* driver = n ? DriverRegistry::builtin().find(n->spec.driver) : nullptr;
    if (driver && driver->capabilities().host_namespace) return true;
  }
  return false;
}

std::string Controller::netns_path(const std::string& sandbox_id) const {
  return host_mode(sandbox_id) ? paths_.host_netns() : paths_.sandbox_netns(sandbox_id);
}

// ---- networks --------------------------------------------------------------------------------

store::NetworkInfo Controller::create_network(NetworkRequest request) {
  if (request.driver.empty()) request.driver = DriverRegistry::kDefaultDriver;
  const std::string what = "create network '" + request.name + "'";
  validate_name("network name", request.name);
  const NetworkDriver& driver = network_driver(request.driver);
  const DriverCapabilities& caps = driver.capabilities();
  for (const auto& [id, n] : cache_.networks()) {
    if (!visible(n)) continue;
    if (n.spec.name == request.name) {
      throw ConflictError(what + ": the name is taken by network " + short_id(id));
    }
    if (caps.exclusive && n.spec.driver == request.driver) {
      throw ConflictError(what + ": only one " + request.driver + " network per node (there is " +
                          network_label(n) + ")");
    }
  }
  if (request.enable_ipv6) throw InvalidArgumentError(what + ": IPv6 is not implemented yet");
  if (request.internal && !caps.needs_ipam) {
    throw InvalidArgumentError(what + ": driver " + request.driver +
                               " networks cannot be internal (they have no addresses)");
  }
  store::NetworkCreated spec = network_spec(request, driver, what);
  if (!caps.needs_ipam) {
    if (!spec.ipam.pools.empty())
      throw InvalidArgumentError(what + ": driver " + spec.driver + " takes no subnet");
  } else {
    plan_network(driver, spec, what);
  }

  const std::string id = spec.id;
  Failures failures = commit({std::move(spec)});
  if (auto it = failures.find(ObjectRef::network(id)); it != failures.end()) {
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

store::NetworkCreated Controller::network_spec(const NetworkRequest& request,
                                               const NetworkDriver& driver,
                                               const std::string& what) const {
  store::NetworkCreated spec;
  spec.id = new_id();
  spec.name = request.name;
  spec.driver = request.driver;
  spec.cluster_scope = driver.capabilities().scope == DriverScope::kCluster;
  spec.internal = request.internal;
  spec.attachable = request.attachable;
  spec.options = driver.normalize_options(request.options);
  spec.labels = request.labels;
  spec.ipam = request.ipam;
  if (spec.ipam.driver.empty()) spec.ipam.driver = "default";
  if (spec.ipam.driver != "default") {
    throw InvalidArgumentError(what + ": unknown IPAM driver '" + spec.ipam.driver +
                               "' (only \"default\")");
  }
  if (!spec.ipam.options.empty())
    throw InvalidArgumentError(what + ": the default IPAM driver takes no options");

  // The mtu option is the network's MTU field under its Docker spelling.
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
  return spec;
}

void Controller::plan_network(const NetworkDriver& driver, store::NetworkCreated& spec,
                              const std::string& what) const {
  if (spec.ipam.pools.size() > 1)
    throw InvalidArgumentError(what + ": more than one subnet per network is not implemented yet");
  if (driver.capabilities().needs_clustering && !options_.clustering) {
    throw InvalidArgumentError(what + ": driver " + spec.driver +
                               " needs clustering: start trellisd with --advertise-addr");
  }
  store::IpamPoolConfig pool =
      spec.ipam.pools.empty() ? store::IpamPoolConfig{} : spec.ipam.pools.front();
  // New subnets must not shadow what the host uses already (docker0's 172.17.0.0/16, a VPN's
  // routes): listed now, as the kernel has it.
  PlanningContext context = planning();
  context.host_prefixes = reconciler_.host_prefixes();
  if (auto wanted = driver.plan_network(context, spec, pool, what))
    throw SpaceShortage(what, wanted->donor, wanted->wanted, wanted->space, wanted->payload);
  complete_pool(cache_, identity_.id, context.host_prefixes, spec, std::move(pool), what);
}

PlanningContext Controller::planning() const {
  return PlanningContext{cache_, store_, identity_.id, live_nodes(), {}};
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
  const NetworkDriver& driver = network_driver(net.spec.driver);
  const DriverCapabilities& caps = driver.capabilities();
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
  if (caps.needs_ipam && !caps.publishes_ports && !request.ports.empty()) {
    throw InvalidArgumentError(where + ": publishing ports of " + net.spec.driver +
                               " endpoints is not implemented yet");
  }
  if (caps.needs_ipam) {
    const AddressPlan address = driver.plan_address(planning(), net, request.ip, where);
    if (address.shortage) {
      const SpaceWanted& w = *address.shortage;
      throw SpaceShortage(where, w.donor, w.wanted, w.space, w.payload);
    }
    spec.addresses = {address.address};
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
  const bool exclusive = network_driver(net->spec.driver).capabilities().exclusive;
  for (const auto* other : cache_.joined_endpoints(s.spec.id)) {
    const store::NetworkInfo* on = cache_.network(other->spec.network);
    if (exclusive) {
      throw ConflictError(what + ": a sandbox on a " + net->spec.driver +
                          " network joins nothing else (it has endpoint " + other->spec.name + ")");
    }
    if (on && network_driver(on->spec.driver).capabilities().exclusive) {
      throw ConflictError(what + ": the sandbox is on " + on->spec.driver + " network " +
                          network_label(*on) + " and joins nothing else");
    }
    if (other->spec.network == e.spec.network) {
      throw ConflictError(what + ": the sandbox is already on network " + network_label(*net) +
                          " (endpoint " + other->spec.name + ")");
    }
  }
  Failures failures = commit({store::EndpointJoined{e.spec.id, s.spec.id}});
  for (const ObjectRef& ref :
       {ObjectRef::endpoint(e.spec.id), ObjectRef::sandbox(s.spec.id), ObjectRef::nftables()}) {
    auto it = failures.find(ref);
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

std::set<store::NodeId> Controller::live_nodes() const {
  std::set<store::NodeId> live;
  if (options_.live_nodes) live = options_.live_nodes->live_nodes();
  live.erase(identity_.id);
  return live;
}

void Controller::append(std::vector<store::Body> bodies) {
  if (bodies.empty()) return;
  commit(std::move(bodies));
}

store::NodeInfo Controller::remove_node(std::string_view ref) {
  const std::vector<store::NodeInfo> nodes = store_.read().nodes();
  std::vector<std::string> ids;
  for (const auto& n : nodes) ids.push_back(store::format_node_id(n.id));
  std::vector<ReferenceCandidate<store::NodeInfo>> candidates;
  for (size_t i = 0; i < nodes.size(); ++i)
    candidates.push_back({ids[i], nodes[i].name, &nodes[i]});
  const store::NodeInfo& found = resolve_reference(ref, candidates, {"node", "give the node id"});
  const store::NodeInfo node = found;
  const std::string what = "remove node " + (node.name.empty() ? "" : node.name + " ") + "(" +
                           store::format_node_id(node.id) + ")";
  if (node.id == identity_.id) throw InvalidArgumentError(what + ": this is the node itself");
  if (node.status == store::NodeStatus::kRemoved) throw ConflictError(what + ": already removed");
  if (live_nodes().count(node.id)) {
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
  if (auto it = failures.find(ObjectRef::sandbox(id)); it != failures.end()) {
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
