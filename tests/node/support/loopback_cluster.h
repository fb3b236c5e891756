#pragma once
// Several ClusterService nodes in one process, each with a real store in a temp dir and a real
// ZeroMQ transport on 127.0.0.1 ephemeral ports (loopback only, no namespace needed). Shared by
// the cluster tests (tests/node/cluster/) and the propagation benchmark (bench/node/): forming
// a cluster, appending events, measuring propagation and failure detection. No gtest here:
// failures to form throw std::runtime_error; measurements return what they observed.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "node/cluster/service.h"
#include "store/event.h"
#include "tests/common/eventually.h"
#include "tests/node/support/temp_dir.h"

namespace trellis::node::testing {

using Clock = std::chrono::steady_clock;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The value at fraction `p` (0..1) of the sorted samples; 0 for none.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

inline store::SandboxCreated sandbox(const std::string& id) {
  store::SandboxCreated s;
  s.id = id;
  s.container_id = "c-" + id;
  s.hostname = "h-" + id;
  return s;
}

// One node: a store in its own directory and the cluster service over it. Its events record
// when each remote event was applied here (writer thread).
struct TestNode final : ClusterEvents {
  int index = 0;
  std::string dir;
  store::NodeId id = 0;
  std::string listen = "127.0.0.1:0";
  bool durable = false;
  int eager_fanout = 0;  // 0: the protocol's default
  std::optional<store::Store> store;
  std::unique_ptr<ClusterService> svc;

  std::mutex mu;  // guards the three below (written on the service's writer thread)
  std::map<store::EventId, Clock::time_point> applied_at;
  std::vector<MemberChange> changes;
  std::optional<store::VersionVector> ready_vv;  // the store's vector when ready() ran

  void open() {
    if (store) return;
    store::Options o;
    o.node_id = id;
    o.node_name = "n" + std::to_string(index);
    o.durable = durable;
    store.emplace(store::Store::open(dir, o));
  }

  ClusterOptions options(std::vector<std::string> seeds) {
    ClusterOptions o;
    o.listen_addr = listen;
    o.join = std::move(seeds);
    o.join_timeout = std::chrono::milliseconds(5000);
    o.leave_grace = std::chrono::milliseconds(300);
    if (eager_fanout > 0) o.protocol.eager_fanout = eager_fanout;
    return o;
  }

  void state_changed(const store::ChangeSet& c) override {
    const auto now = Clock::now();
    std::lock_guard lock(mu);
    for (const store::EventId& e : c.applied) applied_at.emplace(e, now);
  }
  void ready() override {
    std::lock_guard lock(mu);
    ready_vv = store->version_vector();
  }
  void member_changed(const MemberChange& c) override {
    std::lock_guard lock(mu);
    changes.push_back(c);
  }
  void space_requested(const SpaceRequest&) override {}
  void space_answered(const SpaceAnswer&) override {}

  void start(std::vector<std::string> seeds) { start_with(options(std::move(seeds))); }
  void start_with(ClusterOptions o) {
    open();
    svc = std::make_unique<ClusterService>(*store, std::move(o));
    svc->start(this);
    // Restarts reuse the port, as a daemon with a fixed --listen-addr would.
    listen = svc->address();
  }
  // As if the process died: no leave, sockets closed, store closed.
  void crash() {
    svc->stop_silently();
    svc.reset();
    store.reset();
  }
  void stop() {
    svc->stop();
    svc.reset();
    store.reset();
  }
  bool up() const { return svc != nullptr; }

  // Appends a local event and hands it to gossip; returns it with the commit time.
  std::pair<store::Event, Clock::time_point> append(const std::string& sandbox_id) {
    store::Event e = store->append_local(sandbox(sandbox_id));
    const auto t = Clock::now();
    svc->local_committed();
    return {e, t};
  }
  bool has(store::EventId e) const {
    const store::VersionVector vv = store->version_vector();
    auto it = vv.find(e.origin);
    return it != vv.end() && it->second >= e.seq;
  }
  std::optional<Clock::time_point> applied(store::EventId e) {
    std::lock_guard lock(mu);
    auto it = applied_at.find(e);
    if (it == applied_at.end()) return std::nullopt;
    return it->second;
  }
  std::optional<gossip::MemberState> state_of(store::NodeId member) const {
    for (const ClusterMember& m : svc->members()) {
      if (m.id == member) return m.state;
    }
    return std::nullopt;
  }
  size_t alive_count() const {
    size_t n = 0;
    for (const ClusterMember& m : svc->members()) n += m.state == gossip::MemberState::kAlive;
    return n;
  }
};

// The nodes of one loopback cluster, under one temp dir. Crashes whatever still runs when it
// goes.
class LoopbackCluster {
 public:
  LoopbackCluster() = default;
  LoopbackCluster(const LoopbackCluster&) = delete;
  LoopbackCluster& operator=(const LoopbackCluster&) = delete;
  ~LoopbackCluster() {
    for (auto& n : nodes) {
      if (n->up()) n->crash();
    }
  }

  TempDir root;
  std::vector<std::unique_ptr<TestNode>> nodes;
  int eager_fanout = 0;  // handed to every node added after it is set

  TestNode& add_node(bool durable = false) {
    auto n = std::make_unique<TestNode>();
    n->index = static_cast<int>(nodes.size());
    n->dir = root / ("n" + std::to_string(n->index));
    n->id = 0x1000 + static_cast<store::NodeId>(n->index);
    n->durable = durable;
    n->eager_fanout = eager_fanout;
    nodes.push_back(std::move(n));
    return *nodes.back();
  }

  // Starts `count` nodes: the first founds the cluster, the others join through it. Returns
  // once every node sees every other alive and no store still holds entries waiting for a
  // snapshot (so measurements start from a settled cluster); throws if that does not happen.
  void form(size_t count, bool durable = false) {
    TestNode& first = add_node(durable);
    first.start({});
    if (!first.svc->joined()) throw std::runtime_error("a node without seeds did not found");
    for (size_t i = 1; i < count; ++i) {
      TestNode& n = add_node(durable);
      n.start({first.svc->address()});
      if (!n.svc->joined())
        throw std::runtime_error("node " + std::to_string(i) + " did not join in time");
    }
    if (!test_support::eventually([&] {
          return std::all_of(nodes.begin(), nodes.end(),
                             [&](const auto& n) { return n->alive_count() == count; });
        }))
      throw std::runtime_error("not every node saw all " + std::to_string(count) + " alive");
    if (!test_support::eventually([&] {
          return std::none_of(nodes.begin(), nodes.end(), [](const auto& n) {
            return n->svc->log_status().holding_for_snapshot;
          });
        }))
      throw std::runtime_error("a fresh store kept holding entries for a snapshot");
  }

  bool everyone_up_has(store::EventId e) const {
    return std::all_of(nodes.begin(), nodes.end(),
                       [&](const auto& n) { return !n->up() || n->has(e); });
  }

  // Time from commit until the last other running node applied it (ms); nullopt while some
  // node has not.
  std::optional<double> propagation_ms(const TestNode& origin, store::EventId e,
                                       Clock::time_point committed) const {
    double worst = 0;
    for (const auto& n : nodes) {
      if (n.get() == &origin || !n->up()) continue;
      auto t = n->applied(e);
      if (!t) return std::nullopt;
      worst = std::max(worst, ms_between(committed, *t));
    }
    return worst;
  }

  // Appends `count` events at random nodes, one every `spacing`, and returns the time until
  // applied on every other node of each event that got there within 15 s (a short result
  // means some did not).
  std::vector<double> measure_propagation(int count, std::chrono::milliseconds spacing,
                                          uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::tuple<TestNode*, store::EventId, Clock::time_point>> sent;
    for (int i = 0; i < count; ++i) {
      TestNode& n = *nodes[rng() % nodes.size()];
      auto [e, t] = n.append("p" + std::to_string(i));
      sent.emplace_back(&n, e.id(), t);
      std::this_thread::sleep_for(spacing);
    }
    std::vector<double> out;
    for (auto& [n, e, t] : sent) {
      test_support::eventually([&] { return propagation_ms(*n, e, t).has_value(); });
      if (auto ms = propagation_ms(*n, e, t)) out.push_back(*ms);
    }
    return out;
  }

  // Crashes `victim`; returns ms until every other running node declared it dead, or nullopt
  // if that did not happen within 15 s.
  std::optional<double> measure_detection(TestNode& victim) {
    const store::NodeId dead = victim.id;
    const auto t0 = Clock::now();
    victim.crash();
    const bool declared = test_support::eventually([&] {
      return std::all_of(nodes.begin(), nodes.end(), [&](const auto& n) {
        return !n->up() || n->state_of(dead) == gossip::MemberState::kDead;
      });
    });
    if (!declared) return std::nullopt;
    return ms_between(t0, Clock::now());
  }
};

}  // namespace trellis::node::testing
