#include "node/kernel_reconciler.h"

#include <dirent.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "ipam/ip.h"
#include "node/drivers.h"
#include "node/ids.h"
#include "node/log.h"
#include "node/naming.h"
#include "node/nftables.h"
#include "node/sandbox_files.h"
#include "node/state_cache.h"
#include "overlay/overlay_network.h"
#include "overlay/peer_table.h"

namespace trellis::node {

namespace {

spdlog::logger& logger() { return log("reconciler"); }
spdlog::logger& bridge_log() { return log("bridge"); }
spdlog::logger& overlay_log() { return log("overlay"); }

constexpr uint32_t kDefaultMtu = 1500;

struct Alias {
  store::NodeId node = 0;
  std::string kind;
  std::string id;
};

// "trellis/<node>/<kind>/<id>"
std::optional<Alias> parse_alias(const std::string& alias) {
  constexpr std::string_view kPrefix = "trellis/";
  if (alias.compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;
  const std::string rest = alias.substr(kPrefix.size());
  const auto a = rest.find('/');
  if (a == std::string::npos) return std::nullopt;
  const auto b = rest.find('/', a + 1);
  if (b == std::string::npos) return std::nullopt;
  Alias out;
  try {
    out.node = store::parse_node_id(rest.substr(0, a));
  } catch (const Error&) {
    return std::nullopt;
  }
  out.kind = rest.substr(a + 1, b - a - 1);
  out.id = rest.substr(b + 1);
  if (out.id.empty()) return std::nullopt;
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string gateway_cidr(const store::NetworkInfo& n) {
  const auto& pool = n.spec.ipam_result.pools.front();
  const ipam::Prefix p = ipam::Prefix::parse(pool.subnet);
  return pool.gateway + "/" + std::to_string(p.length());
}

uint32_t network_mtu(const store::NetworkInfo& n) { return n.spec.mtu ? n.spec.mtu : kDefaultMtu; }

// Names of the egress veth of a sandbox: the host end on trlgw0, and the sandbox end before it
// is renamed to gw0.
std::string egress_host_name(std::string_view sandbox_id) {
  return "trlg" + std::string(sandbox_id.substr(0, 11));
}
std::string egress_peer_name(std::string_view sandbox_id) {
  return "trlq" + std::string(sandbox_id.substr(0, 11));
}
constexpr std::string_view kEgressBridgeAliasKind = "egressbr";
constexpr std::string_view kEgressAliasKind = "egress";
constexpr std::string_view kOverlayNetnsPrefix = "trl-ov-";

std::string egress_gateway_cidr() {
  return std::string(kEgressGateway) + "/" +
         std::to_string(ipam::Prefix::parse(std::string(kEgressSubnet)).length());
}

Failure failure_of(const std::exception& e) {
  if (const auto* err = dynamic_cast<const Error*>(&e)) return {err->kind(), err->what()};
  return {ErrorKind::kInternal, e.what()};
}

}  // namespace

KernelReconciler::KernelReconciler(NetOps& ops, KernelReconcilerOptions options)
    : ops_(ops), options_(std::move(options)), paths_(options_.run_dir) {
  if (!options_.apply_nft) {
    const std::string script_path = paths_.run_dir() + "/nftables.rules";
    options_.apply_nft = [script_path](const std::string& script) {
      apply_nft("nft", script_path, script);
    };
  }
}

void KernelReconciler::prepare() {
  std::error_code ec;
  std::filesystem::create_directories(paths_.sandboxes_dir(), ec);
  if (ec) throw InternalError("create " + paths_.sandboxes_dir() + ": " + ec.message());
  ops_.prepare_netns_dir(paths_.netns_dir());
  ops_.bind_own_netns(paths_.host_netns());
  prepared_ = true;
}

void KernelReconciler::discover() {
  bridges_.clear();
  sandboxes_.clear();
  joins_.clear();
  stray_links_.clear();
  unlabelled_links_.clear();
  overlay_nets_.clear();
  overlay_attached_.clear();
  overlay_swept_ = false;
  egress_bridge_.reset();
  egress_.clear();
  std::map<std::string, std::string> bridge_by_name;  // link name -> network id
  std::map<std::string, LinkInfo> host_veths;         // endpoint id -> host end
  std::map<std::string, LinkInfo> egress_veths;       // sandbox id -> host end on trlgw0
  for (auto& link : ops_.links("")) {
    if (!starts_with(link.name, kLinkPrefix)) continue;
    const auto alias = parse_alias(link.alias);
    if (!alias) {
      unlabelled_links_.insert(link.name);
      continue;
    }
    if (alias->node != options_.node) continue;  // another daemon's
    if (alias->kind == "net" && link.kind == "bridge") {
      Bridge b;
      b.name = link.name;
      b.mtu = link.mtu;
      b.up = link.up;
      b.addresses.insert(link.addresses.begin(), link.addresses.end());
      bridge_by_name[link.name] = alias->id;
      bridges_[alias->id] = std::move(b);
    } else if (alias->kind == "ep") {
      host_veths[alias->id] = std::move(link);
    } else if (alias->kind == kEgressBridgeAliasKind && link.kind == "bridge" &&
               link.name == kEgressBridge) {
      Bridge b;
      b.name = link.name;
      b.mtu = link.mtu;
      b.up = link.up;
      b.addresses.insert(link.addresses.begin(), link.addresses.end());
      if (b.addresses.count(egress_gateway_cidr())) b.gateway = egress_gateway_cidr();
      egress_bridge_ = std::move(b);
    } else if (alias->kind == kEgressAliasKind) {
      egress_veths[alias->id] = std::move(link);
    } else {
      stray_links_.insert(link.name);
    }
  }
  if (DIR* dir = opendir(paths_.netns_dir().c_str())) {
    std::vector<std::string> names;
    while (dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      // Overlay namespaces share the directory; OverlayHost adopts them.
      if (name != "." && name != ".." && name != "host" && !starts_with(name, kOverlayNetnsPrefix))
        names.push_back(name);
    }
    closedir(dir);
    for (const auto& id : names) {
      const std::string path = paths_.sandbox_netns(id);
      if (!ops_.is_netns(path)) {
        ops_.remove_netns(path);  // a stale file left by a crash
        continue;
      }
      Sandbox& sb = sandboxes_[id];
      sb.ns = true;
      sb.route = ops_.default_route(path);
      for (const auto& link : ops_.links(path)) {
        const auto alias = parse_alias(link.alias);
        if (!alias || alias->node != options_.node) continue;
        if (alias->kind == kEgressAliasKind && alias->id == id) {
          Egress g;
          g.up = link.up;
          if (!link.addresses.empty()) g.address = link.addresses.front();
          if (auto host = egress_veths.find(id); host != egress_veths.end()) {
            g.host_link = host->second.name;
            g.up = g.up && host->second.up && host->second.master == kEgressBridge;
            egress_veths.erase(host);
          }
          egress_[id] = std::move(g);
          continue;
        }
        // An endpoint's interface. Without a host end here it is an overlay join (its outer
        // end is in the overlay namespace; adopted by ensure_overlay_join) or a broken one.
        if (alias->kind != "ep") continue;
        Join j;
        j.sandbox = id;
        j.ifname = link.name;
        j.mac = link.mac;
        j.up = link.up;
        if (!link.addresses.empty()) j.address = link.addresses.front();
        if (auto host = host_veths.find(alias->id); host != host_veths.end()) {
          j.host_link = host->second.name;
          j.up = j.up && host->second.up;
          if (auto b = bridge_by_name.find(host->second.master); b != bridge_by_name.end())
            j.network = b->second;
          host_veths.erase(host);
        }
        joins_[alias->id] = std::move(j);
      }
    }
  }
  // Host ends whose sandbox end is gone: remembered so that they are removed.
  for (auto& [id, link] : host_veths) joins_[id] = Join{"", "", link.name, "", "", "", false};
  for (auto& [id, link] : egress_veths) stray_links_.insert(link.name);
  logger().info(
      "adopted {} bridges, {} sandbox namespaces, {} interfaces, {} egress interfaces ({} stray, "
      "{} unlabelled links)",
      bridges_.size(), sandboxes_.size(), joins_.size(), egress_.size(), stray_links_.size(),
      unlabelled_links_.size());
}

bool KernelReconciler::network_desired(const StateCache& state, const std::string& id) const {
  const auto* n = state.network(id);
  return n && n->owner == options_.node && !n->spec.cluster_scope && n->spec.driver == "bridge" &&
         !n->spec.ipam_result.pools.empty();
}

bool KernelReconciler::sandbox_desired(const StateCache& state, const std::string& id) const {
  const auto* s = state.sandbox(id);
  return s && s->owner == options_.node;
}

bool KernelReconciler::join_desired(const StateCache& state, const std::string& id) const {
  const auto* e = state.endpoint(id);
  if (!e || e->spec.owner != options_.node || e->sandbox.empty()) return false;
  if (!sandbox_desired(state, e->sandbox)) return false;
  return network_desired(state, e->spec.network) || is_overlay_network(state, e->spec.network);
}

bool KernelReconciler::is_overlay_network(const StateCache& state, const std::string& id) const {
  const auto* n = state.network(id);
  return n && overlay::is_overlay(*n) && n->spec.ipam_result.vni != 0 &&
         !n->spec.ipam_result.pools.empty();
}

bool KernelReconciler::egress_enabled(const store::NetworkInfo& n) const {
  auto it = n.spec.options.find("egress");
  if (it == n.spec.options.end() || it->second.empty()) return options_.egress_default;
  const std::string& v = it->second;
  return v == "true" || v == "1" || v == "yes" || v == "on";
}

// ---- bridges ---------------------------------------------------------------------------------

void KernelReconciler::ensure_bridge(const StateCache& state, const std::string& id) {
  const store::NetworkInfo& n = *state.network(id);
  const std::string name = bridge_name(id);
  const std::string gw = gateway_cidr(n);
  const uint32_t mtu = network_mtu(n);
  const BridgeOptions opts = bridge_options(n.spec.options);
  if (!opts.icc && !br_netfilter_) {
    try {
      ops_.set_sysctl("", "net/bridge/bridge-nf-call-iptables", "1");
    } catch (const NotFoundError&) {
      throw UnavailableError("network " + n.spec.name +
                             ": icc=false needs the br_netfilter kernel module");
    }
    br_netfilter_ = true;
  }
  if (!n.spec.internal && !forwarding_) {
    ops_.set_sysctl("", "net/ipv4/ip_forward", "1");
    forwarding_ = true;
  }
  auto it = bridges_.find(id);
  if (it == bridges_.end()) {
    ops_.delete_link("", name);  // a half-made bridge of a crashed run, without its alias
    unlabelled_links_.erase(name);
    ops_.create_bridge(name, object_alias(options_.node, "net", id), mtu);
    Bridge b;
    b.name = name;
    b.mtu = mtu;
    it = bridges_.emplace(id, std::move(b)).first;
    // A fixed MAC: otherwise the bridge takes the lowest MAC of its ports and changes it as
    // containers come and go, which invalidates the containers' ARP entries for the gateway.
    const ipam::IpAddress gw_address = ipam::InterfaceAddress::parse(gw).address;
    ops_.change_link("", name, LinkChange{.mac = mac_from_ipv4(gw_address)});
    bridge_log().info("bridge {} created for network {} ({})", name, n.spec.name, gw);
  }
  Bridge& b = it->second;
  if (b.mtu != mtu) {
    ops_.change_link("", name, LinkChange{.mtu = mtu});
    b.mtu = mtu;
  }
  if (b.gateway != gw) {
    for (const auto& a : b.addresses) {
      if (a != gw) ops_.remove_address("", name, a);
    }
    b.addresses.clear();
    ops_.add_address("", name, gw);
    b.addresses.insert(gw);
    b.gateway = gw;
    // Published ports are reachable on 127.0.0.1 only if loopback-sourced packets may be
    // routed out of the bridge.
    ops_.set_sysctl("", "net/ipv4/conf/" + name + "/route_localnet", "1");
  }
  if (!b.up) {
    ops_.change_link("", name, LinkChange{.up = true});
    b.up = true;
  }
}

void KernelReconciler::remove_bridge(const std::string& id) {
  auto it = bridges_.find(id);
  if (it == bridges_.end()) return;
  ops_.delete_link("", it->second.name);
  bridge_log().info("bridge {} removed", it->second.name);
  bridges_.erase(it);
}

// ---- sandboxes -------------------------------------------------------------------------------

void KernelReconciler::ensure_sandbox(const std::string& id) {
  Sandbox& sb = sandboxes_[id];
  if (!sb.ns) {
    const std::string path = paths_.sandbox_netns(id);
    // A namespace of this id that discover() did not adopt, or a stale plain file left by a
    // crash between creating the file and binding the namespace on it.
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(path, ec))) ops_.remove_netns(path);
    ops_.create_netns(path);
    sb.ns = true;
    sb.route.reset();
  }
  std::error_code ec;
  std::filesystem::create_directories(paths_.sandbox_dir(id), ec);
  if (ec) throw InternalError("create " + paths_.sandbox_dir(id) + ": " + ec.message());
}

void KernelReconciler::remove_sandbox(const std::string& id) {
  remove_egress(id);
  for (auto it = joins_.begin(); it != joins_.end();) {
    if (it->second.sandbox == id) {
      const std::string ep = it->first;
      ++it;
      remove_join(ep);
    } else {
      ++it;
    }
  }
  ops_.remove_netns(paths_.sandbox_netns(id));
  std::error_code ec;
  std::filesystem::remove_all(paths_.sandbox_dir(id), ec);
  sandboxes_.erase(id);
}

// ---- joins -----------------------------------------------------------------------------------

std::string KernelReconciler::next_ifname(const std::string& sandbox_id) const {
  std::set<std::string> used;
  for (const auto& [ep, j] : joins_) {
    if (j.sandbox == sandbox_id) used.insert(j.ifname);
  }
  for (int i = 0;; ++i) {
    std::string name = "eth" + std::to_string(i);
    if (!used.count(name)) return name;
  }
}

void KernelReconciler::ensure_join(const StateCache& state, const std::string& id) {
  const store::EndpointInfo& e = *state.endpoint(id);
  if (is_overlay_network(state, e.spec.network)) {
    ensure_overlay_join(state, id);
    return;
  }
  const store::NetworkInfo& n = *state.network(e.spec.network);
  const std::string address = e.spec.addresses.empty() ? "" : e.spec.addresses.front();
  if (auto it = joins_.find(id); it != joins_.end()) {
    const Join& j = it->second;
    if (j.sandbox == e.sandbox && j.network == n.spec.id && j.address == address &&
        j.mac == e.spec.mac && j.up && !j.host_link.empty()) {
      return;
    }
    remove_join(id);
  }
  auto bridge = bridges_.find(n.spec.id);
  if (bridge == bridges_.end() || !bridge->second.up)
    throw UnavailableError("the bridge of network " + n.spec.name + " is not set up");
  auto sb = sandboxes_.find(e.sandbox);
  if (sb == sandboxes_.end() || !sb->second.ns)
    throw UnavailableError("the namespace of sandbox " + short_id(e.sandbox) + " is not set up");

  const std::string ns = paths_.sandbox_netns(e.sandbox);
  const std::string host = veth_host_name(id);
  const std::string peer = veth_peer_name(id);
  const std::string alias = object_alias(options_.node, "ep", id);
  const uint32_t mtu = network_mtu(n);
  Join j;
  j.sandbox = e.sandbox;
  j.network = n.spec.id;
  j.host_link = host;
  j.ifname = next_ifname(e.sandbox);
  j.address = address;
  j.mac = e.spec.mac;
  ops_.delete_link("", host);  // a leftover without its alias (crash between create and alias)
  unlabelled_links_.erase(host);
  ops_.create_veth(host, alias, peer, ns, mtu);
  // Record it at once, so a failure below tears down what exists.
  joins_[id] = j;
  ops_.change_link(ns, peer, LinkChange{.name = j.ifname, .mac = j.mac, .alias = alias});
  if (!address.empty()) ops_.add_address(ns, j.ifname, address);
  ops_.change_link(ns, j.ifname, LinkChange{.up = true});
  ops_.change_link("", host, LinkChange{.master = bridge->second.name, .up = true});
  joins_[id].up = true;
}

void KernelReconciler::remove_join(const std::string& id) {
  auto it = joins_.find(id);
  if (it == joins_.end()) return;
  const Join j = it->second;
  if (j.vni != 0 && overlay_) {
    // The outer end is in the overlay namespace; deleting it removes the pair.
    overlay_->detach(j.vni, id);
    if (auto a = overlay_attached_.find(j.vni); a != overlay_attached_.end())
      a->second.erase(id.substr(0, 11));
  } else if (!j.host_link.empty() && j.vni == 0) {
    ops_.delete_link("", j.host_link);
  } else if (!j.sandbox.empty() && !j.ifname.empty()) {
    ops_.delete_link(paths_.sandbox_netns(j.sandbox), j.ifname);
  }
  joins_.erase(it);
  if (!j.sandbox.empty()) {
    auto sb = sandboxes_.find(j.sandbox);
    // The kernel drops a route with its link.
    if (sb != sandboxes_.end() && sb->second.route && sb->second.route->second == j.ifname)
      sb->second.route.reset();
  }
}

// ---- per-sandbox derived state ---------------------------------------------------------------

void KernelReconciler::update_route(const StateCache& state, const std::string& sandbox_id) {
  // The first joined non-internal network (bridge or overlay) with a gateway gives the
  // default route; an overlay network with egress routes it via the sandbox's gw0 instead.
  std::optional<std::pair<std::string, std::string>> want;
  bool egress = false;
  for (const auto* e : state.joined_endpoints(sandbox_id)) {
    const auto* n = state.network(e->spec.network);
    if (!n || n->spec.internal || n->spec.ipam_result.pools.empty()) continue;
    const bool overlay_net = is_overlay_network(state, n->spec.id);
    if (n->spec.driver != "bridge" && !overlay_net) continue;
    auto j = joins_.find(e->spec.id);
    if (j == joins_.end() || j->second.sandbox != sandbox_id) continue;
    if (overlay_net && egress_enabled(*n)) {
      egress = true;
      want = std::make_pair(std::string(kEgressGateway), std::string(kEgressIfname));
      break;
    }
    const std::string& gateway = n->spec.ipam_result.pools.front().gateway;
    if (gateway.empty()) continue;
    want = std::make_pair(gateway, j->second.ifname);
    break;
  }
  if (egress) {
    ensure_egress(sandbox_id);
  } else if (egress_.count(sandbox_id)) {
    remove_egress(sandbox_id);
  }
  Sandbox& sb = sandboxes_[sandbox_id];
  if (want == sb.route) return;
  const std::string ns = paths_.sandbox_netns(sandbox_id);
  if (want) {
    ops_.set_default_route(ns, want->first, want->second);
  } else {
    ops_.clear_default_route(ns);
  }
  sb.route = want;
}

void KernelReconciler::update_files(const StateCache& state, const std::string& sandbox_id) {
  const store::SandboxInfo& s = *state.sandbox(sandbox_id);
  Sandbox& sb = sandboxes_[sandbox_id];
  std::vector<std::string> own;
  for (const auto* e : state.joined_endpoints(sandbox_id))
    own.insert(own.end(), e->spec.addresses.begin(), e->spec.addresses.end());
  const std::string hosts = render_hosts(s.spec, own);
  const std::string resolv = render_resolv_conf(s.spec, read_file(options_.resolv_conf));
  const std::string hostname = render_hostname(s.spec);
  if (hosts != sb.hosts) {
    write_in_place(paths_.hosts_file(sandbox_id), hosts);
    sb.hosts = hosts;
  }
  if (resolv != sb.resolv) {
    write_in_place(paths_.resolv_file(sandbox_id), resolv);
    sb.resolv = resolv;
  }
  if (hostname != sb.hostname) {
    write_in_place(paths_.hostname_file(sandbox_id), hostname);
    sb.hostname = hostname;
  }
}

void KernelReconciler::update_nftables(const StateCache& state) {
  NftRuleset rules;
  for (const auto& [id, n] : state.networks()) {
    if (!network_desired(state, id) || !bridges_.count(id)) continue;
    const BridgeOptions opts = bridge_options(n.spec.options);
    rules.networks.push_back({bridges_.at(id).name, n.spec.ipam_result.pools.front().subnet,
                              n.spec.internal, opts.icc, opts.masquerade});
  }
  // Overlay egress: the sandboxes' gw0 addresses leave through the host, masqueraded.
  if (egress_bridge_)
    rules.networks.push_back(
        {std::string(kEgressBridge), std::string(kEgressSubnet), false, true, true});
  for (const auto& [id, e] : state.endpoints()) {
    if (e.spec.ports.empty() || !joins_.count(id) || e.spec.addresses.empty()) continue;
    const auto* n = state.network(e.spec.network);
    if (!n) continue;
    std::string ip = ipam::InterfaceAddress::parse(e.spec.addresses.front()).address.to_string();
    if (is_overlay_network(state, n->spec.id)) {
      // The overlay is not routed from the host: published ports of an overlay container
      // reach it through its egress interface, if it has one.
      auto g = egress_.find(e.sandbox);
      if (g == egress_.end() || g->second.address.empty()) continue;
      ip = ipam::InterfaceAddress::parse(g->second.address).address.to_string();
    }
    const std::string default_host_ip = bridge_options(n->spec.options).host_ip;
    for (const auto& p : e.spec.ports) {
      rules.ports.push_back({p.protocol, p.host_port,
                             p.host_ip.empty() ? default_host_ip : p.host_ip, ip,
                             p.container_port});
    }
  }
  const std::string script = rules.empty() ? render_nft_delete(options_.nft_table)
                                           : render_nft_script(options_.nft_table, rules);
  if (nft_applied_ && *nft_applied_ == script) return;
  options_.apply_nft(script);
  nft_applied_ = script;
  logger().debug("nftables table {} applied ({} networks, {} published ports)", options_.nft_table,
                 rules.networks.size(), rules.ports.size());
}

// ---- overlay networks ------------------------------------------------------------------------

OverlayProgrammer* KernelReconciler::overlay(const StateCache& state) {
  if (!options_.make_overlay) return nullptr;
  const store::NodeInfo* me = state.node(options_.node);
  const std::optional<ipam::IpAddress> vtep =
      me ? overlay::advertised_vtep(*me) : std::optional<ipam::IpAddress>();
  if (!vtep) return overlay_.get();  // keep what we have (nothing, usually)
  if (overlay_ && overlay_->options().advertise == *vtep) return overlay_.get();
  overlay::HostOptions o;
  o.netns_dir = paths_.netns_dir();
  o.node = options_.node;
  o.advertise = *vtep;
  o.vxlan_port = options_.vxlan_port;
  if (overlay_) {
    overlay_log().info("VTEP address changed to {}: overlay devices will be rebuilt",
                       vtep->to_string());
  }
  overlay_ = options_.make_overlay(o);
  return overlay_.get();
}

void KernelReconciler::reconcile_overlay(const StateCache& state, const std::string& id,
                                         bool scan) {
  const store::NetworkInfo& n = *state.network(id);
  std::vector<store::EndpointInfo> endpoints;
  bool local = false;
  for (const auto* e : state.endpoints_of_network(id)) {
    endpoints.push_back(*e);
    local = local || e->spec.owner == options_.node;
  }
  OverlayProgrammer* ov = overlay(state);
  if (!ov) {
    if (!local) return;  // nothing to instantiate here
    if (!options_.make_overlay) {
      throw UnavailableError("overlay network " + n.spec.name +
                             ": the overlay driver is not available in this reconciler");
    }
    throw UnavailableError("overlay network " + n.spec.name +
                           ": this node has announced no IPv4 address to use as VTEP (start "
                           "trellisd with --advertise-addr)");
  }
  const overlay::OverlaySpec spec = overlay::OverlaySpec::from(n);
  if (auto old = overlay_nets_.find(id); old != overlay_nets_.end() && old->second != spec.vni)
    remove_overlay(id);
  const overlay::NetworkPeers peers = overlay::compute_network_peers(
      n, endpoints, state.node_records(), overlay::Membership{options_.node, live_});
  for (const auto& skipped : peers.skipped) {
    overlay_log().warn("network {}: endpoint {} of node {} not programmed: {}", n.spec.name,
                       short_id(skipped.endpoint), store::format_node_id(skipped.node),
                       skipped.reason);
  }
  const overlay::ReconcileResult r = ov->reconcile(spec, peers);
  if (!r.instantiated) {
    if (overlay_nets_.count(id) || r.removed) remove_overlay(id);
    return;
  }
  overlay_nets_[id] = spec.vni;
  if (r.created || !r.peers.empty()) {
    overlay_log().info("network {} (VNI {}): {} peers, {} withdrawn{}", n.spec.name, spec.vni,
                       peers.peers.size(), peers.withdrawn.size(),
                       r.created ? " (namespace created)" : "");
  }
  // The veths on the bridge: those of joined local endpoints are ours (ensure_join adopts or
  // repairs them); those of local endpoints that are not joined belong to another tool (e.g.
  // trellis-ovrouter) and are left alone; those of endpoints that are gone are removed.
  // Listed at start-up, when the namespace is new or unknown to the model, and when an
  // endpoint was removed; otherwise the model (kept by attach/detach) is current.
  if (!scan && !r.created && overlay_attached_.count(spec.vni)) return;
  std::set<std::string> on_bridge;
  for (auto& prefix : ov->attached(spec.vni)) on_bridge.insert(std::move(prefix));
  for (auto it = on_bridge.begin(); it != on_bridge.end();) {
    bool known = false;
    for (const auto& e : endpoints) {
      if (e.spec.owner == options_.node && e.spec.id.compare(0, it->size(), *it) == 0) {
        known = true;
        break;
      }
    }
    if (known) {
      ++it;
      continue;
    }
    ov->detach(spec.vni, *it);
    overlay_log().info("network {}: removed the veth of gone endpoint {}", n.spec.name, *it);
    it = on_bridge.erase(it);
  }
  overlay_attached_[spec.vni] = std::move(on_bridge);
}

void KernelReconciler::remove_overlay(const std::string& id) {
  auto it = overlay_nets_.find(id);
  if (it == overlay_nets_.end()) return;
  const uint32_t vni = it->second;
  // The namespace takes the veths along; forget the joins that lived there.
  for (auto j = joins_.begin(); j != joins_.end();) {
    if (j->second.vni != vni) {
      ++j;
      continue;
    }
    if (auto sb = sandboxes_.find(j->second.sandbox);
        sb != sandboxes_.end() && sb->second.route && sb->second.route->second == j->second.ifname)
      sb->second.route.reset();
    j = joins_.erase(j);
  }
  if (overlay_) overlay_->remove_network(vni);
  overlay_attached_.erase(vni);
  overlay_nets_.erase(it);
}

void KernelReconciler::ensure_overlay_join(const StateCache& state, const std::string& id) {
  const store::EndpointInfo& e = *state.endpoint(id);
  const store::NetworkInfo& n = *state.network(e.spec.network);
  auto net = overlay_nets_.find(n.spec.id);
  if (!overlay_ || net == overlay_nets_.end())
    throw UnavailableError("the overlay namespace of network " + n.spec.name + " is not set up");
  const uint32_t vni = net->second;
  if (e.spec.addresses.empty())
    throw InvalidArgumentError("endpoint " + e.spec.name + " on overlay network " + n.spec.name +
                               " has no address");
  const std::string& address = e.spec.addresses.front();
  auto sb = sandboxes_.find(e.sandbox);
  if (sb == sandboxes_.end() || !sb->second.ns)
    throw UnavailableError("the namespace of sandbox " + short_id(e.sandbox) + " is not set up");
  const std::string prefix = id.substr(0, 11);
  std::set<std::string>& on_bridge = overlay_attached_[vni];
  if (auto it = joins_.find(id); it != joins_.end()) {
    Join& j = it->second;
    const bool adoptable = j.vni == vni || (j.vni == 0 && j.host_link.empty() && j.network.empty());
    if (adoptable && j.sandbox == e.sandbox && j.address == address && j.mac == e.spec.mac &&
        j.up && on_bridge.count(prefix)) {
      j.vni = vni;
      j.network = n.spec.id;
      j.host_link = overlay::overlay_veth_name(id);
      return;
    }
    remove_join(id);
  }
  // A veth without its sandbox end (crash between attach and labelling), or half-made.
  overlay_->detach(vni, id);
  on_bridge.erase(prefix);

  overlay::OverlaySpec spec = overlay::OverlaySpec::from(n);
  spec.internal = true;  // the default route is update_route's
  const std::string ns = paths_.sandbox_netns(e.sandbox);
  Join j;
  j.sandbox = e.sandbox;
  j.network = n.spec.id;
  j.host_link = overlay::overlay_veth_name(id);
  j.ifname = next_ifname(e.sandbox);
  j.address = address;
  j.mac = e.spec.mac;
  j.vni = vni;
  overlay_->attach(spec, id, ns, j.ifname, e.spec.mac, ipam::InterfaceAddress::parse(address));
  joins_[id] = j;
  on_bridge.insert(prefix);
  // The sandbox end carries the endpoint's alias, so a restarted daemon adopts it.
  ops_.change_link(ns, j.ifname, LinkChange{.alias = object_alias(options_.node, "ep", id)});
  joins_[id].up = true;
}

// ---- overlay egress --------------------------------------------------------------------------

void KernelReconciler::ensure_egress_bridge() {
  if (!forwarding_) {
    ops_.set_sysctl("", "net/ipv4/ip_forward", "1");
    forwarding_ = true;
  }
  const std::string name(kEgressBridge);
  const std::string gw = egress_gateway_cidr();
  if (!egress_bridge_) {
    if (auto existing = ops_.link("", name)) {
      const auto alias = parse_alias(existing->alias);
      if (alias && alias->node != options_.node) {
        throw ConflictError("egress bridge " + name + " belongs to another trellisd (" +
                            existing->alias + ")");
      }
      ops_.delete_link("", name);  // half-made by a crashed run
      unlabelled_links_.erase(name);
    }
    ops_.create_bridge(name, object_alias(options_.node, kEgressBridgeAliasKind, name),
                       kDefaultMtu);
    Bridge b;
    b.name = name;
    b.mtu = kDefaultMtu;
    egress_bridge_ = std::move(b);
    ops_.change_link(
        "", name,
        LinkChange{.mac = mac_from_ipv4(ipam::IpAddress::parse(std::string(kEgressGateway)))});
    egress_changed_ = true;
    bridge_log().info("egress bridge {} created ({})", name, gw);
  }
  Bridge& b = *egress_bridge_;
  if (b.gateway != gw) {
    ops_.add_address("", name, gw);
    b.addresses.insert(gw);
    b.gateway = gw;
  }
  if (!b.up) {
    ops_.change_link("", name, LinkChange{.up = true});
    b.up = true;
  }
}

void KernelReconciler::remove_egress_bridge() {
  if (!egress_bridge_) return;
  ops_.delete_link("", egress_bridge_->name);
  bridge_log().info("egress bridge {} removed", egress_bridge_->name);
  egress_bridge_.reset();
  egress_changed_ = true;
}

std::string KernelReconciler::next_egress_address() const {
  const ipam::Prefix subnet = ipam::Prefix::parse(std::string(kEgressSubnet));
  std::set<std::string> used;
  for (const auto& [id, g] : egress_) used.insert(g.address);
  const std::string suffix = "/" + std::to_string(subnet.length());
  // Host offsets 2 .. size-2: .1 is the gateway, the last one the broadcast address.
  const uint64_t size = uint64_t{1} << (32 - subnet.length());
  for (uint64_t offset = 2; offset + 1 < size; ++offset) {
    std::string a = subnet.address_at(offset).to_string() + suffix;
    if (!used.count(a)) return a;
  }
  throw UnavailableError("overlay egress: no free address left in " + std::string(kEgressSubnet));
}

void KernelReconciler::ensure_egress(const std::string& sandbox_id) {
  ensure_egress_bridge();
  if (auto it = egress_.find(sandbox_id); it != egress_.end()) {
    if (it->second.up && !it->second.host_link.empty() && !it->second.address.empty()) return;
    remove_egress(sandbox_id);
  }
  const std::string ns = paths_.sandbox_netns(sandbox_id);
  const std::string host = egress_host_name(sandbox_id);
  const std::string peer = egress_peer_name(sandbox_id);
  const std::string ifname(kEgressIfname);
  const std::string alias = object_alias(options_.node, kEgressAliasKind, sandbox_id);
  const std::string address = next_egress_address();
  // Leftovers without the alias (a crash between creating and labelling).
  ops_.delete_link("", host);
  unlabelled_links_.erase(host);
  ops_.delete_link(ns, ifname);
  ops_.create_veth(host, alias, peer, ns, kDefaultMtu);
  egress_[sandbox_id] = Egress{host, address, false};
  egress_changed_ = true;
  ops_.change_link(ns, peer,
                   LinkChange{.name = ifname,
                              .mac = mac_from_ipv4(ipam::InterfaceAddress::parse(address).address),
                              .alias = alias});
  ops_.add_address(ns, ifname, address);
  ops_.change_link(ns, ifname, LinkChange{.up = true});
  ops_.change_link("", host, LinkChange{.master = std::string(kEgressBridge), .up = true});
  egress_[sandbox_id].up = true;
  overlay_log().info("sandbox {}: egress interface {} {} on {}", short_id(sandbox_id), ifname,
                     address, kEgressBridge);
}

void KernelReconciler::remove_egress(const std::string& sandbox_id) {
  auto it = egress_.find(sandbox_id);
  if (it == egress_.end()) return;
  const Egress g = it->second;
  if (!g.host_link.empty()) {
    ops_.delete_link("", g.host_link);
  } else if (ops_.is_netns(paths_.sandbox_netns(sandbox_id))) {
    ops_.delete_link(paths_.sandbox_netns(sandbox_id), std::string(kEgressIfname));
  }
  egress_.erase(it);
  egress_changed_ = true;
  if (auto sb = sandboxes_.find(sandbox_id);
      sb != sandboxes_.end() && sb->second.route && sb->second.route->second == kEgressIfname)
    sb->second.route.reset();
}

void KernelReconciler::set_live_nodes(std::set<store::NodeId> live) {
  live.erase(options_.node);
  if (live == live_) return;
  live_ = std::move(live);
  overlays_dirty_ = true;
}

// ---- the pass --------------------------------------------------------------------------------

Failures KernelReconciler::reconcile(const StateCache& state, const Dirty& dirty) {
  Failures failures;
  auto attempt = [&](const std::string& key, const auto& fn) {
    try {
      fn();
      return true;
    } catch (const std::exception& e) {
      Failure f = failure_of(e);
      logger().warn("{}: {}", key, f.message);
      failures[key] = std::move(f);
      return false;
    }
  };

  const bool all = dirty.all || !prepared_;
  if (all) {
    if (!attempt("prepare", [&] {
          prepare();
          discover();
        })) {
      prepared_ = false;
      return failures;
    }
  }

  // What to look at: the dirty objects, plus joins of dirty sandboxes and networks.
  std::set<std::string> nets = dirty.networks, sbs = dirty.sandboxes, eps = dirty.endpoints;
  if (all) {
    for (const auto& [id, n] : state.networks()) nets.insert(id);
    for (const auto& [id, b] : bridges_) nets.insert(id);
    for (const auto& [id, s] : state.sandboxes()) sbs.insert(id);
    for (const auto& [id, s] : sandboxes_) sbs.insert(id);
    for (const auto& [id, e] : state.endpoints()) eps.insert(id);
    for (const auto& [id, j] : joins_) eps.insert(id);
    // Sandbox directories of a crashed run whose namespace is gone.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(paths_.sandboxes_dir(), ec))
      sbs.insert(entry.path().filename().string());
  }
  // Overlay networks to reconcile: the dirty ones, those of dirty endpoints, and all of them
  // when membership or node records changed (or an endpoint of unknown network was removed).
  std::set<std::string> ovl;
  auto add_overlay = [&](const std::string& id) {
    if (is_overlay_network(state, id) || overlay_nets_.count(id)) ovl.insert(id);
  };
  bool every_overlay = all || dirty.overlays || overlays_dirty_;
  bool scan_veths = all;
  for (const auto& id : nets) add_overlay(id);
  for (const auto& id : dirty.endpoints) {
    if (const auto* e = state.endpoint(id)) {
      add_overlay(e->spec.network);
    } else if (auto j = joins_.find(id); j != joins_.end() && j->second.vni != 0) {
      add_overlay(j->second.network);
    } else {
      every_overlay = true;  // removed: its network is not known any more
      scan_veths = true;
    }
  }
  if (every_overlay) {
    for (const auto& [id, n] : state.networks()) add_overlay(id);
    for (const auto& [id, vni] : overlay_nets_) ovl.insert(id);
  }
  nets.insert(ovl.begin(), ovl.end());
  for (const auto& [id, j] : joins_) {
    if (sbs.count(j.sandbox) || nets.count(j.network)) eps.insert(id);
  }
  for (const auto& sb : sbs) {
    for (const auto* e : state.joined_endpoints(sb)) eps.insert(e->spec.id);
  }
  if (!nets.empty()) {
    for (const auto& [id, e] : state.endpoints()) {
      if (nets.count(e.spec.network)) eps.insert(id);
    }
  }
  // Sandboxes whose routes and files depend on the joins looked at.
  std::set<std::string> touched = sbs;
  for (const auto& id : eps) {
    if (const auto* e = state.endpoint(id); e && !e->sandbox.empty()) touched.insert(e->sandbox);
    if (auto j = joins_.find(id); j != joins_.end() && !j->second.sandbox.empty())
      touched.insert(j->second.sandbox);
  }

  // 1. Tear down what is no longer wanted, interfaces first.
  for (const auto& id : eps) {
    if (joins_.count(id) && !join_desired(state, id))
      attempt("endpoint/" + id, [&] { remove_join(id); });
  }
  for (const auto& id : sbs) {
    if (sandboxes_.count(id) && !sandbox_desired(state, id)) {
      attempt("sandbox/" + id, [&] { remove_sandbox(id); });
      touched.erase(id);
    } else if (!sandbox_desired(state, id)) {
      // Never created here, or its namespace was already gone: the directory may remain.
      std::error_code ec;
      std::filesystem::remove_all(paths_.sandbox_dir(id), ec);
      touched.erase(id);
    }
  }
  for (const auto& id : nets) {
    if (bridges_.count(id) && !network_desired(state, id))
      attempt("network/" + id, [&] { remove_bridge(id); });
  }
  if (all) {
    for (const auto& name : stray_links_) {
      attempt("link/" + name, [&] {
        ops_.delete_link("", name);
        logger().info("removed stray link {}", name);
      });
    }
    stray_links_.clear();
    // Unlabelled links named after this node's objects: half-made by a crashed run. What the
    // state still wants is re-created below.
    std::set<std::string> ours;
    for (const auto& [id, n] : state.networks()) {
      if (n.owner == options_.node) ours.insert(bridge_name(id));
    }
    for (const auto& [id, e] : state.endpoints()) {
      if (e.spec.owner == options_.node) ours.insert(veth_host_name(id));
    }
    for (const auto& [id, sb] : state.sandboxes()) {
      if (sb.owner == options_.node) ours.insert(egress_host_name(id));
    }
    ours.insert(std::string(kEgressBridge));
    for (const auto& name : unlabelled_links_) {
      if (!ours.count(name)) {
        logger().info("leaving unlabelled link {} alone (not named after an object of this node)",
                      name);
        continue;
      }
      attempt("link/" + name, [&] {
        ops_.delete_link("", name);
        logger().info("removed unlabelled link {} (half-made before a crash)", name);
      });
    }
    unlabelled_links_.clear();
  }

  // 2. Create and fix what is wanted.
  for (const auto& id : nets) {
    if (network_desired(state, id)) attempt("network/" + id, [&] { ensure_bridge(state, id); });
  }
  if (!overlay_swept_) {
    // Overlay namespaces of networks this node no longer instantiates (left by a crash), once
    // per start-up: as soon as the overlay host exists (this node's address may be announced
    // only after the first pass).
    attempt("overlay", [&] {
      OverlayProgrammer* ov = overlay(state);
      if (!ov) return;
      std::set<uint32_t> keep;
      for (const auto& [id, n] : state.networks()) {
        if (!is_overlay_network(state, id)) continue;
        for (const auto* e : state.endpoints_of_network(id)) {
          if (e->spec.owner == options_.node) {
            keep.insert(n.spec.ipam_result.vni);
            break;
          }
        }
      }
      for (uint32_t vni : ov->remove_others(keep))
        overlay_log().info("removed the overlay namespace of VNI {} (no local endpoint)", vni);
      overlay_swept_ = true;
    });
  }
  for (const auto& id : ovl) {
    attempt("network/" + id, [&] {
      if (is_overlay_network(state, id)) {
        reconcile_overlay(state, id, scan_veths);
      } else {
        remove_overlay(id);
      }
    });
  }
  overlays_dirty_ = false;
  for (const auto& id : sbs) {
    if (sandbox_desired(state, id)) attempt("sandbox/" + id, [&] { ensure_sandbox(id); });
  }
  for (const auto& id : eps) {
    if (!join_desired(state, id)) continue;
    const auto* e = state.endpoint(id);
    if (failures.count("network/" + e->spec.network) || failures.count("sandbox/" + e->sandbox)) {
      failures["endpoint/" + id] = {ErrorKind::kUnavailable,
                                    "its network or sandbox could not be set up"};
      continue;
    }
    attempt("endpoint/" + id, [&] { ensure_join(state, id); });
  }
  for (const auto& id : touched) {
    if (!sandbox_desired(state, id) || failures.count("sandbox/" + id)) continue;
    attempt("sandbox/" + id, [&] {
      update_route(state, id);
      update_files(state, id);
    });
  }
  if (egress_bridge_ && egress_.empty()) attempt("egress", [&] { remove_egress_bridge(); });
  if (all || !nets.empty() || !eps.empty() || egress_changed_) {
    if (attempt("nftables", [&] { update_nftables(state); })) egress_changed_ = false;
  }
  return failures;
}

std::optional<EndpointRuntime> KernelReconciler::endpoint_runtime(const std::string& id) const {
  auto it = joins_.find(id);
  if (it == joins_.end()) return std::nullopt;
  return EndpointRuntime{it->second.ifname, it->second.host_link};
}

namespace {

// Owns the NetOps the reconciler programs through.
class OwningKernelReconciler : public Reconciler {
 public:
  OwningKernelReconciler(std::unique_ptr<NetOps> ops, KernelReconcilerOptions options)
      : ops_(std::move(ops)), reconciler_(*ops_, std::move(options)) {}
  Failures reconcile(const StateCache& state, const Dirty& dirty) override {
    return reconciler_.reconcile(state, dirty);
  }
  std::optional<EndpointRuntime> endpoint_runtime(const std::string& id) const override {
    return reconciler_.endpoint_runtime(id);
  }
  void set_live_nodes(std::set<store::NodeId> live) override {
    reconciler_.set_live_nodes(std::move(live));
  }

 private:
  std::unique_ptr<NetOps> ops_;
  KernelReconciler reconciler_;
};

}  // namespace

std::unique_ptr<Reconciler> make_kernel_reconciler(const Config& config, store::NodeId node) {
  KernelReconcilerOptions o;
  o.run_dir = config.run_dir;
  o.node = node;
  o.resolv_conf = config.resolv_conf;
  o.nft_table = config.nft_table;
  o.vxlan_port = static_cast<uint16_t>(config.vxlan_port);
  o.egress_default = config.egress;
  o.make_overlay = make_overlay_host_programmer;
  const std::string program = config.nft_program;
  const std::string script_path = config.run_dir + "/nftables.rules";
  o.apply_nft = [program, script_path](const std::string& script) {
    apply_nft(program, script_path, script);
  };
  return std::make_unique<OwningKernelReconciler>(make_kernel_netops(), std::move(o));
}

}  // namespace trellis::node
