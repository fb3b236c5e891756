#pragma once
// The kernel half of the overlay driver (docs/overlay.md sec. 1-2): on one host, each overlay
// network with local endpoints gets a namespace "trl-ov-<vni>" holding a bridge (with the gateway
// address) and the network's VXLAN device — created in the host namespace, where its UDP
// socket stays, bound to the host's advertise address, then moved in and enslaved. Containers
// join with a veth pair from their namespace into that bridge; remote endpoints are programmed
// on the VXLAN device (FDB + permanent neighbour entries) from a peer table
// (overlay/peer_table.h) by vxlan's diff-based sync.
//
// Every operation is idempotent ("ensure" style): calling it again converges and changes
// nothing when the kernel already matches. Objects carry the "trl" prefix and an alias naming
// this node and the network / endpoint, so a restarted daemon recognises them.
//
// Threads: an OverlayHost is used from one thread at a time (the daemon's I/O thread). It
// keeps one netlink socket per namespace it works in.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ipam/ip.h"
#include "osl/netlink.h"
#include "osl/netns.h"
#include "overlay/peer_table.h"
#include "store/store.h"
#include "vxlan/sync_plan.h"
#include "vxlan/types.h"

namespace trellis::overlay {

// VXLAN encapsulation overhead on an IPv4 underlay: outer IPv4 (20) + UDP (8) + VXLAN (8) +
// inner Ethernet (14).
inline constexpr uint32_t kVxlanOverhead = 50;

// Names (pure). The namespace file "trl-ov-<vni>"; inside it the bridge "trlbr<vni>" and the
// VXLAN device "trlvx<vni>" (also its name in the host namespace for the instant between
// creation and move); a container's veth end in the overlay namespace "trlv<11 chars of the
// endpoint id>". VNIs have at most 8 digits, so every name fits the kernel's 15 bytes.
std::string overlay_netns_name(uint32_t vni);
std::string overlay_bridge_name(uint32_t vni);
std::string overlay_vxlan_name(uint32_t vni);
std::string overlay_veth_name(const std::string& endpoint_id);
// The VNI of an overlay namespace name, nullopt for any other name.
std::optional<uint32_t> vni_of_netns_name(const std::string& name);

// One overlay network as a host instantiates it.
struct OverlaySpec {
  std::string network_id;
  uint32_t vni = 0;
  ipam::Prefix subnet;                     // the network's (first) IPv4 pool
  std::optional<ipam::IpAddress> gateway;  // on the bridge; none: no address on the bridge
  uint32_t mtu = 0;                        // 0: underlay MTU - kVxlanOverhead
  bool internal = false;                   // containers get no default route

  // From the replicated record. InvalidArgumentError unless it is an overlay network with a
  // VNI and an IPv4 pool.
  static OverlaySpec from(const store::NetworkInfo& network);
};

// A container's interface on an overlay network.
struct Attachment {
  std::string endpoint_id;
  const osl::Netns* container = nullptr;  // the container's namespace (not owned)
  std::string ifname = "eth0";            // name inside the container
  std::string mac;                        // "aa:bb:cc:dd:ee:ff"
  ipam::InterfaceAddress address;         // e.g. 10.0.0.5/24
};

struct HostOptions {
  // Directory of this host's overlay namespace files (one per daemon: <run-dir>/netns).
  std::string netns_dir;
  store::NodeId node = 0;     // this node (aliases)
  ipam::IpAddress advertise;  // local VTEP address (IPv4), must be on a host interface
  uint16_t vxlan_port = vxlan::kDefaultVxlanPort;
  uint32_t underlay_mtu = 0;  // 0: the MTU of the host interface holding `advertise`
};

// What one reconcile() did.
struct ReconcileResult {
  bool instantiated = false;  // the network exists on this host afterwards
  bool created = false;       // its namespace had to be created
  bool removed = false;       // it was torn down
  vxlan::SyncPlan peers;      // what the peer sync changed
};

// The overlay data plane of one host.
class OverlayHost {
 public:
  // `host_ns`: the namespace holding the underlay (the daemon's own; a test host's).
  // InvalidArgumentError for a non-IPv4 advertise address or an empty netns_dir.
  OverlayHost(osl::Netns host_ns, HostOptions options);
  ~OverlayHost();
  OverlayHost(const OverlayHost&) = delete;
  OverlayHost& operator=(const OverlayHost&) = delete;

  const HostOptions& options() const { return options_; }

  // The MTU of the host interface that holds the advertise address (NotFoundError if none
  // does), or options.underlay_mtu when set.
  uint32_t underlay_mtu();
  // spec.mtu, or underlay_mtu() - kVxlanOverhead.
  uint32_t network_mtu(const OverlaySpec& spec);

  // Makes the network's namespace, bridge (up, gateway address, MTU) and VXLAN device (VNI,
  // local = advertise, port, learning off, proxy ARP, MTU, enslaved, up) exist. A namespace
  // of the same VNI left by another network (VNI reused) or a device with other parameters is
  // rebuilt. Returns true if the namespace had to be created.
  bool ensure_network(const OverlaySpec& spec);
  // Whether the network's namespace exists on this host.
  bool has_network(uint32_t vni) const;
  // Deletes the VXLAN device (releasing its UDP port at once), the container veths and the
  // bridge, then the namespace. Returns false when there was nothing. Idempotent.
  bool remove_network(uint32_t vni);
  // VNIs of the overlay namespaces present in netns_dir, ascending.
  std::vector<uint32_t> networks() const;

  // Makes the remote peers on the network's VXLAN device exactly `peers.peers` (and no
  // head-end replication entries: proxy ARP answers from the neighbour table, nothing floods).
  // NotFoundError if the network is not instantiated.
  vxlan::SyncPlan sync_peers(uint32_t vni, const NetworkPeers& peers);

  // Connects a container: a veth pair whose outer end "trlv..." is enslaved to the bridge and
  // whose inner end is created directly in the container with name, MAC, MTU, address and (not
  // internal) a default route via the gateway. Idempotent: if the outer end exists on the
  // bridge nothing is done. Returns true if it was created. NotFoundError if the network is not
  // instantiated.
  bool attach(const OverlaySpec& spec, const Attachment& attachment);
  // Removes the endpoint's veth pair. Returns whether it existed.
  bool detach(uint32_t vni, const std::string& endpoint_id);
  // Endpoint veths on the network's bridge, as endpoint-id prefixes ("trlv" stripped).
  std::vector<std::string> attached(uint32_t vni);

  // The whole desired state of one network on this host: if `peers.instantiate()`, ensure the
  // network and sync its peers; otherwise remove it (the last local endpoint left).
  // Container attachment is separate (attach/detach), since it needs the containers'
  // namespaces.
  ReconcileResult reconcile(const OverlaySpec& spec, const NetworkPeers& peers);
  // Removes every overlay namespace whose VNI is not in `keep` (start-up after a crash).
  // Returns the VNIs removed.
  std::vector<uint32_t> remove_others(const std::set<uint32_t>& keep);

 private:
  struct Instance;
  Instance* instance(uint32_t vni);  // open state of an existing namespace, or nullptr
  Instance& require(uint32_t vni);
  std::string alias(std::string_view kind, std::string_view id) const;

  osl::Netns host_ns_;
  HostOptions options_;
  std::unique_ptr<osl::NetlinkSocket> host_sock_;  // opened lazily
  std::map<uint32_t, std::unique_ptr<Instance>> instances_;
};

// The vxlan rows for a peer table.
vxlan::DesiredPeers desired_peers(const NetworkPeers& peers);

}  // namespace trellis::overlay
