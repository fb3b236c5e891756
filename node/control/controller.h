#pragma once
// The controller: the Container Network Model of one node (docs/architecture.md, docs/api.md) —
// networks, endpoints, sandboxes, join and leave — with libnetwork's rules:
//  - names are unique per scope: a network name per node (local networks), an endpoint name
//    per network, a sandbox name per node;
//  - a network with endpoints cannot be removed;
//  - an endpoint joined to a sandbox cannot be removed unless forced (forcing leaves first);
//  - a sandbox is removed together with all its endpoints;
//  - a sandbox on an exclusive network (host, null) joins nothing else.
// Every change is an event appended to the store (the one write path); a call returns after
// the event is durable and the reconciler has programmed the data plane. When programming a
// new object fails (the bridge of a new network, the namespace of a new sandbox, the interface
// of a join), the controller undoes the change with a compensating event and throws the
// error, as libnetwork rolls back. Removals never fail on the data plane: the reconciler
// retries what it could not tear down.
//
// Lookups ("refs") accept a full id, a name, or a unique id prefix, in that order.
//
// Threads: owned by the daemon's I/O thread, which is also the store's writer thread. The
// controller installs the store's change listener, so events applied by other writers on
// that thread (gossip) keep the cache current and reach the reconciler too (through
// ControllerOptions::schedule_reconcile and reconcile_changes()).

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "node/dataplane/paths.h"
#include "node/dataplane/reconciler.h"
#include "node/drivers/driver.h"
#include "node/model/live_nodes.h"
#include "node/model/local_log.h"
#include "node/model/state_cache.h"
#include "store/store.h"

namespace trellis::node {

struct NetworkRequest {
  std::string name;
  std::string driver;  // empty: DriverRegistry::kDefaultDriver
  bool internal = false;
  bool attachable = false;
  bool enable_ipv6 = false;
  uint32_t mtu = 0;        // 0: the "mtu" option, else 1500
  store::IpamConfig ipam;  // at most one IPv4 pool; empty: picked from the default pools
  std::map<std::string, std::string> options;  // driver options (NetworkDriver)
  std::map<std::string, std::string> labels;
};

struct EndpointRequest {
  std::string network;  // ref
  std::string name;
  std::string ip;   // preferred IPv4 address, empty: the first free one (inside ip_range)
  std::string mac;  // empty: derived from the address
  std::vector<std::string> aliases;
  // Published ports; host_port 0 picks a free port of the dynamic range.
  std::vector<store::PortBinding> ports;
};

struct SandboxRequest {
  std::string name;
  std::string hostname;  // default: the name if it is a valid host name, else the short id
  std::string domain;
  std::vector<std::string> dns_servers;
  std::vector<std::string> dns_search;
  std::vector<std::string> dns_options;
  std::vector<store::ExtraHost> extra_hosts;
};

// Thrown when this node owns nothing free of a space it needs (the VNI or subnet of a new
// overlay network, an overlay endpoint's address) but a live node does: the caller sends
// `payload` (overlay::encode_space_request) to `donor` with ClusterService::request_space,
// waits for the donation event to be applied, and retries the same operation
// (PendingOperations does this without blocking the I/O thread). Nothing was written. An
// UnavailableError, so a caller that cannot ask reports 503 with this message.
class SpaceShortage : public UnavailableError {
 public:
  // Message: "<operation>: waiting for node <donor> to donate <wanted>".
  SpaceShortage(std::string operation, store::NodeId donor, std::string wanted, std::string space,
                std::string payload)
      : UnavailableError(operation + ": waiting for node " + store::format_node_id(donor) +
                         " to donate " + wanted),
        operation_(std::move(operation)),
        donor_(donor),
        wanted_(std::move(wanted)),
        space_(std::move(space)),
        payload_(std::move(payload)) {}
  // What was being done ("create endpoint 'web1' on network front (1a2b3c4d5e6f)").
  const std::string& operation() const { return operation_; }
  store::NodeId donor() const { return donor_; }
  // What is asked for, for messages ("addresses", "VNIs", "10.0.0.7").
  const std::string& wanted() const { return wanted_; }
  // The space key asked for ("vni", "subnet-pool", "net/<id>/<pool>").
  const std::string& space() const { return space_; }
  const std::string& payload() const { return payload_; }

 private:
  std::string operation_;
  store::NodeId donor_;
  std::string wanted_;
  std::string space_;
  std::string payload_;
};

struct ControllerOptions {
  std::string run_dir;
  // Clustering is on (the node has an advertised address): overlay networks may be created.
  bool clustering = false;
  // Host ports handed out for "host_port": 0 (the kernel's ip_local_port_range by default).
  uint32_t dynamic_port_first = 49153;
  uint32_t dynamic_port_last = 65535;
  // The other live nodes (held by the cluster's membership); null: no other node is alive.
  const LiveNodes* live_nodes = nullptr;
  // Called when events the controller did not author itself (gossip's apply_remote) left
  // changes to reconcile. It runs on the writer's thread inside the store's write call, so it
  // must only arrange for reconcile_changes() to run soon (the daemon posts it to its I/O
  // thread). Unset: whoever applies remote events calls reconcile_changes() afterwards.
  std::function<void()> schedule_reconcile;
  // Called after each successful local append (the event is durable), before the data plane
  // is reconciled; the daemon hands the new events to gossip here
  // (ClusterService::local_committed). Must not throw or write to the store.
  std::function<void()> after_local_commit;
};

class Controller : public LocalEventWriter {
 public:
  // `store` and `reconciler` must outlive the controller.
  Controller(store::Store& store, Reconciler& reconciler, ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Loads the state and reconciles everything (removing what the state does not know).
  void start();

  const StateCache& state() const { return cache_; }
  const RunPaths& paths() const { return paths_; }
  // Read from the store each time: the cluster id changes when the node founds or joins one.
  store::NodeIdentity identity() const { return store_.identity(); }
  store::Counts counts() const { return store_.counts(); }

  // ---- networks
  store::NetworkInfo create_network(NetworkRequest request);
  void remove_network(std::string_view ref);
  store::NetworkInfo network(std::string_view ref) const;
  // Cluster networks and this node's local ones; `all` adds other nodes' local networks.
  std::vector<store::NetworkInfo> networks(bool all) const;
  size_t endpoint_count(const std::string& network_id) const;

  // ---- endpoints (`network_ref` narrows name lookups to one network)
  store::EndpointInfo create_endpoint(const EndpointRequest& request);
  void remove_endpoint(std::string_view ref, std::string_view network_ref, bool force);
  store::EndpointInfo endpoint(std::string_view ref, std::string_view network_ref = {}) const;
  // Every endpoint, or those of one network.
  std::vector<store::EndpointInfo> endpoints(std::string_view network_ref = {}) const;
  // Attaches an endpoint to a sandbox (its interface appears in the sandbox's namespace).
  void join(std::string_view endpoint_ref, std::string_view network_ref,
            std::string_view sandbox_ref);
  // Detaches it; an empty sandbox_ref means whichever sandbox it is joined to.
  void leave(std::string_view endpoint_ref, std::string_view network_ref,
             std::string_view sandbox_ref);

  // ---- sandboxes
  store::SandboxInfo create_sandbox(const SandboxRequest& request);
  // Removes the sandbox and its endpoints. Returns the removed record.
  store::SandboxInfo remove_sandbox(std::string_view ref);
  store::SandboxInfo sandbox(std::string_view ref) const;
  std::vector<store::SandboxInfo> sandboxes() const;
  // A sandbox joined to an endpoint of a host network shares the host's namespace.
  bool host_mode(const std::string& sandbox_id) const;
  // The namespace file to enter for the sandbox (its own, or the host's).
  std::string netns_path(const std::string& sandbox_id) const;

  std::optional<EndpointRuntime> endpoint_runtime(const std::string& id) const {
    return reconciler_.endpoint_runtime(id);
  }

  // Objects the reconciler failed to program (see Failures); an object's failure is dropped
  // only when a pass looked at it again.
  const Failures& failures() const { return failures_; }
  // Reconciles the failed objects again.
  void retry_failed();
  // Reconciles what events applied by other writers (remote events) touched since the last
  // reconciliation. Cheap when nothing is pending.
  Failures reconcile_changes() { return reconcile_pending(); }

  // ---- cluster (overlay driver)
  // The other nodes that are alive (ControllerOptions::live_nodes): donors of space.
  std::set<store::NodeId> live_nodes() const;
  // Authors cluster bookkeeping events (space initialisation, donations) through the same
  // path as every other local change (durable, handed to gossip, reconciled).
  void append(std::vector<store::Body> bodies) override;
  // Removes a node that is gone for good (NodeRemoved): its endpoints and sandboxes are
  // dropped everywhere, its ranges and networks pass to this node. `ref` is a node id (or a
  // unique prefix of one) or a name. ConflictError when the node is alive or suspect (in
  // live_nodes()), InvalidArgumentError for this node itself, NotFoundError when unknown.
  // Returns the removed node's record.
  store::NodeInfo remove_node(std::string_view ref);
  store::ReadView read() const { return store_.read(); }
  std::string state_digest() const { return store_.state_digest(); }

  // Also passes every committed change set to `observer`, after the controller has taken it
  // into account (e.g. gossip pushing this node's new events to peers). Same thread and rules
  // as store change listeners: no store writes, no throwing.
  void add_change_observer(std::function<void(const store::ChangeSet&)> observer);

 private:
  // Appends the events, then reconciles what they touched. Returns the failures of that
  // reconciliation (also recorded in failures_).
  Failures commit(std::vector<store::Body> bodies);
  Failures reconcile_pending();
  void on_change(const store::ChangeSet& changes);

  const store::NetworkInfo& find_network(std::string_view ref) const;
  const store::EndpointInfo& find_endpoint(std::string_view ref,
                                           std::string_view network_ref) const;
  const store::SandboxInfo& find_sandbox(std::string_view ref) const;
  bool visible(const store::NetworkInfo& n) const;
  // A new network's spec from the request: id, name, normalised options, IPAM driver, MTU.
  store::NetworkCreated network_spec(const NetworkRequest& request, const NetworkDriver& driver,
                                     const std::string& what) const;
  // The driver's part of a new network with addresses (SpaceShortage when it needs a
  // donation), then the pool rules (node/drivers/pool_rules.h).
  void plan_network(const NetworkDriver& driver, store::NetworkCreated& spec,
                    const std::string& what) const;
  // What the drivers read while planning.
  PlanningContext planning() const;
  std::vector<store::PortBinding> check_ports(const std::vector<store::PortBinding>& ports) const;

  store::Store& store_;
  Reconciler& reconciler_;
  ControllerOptions options_;
  RunPaths paths_;
  store::NodeIdentity identity_;
  StateCache cache_;
  Dirty pending_;            // touched by committed events, not yet reconciled
  bool committing_ = false;  // inside commit(): the controller reconciles by itself
  std::vector<std::function<void(const store::ChangeSet&)>> observers_;
  Failures failures_;    // objects whose last reconciliation failed
  bool reload_ = false;  // the listener failed to refresh the cache: reload before use
};

}  // namespace trellis::node
