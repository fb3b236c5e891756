#pragma once
// Test helper: a few real Stores acting as cluster nodes in one process, authoring random but
// valid events (networks with name clashes, endpoints on other nodes' networks, donations,
// joins, removals, a node removal) and exchanging their logs at random moments, so that the
// union of their logs has cross-origin dependencies and concurrency. Deterministic per seed.

#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bitseq/sequence.h"
#include "ipam/ip.h"
#include "store/store.h"
#include "tests/store/test_support.h"

namespace trellis::store::testing {

// Copies every event `to` lacks from `from` (anti-entropy, all origins).
inline void sync(Store& from, Store& to) {
  const VersionVector have = to.version_vector();
  for (const auto& [origin, head] : from.version_vector()) {
    auto it = have.find(origin);
    const uint64_t after = it == have.end() ? 0 : it->second;
    if (after >= head) continue;
    to.apply_remote(from.events_after(origin, after, 1u << 30));
  }
}

class SimCluster {
 public:
  SimCluster(const TempDir& dir, int nodes, uint64_t seed) : rng_(seed) {
    for (int i = 0; i < nodes; ++i) {
      const NodeId id = 0x1000 + static_cast<NodeId>(i) * 0x101;
      stores_.push_back(std::make_unique<Store>(
          Store::open(dir.sub("node" + std::to_string(i)), test_options(id))));
    }
    Store& founder = *stores_[0];
    founder.append_local(SpaceInitialised{std::string(kVniSpace), kVniFirst, kVniLast});
    founder.append_local(
        SpaceInitialised{std::string(kSubnetPoolSpace), kSubnetPoolFirst, kSubnetPoolLast});
    for (auto& s : stores_) s->append_local(NodeAnnounced{s->identity().name, "192.0.2.1"});
  }

  int size() const { return static_cast<int>(stores_.size()); }
  Store& node(int i) { return *stores_[i]; }

  // One random action by a random node. With remove_node, a node is removed halfway
  // (by node 0) while it keeps authoring concurrently.
  void step(bool allow_node_removal = true) {
    ++steps_;
    const int i = pick(size());
    Store& s = *stores_[i];
    if (allow_node_removal && steps_ == 150 && size() >= 3) {
      sync(*stores_[size() - 1], *stores_[0]);
      try {
        stores_[0]->append_local(NodeRemoved{stores_[size() - 1]->identity().id, 0});
      } catch (const Error&) {
      }
      return;
    }
    const int action = pick(100);
    try {
      if (action < 25) {
        sync(*stores_[pick(size())], s);
      } else if (action < 35) {
        create_network(s);
      } else if (action < 40) {
        remove_own(s, /*network=*/true);
      } else if (action < 58) {
        create_endpoint(s);
      } else if (action < 66) {
        remove_own(s, /*network=*/false);
      } else if (action < 72) {
        update_endpoint(s);
      } else if (action < 78) {
        donate(s);
      } else if (action < 84) {
        s.append_local(SandboxCreated{"sb-" + std::to_string(i) + "-" + std::to_string(steps_),
                                      "c" + std::to_string(steps_),
                                      "host",
                                      "",
                                      {"192.0.2.53"},
                                      {},
                                      {},
                                      {}});
      } else if (action < 88) {
        remove_sandbox(s);
      } else if (action < 95) {
        join_or_leave(s);
      } else {
        s.append_local(
            NodeAnnounced{s.identity().name, "192.0.2." + std::to_string(pick(200) + 1)});
      }
    } catch (const NodeRemovedError&) {
      // This node learnt it was removed; it stops authoring.
    } catch (const InternalError&) {
      throw;
    } catch (const Error&) {
      // A plan made from a view the rules refuse (a donation to a removed node): the store
      // refused it with nothing written, as it should.
    }
  }

  void full_sync() {
    for (int round = 0; round < 2; ++round) {
      for (int a = 0; a < size(); ++a)
        for (int b = 0; b < size(); ++b)
          if (a != b) sync(*stores_[a], *stores_[b]);
    }
  }

  // Every event of every origin, per origin in seq order (from each origin's own log, which
  // is complete for its own events).
  std::map<NodeId, std::vector<Event>> logs() {
    std::map<NodeId, std::vector<Event>> out;
    for (auto& s : stores_) {
      const NodeId self = s->identity().id;
      out[self] = s->events_after(self, 0, 1u << 30);
    }
    return out;
  }

  uint64_t pick(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

 private:
  void create_network(Store& s) {
    const NodeId self = s.identity().id;
    NetworkCreated n;
    n.id = "n" + format_node_id(self).substr(12) + "-" + std::to_string(steps_);
    n.name = "net" + std::to_string(pick(3));  // few names: concurrent clashes
    n.cluster_scope = pick(4) != 0;
    n.driver = n.cluster_scope ? "overlay" : "bridge";
    const uint64_t index = (self % 200) * 300 + static_cast<uint64_t>(steps_);
    n.ipam_result.pools.push_back(
        {"10." + std::to_string((index >> 8) & 0xff) + "." + std::to_string(index & 0xff) + ".0/28",
         "10." + std::to_string((index >> 8) & 0xff) + "." + std::to_string(index & 0xff) + ".1"});
    n.labels["step"] = std::to_string(steps_);
    // A VNI from what this node owns (only the founder at first, then donations).
    {
      auto view = s.read();
      if (auto vni = view.space(std::string(kVniSpace))) {
        if (vni->space.free_count(self) > 0 && n.cluster_scope) {
          n.ipam_result.vni = static_cast<uint32_t>(vni->space.allocate(self, false));
        }
      }
    }
    s.append_local(n);
  }

  void remove_own(Store& s, bool network) {
    const NodeId self = s.identity().id;
    std::vector<std::string> mine;
    {
      auto view = s.read();  // released before writing: an open view delays map growth
      if (network) {
        for (const auto& n : view.networks())
          if (n.owner == self) mine.push_back(n.spec.id);
      } else {
        for (const auto& e : view.endpoints())
          if (e.spec.owner == self) mine.push_back(e.spec.id);
      }
    }
    if (mine.empty()) return;
    const std::string id = mine[pick(mine.size())];
    if (network) {
      s.append_local(NetworkRemoved{id});
    } else {
      s.append_local(EndpointRemoved{id});
    }
  }

  // An address this node may claim on `net`, if any.
  std::optional<std::string> free_address(const ReadView& view, const NetworkInfo& net,
                                          NodeId self) {
    if (net.spec.ipam_result.pools.empty()) return std::nullopt;
    auto sp = view.space(network_space_key(net.spec.id, 0));
    if (!sp || sp->space.free_count(self) == 0) return std::nullopt;
    const uint64_t off = sp->space.allocate(self, false);
    auto prefix = ipam::Prefix::parse(net.spec.ipam_result.pools[0].subnet);
    return prefix.address_at(off).to_string() + "/" + std::to_string(prefix.length());
  }

  void create_endpoint(Store& s) {
    const NodeId self = s.identity().id;
    std::optional<EndpointSpec> spec;
    {
      auto view = s.read();
      auto nets = view.networks();
      if (nets.empty()) return;
      const auto& net = nets[pick(nets.size())];
      auto addr = free_address(view, net, self);
      if (!addr) return;
      spec = EndpointSpec{"ep" + format_node_id(self).substr(12) + "-" + std::to_string(steps_),
                          net.spec.id,
                          "ep" + std::to_string(steps_),
                          "02:42:00:00:00:01",
                          {*addr},
                          {"alias"},
                          {{"tcp", 80, 0, ""}},
                          self};
    }
    s.append_local(EndpointCreated{*spec});
  }

  void update_endpoint(Store& s) {
    const NodeId self = s.identity().id;
    std::optional<EndpointSpec> spec;
    {
      auto view = s.read();
      std::vector<EndpointInfo> mine;
      for (auto& e : view.endpoints())
        if (e.spec.owner == self && !e.orphaned) mine.push_back(e);
      if (mine.empty()) return;
      spec = mine[pick(mine.size())].spec;
      spec->aliases.push_back("a" + std::to_string(steps_));
      auto net = view.network(spec->network);
      if (auto addr = free_address(view, *net, self); addr && pick(2)) spec->addresses = {*addr};
    }
    s.append_local(EndpointUpdated{*spec});
  }

  void donate(Store& s) {
    const NodeId self = s.identity().id;
    std::optional<RangeDonated> d;
    {
      auto view = s.read();
      auto keys = view.space_keys();
      if (keys.empty()) return;
      const std::string key = keys[pick(keys.size())];
      auto sp = view.space(key);
      NodeId to = stores_[pick(size())]->identity().id;
      if (to == self) return;
      auto plan = sp->space.plan_donation(self, to, 1 + pick(8));
      if (!plan) return;
      d = RangeDonated{key, to, plan->range.first, plan->range.last};
    }
    s.append_local(*d);
  }

  void remove_sandbox(Store& s) {
    const NodeId self = s.identity().id;
    std::vector<std::string> mine;
    for (const auto& sb : s.read().sandboxes())
      if (sb.owner == self) mine.push_back(sb.spec.id);
    if (mine.empty()) return;
    s.append_local(SandboxRemoved{mine[pick(mine.size())]});
  }

  void join_or_leave(Store& s) {
    const NodeId self = s.identity().id;
    std::vector<std::string> sbs;
    std::vector<EndpointInfo> eps;
    {
      auto view = s.read();
      for (const auto& sb : view.sandboxes())
        if (sb.owner == self) sbs.push_back(sb.spec.id);
      for (auto& e : view.endpoints())
        if (e.spec.owner == self) eps.push_back(e);
    }
    if (sbs.empty() || eps.empty()) return;
    const auto& ep = eps[pick(eps.size())];
    if (!ep.sandbox.empty()) {
      s.append_local(EndpointLeft{ep.spec.id, ep.sandbox});
    } else {
      s.append_local(EndpointJoined{ep.spec.id, sbs[pick(sbs.size())]});
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<Store>> stores_;
  int steps_ = 0;
};

// Feeds the union of `logs` into `store` in a random order that respects each origin's order
// (dependencies across origins are left to the store), in random batches. With `shuffle`,
// batches are also permuted, so events arrive after gaps too.
inline void feed_random(Store& store, const std::map<NodeId, std::vector<Event>>& logs,
                        std::mt19937_64& rng, bool shuffle) {
  std::vector<Event> order;
  std::map<NodeId, size_t> next;
  size_t total = 0;
  for (const auto& [o, l] : logs) total += l.size();
  while (order.size() < total) {
    std::vector<NodeId> live;
    for (const auto& [o, l] : logs)
      if (next[o] < l.size()) live.push_back(o);
    const NodeId o = live[std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng)];
    order.push_back(logs.at(o)[next[o]++]);
  }
  size_t at = 0;
  while (at < order.size()) {
    const size_t n = std::min(order.size() - at, std::uniform_int_distribution<size_t>(1, 40)(rng));
    std::vector<Event> batch(order.begin() + static_cast<std::ptrdiff_t>(at),
                             order.begin() + static_cast<std::ptrdiff_t>(at + n));
    if (shuffle) std::shuffle(batch.begin(), batch.end(), rng);
    store.apply_remote(batch);
    at += n;
  }
}

}  // namespace trellis::store::testing
