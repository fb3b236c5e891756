#include "overlay/overlay_network.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <utility>

#include "common/log.h"
#include "osl/addresses.h"
#include "osl/container_interface.h"
#include "osl/links.h"
#include "vxlan/device.h"
#include "vxlan/tables.h"

namespace trellis::overlay {
namespace {

constexpr std::string_view kNetnsPrefix = "trl-ov-";
constexpr std::string_view kVethPrefix = "trlv";

// The shared component logger (common/log.h): one format and level for the process.
spdlog::logger& log() { return trellis::log("overlay"); }

vxlan::Ipv4Address v4(const ipam::IpAddress& a) { return vxlan::Ipv4Address{a.to_v4_uint()}; }

}  // namespace

// ---- names -----------------------------------------------------------------------------------

std::string overlay_netns_name(uint32_t vni) {
  return std::string(kNetnsPrefix) + std::to_string(vni);
}
std::string overlay_bridge_name(uint32_t vni) { return "trlbr" + std::to_string(vni); }
std::string overlay_vxlan_name(uint32_t vni) { return "trlvx" + std::to_string(vni); }
std::string overlay_veth_name(const std::string& endpoint_id) {
  return std::string(kVethPrefix) + endpoint_id.substr(0, 11);
}

std::optional<uint32_t> vni_of_netns_name(const std::string& name) {
  if (name.size() <= kNetnsPrefix.size() || name.compare(0, kNetnsPrefix.size(), kNetnsPrefix) != 0)
    return std::nullopt;
  const char* first = name.data() + kNetnsPrefix.size();
  const char* last = name.data() + name.size();
  uint32_t vni = 0;
  auto [end, ec] = std::from_chars(first, last, vni);
  if (ec != std::errc() || end != last || *first == '0' || vni > vxlan::kMaxVni)
    return std::nullopt;
  return vni;
}

// ---- spec ------------------------------------------------------------------------------------

OverlaySpec OverlaySpec::from(const store::NetworkInfo& network) {
  const std::string what = "overlay network " + network.spec.name + " (" + network.spec.id + ")";
  if (!is_overlay(network)) throw InvalidArgumentError(what + ": driver is " + network.spec.driver);
  OverlaySpec s;
  s.network_id = network.spec.id;
  s.vni = network.spec.ipam_result.vni;
  if (s.vni == 0) throw InvalidArgumentError(what + ": it has no VNI");
  vxlan::validate_vni(s.vni);
  if (network.spec.ipam_result.pools.empty())
    throw InvalidArgumentError(what + ": it has no address pool");
  const store::IpamPoolResult& pool = network.spec.ipam_result.pools.front();
  s.subnet = ipam::Prefix::parse(pool.subnet);
  if (!s.subnet.is_v4()) throw InvalidArgumentError(what + ": its first pool is not IPv4");
  if (!pool.gateway.empty()) s.gateway = ipam::IpAddress::parse(pool.gateway);
  s.mtu = network.spec.mtu;
  s.internal = network.spec.internal;
  return s;
}

// ---- host ------------------------------------------------------------------------------------

struct OverlayHost::Instance {
  osl::Netns ns;
  osl::NetlinkSocket sock;
};

OverlayHost::OverlayHost(osl::Netns host_ns, HostOptions options)
    : host_ns_(std::move(host_ns)), options_(std::move(options)) {
  if (options_.netns_dir.empty()) throw InvalidArgumentError("overlay host: empty netns_dir");
  if (!options_.advertise.is_v4() || options_.advertise.to_v4_uint() == 0) {
    throw InvalidArgumentError("overlay host: advertise address " + options_.advertise.to_string() +
                               " is not a usable IPv4 address");
  }
  if (options_.vxlan_port == 0) throw InvalidArgumentError("overlay host: VXLAN port 0");
}

OverlayHost::~OverlayHost() = default;

std::string OverlayHost::alias(std::string_view kind, std::string_view id) const {
  return "trellis/" + store::format_node_id(options_.node) + "/" + std::string(kind) + "/" +
         std::string(id);
}

uint32_t OverlayHost::underlay_mtu() {
  if (options_.underlay_mtu != 0) return options_.underlay_mtu;
  if (!host_sock_) host_sock_ = std::make_unique<osl::NetlinkSocket>(host_ns_);
  for (const osl::LinkInfo& link : osl::list_links(*host_sock_)) {
    for (const auto& a : link.addresses) {
      if (a.address == options_.advertise) return link.mtu;
    }
  }
  throw NotFoundError("overlay underlay MTU: no interface " + osl::in_ns(*host_sock_) +
                      " holds the advertise address " + options_.advertise.to_string());
}

uint32_t OverlayHost::network_mtu(const OverlaySpec& spec) {
  if (spec.mtu != 0) return spec.mtu;
  const uint32_t underlay = underlay_mtu();
  if (underlay < 68 + kVxlanOverhead) {
    throw InvalidArgumentError("overlay network " + spec.network_id + ": underlay MTU " +
                               std::to_string(underlay) + " leaves no room for VXLAN");
  }
  return underlay - kVxlanOverhead;
}

OverlayHost::Instance* OverlayHost::instance(uint32_t vni) {
  const std::string name = overlay_netns_name(vni);
  const std::string path = options_.netns_dir + "/" + name;
  if (!osl::is_netns_file(path)) {
    instances_.erase(vni);
    return nullptr;
  }
  auto it = instances_.find(vni);
  if (it == instances_.end()) {
    osl::Netns ns = osl::Netns::open(path);
    osl::NetlinkSocket sock(ns);
    it = instances_
             .emplace(vni, std::make_unique<Instance>(Instance{std::move(ns), std::move(sock)}))
             .first;
  }
  return it->second.get();
}

OverlayHost::Instance& OverlayHost::require(uint32_t vni) {
  Instance* inst = instance(vni);
  if (!inst) {
    throw NotFoundError("overlay network with VNI " + std::to_string(vni) +
                        " is not instantiated on this host (no namespace " +
                        overlay_netns_name(vni) + " in " + options_.netns_dir + ")");
  }
  return *inst;
}

bool OverlayHost::has_network(uint32_t vni) const {
  return osl::is_netns_file(options_.netns_dir + "/" + overlay_netns_name(vni));
}

std::vector<uint32_t> OverlayHost::networks() const {
  std::vector<uint32_t> out;
  for (const auto& name : osl::list_named_netns(options_.netns_dir, kNetnsPrefix)) {
    if (auto vni = vni_of_netns_name(name)) out.push_back(*vni);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool OverlayHost::ensure_network(const OverlaySpec& spec) {
  vxlan::validate_vni(spec.vni);
  const uint32_t mtu = network_mtu(spec);
  const std::string bridge = overlay_bridge_name(spec.vni);
  const std::string vx = overlay_vxlan_name(spec.vni);
  const std::string net_alias = alias("overlay", spec.network_id);

  Instance* inst = instance(spec.vni);
  if (inst) {
    // A namespace of this VNI made for another network (the VNI was freed and reused while
    // this host still had the old one): rebuild rather than adopt its peers and containers.
    std::optional<osl::LinkInfo> br = osl::find_link(inst->sock, bridge);
    if (br && br->alias != net_alias) {
      log().info("overlay VNI {}: namespace belongs to '{}', rebuilding for network {}", spec.vni,
                 br->alias, spec.network_id);
      remove_network(spec.vni);
      inst = nullptr;
    }
  }
  bool created = false;
  if (!inst) {
    // A stale file that is no namespace any more (e.g. after a reboot) is removed first.
    osl::delete_named_netns(options_.netns_dir, overlay_netns_name(spec.vni));
    osl::Netns ns = osl::create_named_netns(options_.netns_dir, overlay_netns_name(spec.vni));
    osl::NetlinkSocket sock(ns);
    inst = instances_
               .insert_or_assign(
                   spec.vni, std::make_unique<Instance>(Instance{std::move(ns), std::move(sock)}))
               .first->second.get();
    created = true;
  }

  osl::LinkOptions bridge_options;
  bridge_options.alias = net_alias;
  bridge_options.mtu = mtu;
  osl::ensure_bridge(inst->sock, bridge, bridge_options, true);
  if (spec.gateway)
    osl::ensure_address(inst->sock, bridge, ipam::InterfaceAddress{*spec.gateway, spec.subnet});

  const uint16_t port = options_.vxlan_port;
  std::optional<vxlan::VxlanInfo> info = vxlan::find_vxlan(inst->sock, vx);
  const bool matches = info && info->vni == spec.vni && info->local == v4(options_.advertise) &&
                       info->port == port && !info->learning && info->proxy_arp &&
                       info->alias == net_alias;
  if (info && !matches) {
    log().info("overlay VNI {}: VXLAN device {} has other parameters, recreating", spec.vni, vx);
    vxlan::delete_vxlan(inst->sock, vx);
  }
  if (!matches) {
    if (!host_sock_) host_sock_ = std::make_unique<osl::NetlinkSocket>(host_ns_);
    // Left in the host namespace by an interrupted earlier run (create_vxlan itself is all or
    // nothing, but a crash between its steps is not).
    vxlan::delete_vxlan(*host_sock_, vx);
    vxlan::VxlanConfig config;
    config.name = vx;
    config.vni = spec.vni;
    config.local = v4(options_.advertise);
    config.port = port;
    config.mtu = mtu;
    config.proxy_arp = true;
    config.alias = net_alias;
    vxlan::create_vxlan(*host_sock_, config, &inst->ns);
  }
  osl::LinkChange change;
  change.mtu = mtu;
  change.master = bridge;
  change.up = true;
  osl::ensure_link(inst->sock, vx, change);
  if (created) {
    log().info("overlay network {} (VNI {}) instantiated: {}/{}, MTU {}, VTEP {}:{}",
               spec.network_id, spec.vni, options_.netns_dir, overlay_netns_name(spec.vni), mtu,
               options_.advertise.to_string(), port);
  }
  return created;
}

bool OverlayHost::remove_network(uint32_t vni) {
  const std::string name = overlay_netns_name(vni);
  Instance* inst = instance(vni);
  const bool had_namespace = inst != nullptr;
  if (inst) {
    // Delete the devices explicitly before dropping the namespace: the kernel frees a
    // namespace asynchronously, and until then its VXLAN device would still hold the VNI and
    // UDP port in the host namespace, so a quick re-create of the network would collide.
    vxlan::delete_vxlan(inst->sock, overlay_vxlan_name(vni));
    for (const osl::LinkInfo& link : osl::list_links(inst->sock, kVethPrefix)) {
      if (link.kind == "veth") osl::delete_link_if_exists(inst->sock, link.name);
    }
    osl::delete_link_if_exists(inst->sock, overlay_bridge_name(vni));
    instances_.erase(vni);
  }
  const bool file_existed = std::filesystem::exists(options_.netns_dir + "/" + name);
  osl::delete_named_netns(options_.netns_dir, name);
  if (had_namespace) log().info("overlay network with VNI {} removed from this host", vni);
  return had_namespace || file_existed;
}

std::vector<uint32_t> OverlayHost::remove_others(const std::set<uint32_t>& keep) {
  std::vector<uint32_t> removed;
  for (uint32_t vni : networks()) {
    if (keep.count(vni)) continue;
    remove_network(vni);
    removed.push_back(vni);
  }
  return removed;
}

vxlan::DesiredPeers desired_peers(const NetworkPeers& peers) {
  vxlan::DesiredPeers d;
  d.peers.reserve(peers.peers.size());
  for (const RemotePeer& p : peers.peers)
    d.peers.push_back({vxlan::MacAddress::parse(p.mac), v4(p.ip), v4(p.vtep)});
  // Proxy ARP answers from the neighbour table and every remote MAC has its own FDB entry:
  // nothing needs head-end replication, so no all-zeros entries (and any stray one goes).
  d.flood_vteps = std::vector<vxlan::Ipv4Address>{};
  return d;
}

vxlan::SyncPlan OverlayHost::sync_peers(uint32_t vni, const NetworkPeers& peers) {
  Instance& inst = require(vni);
  vxlan::SyncPlan plan =
      vxlan::sync_peers(inst.sock, overlay_vxlan_name(vni), desired_peers(peers));
  if (!plan.empty()) {
    log().debug("overlay VNI {}: peers synced (fdb +{} ~{} -{}, neighbours +{} ~{} -{})", vni,
                plan.fdb.added.size(), plan.fdb.updated.size(), plan.fdb.removed.size(),
                plan.neighbors.added.size(), plan.neighbors.updated.size(),
                plan.neighbors.removed.size());
  }
  return plan;
}

bool OverlayHost::attach(const OverlaySpec& spec, const Attachment& a) {
  if (!a.container)
    throw InvalidArgumentError("attach endpoint " + a.endpoint_id + ": no namespace");
  Instance& inst = require(spec.vni);
  const std::string outer = overlay_veth_name(a.endpoint_id);
  const std::string bridge = overlay_bridge_name(spec.vni);
  if (std::optional<osl::LinkInfo> link = osl::find_link(inst.sock, outer)) {
    if (link->master == bridge && link->up) return false;
    // Half-built by an interrupted attach: start again.
    osl::delete_link_if_exists(inst.sock, outer);
  }
  osl::ContainerInterfaceSpec cs;
  cs.outer_name = outer;
  cs.outer_alias = alias("endpoint", a.endpoint_id);
  cs.bridge = bridge;
  cs.inner_name = a.ifname;
  if (!a.mac.empty()) cs.mac = a.mac;
  cs.mtu = network_mtu(spec);
  cs.addresses = {a.address};
  if (!spec.internal && spec.gateway) cs.gateway = spec.gateway;
  osl::NetlinkSocket inner(*a.container);
  osl::setup_container_interface(inst.sock, inner, *a.container, cs);
  log().debug("overlay VNI {}: endpoint {} attached as {} ({})", spec.vni, a.endpoint_id, a.ifname,
              a.address.to_string());
  return true;
}

bool OverlayHost::detach(uint32_t vni, const std::string& endpoint_id) {
  Instance* inst = instance(vni);
  if (!inst) return false;
  return osl::teardown_container_interface(inst->sock, overlay_veth_name(endpoint_id));
}

std::vector<std::string> OverlayHost::attached(uint32_t vni) {
  Instance& inst = require(vni);
  std::vector<std::string> out;
  for (const osl::LinkInfo& link : osl::list_links(inst.sock, kVethPrefix)) {
    if (link.kind == "veth" && link.master == overlay_bridge_name(vni))
      out.push_back(link.name.substr(kVethPrefix.size()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

ReconcileResult OverlayHost::reconcile(const OverlaySpec& spec, const NetworkPeers& peers) {
  ReconcileResult r;
  if (!peers.instantiate()) {
    r.removed = remove_network(spec.vni);
    return r;
  }
  r.created = ensure_network(spec);
  r.instantiated = true;
  r.peers = sync_peers(spec.vni, peers);
  return r;
}

}  // namespace trellis::overlay
