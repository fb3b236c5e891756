// The gossip simulator: a discrete-event loop over virtual time driving many gossip::Core.
#include "gossip/sim.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <sstream>
#include <unordered_map>

#include "common/error.h"
#include "gossip/core.h"
#include "gossip/message.h"
#include "gossip/replicated_log.h"

namespace trellis::gossip {
namespace {

constexpr Time kDisturbanceGrace = seconds(30);
constexpr Time kViewCheckInterval = milliseconds(100);

// View cell values.
constexpr uint8_t kUnknown = 0;

struct Ev {
  enum class Kind : uint8_t {
    kDeliver,
    kTick,
    kStart,
    kCrash,
    kRestart,
    kAppend,
    kCheck,
    kPartition
  };
  Time t{0};
  uint64_t serial = 0;
  Kind kind = Kind::kTick;
  size_t node = 0;
  size_t from = 0;
  uint64_t generation = 0;
  size_t index = 0;  // crash / partition spec index
  std::string frame;
};

struct EvLater {
  bool operator()(const Ev& a, const Ev& b) const {
    if (a.t != b.t) return a.t > b.t;
    return a.serial > b.serial;
  }
};

struct SimNode {
  NodeId id = 0;
  std::string address;
  std::unique_ptr<MemoryLog> log;
  std::unique_ptr<Core> core;
  bool up = false;
  uint64_t generation = 0;
  Time scheduled{-1};
  Time disturbed{-1000000000};  // last restart
  uint64_t msgs_measured = 0;
  uint64_t bytes_measured = 0;
  int group = 0;  // partition side while a partition is active
};

struct CrashTrack {
  size_t node = 0;
  Time at{0};
  std::vector<Time> declared;  // per observer, -1 until it declared the node dead
  // Observers that count: up at the crash, and not crashed themselves before declaring.
  std::vector<bool> eligible;
  bool closed = false;  // the node restarted: later declarations belong to no crash
};

class Sim {
 public:
  explicit Sim(const SimConfig& config) : cfg_(config), rng_(config.seed) {
    if (cfg_.nodes < 1) throw InvalidArgumentError("simulation: at least one node");
    if (cfg_.loss < 0 || cfg_.loss >= 1) throw InvalidArgumentError("simulation: loss in [0, 1)");
    const size_t n = cfg_.nodes;
    nodes_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      SimNode& node = nodes_[i];
      do {
        node.id = rng_();
      } while (node.id == 0 || by_id_.count(node.id));
      node.address = "n";
      node.address += std::to_string(i);
      node.address += ":7946";
      node.log = std::make_unique<MemoryLog>();
      by_address_[node.address] = i;
      by_id_[node.id] = i;
    }
    view_.assign(n * n, kUnknown);
    row_wrong_.assign(n, 0);
    // Join times: node 0 founds the cluster at 0, the others join through it.
    for (size_t i = 0; i < n; ++i) {
      Time at = i == 0 || cfg_.join_spread.count() == 0
                    ? Time{0}
                    : Time{static_cast<int64_t>(rng_() %
                                                static_cast<uint64_t>(cfg_.join_spread.count()))};
      Ev ev;
      ev.t = at;
      ev.kind = Ev::Kind::kStart;
      ev.node = i;
      push(std::move(ev));
    }
    for (size_t c = 0; c < cfg_.crashes.size(); ++c) {
      Ev ev;
      ev.t = cfg_.crashes[c].at;
      ev.kind = Ev::Kind::kCrash;
      ev.index = c;
      push(std::move(ev));
    }
    for (size_t p = 0; p < cfg_.partitions.size(); ++p) {
      Ev ev;
      ev.t = cfg_.partitions[p].start;
      ev.kind = Ev::Kind::kPartition;
      ev.index = p;
      push(ev);
      ev.t = cfg_.partitions[p].start + cfg_.partitions[p].duration;
      ev.index = p + cfg_.partitions.size();  // the end
      push(std::move(ev));
    }
    for (size_t e = 0; e < cfg_.events; ++e) {
      Ev ev;
      ev.t = cfg_.events_at;
      if (cfg_.events > 1)
        ev.t +=
            cfg_.events_spread * static_cast<int64_t>(e) / static_cast<int64_t>(cfg_.events - 1);
      ev.kind = Ev::Kind::kAppend;
      ev.index = e;
      push(std::move(ev));
    }
    Ev check;
    check.t = kViewCheckInterval;
    check.kind = Ev::Kind::kCheck;
    push(std::move(check));
  }

  SimReport run() {
    while (!queue_.empty()) {
      std::pop_heap(queue_.begin(), queue_.end(), EvLater{});
      Ev ev = std::move(queue_.back());
      queue_.pop_back();
      if (ev.t > cfg_.duration) break;
      now_ = ev.t;
      dispatch(ev);
    }
    now_ = cfg_.duration;
    return report();
  }

 private:
  void push(Ev ev) {
    ev.serial = ++serial_;
    queue_.push_back(std::move(ev));
    std::push_heap(queue_.begin(), queue_.end(), EvLater{});
  }

  void dispatch(Ev& ev) {
    switch (ev.kind) {
      case Ev::Kind::kStart:
        start_node(ev.node, false);
        break;
      case Ev::Kind::kDeliver: {
        SimNode& node = nodes_[ev.node];
        if (!node.up || node.generation != ev.generation) {
          ++lost_;
          break;
        }
        Message m = decode(ev.frame);
        node.core->receive(std::move(m), now_);
        drain(ev.node);
        break;
      }
      case Ev::Kind::kTick: {
        SimNode& node = nodes_[ev.node];
        if (!node.up || node.generation != ev.generation || node.scheduled != ev.t) break;
        node.scheduled = Time{-1};
        node.core->tick(now_);
        drain(ev.node);
        break;
      }
      case Ev::Kind::kCrash:
        crash(ev.index);
        break;
      case Ev::Kind::kRestart:
        start_node(ev.node, true);
        break;
      case Ev::Kind::kAppend:
        append(ev.index);
        break;
      case Ev::Kind::kPartition:
        partition(ev.index);
        break;
      case Ev::Kind::kCheck: {
        check_views();
        Ev next;
        next.t = now_ + kViewCheckInterval;
        next.kind = Ev::Kind::kCheck;
        push(std::move(next));
        break;
      }
    }
  }

  void start_node(size_t i, bool restart) {
    SimNode& node = nodes_[i];
    Config c = cfg_.protocol;
    c.node_id = node.id;
    c.name = "node-";
    c.name += std::to_string(i);
    c.address = node.address;
    c.random_seed = rng_();
    c.cluster_id = restart ? cluster_id_ : 0;
    c.seeds.clear();
    if (i != 0 || restart) {
      // Join through node 0, or on restart through any live node.
      size_t seed = 0;
      if (restart) {
        std::vector<size_t> live;
        for (size_t j = 0; j < nodes_.size(); ++j) {
          if (j != i && nodes_[j].up) live.push_back(j);
        }
        if (!live.empty()) seed = live[rng_() % live.size()];
      }
      c.seeds.push_back(nodes_[seed].address);
    }
    ++node.generation;
    node.up = true;
    node.scheduled = Time{-1};
    if (restart) {
      node.disturbed = now_;
      for (CrashTrack& t : crash_tracks_) t.closed |= t.node == i;
    }
    node.core = std::make_unique<Core>(std::move(c), *node.log, now_);
    // A restarted node's view starts empty.
    for (size_t x = 0; x < nodes_.size(); ++x) set_view(i, x, kUnknown);
    drain(i);
    refresh_truth(i);
  }

  void crash(size_t c) {
    const SimCrash& spec = cfg_.crashes[c];
    std::vector<size_t> candidates;
    for (size_t j = 1; j < nodes_.size(); ++j) {
      if (nodes_[j].up) candidates.push_back(j);
    }
    for (size_t k = 0; k < spec.count && !candidates.empty(); ++k) {
      size_t pick = rng_() % candidates.size();
      size_t i = candidates[pick];
      candidates.erase(candidates.begin() + static_cast<ptrdiff_t>(pick));
      SimNode& node = nodes_[i];
      node.up = false;
      node.core.reset();
      ++node.generation;
      for (CrashTrack& t : crash_tracks_) {
        if (t.declared[i].count() < 0) t.eligible[i] = false;
      }
      CrashTrack track;
      track.node = i;
      track.at = now_;
      track.declared.assign(nodes_.size(), Time{-1});
      track.eligible.resize(nodes_.size());
      for (size_t o = 0; o < nodes_.size(); ++o) track.eligible[o] = o != i && nodes_[o].up;
      crash_tracks_.push_back(std::move(track));
      refresh_truth(i);
      if (spec.restart_after) {
        Ev ev;
        ev.t = now_ + *spec.restart_after;
        ev.kind = Ev::Kind::kRestart;
        ev.node = i;
        push(std::move(ev));
      }
    }
  }

  void partition(size_t index) {
    const size_t count = cfg_.partitions.size();
    if (index < count) {
      std::vector<size_t> order(nodes_.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng_);
      size_t cut = static_cast<size_t>(
          std::llround(cfg_.partitions[index].fraction * static_cast<double>(order.size())));
      for (size_t i = 0; i < order.size(); ++i) nodes_[order[i]].group = i < cut ? 1 : 0;
      partitioned_ = true;
    } else {
      partitioned_ = false;
      last_partition_end_ = now_;
      for (SimNode& n : nodes_) n.group = 0;
    }
    for (size_t i = 0; i < nodes_.size(); ++i) refresh_row(i);
  }

  void append(size_t) {
    std::vector<size_t> live;
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (nodes_[j].up) live.push_back(j);
    }
    if (live.empty()) return;
    size_t i = live[rng_() % live.size()];
    SimNode& node = nodes_[i];
    std::string body(cfg_.event_bytes, '\0');
    for (char& ch : body) ch = static_cast<char>(rng_() & 0xff);
    LogEntry entry = node.log->append(node.id, std::move(body));
    EventTrack t;
    t.appended = now_;
    t.up_at_append.resize(nodes_.size());
    for (size_t j = 0; j < nodes_.size(); ++j) t.up_at_append[j] = nodes_[j].up;
    t.applied.assign(nodes_.size(), Time{-1});
    t.applied[i] = now_;
    event_index_[key(entry.origin, entry.seq)] = events_.size();
    events_.push_back(std::move(t));
    node.core->local_appended({entry}, now_);
    drain(i);
  }

  static uint64_t key(NodeId origin, uint64_t seq) { return origin * 1000003ULL ^ seq; }

  // Sends the node's outgoing messages, applies its effects, schedules its next tick.
  void drain(size_t i) {
    SimNode& node = nodes_[i];
    for (Outgoing& out : node.core->take_messages()) {
      std::string frame = encode(out.message);
      ++messages_;
      bytes_ += frame.size();
      if (now_ >= cfg_.warmup) {
        ++node.msgs_measured;
        node.bytes_measured += frame.size();
      }
      auto it = by_address_.find(out.address);
      if (it == by_address_.end()) {
        ++lost_;
        continue;
      }
      size_t to = it->second;
      if (cfg_.loss > 0 && unit() < cfg_.loss) {
        ++lost_;
        continue;
      }
      if (partitioned_ && nodes_[to].group != node.group) {
        ++lost_;
        continue;
      }
      Ev ev;
      ev.t = now_ + latency();
      ev.kind = Ev::Kind::kDeliver;
      ev.node = to;
      ev.from = i;
      ev.generation = nodes_[to].generation;
      ev.frame = std::move(frame);
      push(std::move(ev));
    }
    for (Effect& effect : node.core->take_effects()) apply_effect(i, effect);
    Time d = std::max(node.core->next_deadline(), now_ + Time{1});
    if (node.scheduled.count() < 0 || d < node.scheduled) {
      node.scheduled = d;
      Ev ev;
      ev.t = d;
      ev.kind = Ev::Kind::kTick;
      ev.node = i;
      ev.generation = node.generation;
      push(std::move(ev));
    }
  }

  void apply_effect(size_t i, Effect& effect) {
    SimNode& node = nodes_[i];
    if (auto* apply = std::get_if<ApplyRemote>(&effect)) {
      record_applied(i, node.log->apply(apply->entries));
    } else if (auto* snap = std::get_if<InstallSnapshot>(&effect)) {
      record_applied(i, node.log->install(snap->snapshot));
    } else if (auto* changed = std::get_if<MemberChanged>(&effect)) {
      auto it = by_id_.find(changed->member.id);
      if (it == by_id_.end()) return;
      size_t x = it->second;
      uint8_t state = static_cast<uint8_t>(changed->member.state) + 1;
      set_view(i, x, state);
      const bool dead = changed->member.state == MemberState::kDead;
      const bool suspect = changed->member.state == MemberState::kSuspect;
      if ((dead || suspect) && reachable_undisturbed(i, x)) {
        if (dead) {
          ++false_dead_;
        } else {
          ++false_suspect_;
        }
      }
      if (dead || changed->member.state == MemberState::kLeft) {
        for (CrashTrack& t : crash_tracks_) {
          if (t.node == x && !t.closed && t.declared[i].count() < 0) t.declared[i] = now_ - t.at;
        }
      }
    } else if (auto* joined = std::get_if<ClusterJoined>(&effect)) {
      if (cluster_id_ == 0) cluster_id_ = joined->cluster_id;
    } else if (auto* req = std::get_if<SpaceRequestReceived>(&effect)) {
      node.core->answer_space(req->from, req->request_id, req->payload, now_);
    }
  }

  bool reachable_undisturbed(size_t observer, size_t x) const {
    const SimNode& n = nodes_[x];
    if (!n.up) return false;
    if (partitioned_ && n.group != nodes_[observer].group) return false;
    if (now_ - n.disturbed < kDisturbanceGrace) return false;
    if (now_ - nodes_[observer].disturbed < kDisturbanceGrace) return false;
    if (now_ - last_partition_end_ < kDisturbanceGrace) return false;
    return true;
  }

  void record_applied(size_t i, const std::vector<LogEntry>& added) {
    for (const LogEntry& e : added) {
      auto it = event_index_.find(key(e.origin, e.seq));
      if (it == event_index_.end()) continue;
      Time& at = events_[it->second].applied[i];
      if (at.count() < 0) at = now_;
    }
  }

  // ---- membership views: view_[o * n + x] is what o thinks of x (0 unknown, state + 1) ----

  bool cell_wrong(size_t o, size_t x) const {
    if (o == x) return false;
    uint8_t v = view_[o * nodes_.size() + x];
    // The truth as o can know it: x is live and reachable -> alive or suspect in o's view.
    const bool live = nodes_[x].up && (!partitioned_ || nodes_[x].group == nodes_[o].group);
    const bool in_view = v == static_cast<uint8_t>(MemberState::kAlive) + 1 ||
                         v == static_cast<uint8_t>(MemberState::kSuspect) + 1;
    return live != in_view;
  }

  void set_view(size_t o, size_t x, uint8_t v) {
    const size_t n = nodes_.size();
    bool before = cell_wrong(o, x);
    view_[o * n + x] = v;
    bool after = cell_wrong(o, x);
    row_wrong_[o] += static_cast<int64_t>(after) - static_cast<int64_t>(before);
  }

  void refresh_row(size_t o) {
    int64_t wrong = 0;
    for (size_t x = 0; x < nodes_.size(); ++x) wrong += cell_wrong(o, x);
    row_wrong_[o] = wrong;
  }

  void refresh_truth(size_t x) {
    // x went up or down: every observer's cell about x may flip.
    for (size_t o = 0; o < nodes_.size(); ++o) {
      if (o != x) refresh_row(o);
    }
    refresh_row(x);
  }

  void check_views() {
    int64_t wrong = 0;
    for (size_t o = 0; o < nodes_.size(); ++o) {
      if (nodes_[o].up) wrong += row_wrong_[o];
    }
    if (wrong == 0) {
      if (converged_since_.count() < 0) converged_since_ = now_;
    } else {
      converged_since_ = Time{-1};
    }
  }

  // ---- randomness ----
  double unit() { return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0); }
  Time latency() {
    double extra_mean = static_cast<double>((cfg_.latency_mean - cfg_.latency_min).count());
    double u = unit();
    double extra = extra_mean > 0 ? -std::log(1.0 - u) * extra_mean : 0;
    Time t = cfg_.latency_min + Time{static_cast<int64_t>(extra)};
    return std::min(t, cfg_.latency_max);
  }

  // ---- report ----
  static SimPercentiles percentiles(std::vector<int64_t> samples, size_t missing) {
    SimPercentiles p;
    p.count = samples.size();
    p.missing = missing;
    if (samples.empty()) return p;
    std::sort(samples.begin(), samples.end());
    auto rank = [&](double q) {
      size_t idx = static_cast<size_t>(std::ceil(q * static_cast<double>(samples.size())));
      return samples[std::min(samples.size() - 1, idx == 0 ? 0 : idx - 1)];
    };
    p.p50 = rank(0.5);
    p.p99 = rank(0.99);
    p.p999 = rank(0.999);
    p.max = samples.back();
    return p;
  }

  SimReport report() {
    SimReport r;
    r.seed = cfg_.seed;
    r.nodes = nodes_.size();
    r.duration_us = cfg_.duration.count();
    for (const SimNode& n : nodes_) r.live_nodes_at_end += n.up;
    r.events = events_.size();

    const double fractions[4] = {0.5, 0.99, 0.999, 1.0};
    std::vector<int64_t> samples[4];
    size_t missing[4] = {0, 0, 0, 0};
    for (const EventTrack& t : events_) {
      std::vector<int64_t> delays;
      size_t eligible = 0;
      for (size_t j = 0; j < nodes_.size(); ++j) {
        if (!t.up_at_append[j] || !nodes_[j].up) continue;
        ++eligible;
        if (t.applied[j].count() >= 0) delays.push_back((t.applied[j] - t.appended).count());
      }
      std::sort(delays.begin(), delays.end());
      for (int f = 0; f < 4; ++f) {
        size_t need = static_cast<size_t>(std::ceil(fractions[f] * static_cast<double>(eligible)));
        if (need == 0) need = 1;
        if (delays.size() >= need) {
          samples[f].push_back(delays[need - 1]);
        } else {
          ++missing[f];
        }
      }
    }
    r.to_50 = percentiles(samples[0], missing[0]);
    r.to_99 = percentiles(samples[1], missing[1]);
    r.to_999 = percentiles(samples[2], missing[2]);
    r.to_100 = percentiles(samples[3], missing[3]);

    std::vector<int64_t> detect;
    size_t undetected = 0;
    for (const CrashTrack& t : crash_tracks_) {
      SimCrashResult c;
      c.node = t.node;
      c.at_us = t.at.count();
      int64_t first = -1, all = 0;
      bool everyone = true;
      for (size_t o = 0; o < nodes_.size(); ++o) {
        if (!t.eligible[o]) continue;
        int64_t d = t.declared[o].count();
        if (d >= 0 && (first < 0 || d < first)) first = d;
        if (d < 0) {
          everyone = false;
        } else {
          all = std::max(all, d);
        }
      }
      c.first_detected_us = first;
      c.all_detected_us = everyone ? all : -1;
      if (everyone) {
        detect.push_back(all);
      } else {
        ++undetected;
      }
      r.crashes.push_back(c);
    }
    r.detection_all = percentiles(detect, undetected);
    r.false_dead = false_dead_;
    r.false_suspect = false_suspect_;

    double measured_s = static_cast<double>((cfg_.duration - cfg_.warmup).count()) / 1e6;
    if (measured_s > 0) {
      uint64_t msgs = 0, bytes = 0, max_bytes = 0;
      for (const SimNode& n : nodes_) {
        msgs += n.msgs_measured;
        bytes += n.bytes_measured;
        max_bytes = std::max(max_bytes, n.bytes_measured);
      }
      double nn = static_cast<double>(nodes_.size());
      r.msgs_per_node_s = static_cast<double>(msgs) / nn / measured_s;
      r.bytes_per_node_s = static_cast<double>(bytes) / nn / measured_s;
      r.max_bytes_per_node_s = static_cast<double>(max_bytes) / measured_s;
    }
    r.messages_sent = messages_;
    r.messages_lost = lost_;
    r.bytes_sent = bytes_;

    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (!nodes_[j].up) continue;
      bool missing_any = false;
      for (const EventTrack& t : events_) {
        if (t.applied[j].count() < 0) missing_any = true;
      }
      r.nodes_missing_events += missing_any;
      r.nodes_with_wrong_view += row_wrong_[j] != 0;
    }
    r.log_converged = r.nodes_missing_events == 0;
    r.membership_converged = r.nodes_with_wrong_view == 0;
    r.membership_converged_at_us = r.membership_converged ? converged_since_.count() : -1;
    return r;
  }

  struct EventTrack {
    Time appended{0};
    std::vector<bool> up_at_append;
    std::vector<Time> applied;
  };

  SimConfig cfg_;
  std::mt19937_64 rng_;
  std::vector<SimNode> nodes_;
  std::unordered_map<std::string, size_t> by_address_;
  std::unordered_map<NodeId, size_t> by_id_;
  std::vector<Ev> queue_;
  uint64_t serial_ = 0;
  Time now_{0};
  uint64_t cluster_id_ = 0;
  bool partitioned_ = false;
  Time last_partition_end_{-1000000000};

  std::vector<EventTrack> events_;
  std::unordered_map<uint64_t, size_t> event_index_;
  std::vector<CrashTrack> crash_tracks_;
  std::vector<uint8_t> view_;
  std::vector<int64_t> row_wrong_;
  Time converged_since_{-1};

  uint64_t messages_ = 0, lost_ = 0, bytes_ = 0;
  uint64_t false_dead_ = 0, false_suspect_ = 0;
};

std::string us_to_s(int64_t us) {
  if (us < 0) return "never";
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(3);
  o << static_cast<double>(us) / 1e6 << "s";
  return o.str();
}

std::string pct_text(const SimPercentiles& p) {
  std::ostringstream o;
  o << "p50 " << us_to_s(p.p50) << "  p99 " << us_to_s(p.p99) << "  p99.9 " << us_to_s(p.p999)
    << "  max " << us_to_s(p.max) << "  (n=" << p.count;
  if (p.missing) o << ", never: " << p.missing;
  o << ")";
  return o.str();
}

std::string pct_json(const SimPercentiles& p) {
  auto v = [](int64_t us) {
    if (us < 0) return std::string("null");
    std::ostringstream o;
    o.precision(6);
    o << std::fixed << static_cast<double>(us) / 1e6;
    return o.str();
  };
  std::ostringstream o;
  o << "{\"p50_s\": " << v(p.p50) << ", \"p99_s\": " << v(p.p99) << ", \"p999_s\": " << v(p.p999)
    << ", \"max_s\": " << v(p.max) << ", \"count\": " << p.count << ", \"missing\": " << p.missing
    << "}";
  return o.str();
}

}  // namespace

SimReport run_simulation(const SimConfig& config) { return Sim(config).run(); }

std::string format_report_text(const SimReport& r) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(1);
  o << "trellis-sim: " << r.nodes << " nodes, seed " << r.seed << ", " << us_to_s(r.duration_us)
    << " simulated, " << r.live_nodes_at_end << " live at end\n";
  o << "events: " << r.events << "\n";
  if (r.events > 0) {
    o << "  applied at 50% of live nodes:   " << pct_text(r.to_50) << "\n";
    o << "  applied at 99% of live nodes:   " << pct_text(r.to_99) << "\n";
    o << "  applied at 99.9% of live nodes: " << pct_text(r.to_999) << "\n";
    o << "  applied at 100% of live nodes:  " << pct_text(r.to_100) << "\n";
  }
  o << "crashes: " << r.crashes.size() << "\n";
  for (const SimCrashResult& c : r.crashes) {
    o << "  node " << c.node << " at " << us_to_s(c.at_us) << ": first declared dead after "
      << us_to_s(c.first_detected_us) << ", by all after " << us_to_s(c.all_detected_us) << "\n";
  }
  if (!r.crashes.empty()) o << "  declared dead by all: " << pct_text(r.detection_all) << "\n";
  o << "false positives: " << r.false_dead << " dead, " << r.false_suspect << " suspect\n";
  o << "traffic per node: " << r.msgs_per_node_s << " msg/s, " << r.bytes_per_node_s
    << " B/s (busiest node " << r.max_bytes_per_node_s << " B/s)\n";
  o << "messages: " << r.messages_sent << " sent, " << r.messages_lost << " lost, " << r.bytes_sent
    << " bytes\n";
  o << "log converged: " << (r.log_converged ? "yes" : "no");
  if (!r.log_converged) o << " (" << r.nodes_missing_events << " nodes missing events)";
  o << "\nmembership converged: " << (r.membership_converged ? "yes" : "no");
  if (r.membership_converged) {
    o << " (one view since " << us_to_s(r.membership_converged_at_us) << ")";
  } else {
    o << " (" << r.nodes_with_wrong_view << " nodes with a wrong view)";
  }
  o << "\n";
  return o.str();
}

std::string format_report_json(const SimReport& r) {
  std::ostringstream o;
  o.precision(6);
  o << std::fixed;
  o << "{\n  \"nodes\": " << r.nodes << ",\n  \"seed\": " << r.seed
    << ",\n  \"duration_s\": " << static_cast<double>(r.duration_us) / 1e6
    << ",\n  \"live_nodes_at_end\": " << r.live_nodes_at_end << ",\n  \"events\": " << r.events
    << ",\n  \"applied_50\": " << pct_json(r.to_50) << ",\n  \"applied_99\": " << pct_json(r.to_99)
    << ",\n  \"applied_999\": " << pct_json(r.to_999)
    << ",\n  \"applied_100\": " << pct_json(r.to_100) << ",\n  \"crashes\": [";
  for (size_t i = 0; i < r.crashes.size(); ++i) {
    const SimCrashResult& c = r.crashes[i];
    auto v = [](int64_t us) {
      return us < 0 ? std::string("null") : std::to_string(static_cast<double>(us) / 1e6);
    };
    o << (i ? ", " : "") << "{\"node\": " << c.node << ", \"at_s\": " << v(c.at_us)
      << ", \"first_detected_s\": " << v(c.first_detected_us)
      << ", \"all_detected_s\": " << v(c.all_detected_us) << "}";
  }
  o << "],\n  \"detection_all\": " << pct_json(r.detection_all)
    << ",\n  \"false_dead\": " << r.false_dead << ",\n  \"false_suspect\": " << r.false_suspect
    << ",\n  \"msgs_per_node_s\": " << r.msgs_per_node_s
    << ",\n  \"bytes_per_node_s\": " << r.bytes_per_node_s
    << ",\n  \"max_bytes_per_node_s\": " << r.max_bytes_per_node_s
    << ",\n  \"messages_sent\": " << r.messages_sent
    << ",\n  \"messages_lost\": " << r.messages_lost << ",\n  \"bytes_sent\": " << r.bytes_sent
    << ",\n  \"log_converged\": " << (r.log_converged ? "true" : "false")
    << ",\n  \"nodes_missing_events\": " << r.nodes_missing_events
    << ",\n  \"membership_converged\": " << (r.membership_converged ? "true" : "false")
    << ",\n  \"nodes_with_wrong_view\": " << r.nodes_with_wrong_view
    << ",\n  \"membership_converged_at_s\": "
    << (r.membership_converged_at_us < 0
            ? std::string("null")
            : std::to_string(static_cast<double>(r.membership_converged_at_us) / 1e6))
    << "\n}\n";
  return o.str();
}

}  // namespace trellis::gossip
