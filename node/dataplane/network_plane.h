#pragma once
// NetworkPlane: the data-plane half of a network driver, as the reconcile pass
// (kernel_reconciler.h) drives it. The pass is driver-agnostic: it owns the sandboxes and
// decides what to look at and in which order (tear down interfaces, sandboxes, networks; then
// build networks, sandboxes, interfaces, default routes, files, nftables). A plane programs
// what its driver means by a network and by an endpoint's interface in a sandbox, adopts its
// kernel objects after a crash, and adds its rules to Trellis's nftables table. The
// implementations live one row up, in node/drivers/<driver>/, and are made by the driver
// registry (node/drivers/registry.h); the daemon hands them to the pass.
//
// Errors: a method that programs throws trellis::Error naming the object; the pass records it
// against the object it was working on (an ObjectRef) and retries it later. The adoption,
// scope and query methods do not throw.
// Threads: the daemon's I/O thread.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "node/dataplane/attachments.h"
#include "node/dataplane/names.h"
#include "node/dataplane/netops.h"
#include "node/dataplane/nftables.h"
#include "node/dataplane/reconciler.h"
#include "store/store.h"

namespace trellis::node {

class StateCache;

// A link carrying this node's Trellis alias.
struct LabelledLink {
  LinkInfo link;
  ObjectAlias alias;
};

// What the pass found at start-up that it does not model itself, for the planes to claim.
struct AdoptionScan {
  // Labelled links of the host namespace, by name. A plane erases what it claims; what no
  // plane claims is a stray, removed by the pass.
  std::map<std::string, LabelledLink> host_links;
  // Per sandbox id, the labelled links in its namespace that are not endpoint interfaces (the
  // pass adopts those into Attachments, with their sandbox end only).
  std::map<std::string, std::vector<LabelledLink>> sandbox_links;
};

// What one pass looks at; a plane may widen it in begin_pass.
struct PassScope {
  const Dirty& dirty;
  bool all = false;                 // start-up (or a rebuild): everything, adopted afresh
  const Attachments& attachments;   // as the pass starts
  std::set<std::string>& networks;  // network ids the pass reconciles
};

class NetworkPlane {
 public:
  virtual ~NetworkPlane() = default;

  // ---- adoption (start-up, after a crash)
  // Forgets this plane's model and rebuilds it from `scan` (taking the links it claims) and
  // the endpoint interfaces in `attachments` (e.g. matching a host end to its sandbox end:
  // JoinRecord::plane, host_link, network).
  virtual void adopt(AdoptionScan& scan, Attachments& attachments) = 0;
  // Names of unlabelled links (a crash between creating and labelling) that are this plane's
  // to remove: those derived from objects of this node's state.
  virtual void unlabelled_names(const StateCache&, std::set<std::string>&) const {}

  // ---- one pass
  // Called first in every pass: add to `scope.networks` what this plane must look at beyond
  // the dirty networks (e.g. every overlay network when membership changed).
  virtual void begin_pass(const StateCache&, PassScope&) {}
  // Removes this plane's leftovers that belong to no object (once the teardown is done,
  // before networks are built). Failures are recorded against the driver.
  virtual void sweep(const StateCache&) {}
  // Whether this node programs `network` (the pass then calls ensure_network; otherwise, when
  // has_network, remove_network). Interfaces are wanted only on networks a plane wants.
  virtual bool wants_network(const StateCache& state, const store::NetworkInfo& network) const = 0;
  virtual bool has_network(const std::string& network_id) const = 0;
  virtual void ensure_network(const StateCache& state, Attachments& attachments,
                              const std::string& network_id) = 0;
  virtual void remove_network(Attachments& attachments, const std::string& network_id) = 0;
  // Makes the endpoint's interface in its sandbox match the state (the endpoint is joined, its
  // network and sandbox are set up): keeps or adopts a matching JoinRecord, else removes it
  // (Attachments::remove_join) and makes a new one, named Attachments::next_ifname.
  virtual void ensure_join(const StateCache& state, Attachments& attachments,
                           const std::string& endpoint_id) = 0;
  // Removes the kernel side of a join this plane made (JoinRecord::plane == this); the caller
  // forgets the record.
  virtual void remove_join(const std::string& endpoint_id, const JoinRecord& join) = 0;
  // The default route a sandbox gets from its first joined non-internal network, when that is
  // one of this plane's: nullopt to let the next network decide. May make what the route needs
  // (the overlay's egress interface).
  virtual std::optional<DefaultRoute> default_route(const StateCache&, Attachments&,
                                                    const store::NetworkInfo&, const JoinRecord&) {
    return std::nullopt;
  }
  // The sandbox's default route is now `route` (whichever plane chose it): drop what only
  // another route would need.
  virtual void settle_route(Attachments&, const std::string& /*sandbox_id*/,
                            const std::optional<DefaultRoute>& /*route*/) {}
  // The sandbox is about to be removed: remove what this plane added to it.
  virtual void remove_sandbox(Attachments&, const std::string& /*sandbox_id*/) {}
  // Called last in every pass, before nftables: remove node-wide objects nothing uses any more.
  virtual void finish_pass() {}

  // ---- nftables
  // Adds this plane's networks and published ports.
  virtual void add_rules(const StateCache&, const Attachments&, NftRuleset&) const {}
  // Whether something changed that the ruleset renders although no network or endpoint was
  // dirty (the egress bridge came or went); cleared by rules_applied().
  virtual bool rules_changed() const { return false; }
  virtual void rules_applied() {}
};

// The drivers' data-plane halves by driver name, in the order the pass asks them.
struct DriverPlane {
  std::string driver;
  std::unique_ptr<NetworkPlane> plane;
};
using NetworkPlanes = std::vector<DriverPlane>;

}  // namespace trellis::node
