#include "node/daemon.h"

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
#include <set>

#include "node/api.h"
#include "node/api_server.h"
#include "node/cluster.h"
#include "node/controller.h"
#include "node/kernel_reconciler.h"
#include "node/log.h"
#include "node/reconciler.h"
#include "overlay/peer_table.h"
#include "overlay/space_planner.h"
#include "overlay/space_request.h"
#include "store/store.h"

namespace trellis::node {

namespace asio = boost::asio;

namespace {

spdlog::logger& logger() { return log("daemon"); }

constexpr auto kRetryInterval = std::chrono::seconds(5);
// How often the daemon looks at the gossip transport's refusal counters to log refused peers.
constexpr auto kClusterWatchInterval = std::chrono::seconds(2);

// The host part of "IP", "IP:PORT" or "[IPv6]:PORT".
std::string host_of(const std::string& address) {
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find(']');
    return close == std::string::npos ? address : address.substr(1, close - 1);
  }
  const auto colon = address.rfind(':');
  if (colon != std::string::npos && address.find(':') == colon) return address.substr(0, colon);
  return address;
}

void make_dir(const std::string& path, std::filesystem::perms perms) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw InternalError("create directory " + path + ": " + ec.message());
  std::filesystem::permissions(path, perms, ec);
}

// The kernel's ephemeral port range, from which dynamic host ports are handed out.
std::pair<uint32_t, uint32_t> ephemeral_ports() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  uint32_t lo = 0, hi = 0;
  if (in >> lo >> hi && lo > 0 && lo <= hi && hi <= 65535) return {lo, hi};
  return {49153, 65535};
}

}  // namespace

std::string version() { return "0.1.0"; }

struct Daemon::Impl {
  asio::io_context io{1};
  int lock_fd = -1;
  std::optional<store::Store> store;
  std::unique_ptr<Reconciler> reconciler;
  std::unique_ptr<Controller> controller;
  // Set when clustering is on. Created after the controller, destroyed before it.
  std::unique_ptr<ClusterService> cluster;
  asio::steady_timer cluster_watch{io};
  gossip::TransportStats watched{};  // refusal counters at the last check
  std::unique_ptr<ApiRouter> router;
  std::unique_ptr<ApiServer> server;
  asio::steady_timer retry_timer{io};
  bool reconcile_posted = false;  // a reconcile_changes() is queued on io
  std::optional<asio::signal_set> signals;

  ~Impl() {
    server.reset();
    router.reset();
    // Without a graceful stop() before (start-up failed, or the daemon is torn down without
    // run()), this drops out without a leave: peers see a failure.
    cluster.reset();
    controller.reset();
    reconciler.reset();
    store.reset();
    if (lock_fd >= 0) ::close(lock_fd);
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

  // Publishes this node's name and address when they changed (one event; a no-op otherwise).
  void announce(const std::string& name, const std::string& address) {
    const store::NodeId self_id = store->identity().id;
    std::optional<store::NodeInfo> self = store->read().node(self_id);
    if (!self || self->name != name || self->address != address)
      store->append_local(store::NodeAnnounced{name, address});
  }

  // The cluster's membership changed (or is first known): the controller's and reconciler's
  // live set, join donations this node owes a member that (re)appeared alive, and the overlay
  // networks' peers. I/O thread; never throws.
  void membership_changed(const MemberChange* change) {
    if (!cluster || !controller) return;
    std::set<store::NodeId> live;
    try {
      live = live_members(cluster->members());
      controller->set_live_nodes(live);
    } catch (const std::exception& e) {
      logger().error("updating the live nodes: {}", e.what());
      return;
    }
    if (change) {
      logger().debug("member {} is {} (was {}{}); {} other members live",
                     store::format_node_id(change->member.id),
                     gossip::to_string(change->member.state), gossip::to_string(change->previous),
                     change->is_new ? ", new" : "", live.size());
    }
    std::set<store::NodeId> joiners;
    if (change) {
      if (!change->member.self && change->member.state == gossip::MemberState::kAlive &&
          (change->is_new || change->previous != gossip::MemberState::kAlive))
        joiners.insert(change->member.id);
    } else {
      joiners = live;
    }
    for (const store::NodeId joiner : joiners) donate_to_joiner(joiner, live);
    try {
      const Failures failed = controller->reconcile_networks(controller->overlay_networks());
      if (!failed.empty())
        logger().warn("{} objects failed after a membership change (retried)", failed.size());
    } catch (const std::exception& e) {
      logger().error("reconciling overlay networks after a membership change: {}", e.what());
    }
  }

  void owe_join_donations() {
    try {
      const std::set<store::NodeId> live = live_members(cluster->members());
      for (const store::NodeId member : live) donate_to_joiner(member, live);
    } catch (const std::exception& e) {
      logger().error("checking join donations: {}", e.what());
    }
  }

  // Authors this node's share of the join donations for `joiner` (DESIGN sec. 5): only the
  // live member with the most free space of a cluster space gets a non-empty plan.
  void donate_to_joiner(store::NodeId joiner, const std::set<store::NodeId>& live) {
    try {
      const overlay::Membership members{store->identity().id, live};
      std::vector<store::RangeDonated> plan =
          overlay::plan_join_donations(store->read(), members, joiner);
      if (plan.empty()) {
        logger().trace("no join donation owed to {}", store::format_node_id(joiner));
        return;
      }
      std::vector<store::Body> bodies;
      for (const auto& d : plan) {
        logger().info("donating [{}, {}] of {} to joining node {}", d.first, d.last, d.space,
                      store::format_node_id(d.to));
        bodies.push_back(d);
      }
      controller->append(std::move(bodies));
    } catch (const std::exception& e) {
      logger().error("donating space to joining node {}: {}", store::format_node_id(joiner),
                     e.what());
    }
  }

  // A peer asks for space: decide, author the donation (if any) first, then answer.
  void space_requested(const SpaceRequest& request) {
    const std::string from = store::format_node_id(request.from);
    overlay::SpaceAnswerBody answer;
    try {
      const overlay::SpaceRequestBody body = overlay::decode_space_request(request.payload);
      overlay::DonorDecision decision =
          overlay::decide_space_request(store->read(), store->identity().id, request.from, body);
      if (decision.donation) {
        const store::RangeDonated d = *decision.donation;
        controller->append({d});
        logger().info("donated [{}, {}] of {} to node {} on request", d.first, d.last, d.space,
                      from);
      } else {
        logger().debug("space request from node {} for {}: {}", from, body.space,
                       decision.answer.reason);
      }
      answer = decision.answer;
    } catch (const CorruptDataError& e) {
      logger().warn("malformed space request from node {}: {}", from, e.what());
      answer = {overlay::SpaceAnswerStatus::kRefused, 0, 0, e.what()};
    } catch (const std::exception& e) {
      logger().warn("space request from node {} failed: {}", from, e.what());
      answer = {overlay::SpaceAnswerStatus::kNothingFree, 0, 0, e.what()};
    }
    try {
      cluster->answer_space(request.from, request.request_id, overlay::encode_space_answer(answer));
    } catch (const std::exception& e) {
      logger().warn("answering the space request of node {}: {}", from, e.what());
    }
  }

  // Founding: the cluster-wide spaces (VNIs, the subnet pool) start wholly owned by this node.
  void found_spaces() {
    try {
      std::vector<store::Body> bodies;
      for (auto& init : overlay::missing_cluster_spaces(store->read())) {
        logger().info("founding space {} [{}, {}]", init.space, init.first, init.last);
        bodies.push_back(std::move(init));
      }
      controller->append(std::move(bodies));
    } catch (const std::exception& e) {
      logger().error("initialising the cluster's spaces: {}", e.what());
    }
  }

  // Peers refused by the transport (wrong cluster key, garbage, foreign protocol versions)
  // are only counted by gossip; the operator learns of them here, at most once a period.
  void watch_cluster() {
    cluster_watch.expires_after(kClusterWatchInterval);
    cluster_watch.async_wait([this](boost::system::error_code ec) {
      if (ec || !cluster) return;
      const gossip::TransportStats now = cluster->stats().gossip.transport;
      const uint64_t denied = now.auth_denied - watched.auth_denied;
      const uint64_t handshakes = now.handshake_failures - watched.handshake_failures;
      const uint64_t malformed = (now.dropped_malformed - watched.dropped_malformed) +
                                 (now.dropped_oversized - watched.dropped_oversized) +
                                 (now.dropped_bad_version - watched.dropped_bad_version);
      if (denied > 0 || handshakes > 0) {
        log("cluster").warn(
            "refused gossip peers: {} connections with an unknown cluster key (auth denied), "
            "{} failed handshakes (wrong key or not a gossip peer) in the last {} s; totals {} "
            "and {}",
            denied, handshakes, kClusterWatchInterval.count(), now.auth_denied,
            now.handshake_failures);
      }
      if (malformed > 0) {
        log("cluster").warn(
            "dropped {} gossip frames (malformed, oversized or another protocol version) in "
            "the last {} s",
            malformed, kClusterWatchInterval.count());
      }
      watched = now;
      // Join donations are planned when a member appears alive; a member whose appearance
      // raced with another donation (or whose donor's view differed) gets its share here.
      owe_join_donations();
      watch_cluster();
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
  make_dir(c.run_dir + "/sandboxes", perms::owner_all);

  // One daemon per data directory: LMDB would allow two writers' processes, the controller's
  // single-writer assumptions would not.
  const std::string lock_path = c.data_dir + "/trellisd.lock";
  impl_->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (impl_->lock_fd < 0) throw InternalError("open " + lock_path + ": " + std::strerror(errno));
  if (::flock(impl_->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    throw UnavailableError("another trellisd uses data directory " + c.data_dir + " (" + lock_path +
                           " is locked)");
  }

  store::Options options;
  options.node_name = c.name;
  impl_->store.emplace(store::Store::open(c.data_dir, options));
  const store::NodeIdentity id = impl_->store->identity();
  logger().info("trellisd {} starting: node {} ({}), data {}, run {}", version(), id.name,
                store::format_node_id(id.id), c.data_dir, c.run_dir);

  impl_->reconciler = factory_ ? factory_(c) : make_kernel_reconciler(c, id.id);
  ControllerOptions copts;
  copts.run_dir = c.run_dir;
  copts.clustering = c.clustering();
  std::tie(copts.dynamic_port_first, copts.dynamic_port_last) = ephemeral_ports();
  // Remote events (gossip) reach the data plane through one coalesced reconciliation posted
  // to this thread after the write that applied them.
  copts.schedule_reconcile = [impl = impl_.get()] {
    if (impl->reconcile_posted) return;
    impl->reconcile_posted = true;
    asio::post(impl->io, [impl] {
      impl->reconcile_posted = false;
      try {
        impl->controller->reconcile_changes();
      } catch (const std::exception& e) {
        logger().error("reconciling remote changes: {}", e.what());
      }
    });
  };
  // Local commits reach gossip at once (eager push); anti-entropy would find them later.
  copts.after_local_commit = [impl = impl_.get()] {
    if (impl->cluster) impl->cluster->local_committed();
  };
  impl_->controller = std::make_unique<Controller>(*impl_->store, *impl_->reconciler, copts);

  // Without clustering the node announces itself now. With it, from on_ready: a fresh store
  // must stay empty until the join's sync had its chance to install a snapshot.
  if (!c.clustering()) impl_->announce(c.name, c.advertise_addr);

  impl_->controller->start();
  if (!impl_->controller->failures().empty()) {
    logger().warn("{} objects could not be programmed at start-up; retrying every {} s",
                  impl_->controller->failures().size(), kRetryInterval.count());
  }

  if (c.clustering()) start_cluster();

  ApiInfo info;
  info.version = version();
  info.data_dir = c.data_dir;
  info.run_dir = c.run_dir;
  impl_->router =
      std::make_unique<ApiRouter>(*impl_->controller, info, impl_->cluster.get(), &impl_->io);
  impl_->server = std::make_unique<ApiServer>(impl_->io, *impl_->router,
                                              impl_->controller->paths().api_socket());
  impl_->server->start();
  impl_->schedule_retry();
}

void Daemon::start_cluster() {
  const Config& c = config_;
  Impl* impl = impl_.get();
  ClusterOptions co;
  co.node_name = c.name;
  co.advertise_addr = c.advertise_addr;
  co.listen_addr = c.listen_addr;
  co.join = c.join;
  co.cluster_key_file = c.cluster_key;
  co.logger = spdlog::get("cluster");
  if (!co.logger) {
    log("cluster");
    co.logger = spdlog::get("cluster");
  }
  // Every store write of the service (remote events, snapshots) and its callbacks run on the
  // I/O thread, the store's one writer.
  co.post = [impl](std::function<void()> task) { asio::post(impl->io, std::move(task)); };
  // The controller's store listener already refreshed its cache and queued the touched
  // objects; reconcile them now rather than one posted task later.
  co.on_state_changed = [impl](const store::ChangeSet&) {
    try {
      impl->controller->reconcile_changes();
    } catch (const std::exception& e) {
      logger().error("reconciling remote changes: {}", e.what());
    }
  };
  // Member changes are logged by the service; here they move the overlay's live set, trigger
  // join donations and re-program the overlay networks' peers.
  co.on_member_change = [impl](const MemberChange& change) { impl->membership_changed(&change); };
  co.on_space_request = [impl](const SpaceRequest& request) { impl->space_requested(request); };
  // Answers are informational: a waiting API request acts on the donation event itself
  // (node/api.h) and re-asks or times out otherwise.
  co.on_space_answer = [](const SpaceAnswer& answer) {
    const std::string from = store::format_node_id(answer.from);
    if (!answer.payload) {
      logger().debug("space request {} to node {} failed (no answer)", answer.request_id, from);
      return;
    }
    try {
      const overlay::SpaceAnswerBody body = overlay::decode_space_answer(*answer.payload);
      logger().debug("space request {} to node {}: status {}, [{}, {}] {}", answer.request_id, from,
                     static_cast<int>(body.status), body.first, body.last, body.reason);
    } catch (const std::exception& e) {
      logger().warn("malformed space answer from node {}: {}", from, e.what());
    }
  };
  co.on_ready = [impl, name = c.name, founder = c.join.empty()] {
    try {
      impl->announce(name, host_of(impl->cluster->address()));
    } catch (const std::exception& e) {
      logger().error("announcing this node: {}", e.what());
    }
    if (founder) impl->found_spaces();
    impl->cluster->local_committed();
    // Members seen before this point (a fresh store's hold) may be owed join donations.
    impl->membership_changed(nullptr);
  };
  impl_->cluster = std::make_unique<ClusterService>(*impl_->store, std::move(co));
  // Blocks up to the join timeout; ConflictError (our store belongs to another cluster) and
  // UnavailableError (the gossip address cannot be bound) end the start-up.
  impl_->cluster->start();
  logger().info("clustering: gossip at {}, cluster {}, {} members known", impl_->cluster->address(),
                store::format_node_id(impl_->cluster->cluster_id()),
                impl_->cluster->members().size());
  impl_->watch_cluster();
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
}

void Daemon::stop() {
  asio::post(impl_->io, [this] {
    if (impl_->server) impl_->server->stop();
    // Announce the leave (gossips for its grace period) while the store is still open.
    if (impl_->cluster) impl_->cluster->stop();
    impl_->cluster_watch.cancel();
    impl_->retry_timer.cancel();
    if (impl_->signals) impl_->signals->cancel();
    impl_->io.stop();
  });
}

}  // namespace trellis::node
