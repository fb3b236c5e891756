#pragma once
// trellisd as a library: opens the event store, runs the controller and the reconciler, and
// serves the API, all on one I/O thread (the thread that calls run()). With clustering on
// (Config::clustering()), it also runs the cluster service (node/cluster.h), whose store
// writes and callbacks are posted to the same thread.
//
// Threads: one. The I/O thread owns the store's writes, the controller, the state cache,
// the reconciler and the API connections; API requests are handled one at a time, in order,
// on it, and a request's reply is sent after its event is durable and the data plane is
// programmed. A request that needs space owned by another node (overlay) waits on a timer of
// this thread for the donation (node/api.h), while other requests go on being served. With
// clustering, membership changes, join donations, space requests from peers and the
// founder's space initialisation are handled here too (overlay wiring, docs/overlay.md). Kernel
// work goes through osl (which runs namespace-switching work on its own helper threads and
// returns). stop() may be called from any thread.

#include <functional>
#include <memory>
#include <string>

#include "node/config.h"

namespace trellis::node {

class Reconciler;
class Controller;

class Daemon {
 public:
  // Builds the reconciler for the daemon; the default programs the kernel
  // (KernelReconciler). Tests pass a fake.
  using ReconcilerFactory = std::function<std::unique_ptr<Reconciler>(const Config&)>;

  explicit Daemon(Config config, ReconcilerFactory factory = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Creates the directories, locks the data directory, opens the store, reconciles the data
  // plane with the state and starts listening. Throws (with the directory or socket named)
  // when any of it fails; UnavailableError when another trellisd uses the directories.
  void start();
  // Serves until stop() or, with handle_signals, SIGINT/SIGTERM. Kernel objects stay in place
  // when the daemon stops: a restart adopts them.
  void run(bool handle_signals);
  // Thread-safe.
  void stop();

  const Config& config() const { return config_; }
  // For tests on the I/O thread only.
  Controller& controller();

 private:
  // Creates and starts the cluster service (clustering on).
  void start_cluster();
  struct Impl;
  Config config_;
  ReconcilerFactory factory_;
  std::unique_ptr<Impl> impl_;
};

// The version string of this build ("0.1.0").
std::string version();

}  // namespace trellis::node
