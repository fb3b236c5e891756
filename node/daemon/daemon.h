#pragma once
// trellisd as a library: the process wiring of the store, the reconciler, the controller, the
// API and, with clustering on (Config::clustering()), the cluster service and its policy
// (node/cluster/cluster_policy.h), all on one I/O thread (the thread that calls run()). It
// constructs, connects, starts and stops them; the rules live in the components.
//
// Threads: one. The I/O thread owns the store's writes, the controller, the state cache,
// the reconciler, the cluster policy and the API connections; API requests are handled one
// at a time, in order, on it, and a request's reply is sent after its event is durable and
// the data plane is programmed. A command that needs space owned by another node (overlay)
// waits in PendingOperations (node/control/pending_operations.h) while other requests go on
// being served. Kernel work goes through osl (which runs namespace-switching work on its own
// helper threads and returns). stop() may be called from any thread.

#include <functional>
#include <memory>
#include <string>

#include "common/error.h"
#include "node/daemon/config.h"

namespace trellis::node {

class Reconciler;
class Controller;

// This node was removed from its cluster (`trellis node rm` on another node): its data
// directory cannot take part any more. The message names the node, the cluster, the remover
// and what to do. trellisd exits with status 3 for it.
class RemovedFromClusterError : public ConflictError {
 public:
  using ConflictError::ConflictError;
};

class Daemon {
 public:
  // Builds the reconciler for the daemon; the default programs the kernel
  // (KernelReconciler). Tests pass a fake.
  using ReconcilerFactory = std::function<std::unique_ptr<Reconciler>(const Config&)>;

  explicit Daemon(Config config, ReconcilerFactory factory = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Creates the directories, locks the data and run directories (before touching anything in
  // them), opens the store, reconciles the data
  // plane with the state and starts listening. Throws (with the directory or socket named)
  // when any of it fails; UnavailableError when another trellisd uses the directories;
  // RemovedFromClusterError when the store says the cluster removed this node.
  void start();
  // Serves until stop() or, with handle_signals, SIGINT/SIGTERM. Kernel objects stay in place
  // when the daemon stops: a restart adopts them. Throws RemovedFromClusterError when it stopped
  // because the cluster removed this node (`trellis node rm` elsewhere).
  void run(bool handle_signals);
  // Thread-safe.
  void stop();

  const Config& config() const { return config_; }
  // For tests on the I/O thread only.
  Controller& controller();

 private:
  // Connects the cluster service to its policy and starts it (clustering on).
  void start_cluster();
  struct Impl;
  Config config_;
  ReconcilerFactory factory_;
  std::unique_ptr<Impl> impl_;
};

// The version string of this build ("0.1.0").
std::string version();

}  // namespace trellis::node
