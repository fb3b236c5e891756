#pragma once
// The reconciler that programs Linux (see node/reconciler.h for the contract):
//  - sandboxes: a network namespace bound at <run>/netns/<id> with loopback up, and the
//    directory <run>/sandboxes/<id> with hosts, resolv.conf and hostname;
//  - the bridge driver: per local bridge network a Linux bridge trlb<id> holding the gateway
//    address (MAC derived from it, route_localnet on), per joined endpoint a veth pair
//    trlv<id> (host end, enslaved to the bridge) / ethN in the sandbox (MAC, address, MTU),
//    and the sandbox's default route via the gateway of its first joined non-internal bridge
//    network; the null and host drivers program nothing;
//  - the overlay driver (docs/overlay.md): per overlay network with a local endpoint, an
//    overlay namespace with bridge, VXLAN device (local = this node's announced address) and
//    the remote peers, through one OverlayProgrammer (overlay::OverlayHost) made once the
//    node's own record names its address; joined overlay endpoints get a veth ethN from the
//    sandbox into the overlay bridge. The default route of a sandbox goes via its first joined
//    non-internal network (bridge or overlay); when that is an overlay network with egress
//    (option egress=true, or the node default), the sandbox also gets "gw0" on the host bridge
//    trlgw0 (172.16.0.1/16, masqueraded) and the default route goes there;
//  - Trellis's nftables table (node/nftables.h), re-rendered when networks or published
//    ports change and applied only when the text differs.
// It keeps a model of what it programmed; on `all` (start-up) it rebuilds that model from the
// kernel — links named trl* whose alias names this node, namespace files in the run directory —
// so objects survive a daemon crash and are adopted, not duplicated; what the state does not
// want is removed. Links of other daemons (another node id in the alias) are never touched;
// an unlabelled trl* link is removed only when its name is derived from an object of this
// node's state (see unlabelled_links_). Kernel access goes through NetOps (osl in production).
//
// Threads: the daemon's I/O thread.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "node/config.h"
#include "node/netops.h"
#include "node/overlay_programmer.h"
#include "node/paths.h"
#include "node/reconciler.h"
#include "store/event.h"

namespace trellis::node {

struct KernelReconcilerOptions {
  std::string run_dir;
  store::NodeId node = 0;
  std::string resolv_conf = "/etc/resolv.conf";
  std::string nft_table = "trellis";
  // Applies an nftables script (render_nft_script output); default: apply_nft with the nft
  // program, keeping the script in <run>/nftables.rules.
  std::function<void(const std::string& script)> apply_nft;
  // The overlay driver: UDP port of the VXLAN devices (Config::vxlan_port), whether overlay
  // containers get an egress interface unless their network says otherwise (Config::egress),
  // and how the programmer is made (make_kernel_reconciler: make_overlay_host_programmer; unset:
  // overlay networks fail as unavailable — so a reconciler over fake NetOps never programs
  // the real kernel).
  uint16_t vxlan_port = 4789;
  bool egress_default = false;
  OverlayProgrammerFactory make_overlay;
};

// The host bridge of overlay egress (like docker_gwbridge): only local, never replicated.
inline constexpr std::string_view kEgressBridge = "trlgw0";
inline constexpr std::string_view kEgressSubnet = "172.16.0.0/16";
inline constexpr std::string_view kEgressGateway = "172.16.0.1";
// The egress interface inside a sandbox.
inline constexpr std::string_view kEgressIfname = "gw0";

class KernelReconciler : public Reconciler {
 public:
  // `ops` must outlive the reconciler.
  KernelReconciler(NetOps& ops, KernelReconcilerOptions options);

  Failures reconcile(const StateCache& state, const Dirty& dirty) override;
  std::optional<EndpointRuntime> endpoint_runtime(const std::string& id) const override;
  void set_live_nodes(std::set<store::NodeId> live) override;

 private:
  struct Bridge {
    std::string name;
    std::string gateway;  // "a.b.c.d/len" on the bridge
    uint32_t mtu = 0;
    std::set<std::string> addresses;
    bool up = false;
  };
  struct Sandbox {
    bool ns = false;                                           // the namespace file is bound
    std::optional<std::pair<std::string, std::string>> route;  // (gateway, link)
    std::string hosts, resolv, hostname;                       // last written contents
  };
  struct Join {
    std::string sandbox;    // "" for a host-side veth whose sandbox end was not found
    std::string network;    // network id ("" if unknown)
    std::string host_link;  // trlv...
    std::string ifname;     // ethN in the sandbox
    std::string address;
    std::string mac;
    bool up = false;
    uint32_t vni = 0;  // an overlay join: host_link is in the overlay namespace of this VNI
  };
  // A sandbox's egress interface (gw0 in the sandbox, trlg<sandbox id> on trlgw0).
  struct Egress {
    std::string host_link;
    std::string address;  // "172.16.x.y/16" on gw0
    bool up = false;
  };

  void prepare();
  void discover();
  bool network_desired(const StateCache& state, const std::string& id) const;
  bool sandbox_desired(const StateCache& state, const std::string& id) const;
  bool join_desired(const StateCache& state, const std::string& endpoint_id) const;
  void ensure_bridge(const StateCache& state, const std::string& id);
  void remove_bridge(const std::string& id);
  void ensure_sandbox(const std::string& id);
  void remove_sandbox(const std::string& id);
  void ensure_join(const StateCache& state, const std::string& endpoint_id);
  void remove_join(const std::string& endpoint_id);
  void update_route(const StateCache& state, const std::string& sandbox_id);
  void update_files(const StateCache& state, const std::string& sandbox_id);
  void update_nftables(const StateCache& state);
  std::string next_ifname(const std::string& sandbox_id) const;
  // Overlay driver.
  bool is_overlay_network(const StateCache& state, const std::string& id) const;
  bool egress_enabled(const store::NetworkInfo& n) const;
  OverlayProgrammer* overlay(const StateCache& state);
  // `scan`: list the veths on the bridge (else trust the model unless it knows nothing).
  void reconcile_overlay(const StateCache& state, const std::string& id, bool scan);
  void remove_overlay(const std::string& id);
  void ensure_overlay_join(const StateCache& state, const std::string& endpoint_id);
  void ensure_egress_bridge();
  void remove_egress_bridge();
  void ensure_egress(const std::string& sandbox_id);
  void remove_egress(const std::string& sandbox_id);
  std::string next_egress_address() const;

  NetOps& ops_;
  KernelReconcilerOptions options_;
  RunPaths paths_;
  bool prepared_ = false;
  bool forwarding_ = false;                   // net.ipv4.ip_forward set
  bool br_netfilter_ = false;                 // net.bridge.bridge-nf-call-iptables set
  std::map<std::string, Bridge> bridges_;     // network id -> bridge
  std::map<std::string, Sandbox> sandboxes_;  // sandbox id -> namespace and files
  std::map<std::string, Join> joins_;         // endpoint id -> veth
  // trl* links of the host namespace carrying this node's alias but naming nothing the
  // reconciler models (removed on `all`).
  std::set<std::string> stray_links_;
  // trl* links without a Trellis alias: a crash between creating a link and labelling it
  // leaves one (the kernel ignores IFLA_IFALIAS in a creation request), but so does another
  // daemon of this namespace in the middle of creating its own. Only those named after an
  // object of this node's state are ours to remove.
  std::set<std::string> unlabelled_links_;
  std::optional<std::string> nft_applied_;  // the last script applied
  // Overlay driver state.
  std::unique_ptr<OverlayProgrammer> overlay_;  // made once this node's address is known
  std::set<store::NodeId> live_;                // other live nodes (set_live_nodes)
  bool overlays_dirty_ = false;                 // live_ changed since the last pass
  bool overlay_swept_ = false;  // stale overlay namespaces removed since the start-up
  std::map<std::string, uint32_t> overlay_nets_;  // network id -> VNI, instantiated here
  // Per instantiated VNI, the endpoint-id prefixes of the veths on its bridge (this pass).
  std::map<uint32_t, std::set<std::string>> overlay_attached_;
  std::optional<Bridge> egress_bridge_;   // trlgw0, when it exists
  std::map<std::string, Egress> egress_;  // sandbox id -> egress interface
  bool egress_changed_ = false;           // nftables must be re-rendered
};

// The production reconciler: KernelReconciler over osl, nftables through the nft program.
std::unique_ptr<Reconciler> make_kernel_reconciler(const Config& config, store::NodeId node);

}  // namespace trellis::node
