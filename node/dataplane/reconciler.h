#pragma once
// The reconciler makes the data plane (kernel objects, sandbox files) match the desired state
// held in the store. The controller calls it after every committed change with what the change
// touched; the daemon calls it with `all` at start-up, where it also removes Trellis objects
// the state does not know (after a crash, too). Idempotent: reconciling twice changes nothing.
//
// This header is the seam between the controller and the kernel: KernelReconciler
// (node/dataplane/kernel_reconciler.h) programs Linux through osl and the drivers' data-plane
// halves; tests of the controller and the API use a fake.
//
// Threads: called only from the daemon's I/O thread.

#include <compare>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "node/model/host_prefixes.h"
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

// What a reconcile failure (or a pass's work) is about: a network, endpoint or sandbox by id,
// Trellis's nftables table, a stray link by name, a driver's node-wide state by driver name
// (the overlay's namespace sweep, the egress bridge), or the host's preparation at start-up
// (run directory, namespace directory, adoption).
struct ObjectRef {
  enum class Kind { kNetwork, kEndpoint, kSandbox, kNftables, kLink, kDriver, kHost };
  Kind kind = Kind::kHost;
  std::string id;  // empty for kNftables and kHost

  static ObjectRef network(std::string id) { return {Kind::kNetwork, std::move(id)}; }
  static ObjectRef endpoint(std::string id) { return {Kind::kEndpoint, std::move(id)}; }
  static ObjectRef sandbox(std::string id) { return {Kind::kSandbox, std::move(id)}; }
  static ObjectRef nftables() { return {Kind::kNftables, ""}; }
  static ObjectRef link(std::string name) { return {Kind::kLink, std::move(name)}; }
  static ObjectRef driver(std::string name) { return {Kind::kDriver, std::move(name)}; }
  static ObjectRef host() { return {Kind::kHost, ""}; }

  auto operator<=>(const ObjectRef&) const = default;
  // For logs and the API: "network/<id>", "endpoint/<id>", "sandbox/<id>", "nftables",
  // "link/<name>", "driver/<name>", "host".
  std::string to_string() const;
};

// JSON views render an ObjectRef as its string form (found by ADL; a template so that this
// header does not include nlohmann).
template <class Json>
void to_json(Json& json, const ObjectRef& ref) {
  json = ref.to_string();
}

struct Failure {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
};
// Per object that could not be programmed.
using Failures = std::map<ObjectRef, Failure>;

// What one pass did.
struct ReconcileResult {
  // Every object whose state the pass established (programmed, removed, or found right),
  // whether it failed or not: a failure recorded for one of these before is out of date. An
  // object the pass did not look at keeps its earlier failure (it is still to be retried).
  std::set<ObjectRef> examined;
  Failures failures;
};

// What the data plane did for a joined endpoint (for inspect output).
struct EndpointRuntime {
  std::string interface;  // name inside the sandbox ("eth0"), empty if none
  std::string host_link;  // the host side of the veth, empty if none
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;

  // Programs the objects in `dirty` (everything when dirty.all) and what depends on them to
  // match `state`. Failures are returned (and logged), never thrown; a failed object is
  // retried on the next call that names it or on `all`.
  virtual ReconcileResult reconcile(const StateCache& state, const Dirty& dirty) = 0;

  virtual std::optional<EndpointRuntime> endpoint_runtime(const std::string& id) const = 0;

  // What the host namespace uses already (node/model/host_prefixes.h), listed now. Throws
  // trellis::Error when the listing fails.
  virtual std::vector<HostPrefix> host_prefixes() = 0;
};

}  // namespace trellis::node
