#include "node/daemon/daemon.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "common/log.h"
#include "node/api/router.h"
#include "node/api/server.h"
#include "node/cluster/cluster_policy.h"
#include "node/cluster/founding.h"
#include "node/cluster/membership.h"
#include "node/cluster/service.h"
#include "node/control/cluster_space_requester.h"
#include "node/control/controller.h"
#include "node/control/pending_operations.h"
#include "node/dataplane/kernel_reconciler.h"
#include "node/dataplane/nftables.h"
#include "node/dataplane/reconciler.h"
#include "node/drivers/registry.h"
#include "store/store.h"

namespace trellis::node {

namespace asio = boost::asio;

namespace {

spdlog::logger& logger() { return log("daemon"); }

constexpr auto kRetryInterval = std::chrono::seconds(5);

void make_dir(const std::string& path, std::filesystem::perms perms) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw InternalError("create directory " + path + ": " + ec.message());
  std::filesystem::permissions(path, perms, ec);
}

// One daemon per data directory and per run directory, held by an exclusive lock on
// `dir`/trellisd.lock until the process ends. A second writer would break the controller's
// single-writer assumptions on the store; a second daemon on the same run directory would
// "adopt" and delete the first one's namespace files and sandbox directories at start-up, so
// the lock is taken before anything in the directory is touched. `what` names the directory in
// the error ("data", "run"). `fd` (closed by its owner) holds the lock file's descriptor from
// the moment it is open, also when locking then fails.
void lock_dir(const std::string& dir, const std::string& what, int& fd) {
  const std::string lock_path = dir + "/trellisd.lock";
  fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw InternalError("open " + lock_path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    throw UnavailableError("another trellisd uses " + what + " directory " + dir + " (" +
                           lock_path + " is locked); give this one its own --" + what + "-dir");
  }
}

// Set when the store says the cluster removed this node: what to tell the operator.
std::optional<std::string> removal_of_self(const store::Store& store) {
  const store::NodeIdentity id = store.identity();
  const store::ReadView view = store.read();
  const std::optional<store::NodeInfo> self = view.node(id.id);
  if (!self || self->status != store::NodeStatus::kRemoved) return std::nullopt;
  const std::optional<store::NodeInfo> remover = view.node(self->removed_by);
  const std::string by = (remover && !remover->name.empty() ? remover->name + " " : "") + "(" +
                         store::format_node_id(self->removed_by) + ")";
  return "this node " + id.name + " (" + store::format_node_id(id.id) +
         ") was removed from cluster " + store::format_node_id(id.cluster_id) + " by node " + by +
         " (trellis node rm); its data directory cannot rejoin: start with an empty " +
         "--data-dir to join again as a new node";
}

// A removed node's data directory is done with: its nftables table (marked with its node id)
// goes too, so that the fresh --data-dir the operator is told to use (a new node id) is not
// refused for a table of a node that no longer exists. Best effort: the removal is the error
// to report.
void drop_own_nft_table(const Config& c, store::NodeId self) {
  try {
    if (nft_table_owner(c.nft_program, c.nft_table) != store::format_node_id(self)) return;
    apply_nft(c.nft_program, c.run_dir + "/nftables.rules",
              "add table inet " + c.nft_table + "\ndelete table inet " + c.nft_table + "\n");
  } catch (const std::exception& e) {
    logger().warn("removing nftables table {} of this removed node: {}", c.nft_table, e.what());
  }
}

// Another trellisd in this network namespace owns the nftables table (its comment names the
// node, see render_nft_script): replacing it would drop that daemon's NAT, published ports
// and isolation, and it would never know. Checked before anything in the kernel is touched.
void refuse_a_foreign_nft_table(const Config& c, store::NodeId self) {
  const std::optional<std::string> owner = nft_table_owner(c.nft_program, c.nft_table);
  if (!owner || *owner == store::format_node_id(self)) return;
  throw ConflictError("nftables table inet " + c.nft_table +
                      " in this network namespace belongs to trellisd node " + *owner +
                      ": run one trellisd per network namespace, or give this one its own "
                      "--nft-table (if node " +
                      *owner + " is gone for good: nft delete table inet " + c.nft_table + ")");
}

// The kernel's ephemeral port range, from which dynamic host ports are handed out.
std::pair<uint32_t, uint32_t> ephemeral_ports() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  uint32_t lo = 0, hi = 0;
  if (in >> lo >> hi && lo > 0 && lo <= hi && hi <= 65535) return {lo, hi};
  return {49153, 65535};
}

// The production data plane: the reconcile pass over osl with every registered driver's
// data-plane half, nftables through the configured nft program, overlay networks through
// overlay::OverlayHost.
std::unique_ptr<Reconciler> make_kernel_reconciler(const Config& config, store::NodeId node) {
  std::unique_ptr<NetOps> ops = make_kernel_netops();
  DataPlaneOptions d;
  d.run_dir = config.run_dir;
  d.node = node;
  d.vxlan_port = static_cast<uint16_t>(config.vxlan_port);
  d.egress_default = config.egress;
  d.make_overlay = make_overlay_host_programmer;
  NetworkPlanes planes = DriverRegistry::builtin().make_planes(*ops, d);
  KernelReconcilerOptions o;
  o.run_dir = config.run_dir;
  o.node = node;
  o.resolv_conf = config.resolv_conf;
  o.nft_table = config.nft_table;
  o.apply_nft = [program = config.nft_program, path = config.run_dir + "/nftables.rules"](
                    const std::string& script) { apply_nft(program, path, script); };
  return make_kernel_reconciler(std::move(ops), std::move(o), std::move(planes));
}

// The cluster service's options from the configuration. Every store write of the service
// (remote events, snapshots) and every call to its policy run on `io`, the store's one writer.
ClusterOptions cluster_options(asio::io_context& io, const Config& c) {
  ClusterOptions co;
  co.node_name = c.name;
  co.advertise_addr = c.advertise_addr;
  co.listen_addr = c.listen_addr;
  co.join = c.join;
  co.cluster_key_file = c.cluster_key;
  co.post = [&io](std::function<void()> task) { asio::post(io, std::move(task)); };
  return co;
}

// Answers to this node's space requests go to the commands waiting for them.
class PendingSpaceAnswers final : public SpaceAnswerListener {
 public:
  explicit PendingSpaceAnswers(PendingOperations& pending) : pending_(pending) {}
  void space_answered(uint64_t request_id, bool gives_nothing, const std::string& reason) override {
    pending_.on_answer(request_id, gives_nothing, reason);
  }

 private:
  PendingOperations& pending_;
};

}  // namespace

std::string version() { return "0.1.0"; }

struct Daemon::Impl {
  asio::io_context io{1};
  // The live set, held once: the cluster policy writes it, the controller reads it (donors of
  // space; a live node cannot be removed). Without clustering it stays empty. The data plane
  // does not follow it: a dead node's endpoints stay programmed.
  Membership live_nodes;
  int data_lock_fd = -1;
  int run_lock_fd = -1;
  std::optional<store::Store> store;
  std::unique_ptr<Reconciler> reconciler;
  std::unique_ptr<Controller> controller;
  // Set when clustering is on. Created after the controller, destroyed before it.
  std::unique_ptr<ClusterService> cluster;
  // Commands waiting for space another node owns (node/control/pending_operations.h).
  std::unique_ptr<ClusterSpaceRequester> space_requester;
  std::unique_ptr<PendingOperations> pending;
  // What the cluster service reports goes to the policy (clustering on).
  std::unique_ptr<PendingSpaceAnswers> space_answers;
  std::unique_ptr<ClusterPolicy> cluster_policy;
  asio::steady_timer cluster_tick{io};
  std::unique_ptr<ApiRouter> router;
  std::unique_ptr<ApiServer> server;
  asio::steady_timer retry_timer{io};
  bool reconcile_posted = false;       // a reconcile_changes() is queued on io
  std::optional<std::string> removed;  // set when the cluster removed this node: why we stop
  std::optional<asio::signal_set> signals;

  ~Impl() {
    server.reset();
    router.reset();
    // Without a graceful stop() before (start-up failed, or the daemon is torn down without
    // run()), this drops out without a leave: peers see a failure. Its queued tasks then do
    // nothing, so the policy may go next.
    cluster.reset();
    cluster_policy.reset();
    controller.reset();
    pending.reset();  // after the controller: its change observer calls pending
    space_answers.reset();
    space_requester.reset();
    reconciler.reset();
    store.reset();
    if (run_lock_fd >= 0) ::close(run_lock_fd);
    if (data_lock_fd >= 0) ::close(data_lock_fd);
  }

  void schedule_retry() {
    retry_timer.expires_after(kRetryInterval);
    retry_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      try {
        controller->retry_failed();
      } catch (const std::exception& e) {
        logger().error("retrying failed objects: {}", e.what());
      }
      schedule_retry();
    });
  }

  // Every kTickInterval: the cluster policy reports refused peers and owes join donations.
  void schedule_cluster_tick() {
    cluster_tick.expires_after(ClusterPolicy::kTickInterval);
    cluster_tick.async_wait([this](boost::system::error_code ec) {
      if (ec || !cluster_policy) return;
      cluster_policy->tick();
      schedule_cluster_tick();
    });
  }

  // Remote events reach the data plane through one coalesced reconciliation posted to this
  // thread after the write that applied them (ControllerOptions::schedule_reconcile; the one
  // trigger, see ClusterPolicy::state_changed).
  void schedule_reconcile() {
    if (reconcile_posted) return;
    reconcile_posted = true;
    asio::post(io, [this] {
      reconcile_posted = false;
      try {
        controller->reconcile_changes();
      } catch (const std::exception& e) {
        logger().error("reconciling remote changes: {}", e.what());
      }
    });
  }
};

Daemon::Daemon(Config config, ReconcilerFactory factory)
    : config_(std::move(config)), factory_(std::move(factory)), impl_(std::make_unique<Impl>()) {}

Daemon::~Daemon() = default;

Controller& Daemon::controller() { return *impl_->controller; }

void Daemon::start() {
  using std::filesystem::perms;
  const Config& c = config_;
  make_dir(c.data_dir, perms::owner_all);
  make_dir(c.run_dir, perms::owner_all | perms::group_read | perms::group_exec |
                          perms::others_read | perms::others_exec);
  lock_dir(c.data_dir, "data", impl_->data_lock_fd);
  std::error_code same_ec;
  if (!std::filesystem::equivalent(c.data_dir, c.run_dir, same_ec))
    lock_dir(c.run_dir, "run", impl_->run_lock_fd);
  make_dir(c.run_dir + "/sandboxes", perms::owner_all);

  store::Options options;
  options.node_name = c.name;
  impl_->store.emplace(store::Store::open(c.data_dir, options));
  const store::NodeIdentity id = impl_->store->identity();
  if (auto removed = removal_of_self(*impl_->store)) {
    if (!factory_) drop_own_nft_table(c, id.id);
    throw RemovedFromClusterError(*removed);
  }
  logger().info("trellisd {} starting: node {} ({}), data {}, run {}", version(), id.name,
                store::format_node_id(id.id), c.data_dir, c.run_dir);

  if (!factory_) refuse_a_foreign_nft_table(c, id.id);
  impl_->reconciler = factory_ ? factory_(c) : make_kernel_reconciler(c, id.id);
  ControllerOptions copts;
  copts.run_dir = c.run_dir;
  copts.clustering = c.clustering();
  copts.live_nodes = &impl_->live_nodes;
  std::tie(copts.dynamic_port_first, copts.dynamic_port_last) = ephemeral_ports();
  copts.schedule_reconcile = [impl = impl_.get()] { impl->schedule_reconcile(); };
  // Local commits reach gossip at once (eager push); anti-entropy would find them later.
  copts.after_local_commit = [impl = impl_.get()] {
    if (impl->cluster) impl->cluster->local_committed();
  };
  impl_->controller = std::make_unique<Controller>(*impl_->store, *impl_->reconciler, copts);

  // Without clustering the node announces itself now. With it, the cluster policy does when
  // the service is ready: a fresh store must stay empty until the join's sync had its chance
  // to install a snapshot.
  if (!c.clustering()) {
    if (auto announced = node_announcement(*impl_->store, c.name, c.advertise_addr))
      impl_->store->append_local(std::move(*announced));
  }

  impl_->controller->start();
  if (!impl_->controller->failures().empty()) {
    logger().warn("{} objects could not be programmed at start-up; retrying every {} s",
                  impl_->controller->failures().size(), kRetryInterval.count());
  }

  if (c.clustering()) {
    impl_->cluster = std::make_unique<ClusterService>(*impl_->store, cluster_options(impl_->io, c));
    impl_->space_requester = std::make_unique<ClusterSpaceRequester>(*impl_->cluster);
  }
  impl_->pending = std::make_unique<PendingOperations>(&impl_->io, impl_->space_requester.get());
  impl_->controller->add_change_observer(
      [pending = impl_->pending.get()](const store::ChangeSet& changes) {
        pending->on_change(changes);
      });
  // A removal of this node learnt from the cluster (it was removed while down, or now): stop
  // with one clear line rather than run on as a member whose writes are all ignored.
  impl_->controller->add_change_observer([this, self = id.id](const store::ChangeSet& changes) {
    if (impl_->removed || (!changes.rebuilt && !changes.nodes.count(self))) return;
    impl_->removed = removal_of_self(*impl_->store);
    if (!impl_->removed) return;
    logger().error("{}; stopping", *impl_->removed);
    stop();
  });
  if (c.clustering()) start_cluster();

  ApiInfo info;
  info.version = version();
  info.data_dir = c.data_dir;
  info.run_dir = c.run_dir;
  impl_->router = std::make_unique<ApiRouter>(*impl_->controller, info, impl_->cluster.get(),
                                              impl_->pending.get());
  impl_->server = std::make_unique<ApiServer>(impl_->io, *impl_->router,
                                              impl_->controller->paths().api_socket());
  impl_->server->start();
  impl_->schedule_retry();
}

void Daemon::start_cluster() {
  const Config& c = config_;
  Impl& impl = *impl_;
  impl.space_answers = std::make_unique<PendingSpaceAnswers>(*impl.pending);
  impl.cluster_policy = std::make_unique<ClusterPolicy>(
      *impl.store, *impl.cluster, impl.live_nodes, *impl.controller, *impl.space_answers,
      ClusterPolicy::Options{c.name, c.join.empty()});
  // Blocks up to the join timeout; ConflictError (our store belongs to another cluster) and
  // UnavailableError (the gossip address cannot be bound) end the start-up.
  impl.cluster->start(impl.cluster_policy.get());
  logger().info("clustering: gossip at {}, cluster {}, {} members known", impl.cluster->address(),
                store::format_node_id(impl.cluster->cluster_id()), impl.cluster->members().size());
  impl.schedule_cluster_tick();
}

void Daemon::run(bool handle_signals) {
  if (handle_signals) {
    impl_->signals.emplace(impl_->io, SIGINT, SIGTERM);
    impl_->signals->async_wait([this](boost::system::error_code ec, int signal) {
      if (ec) return;
      logger().info("signal {}: stopping", signal);
      stop();
    });
  }
  impl_->io.run();
  logger().info("trellisd stopped");
  if (impl_->removed) {
    if (!factory_) drop_own_nft_table(config_, impl_->store->identity().id);
    throw RemovedFromClusterError(*impl_->removed);
  }
}

void Daemon::stop() {
  asio::post(impl_->io, [this] {
    if (impl_->server) impl_->server->stop();
    // Announce the leave (gossips for its grace period) while the store is still open.
    if (impl_->cluster) impl_->cluster->stop();
    impl_->cluster_tick.cancel();
    impl_->retry_timer.cancel();
    if (impl_->signals) impl_->signals->cancel();
    impl_->io.stop();
  });
}

}  // namespace trellis::node
