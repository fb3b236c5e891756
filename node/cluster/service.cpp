#include "node/cluster/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "common/error.h"
#include "common/log.h"
#include "gossip/cluster_key.h"
#include "node/cluster/store_replicated_log.h"
#include "store/event.h"

namespace trellis::node {

namespace {

using Clock = std::chrono::steady_clock;

spdlog::logger& logger() { return log("cluster"); }

constexpr size_t kPublishChunkBytes = 1 << 20;

struct HostPort {
  std::string host;
  uint16_t port = 0;
  bool has_port = false;
};

// "IP", "IP:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address.
HostPort parse_host_port(const std::string& what, const std::string& text) {
  if (text.empty()) throw InvalidArgumentError(what + ": empty address");
  HostPort hp;
  const bool bracketed = text.front() == '[';
  const size_t colons = std::count(text.begin(), text.end(), ':');
  if ((bracketed && text.find("]:") != std::string::npos) || (!bracketed && colons == 1)) {
    try {
      std::tie(hp.host, hp.port) = gossip::split_host_port(text);
    } catch (const InvalidArgumentError& e) {
      throw InvalidArgumentError(what + " '" + text + "': " + e.what());
    }
    hp.has_port = true;
  } else if (bracketed) {
    if (text.back() != ']') throw InvalidArgumentError(what + " '" + text + "': malformed");
    hp.host = text.substr(1, text.size() - 2);
  } else {
    hp.host = text;
  }
  if (hp.host.empty()) throw InvalidArgumentError(what + " '" + text + "': no host");
  return hp;
}

std::string join_host_port(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool unspecified(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "*" || host == "0:0:0:0:0:0:0:0";
}

std::string cluster_id_text(uint64_t id) { return id == 0 ? "(none)" : store::format_node_id(id); }

}  // namespace

// Lets tasks queued on the writer outlive the service: a task runs only while `alive`, and
// holds `mu` while it runs, so stop waits for a running task and later ones do nothing.
struct ClusterService::Guard {
  std::mutex mu;
  bool alive = true;
};

// A single thread running posted tasks in order (used when the owner gives no executor).
class ClusterService::WriterThread {
 public:
  WriterThread() : thread_([this] { run(); }) {}
  ~WriterThread() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping and drained
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();  // tasks are wrapped by ClusterService::post and do not throw
      lock.lock();
    }
  }

  std::mutex mu_;  // guards tasks_, stopping_
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

ClusterService::ClusterService(store::Store& store, ClusterOptions options)
    : store_(store), options_(std::move(options)) {
  node_id_ = store_.identity().id;

  // Resolve the listen and advertise addresses (docs/operations.md "Flags and config file":
  // --listen-addr IP[:PORT],
  // --advertise-addr IP; the gossip socket binds on the advertise address by default).
  std::optional<HostPort> listen, advertise;
  if (!options_.listen_addr.empty())
    listen = parse_host_port("listen address", options_.listen_addr);
  if (!options_.advertise_addr.empty())
    advertise = parse_host_port("advertise address", options_.advertise_addr);
  if (!listen && !advertise) {
    throw InvalidArgumentError(
        "cluster: an advertise address or a listen address with a specific IP is required");
  }
  if (!listen) {
    listen = HostPort{advertise->host,
                      advertise->has_port ? advertise->port : gossip::kDefaultGossipPort, true};
  } else if (!listen->has_port) {
    listen->port = gossip::kDefaultGossipPort;
    listen->has_port = true;
  }
  if (!advertise) {
    if (unspecified(listen->host)) {
      throw InvalidArgumentError("cluster: listening on " + listen->host +
                                 " needs an advertise address (--advertise-addr) that peers can "
                                 "reach");
    }
    advertise = HostPort{listen->host, listen->port, true};
  } else if (!advertise->has_port) {
    advertise->port = listen->port;  // 0: GossipNode advertises the bound port
  }
  if (unspecified(advertise->host)) {
    throw InvalidArgumentError("cluster: advertise address " + advertise->host +
                               " is not an address peers can reach");
  }
  listen_address_ = join_host_port(listen->host, listen->port);
  advertise_address_ = join_host_port(advertise->host, advertise->port);
  for (const std::string& seed : options_.join) {
    if (seed.empty()) continue;
    HostPort hp = parse_host_port("join address", seed);
    seeds_.push_back(join_host_port(hp.host, hp.has_port ? hp.port : gossip::kDefaultGossipPort));
  }
  log_ = std::make_unique<StoreReplicatedLog>(store_);
}

ClusterService::~ClusterService() {
  stop_impl(false);
  writer_.reset();
}

std::shared_ptr<gossip::GossipNode> ClusterService::current_node() const {
  std::lock_guard lock(mu_);
  return node_;
}

void ClusterService::start(ClusterEvents* events) {
  {
    std::lock_guard lock(mu_);
    if (running_) throw ConflictError("cluster: already started");
  }
  std::optional<gossip::ClusterKeys> keys;
  if (!options_.cluster_key_file.empty()) {
    keys = gossip::load_cluster_keys(options_.cluster_key_file);
  }
  const store::NodeIdentity identity = store_.identity();
  gossip::NodeOptions no = node_options(identity, std::move(keys));
  const std::string name = no.config.name;
  const bool encrypted = no.transport.keys.has_value();

  events_ = events;
  if (!options_.post && !writer_) writer_ = std::make_unique<WriterThread>();
  guard_ = std::make_shared<Guard>();
  reset_run_state(identity);

  // GossipNode's clock starts when it is constructed, right below.
  wall_epoch_ = std::chrono::system_clock::now();
  std::shared_ptr<gossip::GossipNode> node;
  try {
    node = std::make_shared<gossip::GossipNode>(std::move(no), *log_,
                                                [this](const gossip::Effect& e) { on_effect(e); });
  } catch (const UnavailableError& e) {
    throw UnavailableError("cluster: start gossip on " + listen_address_ + ": " + e.what());
  }
  {
    std::lock_guard lock(mu_);
    node_ = node;
    running_ = true;
  }
  if (fresh_) {
    hold_timer_ = std::thread([this] { run_hold_timer(); });
  } else {
    post([this] { maybe_ready(); });
  }
  logger().info("gossip on {} (advertised {}), node {} '{}', cluster {}, {}, {}", listen_address_,
                node->address(), store::format_node_id(identity.id), name,
                cluster_id_text(identity.cluster_id),
                seeds_.empty() ? std::string("no seeds")
                               : "joining through " + std::to_string(seeds_.size()) + " seed(s)",
                encrypted ? "CURVE encryption" : "plaintext (no cluster key)");
  wait_for_join(identity);
}

gossip::NodeOptions ClusterService::node_options(const store::NodeIdentity& identity,
                                                 std::optional<gossip::ClusterKeys> keys) const {
  gossip::NodeOptions no;
  no.config = options_.protocol;
  gossip::Config& c = no.config;
  c.node_id = identity.id;
  c.name = options_.node_name.empty() ? identity.name : options_.node_name;
  c.address = advertise_address_;
  c.cluster_id = identity.cluster_id;
  c.seeds = seeds_;
  // A restart starts above any incarnation peers may hold of us (they count from our last
  // life's start), so refuting an old death costs no round trip.
  const auto wall_now = std::chrono::system_clock::now();
  c.initial_incarnation = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(wall_now.time_since_epoch()).count());
  c.random_seed = identity.id ^ static_cast<uint64_t>(wall_now.time_since_epoch().count());
  no.transport = options_.transport;
  no.transport.listen_address = listen_address_;
  no.transport.keys = std::move(keys);
  return no;
}

void ClusterService::reset_run_state(const store::NodeIdentity& identity) {
  {
    std::lock_guard lock(mu_);
    cluster_id_ = identity.cluster_id;
    // A member of a known cluster with nobody to call waits to be contacted; it is in.
    joined_ = identity.cluster_id != 0 && seeds_.empty();
    refusals_.clear();
    inbox_.clear();
    inbox_entries_ = 0;
    drain_scheduled_ = false;
    hold_until_.reset();
    hold_timer_stop_ = false;
  }
  held_.clear();
  ready_ = false;
  fresh_ = store_.version_vector().empty() && options_.fresh_store_hold.count() > 0;
  if (fresh_ && identity.cluster_id != 0 && seeds_.empty()) {
    std::lock_guard lock(mu_);
    hold_until_ = Clock::now() + options_.fresh_store_hold;
  }
  std::lock_guard lock(publish_mu_);
  const store::VersionVector vv = store_.version_vector();
  auto it = vv.find(identity.id);
  // Events authored before this start reach peers by anti-entropy (the join exchanges
  // version vectors at once).
  published_seq_ = it == vv.end() ? 0 : it->second;
}

void ClusterService::wait_for_join(const store::NodeIdentity& identity) {
  std::unique_lock lock(mu_);
  if (seeds_.empty()) {
    // Founding takes the gossip thread's first step; waiting for it makes joined() true
    // when start() returns. A member of a known cluster is in already.
    joined_cv_.wait_for(lock, options_.join_timeout, [&] { return joined_; });
    return;
  }
  const auto deadline = Clock::now() + options_.join_timeout;
  joined_cv_.wait_until(lock, deadline,
                        [&] { return joined_ || refusals_.size() >= seeds_.size(); });
  if (joined_) {
    logger().info("joined cluster {}", cluster_id_text(cluster_id_));
    return;
  }
  if (!refusals_.empty()) {
    const gossip::JoinRefused r = refusals_.front();
    lock.unlock();
    stop_impl(false);
    throw ConflictError("cluster: seed " + r.address + " belongs to cluster " +
                        cluster_id_text(r.their_cluster_id) + " and refused this node, which " +
                        (identity.cluster_id == 0
                             ? std::string("belongs to another cluster")
                             : "belongs to cluster " + cluster_id_text(identity.cluster_id)) +
                        " (clusters never merge; use a fresh data directory to move a node)");
  }
  logger().warn("no seed answered within {} ms; still trying to join in the background",
                options_.join_timeout.count());
}

void ClusterService::stop() { stop_impl(true); }
void ClusterService::stop_silently() { stop_impl(false); }

void ClusterService::stop_impl(bool leave) {
  std::shared_ptr<gossip::GossipNode> node;
  {
    std::lock_guard lock(mu_);
    node = std::move(node_);
    running_ = false;
    joined_ = false;
  }
  {
    std::lock_guard lock(mu_);
    hold_timer_stop_ = true;
  }
  hold_cv_.notify_all();
  if (hold_timer_.joinable()) hold_timer_.join();
  if (node) {
    if (leave) {
      node->leave_and_stop(std::chrono::duration_cast<gossip::Time>(options_.leave_grace));
      logger().info("left the cluster");
    } else {
      node->stop();
    }
    node.reset();
  }
  // No task queued for the writer does anything from here on (waits for one running).
  if (guard_) {
    std::lock_guard g(guard_->mu);
    guard_->alive = false;
  }
}

bool ClusterService::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

bool ClusterService::joined() const {
  std::lock_guard lock(mu_);
  return joined_;
}

bool ClusterService::wait_joined(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return joined_cv_.wait_for(lock, timeout, [&] { return joined_; });
}

std::string ClusterService::address() const {
  auto node = current_node();
  return node ? node->address() : advertise_address_;
}

uint64_t ClusterService::cluster_id() const {
  std::lock_guard lock(mu_);
  return cluster_id_;
}

// ---- effects (gossip thread) ------------------------------------------------------------------

void ClusterService::post(std::function<void()> task) {
  std::shared_ptr<Guard> guard = guard_;
  auto wrapped = [guard, task = std::move(task)] {
    std::lock_guard g(guard->mu);
    if (!guard->alive) return;
    try {
      task();
    } catch (const std::exception& e) {
      logger().error("cluster task failed: {}", e.what());
    }
  };
  if (writer_) {
    writer_->post(std::move(wrapped));
  } else {
    options_.post(std::move(wrapped));
  }
}

void ClusterService::on_effect(const gossip::Effect& effect) {
  std::visit([this](const auto& e) { handle(e); }, effect);
}

void ClusterService::handle(const gossip::ApplyRemote& apply) {
  bool schedule = false;
  {
    std::lock_guard lock(mu_);
    counters_.entries_received += apply.entries.size();
    const size_t room =
        options_.max_apply_queue > inbox_entries_ ? options_.max_apply_queue - inbox_entries_ : 0;
    const size_t take = std::min(room, apply.entries.size());
    if (take < apply.entries.size()) counters_.entries_overflow += apply.entries.size() - take;
    if (take == 0) return;
    if (inbox_.empty() || inbox_.back().snapshot) inbox_.emplace_back();
    auto& v = inbox_.back().entries;
    v.insert(v.end(), apply.entries.begin(), apply.entries.begin() + static_cast<long>(take));
    inbox_entries_ += take;
    schedule = !std::exchange(drain_scheduled_, true);
  }
  if (schedule) post([this] { drain_inbox(); });
}

void ClusterService::handle(const gossip::InstallSnapshot& install) {
  logger().info("snapshot of {} events from {} to install", install.snapshot.entries.size(),
                store::format_node_id(install.from));
  bool schedule = false;
  {
    std::lock_guard lock(mu_);
    inbox_.push_back(InboxItem{{}, install.snapshot});
    schedule = !std::exchange(drain_scheduled_, true);
  }
  if (schedule) post([this] { drain_inbox(); });
}

void ClusterService::handle(const gossip::ClusterJoined& joined) {
  {
    std::lock_guard lock(mu_);
    cluster_id_ = joined.cluster_id;
    joined_ = true;
    // A founder has nobody's snapshot to wait for.
    if (!hold_until_) {
      hold_until_ = Clock::now() + (joined.founded ? Clock::duration::zero()
                                                   : Clock::duration(options_.fresh_store_hold));
    }
  }
  hold_cv_.notify_all();
  joined_cv_.notify_all();
  logger().info("{} {}", joined.founded ? "founded cluster" : "adopted cluster id",
                cluster_id_text(joined.cluster_id));
  const uint64_t id = joined.cluster_id;
  post([this, id] {
    if (store_.identity().cluster_id != id) store_.set_cluster_id(id);
  });
}

void ClusterService::handle(const gossip::JoinRefused& refused) {
  logger().error("seed {} refused us: it belongs to cluster {}, we to {}", refused.address,
                 cluster_id_text(refused.their_cluster_id), cluster_id_text(cluster_id()));
  {
    std::lock_guard lock(mu_);
    refusals_.push_back(refused);
  }
  joined_cv_.notify_all();
}

void ClusterService::handle(const gossip::MemberChanged& changed) {
  const gossip::Member& mem = changed.member;
  if (mem.id != node_id_ && mem.state == gossip::MemberState::kAlive) {
    // A member of the cluster talks to us: we are in (the ClusterJoined effect comes only
    // when the cluster id was unknown).
    bool first = false;
    {
      std::lock_guard lock(mu_);
      first = !joined_ && cluster_id_ != 0;
      if (first) joined_ = true;
      if (!hold_until_) hold_until_ = Clock::now() + options_.fresh_store_hold;
    }
    if (first) joined_cv_.notify_all();
    hold_cv_.notify_all();
  }
  const std::string id = store::format_node_id(mem.id);
  if (changed.is_new) {
    logger().info("member {} '{}' at {} is {}", id, mem.name, mem.address,
                  gossip::to_string(mem.state));
  } else if (mem.state == gossip::MemberState::kDead) {
    logger().warn("member {} '{}' at {} is dead (was {})", id, mem.name, mem.address,
                  gossip::to_string(changed.previous));
  } else {
    logger().info("member {} '{}' at {}: {} -> {}", id, mem.name, mem.address,
                  gossip::to_string(changed.previous), gossip::to_string(mem.state));
  }
  if (!events_) return;
  MemberChange change{convert(mem), changed.previous, changed.is_new};
  post([this, change = std::move(change)] { events_->member_changed(change); });
}

void ClusterService::handle(const gossip::SnapshotRequired& required) {
  logger().warn(
      "member {} has events we lack only in compacted form and our store cannot install a "
      "snapshot (it is not empty); they stay missing here",
      store::format_node_id(required.from));
}

void ClusterService::handle(const gossip::SpaceRequestReceived& request) {
  if (!events_) {
    logger().warn("space request {} from {} left unanswered (no handler)", request.request_id,
                  store::format_node_id(request.from));
    return;
  }
  SpaceRequest req{request.from, request.request_id, request.payload};
  post([this, req = std::move(req)] { events_->space_requested(req); });
}

void ClusterService::handle(const gossip::SpaceAnswerReceived& answer) {
  if (!events_) return;
  SpaceAnswer ans{answer.from, answer.request_id, answer.payload};
  post([this, ans = std::move(ans)] { events_->space_answered(ans); });
}

void ClusterService::handle(const gossip::SpaceRequestFailed& failed) {
  if (!events_) return;
  SpaceAnswer ans{failed.to, failed.request_id, std::nullopt};
  post([this, ans = std::move(ans)] { events_->space_answered(ans); });
}

// ---- writer thread ----------------------------------------------------------------------------

void ClusterService::drain_inbox() {
  std::deque<InboxItem> items;
  {
    std::lock_guard lock(mu_);
    items.swap(inbox_);
    inbox_entries_ = 0;
    drain_scheduled_ = false;
  }
  for (InboxItem& item : items) {
    if (item.snapshot) {
      install_snapshot(*item.snapshot);
    } else {
      held_.insert(held_.end(), std::make_move_iterator(item.entries.begin()),
                   std::make_move_iterator(item.entries.end()));
    }
    if (!holding()) apply_held();
  }
  if (!holding()) apply_held();
  maybe_ready();
}

void ClusterService::maybe_ready() {
  if (ready_ || holding()) return;
  ready_ = true;
  if (events_) events_->ready();
}

bool ClusterService::holding() const {
  if (!fresh_) return false;
  std::lock_guard lock(mu_);
  return !hold_until_ || Clock::now() < *hold_until_;
}

void ClusterService::run_hold_timer() {
  std::unique_lock lock(mu_);
  hold_cv_.wait(lock, [&] { return hold_timer_stop_ || hold_until_.has_value(); });
  if (hold_timer_stop_) return;
  const auto until = *hold_until_;
  if (hold_cv_.wait_until(lock, until, [&] { return hold_timer_stop_; })) return;
  lock.unlock();
  post([this] { drain_inbox(); });
}

void ClusterService::install_snapshot(const gossip::LogSnapshot& snapshot) {
  try {
    log_->install(snapshot);
    fresh_ = false;
    {
      std::lock_guard lock(mu_);
      ++counters_.snapshots_installed;
    }
    logger().info("installed a snapshot of {} events", snapshot.entries.size());
    if (events_) {
      store::ChangeSet changes;
      changes.rebuilt = true;
      events_->state_changed(changes);
    }
  } catch (const std::exception& e) {
    {
      std::lock_guard lock(mu_);
      ++counters_.snapshot_failures;
    }
    logger().warn("installing a snapshot failed: {}", e.what());
  }
}

void ClusterService::apply_held() {
  if (held_.empty()) return;
  std::vector<gossip::LogEntry> entries = std::move(held_);
  held_.clear();
  fresh_ = false;
  try {
    RemoteApply r = log_->apply(entries);
    {
      std::lock_guard lock(mu_);
      ++counters_.apply_batches;
      counters_.events_applied += r.changes.applied.size();
      counters_.entries_dropped += r.dropped;
    }
    if (r.dropped > 0) {
      logger().warn("dropped {} remote entries that could not be decoded or were impossible",
                    r.dropped);
    }
    for (const store::Rejection& rej : r.changes.rejected) {
      logger().warn("event {}:{} ({}) rejected: {}", store::format_node_id(rej.event.origin),
                    rej.event.seq, rej.body_type, rej.reason);
    }
    logger().debug("applied {} remote events ({} held, {} duplicates)", r.changes.applied.size(),
                   r.changes.held, r.changes.duplicates);
    if (events_ &&
        (!r.changes.applied.empty() || r.changes.rebuilt || !r.changes.rejected.empty())) {
      events_->state_changed(r.changes);
    }
  } catch (const std::exception& e) {
    // Anti-entropy fetches them again: the core re-reads the store's version vector.
    {
      std::lock_guard lock(mu_);
      ++counters_.apply_failures;
    }
    logger().error("applying {} remote events failed: {}", entries.size(), e.what());
  }
}

// ---- local events -----------------------------------------------------------------------------

void ClusterService::local_committed() {
  std::shared_ptr<gossip::GossipNode> node = current_node();
  if (!node) return;
  std::lock_guard lock(publish_mu_);
  const store::VersionVector vv = store_.version_vector();
  auto it = vv.find(node_id_);
  const uint64_t head = it == vv.end() ? 0 : it->second;
  while (published_seq_ < head) {
    gossip::LogRead read = log_->entries_after(node_id_, published_seq_, kPublishChunkBytes);
    if (read.compacted || read.entries.empty()) {
      published_seq_ = head;  // compacted: peers had them (compaction waits for every member)
      break;
    }
    published_seq_ = read.entries.back().seq;
    {
      std::lock_guard c(mu_);
      counters_.local_published += read.entries.size();
    }
    node->local_appended(std::move(read.entries));
  }
}

void ClusterService::request_space(gossip::NodeId to, std::string payload,
                                   std::function<void(uint64_t)> on_sent) {
  std::shared_ptr<gossip::GossipNode> node = current_node();
  if (!node) throw UnavailableError("space request: the cluster service is not running");
  node->request_space(to, std::move(payload), std::move(on_sent));
}

void ClusterService::answer_space(gossip::NodeId to, uint64_t request_id, std::string payload) {
  std::shared_ptr<gossip::GossipNode> node = current_node();
  if (!node) throw UnavailableError("space answer: the cluster service is not running");
  node->answer_space(to, request_id, std::move(payload));
}

// ---- queries ----------------------------------------------------------------------------------

ClusterMember ClusterService::convert(const gossip::Member& m) const {
  ClusterMember out;
  out.id = m.id;
  out.name = m.name;
  out.address = m.address;
  out.state = m.state;
  out.incarnation = m.incarnation;
  out.self = m.id == node_id_;
  out.state_since =
      wall_epoch_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(m.state_since);
  out.last_seen =
      m.state == gossip::MemberState::kAlive ? std::chrono::system_clock::now() : out.state_since;
  return out;
}

std::vector<ClusterMember> ClusterService::members() const {
  std::shared_ptr<gossip::GossipNode> node = current_node();
  std::vector<ClusterMember> out;
  if (!node) return out;
  for (const gossip::Member& m : node->members()) out.push_back(convert(m));
  return out;
}

LogStatus ClusterService::log_status() const {
  LogStatus s;
  s.self = node_id_;
  s.cluster_id = store_.identity().cluster_id;
  const store::VersionVector vv = store_.version_vector();
  const store::VersionVector floors = store_.compacted_floors();
  std::map<store::NodeId, std::string> names;
  for (const store::NodeInfo& n : store_.read().nodes()) names[n.id] = n.name;
  for (const auto& [origin, head] : vv) {
    OriginHead o;
    o.origin = origin;
    o.head = head;
    o.self = origin == node_id_;
    if (auto f = floors.find(origin); f != floors.end()) o.floor = f->second;
    if (auto n = names.find(origin); n != names.end()) o.name = n->second;
    s.origins.push_back(std::move(o));
  }
  const store::Counts counts = store_.counts();
  s.events = counts.events;
  s.pending = counts.pending;
  {
    std::lock_guard lock(publish_mu_);
    s.published_seq = published_seq_;
  }
  s.holding_for_snapshot = holding();
  return s;
}

ClusterStats ClusterService::stats() const {
  ClusterStats s;
  if (auto node = current_node()) s.gossip = node->stats();
  std::lock_guard lock(mu_);
  s.service = counters_;
  return s;
}

}  // namespace trellis::node
