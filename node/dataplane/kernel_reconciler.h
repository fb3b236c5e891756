#pragma once
// The reconcile pass that programs Linux (see reconciler.h for the contract). It is
// driver-agnostic: it owns the sandboxes — a network namespace bound at <run>/netns/<id> with
// loopback up, the directory <run>/sandboxes/<id> with hosts, resolv.conf and hostname, and the
// default route via the first joined non-internal network that offers one — and Trellis's
// nftables table (nftables.h, rendered from every plane's rules and applied only when the text
// differs). Networks and the interfaces of joined endpoints are the drivers' data-plane halves'
// (NetworkPlane, network_plane.h), found by the network's driver name.
//
// Each pass tears down what the state no longer wants (interfaces, sandboxes, networks), then
// builds what it wants (networks, sandboxes, interfaces, routes and files, nftables). On `all`
// (start-up) it first rebuilds its model from the kernel — links named trl* whose alias names
// this node, namespace files in the run directory — and lets every plane adopt its objects, so
// they survive a daemon crash and are adopted, not duplicated; labelled links nobody claims are
// removed. Links of other daemons (another node id in the alias) are never touched; an
// unlabelled trl* link is removed only when a plane names it after an object of this node's
// state. Kernel access goes through NetOps (osl in production).
//
// Failures are keyed by ObjectRef: the network, sandbox or endpoint being programmed,
// "nftables", a stray link, a driver's node-wide work (its sweep and finish), or the host's
// preparation.
//
// Threads: the daemon's I/O thread.

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "node/dataplane/attachments.h"
#include "node/dataplane/netops.h"
#include "node/dataplane/network_plane.h"
#include "node/dataplane/paths.h"
#include "node/dataplane/reconciler.h"
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
  // `ops` must outlive the reconciler; `planes` are every driver's data-plane half (made over
  // the same `ops`).
  KernelReconciler(NetOps& ops, KernelReconcilerOptions options, NetworkPlanes planes);

  ReconcileResult reconcile(const StateCache& state, const Dirty& dirty) override;
  std::optional<EndpointRuntime> endpoint_runtime(const std::string& id) const override;
  std::vector<HostPrefix> host_prefixes() override;

 private:
  struct Pass;  // one pass: what it looks at and what it found

  void prepare();
  // Rebuilds the model from the kernel and lets the planes adopt their objects.
  void discover();
  void adopt_sandbox(const std::string& id, AdoptionScan& scan);
  // What the pass looks at: the dirty objects, what the planes add, and what depends on them.
  void widen_scope(Pass& pass, const Dirty& dirty);
  void tear_down(Pass& pass);
  void remove_leftover_links(Pass& pass);
  void build(Pass& pass);

  NetworkPlane* plane_of_driver(const std::string& driver) const;
  // The plane that programs the network, when this node programs it.
  NetworkPlane* desired_plane(const StateCache& state, const std::string& network_id) const;
  bool sandbox_desired(const StateCache& state, const std::string& id) const;
  bool join_desired(const StateCache& state, const std::string& endpoint_id) const;
  void ensure_sandbox(const std::string& id);
  void remove_sandbox(const std::string& id);
  void update_route(const StateCache& state, const std::string& sandbox_id);
  void update_files(const StateCache& state, const std::string& sandbox_id);
  void update_nftables(const StateCache& state);

  NetOps& ops_;
  KernelReconcilerOptions options_;
  RunPaths paths_;
  NetworkPlanes planes_;
  Attachments attachments_;
  bool prepared_ = false;
  // trl* links of the host namespace carrying this node's alias that no plane claimed
  // (removed on `all`).
  std::set<std::string> stray_links_;
  // trl* links without a Trellis alias: a crash between creating a link and labelling it
  // leaves one (the kernel ignores IFLA_IFALIAS in a creation request), but so does another
  // daemon of this namespace in the middle of creating its own. Only those a plane names after
  // an object of this node's state are ours to remove.
  std::set<std::string> unlabelled_links_;
  std::optional<std::string> nft_applied_;  // the last script applied
};

// The production reconciler owning its NetOps (`planes` made over `*ops`).
std::unique_ptr<Reconciler> make_kernel_reconciler(std::unique_ptr<NetOps> ops,
                                                   KernelReconcilerOptions options,
                                                   NetworkPlanes planes);

}  // namespace trellis::node
