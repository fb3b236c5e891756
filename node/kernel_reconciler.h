#pragma once
// The reconciler that programs Linux (see node/reconciler.h for the contract):
//  - sandboxes: a network namespace bound at <run>/netns/<id> with loopback up, and the
//    directory <run>/sandboxes/<id> with hosts, resolv.conf and hostname;
//  - the bridge driver: per local bridge network a Linux bridge trlb<id> holding the gateway
//    address (MAC derived from it, route_localnet on), per joined endpoint a veth pair
//    trlv<id> (host end, enslaved to the bridge) / ethN in the sandbox (MAC, address, MTU),
//    and the sandbox's default route via the gateway of its first joined non-internal bridge
//    network; the null and host drivers program nothing;
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
};

class KernelReconciler : public Reconciler {
 public:
  // `ops` must outlive the reconciler.
  KernelReconciler(NetOps& ops, KernelReconcilerOptions options);

  Failures reconcile(const StateCache& state, const Dirty& dirty) override;
  std::optional<EndpointRuntime> endpoint_runtime(const std::string& id) const override;

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
};

// The production reconciler: KernelReconciler over osl, nftables through the nft program.
std::unique_ptr<Reconciler> make_kernel_reconciler(const Config& config, store::NodeId node);

}  // namespace trellis::node
