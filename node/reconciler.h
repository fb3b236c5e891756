#pragma once
// The reconciler makes the data plane (kernel objects, sandbox files) match the desired state
// held in the store. The controller calls it after every committed change with what the change
// touched; the daemon calls it with `all` at start-up, where it also removes Trellis objects
// the state does not know (after a crash, too). Idempotent: reconciling twice changes nothing.
//
// This header is the seam between the controller and the kernel: KernelReconciler
// (node/kernel_reconciler.h) programs Linux through osl; tests of the controller and the API
// use a fake.
//
// Threads: called only from the daemon's I/O thread.

#include <map>
#include <optional>
#include <set>
#include <string>

#include "common/error.h"
#include "store/store.h"

namespace trellis::node {

class StateCache;

// What to look at. Keys are object ids.
struct Dirty {
  bool all = false;
  // Every overlay network (their peer tables depend on the node records: a node announced a
  // new VTEP address, left, or was removed). Set by merge() when a change touched nodes.
  bool overlays = false;
  std::set<std::string> networks, endpoints, sandboxes;

  void merge(const store::ChangeSet& changes);
  void merge(const Dirty& other);
  bool empty() const {
    return !all && !overlays && networks.empty() && endpoints.empty() && sandboxes.empty();
  }
};

struct Failure {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
};
// Per object that could not be programmed: "network/<id>", "endpoint/<id>", "sandbox/<id>",
// or "nftables".
using Failures = std::map<std::string, Failure>;

// What the data plane did for a joined endpoint (for inspect output).
struct EndpointRuntime {
  std::string interface;  // name inside the sandbox ("eth0"), empty if none
  std::string host_link;  // the host side of the veth, empty if none
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;

  // Programs the objects in `dirty` (everything when dirty.all) to match `state`. Failures are
  // returned (and logged), never thrown; a failed object is retried on the next call that
  // names it or on `all`.
  virtual Failures reconcile(const StateCache& state, const Dirty& dirty) = 0;

  virtual std::optional<EndpointRuntime> endpoint_runtime(const std::string& id) const = 0;
  // The other nodes that are alive (gossip's alive and suspect members; this node is always
  // alive). Endpoints of overlay networks that live on other nodes are programmed only while
  // their node is in this set (withdrawn otherwise). The daemon sets it on every member change
  // and then reconciles the overlay networks. Default: no other node is alive.
  virtual void set_live_nodes(std::set<store::NodeId> live) { (void)live; }
};

}  // namespace trellis::node
