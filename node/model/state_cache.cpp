#include "node/model/state_cache.h"

#include <algorithm>

namespace trellis::node {

StateCache::StateCache(const store::Store& store, store::NodeId self)
    : store_(store), self_(self) {}

void StateCache::load_all() {
  networks_.clear();
  endpoints_.clear();
  sandboxes_.clear();
  spaces_.clear();
  nodes_.clear();
  join_order_.clear();
  next_join_ = 1;
  {
    store::ReadView view = store_.read();
    for (auto& n : view.networks()) networks_.emplace(n.spec.id, std::move(n));
    for (auto& e : view.endpoints()) endpoints_.emplace(e.spec.id, std::move(e));
    for (auto& s : view.sandboxes()) sandboxes_.emplace(s.spec.id, std::move(s));
    for (const auto& key : view.space_keys()) {
      if (auto s = view.space(key)) spaces_.emplace(key, std::move(*s));
    }
    for (auto& n : view.nodes()) nodes_.emplace(n.id, std::move(n));
  }
  // The live join events, in the order this store applied them, give the join order.
  store::Snapshot snap = store_.snapshot();
  for (auto batch = snap.next(1024); !batch.empty(); batch = snap.next(1024)) {
    for (const auto& event : batch) {
      if (const auto* joined = std::get_if<store::EndpointJoined>(&event.body)) {
        auto it = endpoints_.find(joined->endpoint);
        if (it != endpoints_.end() && it->second.sandbox == joined->sandbox)
          join_order_[joined->endpoint] = next_join_++;
      }
    }
  }
  // Joins the snapshot did not show (should not happen) still get an order.
  for (const auto& [id, e] : endpoints_) {
    if (!e.sandbox.empty() && !join_order_.count(id)) join_order_[id] = next_join_++;
  }
}

void StateCache::refresh_endpoint(const store::ReadView& view, const std::string& id) {
  auto fresh = view.endpoint(id);
  if (!fresh) {
    endpoints_.erase(id);
    join_order_.erase(id);
    return;
  }
  auto it = endpoints_.find(id);
  const std::string old_sandbox = it == endpoints_.end() ? std::string() : it->second.sandbox;
  if (fresh->sandbox.empty()) {
    join_order_.erase(id);
  } else if (fresh->sandbox != old_sandbox || !join_order_.count(id)) {
    join_order_[id] = next_join_++;
  }
  endpoints_.insert_or_assign(id, std::move(*fresh));
}

void StateCache::apply(const store::ChangeSet& changes) {
  if (changes.rebuilt) {
    load_all();
    return;
  }
  store::ReadView view = store_.read();
  for (const auto& id : changes.networks) {
    if (auto n = view.network(id)) {
      networks_.insert_or_assign(id, std::move(*n));
    } else {
      networks_.erase(id);
    }
  }
  // A network's removal changes the derived `orphaned` flag and name conflicts of others.
  if (!changes.networks.empty()) {
    for (auto& [id, n] : networks_) {
      if (auto fresh = view.network(id)) n.name_conflict = fresh->name_conflict;
    }
    for (auto& [id, e] : endpoints_) {
      if (changes.networks.count(e.spec.network)) e.orphaned = !networks_.count(e.spec.network);
    }
  }
  for (const auto& id : changes.endpoints) refresh_endpoint(view, id);
  for (const auto& id : changes.sandboxes) {
    if (auto s = view.sandbox(id)) {
      sandboxes_.insert_or_assign(id, std::move(*s));
    } else {
      sandboxes_.erase(id);
    }
  }
  for (const auto& key : changes.spaces) {
    if (auto s = view.space(key)) {
      spaces_.insert_or_assign(key, std::move(*s));
    } else {
      spaces_.erase(key);
    }
  }
  for (const auto id : changes.nodes) {
    if (auto n = view.node(id)) {
      nodes_.insert_or_assign(id, std::move(*n));
    } else {
      nodes_.erase(id);
    }
  }
}

const store::NetworkInfo* StateCache::network(const std::string& id) const {
  auto it = networks_.find(id);
  return it == networks_.end() ? nullptr : &it->second;
}
const store::EndpointInfo* StateCache::endpoint(const std::string& id) const {
  auto it = endpoints_.find(id);
  return it == endpoints_.end() ? nullptr : &it->second;
}
const store::SandboxInfo* StateCache::sandbox(const std::string& id) const {
  auto it = sandboxes_.find(id);
  return it == sandboxes_.end() ? nullptr : &it->second;
}
const store::SpaceInfo* StateCache::space(const std::string& key) const {
  auto it = spaces_.find(key);
  return it == spaces_.end() ? nullptr : &it->second;
}

const store::NodeInfo* StateCache::node(store::NodeId id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<store::NodeInfo> StateCache::node_records() const {
  std::vector<store::NodeInfo> out;
  out.reserve(nodes_.size());
  for (const auto& [id, n] : nodes_) out.push_back(n);
  return out;
}

std::vector<const store::EndpointInfo*> StateCache::endpoints_of_network(
    const std::string& id) const {
  std::vector<const store::EndpointInfo*> out;
  for (const auto& [eid, e] : endpoints_) {
    if (e.spec.network == id) out.push_back(&e);
  }
  return out;
}

std::vector<const store::EndpointInfo*> StateCache::joined_endpoints(
    const std::string& sandbox) const {
  std::vector<const store::EndpointInfo*> out;
  const store::SandboxInfo* sb = this->sandbox(sandbox);
  if (!sb) return out;
  for (const auto& id : sb->endpoints) {
    if (const auto* e = endpoint(id)) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [&](const auto* a, const auto* b) {
    return join_order(a->spec.id) < join_order(b->spec.id);
  });
  return out;
}

uint64_t StateCache::join_order(const std::string& endpoint) const {
  auto it = join_order_.find(endpoint);
  return it == join_order_.end() ? 0 : it->second;
}

bool StateCache::is_local_network(const store::NetworkInfo& network) const {
  return network.spec.cluster_scope || network.owner == self_;
}

}  // namespace trellis::node
