// The write path and the reducer: appending events to their origin's log, holding back
// events that arrive early, and folding events into the state tables. The rules that make
// the fold independent of apply order are stated in docs/event-format.md ("Reducer rules").

#include <msgpack.hpp>

#include <algorithm>

#include "bitseq/sequence.h"
#include "common/msgpack_decode.h"
#include "ipam/ip.h"
#include "store/store_impl.h"

namespace trellis::store {

using lmdb::event_key;
using lmdb::u64_key;

namespace {

// A rule violation found while folding; becomes a FoldResult::kRejected (remote) or the
// matching exception (local).
struct Reject {
  ErrorKind kind;
  std::string reason;
  bool not_owner = false;
};

[[noreturn]] void fail(ErrorKind kind, std::string reason, bool not_owner = false) {
  throw Reject{kind, std::move(reason), not_owner};
}

void check_name(std::string_view what, const std::string& value, bool allow_empty = false) {
  if (!allow_empty && value.empty())
    fail(ErrorKind::kInvalidArgument, std::string(what) + " is empty");
  if (value.size() > 200)
    fail(ErrorKind::kInvalidArgument, std::string(what) + " is longer than 200 bytes");
  if (value.find('\0') != std::string::npos) {
    fail(ErrorKind::kInvalidArgument, std::string(what) + " contains a NUL byte");
  }
}

bool less_key(uint64_t lamport_a, NodeId origin_a, uint64_t lamport_b, NodeId origin_b) {
  return std::pair(lamport_a, origin_a) < std::pair(lamport_b, origin_b);
}

// Host offsets of a pool's subnet form its owned space.
struct PoolSpace {
  ipam::Prefix prefix;
  uint64_t first = 0;
  uint64_t last = 0;
};

PoolSpace pool_space(const std::string& subnet) {
  try {
    PoolSpace p;
    p.prefix = ipam::Prefix::parse(subnet);
    p.first = p.prefix.first_host_offset();
    p.last = p.prefix.last_host_offset();
    if (p.first > p.last)
      fail(ErrorKind::kInvalidArgument, "subnet " + subnet + " has no host addresses");
    return p;
  } catch (const Error& e) {
    fail(ErrorKind::kInvalidArgument, "bad subnet '" + subnet + "': " + e.what());
  }
}

ipam::IpAddress address_of(const std::string& text) {
  try {
    auto slash = text.find('/');
    if (slash == std::string::npos) return ipam::IpAddress::parse(text);
    return ipam::InterfaceAddress::parse(text).address;
  } catch (const Error& e) {
    fail(ErrorKind::kInvalidArgument, "bad address '" + text + "': " + e.what());
  }
}

// Whether a space-initialised body is well-formed (the prescan and the fold agree on it).
bool valid_space_init(const SpaceInitialised& b) {
  return !b.space.empty() && b.space.size() <= 200 && b.space.find('\0') == std::string::npos &&
         b.space.rfind("net/", 0) != 0 && b.first <= b.last && b.last - b.first != UINT64_MAX;
}

struct Claim {
  std::string space;
  uint64_t offset = 0;
};

// A pool of a network being created: its owned space, and its gateway's offset when the
// gateway is a host address (a gateway on the subnet's network or broadcast address is
// accepted but claims nothing).
struct CheckedPool {
  uint64_t first = 0;
  uint64_t last = 0;
  std::optional<uint64_t> gateway;
};

std::vector<CheckedPool> checked_pools(const NetworkCreated& b, const std::string& what) {
  std::vector<CheckedPool> pools;
  for (const auto& pool : b.ipam_result.pools) {
    const PoolSpace ps = pool_space(pool.subnet);
    CheckedPool p{ps.first, ps.last, std::nullopt};
    if (!pool.gateway.empty()) {
      const ipam::IpAddress g = address_of(pool.gateway);
      if (!ps.prefix.contains(g)) {
        fail(ErrorKind::kInvalidArgument,
             what + ": gateway " + pool.gateway + " is not in " + pool.subnet);
      }
      const uint64_t off = ps.prefix.offset_of(g);
      if (off >= ps.first && off <= ps.last) p.gateway = off;
    }
    pools.push_back(p);
  }
  return pools;
}

FoldResult skipped(ErrorKind kind, std::string reason) {
  return {FoldResult::kSkipped, kind, false, std::move(reason)};
}

FoldResult rebuilt() { return {FoldResult::kRebuilt, ErrorKind::kInternal, false, ""}; }

}  // namespace

// ---- batch plumbing -------------------------------------------------------------------------

WriteBatch::WriteBatch(Store::Impl& store) : store_(store), txn_(store.env.get(), 0) {
  {
    std::lock_guard lock(store.committed_mutex);
    heads_ = store.heads;
    lamport_ = store.lamport;
    counter_ = store.counter;
  }
  pending_count_ = txn_.entries(store.tables.pending);
}

const Tables& WriteBatch::tables() const { return store_.tables; }

uint64_t WriteBatch::head(NodeId origin) const {
  auto it = heads_.find(origin);
  return it == heads_.end() ? 0 : it->second;
}

void WriteBatch::set_head(NodeId origin, uint64_t seq) {
  heads_[origin] = seq;
  dirty_heads_.insert(origin);
}

bool WriteBatch::deps_met(const Event& e) const {
  for (const auto& d : e.deps) {
    if (d.origin != e.origin && head(d.origin) < d.seq) return false;
  }
  return true;
}

void WriteBatch::hold(const Event& e, std::string_view encoded) {
  const std::string key = event_key(e.origin, e.seq);
  if (txn_.get(store_.tables.pending, key)) return;
  if (pending_count_ >= store_.options.max_pending) return;  // anti-entropy will resend it
  txn_.put(store_.tables.pending, key, encoded);
  ++pending_count_;
  ++changes_.held;
}

void WriteBatch::append(const Event& e, std::string_view encoded) {
  const std::string key = event_key(e.origin, e.seq);
  std::string value = u64_key(++counter_);
  value.append(encoded);
  txn_.put(store_.tables.log, key, value);
  txn_.put(store_.tables.order, u64_key(counter_), key);
  set_head(e.origin, e.seq);
  witness(e.lamport);
  changes_.applied.push_back(e.id());
}

std::optional<FoldResult> WriteBatch::apply(const Event& e, std::string_view encoded, bool local) {
  const uint64_t h = head(e.origin);
  if (e.seq <= h) {
    // Already applied. The same (origin, seq) with other content is equivocation.
    if (auto stored = txn_.get(store_.tables.log, event_key(e.origin, e.seq))) {
      if (stored->substr(8) != encoded) {
        throw InconsistentEventError("apply event " + format_node_id(e.origin) + ":" +
                                     std::to_string(e.seq) +
                                     ": differs from the event already in the log");
      }
    }
    ++changes_.duplicates;
    return std::nullopt;
  }
  if (e.seq != h + 1 || !deps_met(e)) {
    if (local) throw InternalError("append_local: own event is not next in the log");
    hold(e, encoded);
    return std::nullopt;
  }
  append(e, encoded);
  FoldResult r = fold(e, false);
  if (r.kind == FoldResult::kRejected) {
    if (local) {
      switch (r.error_kind) {
        case ErrorKind::kNotFound:
          throw NotFoundError(r.reason);
        case ErrorKind::kConflict:
          if (r.not_owner) throw ipam::NotOwnerError(r.reason);
          throw ConflictError(r.reason);
        case ErrorKind::kUnavailable:
          throw UnavailableError(r.reason);
        case ErrorKind::kInternal:
          throw InternalError(r.reason);
        case ErrorKind::kInvalidArgument:
          break;
      }
      throw InvalidArgumentError(r.reason);
    }
    reject(e, r);
  }
  return r;
}

void WriteBatch::reject(const Event& e, const FoldResult& r) {
  msgpack::sbuffer b;
  msgpack::packer<msgpack::sbuffer> pk(b);
  pk.pack_array(2);
  pk.pack(body_type_name(e.body));
  pk.pack(r.reason);
  txn_.put(store_.tables.rejections, event_key(e.origin, e.seq),
           std::string_view(b.data(), b.size()));
  changes_.rejected.push_back({e.id(), body_type_name(e.body), r.reason});
}

void WriteBatch::note_tombstone(const Event& tombstone, const EventId& deleted_writer) {
  txn_.put(store_.tables.tombstones, event_key(tombstone.origin, tombstone.seq),
           event_key(deleted_writer.origin, deleted_writer.seq));
}

void WriteBatch::drain_pending() {
  if (pending_count_ == 0) return;
  bool progress = true;
  while (progress && pending_count_ > 0) {
    progress = false;
    std::vector<std::pair<std::string, std::string>> ready;  // key, encoded
    {
      lmdb::Cursor cur(txn_, store_.tables.pending);
      bool ok = cur.first();
      while (ok) {
        const NodeId origin = lmdb::get_u64(cur.key(), 0);
        ready.emplace_back(std::string(cur.key()), std::string(cur.value()));
        if (origin == UINT64_MAX) break;
        ok = cur.seek(u64_key(origin + 1));  // first pending event of the next origin
      }
    }
    for (auto& [key, encoded] : ready) {
      const NodeId origin = lmdb::get_u64(key, 0);
      const uint64_t seq = lmdb::get_u64(key, 8);
      const uint64_t h = head(origin);
      if (seq <= h) {
        txn_.del(store_.tables.pending, key);
        --pending_count_;
        progress = true;
        continue;
      }
      if (seq != h + 1) continue;
      Event e = decode_event(encoded);
      if (!deps_met(e)) continue;
      txn_.del(store_.tables.pending, key);
      --pending_count_;
      apply(e, encoded, false);
      progress = true;
    }
  }
}

void WriteBatch::install(const Event& e, std::string_view encoded) {
  append(e, encoded);
  FoldResult r = fold(e, false);
  if (r.kind == FoldResult::kRejected) reject(e, r);
}

WriteBatch::CachedSpace& WriteBatch::space_entry(const std::string& key) {
  auto it = spaces_.find(key);
  if (it != spaces_.end()) return it->second;
  CachedSpace c;
  if (auto v = txn_.get(store_.tables.spaces, key)) c.record = decode_space(*v);
  return spaces_.emplace(key, std::move(c)).first->second;
}

const std::optional<NetworkRecord>& WriteBatch::network_get(const std::string& id) {
  auto it = networks_.find(id);
  if (it != networks_.end()) return it->second;
  std::optional<NetworkRecord> r;
  if (auto v = txn_.get(store_.tables.networks, id)) r = decode_network(*v);
  return networks_.emplace(id, std::move(r)).first->second;
}

void WriteBatch::network_put(const NetworkRecord& r) {
  txn_.put(store_.tables.networks, r.spec.id, encode_network(r));
  networks_[r.spec.id] = r;
}

void WriteBatch::network_del(const std::string& id) {
  txn_.del(store_.tables.networks, id);
  networks_[id] = std::nullopt;
}

std::optional<uint64_t> WriteBatch::removed_cutoff(NodeId node) {
  auto it = removed_.find(node);
  if (it != removed_.end()) return it->second;
  std::optional<uint64_t> cutoff;
  if (auto v = txn_.get(store_.tables.nodes, u64_key(node))) {
    NodeRecord r = decode_node(*v);
    if (r.status == NodeStatus::kRemoved) cutoff = r.last_seq;
  }
  removed_.emplace(node, cutoff);
  return cutoff;
}

void WriteBatch::load_all_spaces() {
  std::vector<std::string> keys;
  lmdb::Cursor cur(txn_, store_.tables.spaces);
  for (bool ok = cur.first(); ok; ok = cur.next()) keys.emplace_back(cur.key());
  for (const auto& k : keys) space_entry(k);
}

void WriteBatch::flush() {
  for (auto& [key, c] : spaces_) {
    if (!c.dirty) continue;
    if (c.record) {
      txn_.put(store_.tables.spaces, key, encode_space(*c.record));
    } else {
      txn_.del(store_.tables.spaces, key);
    }
    c.dirty = false;
  }
  for (NodeId o : dirty_heads_) txn_.put(store_.tables.heads, u64_key(o), u64_key(heads_[o]));
  dirty_heads_.clear();
  txn_.put(store_.tables.meta, "lamport", u64_key(lamport_));
  txn_.put(store_.tables.meta, "counter", u64_key(counter_));
}

// ---- rebuild --------------------------------------------------------------------------------

namespace {

// Reads every event of the log in apply order.
template <typename F>
void for_each_in_order(lmdb::Txn& txn, const Tables& t, F&& f) {
  lmdb::Cursor cur(txn, t.order);
  for (bool ok = cur.first(); ok; ok = cur.next()) {
    auto entry = txn.get(t.log, cur.value());
    if (!entry) throw InternalError("store: apply-order index names an event missing from the log");
    f(decode_event(entry->substr(8)), entry->substr(8));
  }
}

}  // namespace

void WriteBatch::rebuild() {
  const Tables& t = store_.tables;
  // Which removals and space initialisations are effective: decided from the set of events,
  // greedily in (lamport, origin) order.
  Prescan scan;
  struct Candidate {
    uint64_t lamport;
    EventId id;
    NodeRemoved body;
  };
  std::vector<Candidate> removals;
  std::vector<std::pair<std::pair<uint64_t, NodeId>, std::pair<std::string, EventId>>> inits;
  for_each_in_order(txn_, t, [&](const Event& e, std::string_view) {
    if (const auto* r = std::get_if<NodeRemoved>(&e.body)) {
      if (r->node != 0 && r->node != e.origin) removals.push_back({e.lamport, e.id(), *r});
    } else if (const auto* s = std::get_if<SpaceInitialised>(&e.body);
               s != nullptr && valid_space_init(*s)) {
      inits.push_back({{e.lamport, e.origin}, {s->space, e.id()}});
    }
  });
  std::sort(removals.begin(), removals.end(), [](const Candidate& a, const Candidate& b) {
    return std::pair(a.lamport, a.id.origin) < std::pair(b.lamport, b.id.origin);
  });
  for (const auto& c : removals) {
    auto author = scan.removals.find(c.id.origin);
    if (author != scan.removals.end() && c.id.seq > author->second.last_seq) continue;
    if (scan.removals.count(c.body.node)) continue;
    scan.removals[c.body.node] = {c.id, c.id.origin, c.body.last_seq};
  }
  std::sort(inits.begin(), inits.end());
  for (const auto& [key, init] : inits) {
    auto author = scan.removals.find(init.second.origin);
    if (author != scan.removals.end() && init.second.seq > author->second.last_seq) continue;
    scan.space_inits.emplace(init.first, init.second);  // first (lowest) wins
  }

  for (const auto& [name, member] : state_tables()) txn_.clear(t.*member);
  txn_.clear(t.rejections);
  txn_.clear(t.tombstones);
  spaces_.clear();
  networks_.clear();
  removed_.clear();
  prescan_ = std::move(scan);
  changes_.rejected.clear();
  for_each_in_order(txn_, t, [&](const Event& e, std::string_view) {
    FoldResult r = fold(e, true);
    if (r.kind == FoldResult::kRejected) reject(e, r);
  });
  prescan_.reset();
  changes_.rebuilt = true;
}

// ---- the reducer ----------------------------------------------------------------------------

// The fold rules, one handler per body type. A handler changes the state tables and notes
// what it touched in the batch's ChangeSet; returns kSkipped when a rule makes the event a
// no-op; or calls fail() before changing anything when the event breaks a rule. One Reducer
// folds one event.
class Reducer {
 public:
  Reducer(WriteBatch& batch, const Event& event, bool rebuilding)
      : batch_(batch),
        txn_(batch.txn()),
        t_(batch.tables()),
        changes_(batch.changes()),
        e_(event),
        origin_(event.origin),
        id_(event.id()),
        rebuilding_(rebuilding) {}

  FoldResult fold();

 private:
  FoldResult handle(const NetworkCreated& b);
  FoldResult handle(const NetworkRemoved& b);
  FoldResult handle(const EndpointCreated& b) { return put_endpoint(b.endpoint, /*create=*/true); }
  FoldResult handle(const EndpointUpdated& b) { return put_endpoint(b.endpoint, /*create=*/false); }
  FoldResult handle(const EndpointRemoved& b);
  FoldResult handle(const SandboxCreated& b);
  FoldResult handle(const SandboxRemoved& b);
  FoldResult handle(const EndpointJoined& b);
  FoldResult handle(const EndpointLeft& b);
  FoldResult handle(const SpaceInitialised& b);
  FoldResult handle(const RangeDonated& b);
  FoldResult handle(const NodeAnnounced& b);
  FoldResult handle(const NodeLeft& b);
  FoldResult handle(const NodeRemoved& b);
  FoldResult handle(const UnknownBody& b);

  bool author_removed();
  // Endpoint created / updated: both carry the whole endpoint; only `create` refuses an
  // existing id.
  FoldResult put_endpoint(const EndpointSpec& spec, bool create);
  std::vector<Claim> checked_endpoint_claims(const EndpointSpec& spec,
                                             const std::optional<EndpointRecord>& old,
                                             const NetworkRecord& n, const std::string& what);
  // The address claims of an endpoint on an existing network.
  std::vector<Claim> endpoint_claims(const EndpointSpec& spec, const NetworkRecord& n);
  // Checks that the origin may claim `offset` in `key` (it owns it and it is free, unless
  // `already_mine`). Does not change anything.
  void check_claim(const std::string& key, uint64_t offset, const std::string& what,
                   bool already_mine);
  void claim(const std::string& key, uint64_t offset);
  void release(const std::string& key, uint64_t offset);
  void release_addresses(const EndpointSpec& spec);
  void delete_join(const std::string& endpoint);
  void delete_endpoint(const EndpointRecord& old);
  void delete_sandbox(const std::string& sandbox);
  void drop_space(const std::string& key);
  // Node removal: deletes `node`'s endpoints and sandboxes, hands its networks and ranges to
  // `heir`.
  void delete_resources_of(NodeId node);
  void hand_over(NodeId node, NodeId heir);
  std::optional<NodeRecord> node_record(NodeId n);
  // Follows removed nodes to their heirs.
  NodeId resolve_heir(NodeId n);

  WriteBatch& batch_;
  lmdb::Txn& txn_;
  const Tables& t_;
  ChangeSet& changes_;
  const Event& e_;
  const NodeId origin_;
  const EventId id_;
  const bool rebuilding_;
};

FoldResult WriteBatch::fold(const Event& e, bool rebuilding) {
  return Reducer(*this, e, rebuilding).fold();
}

FoldResult Reducer::fold() {
  if (author_removed()) return skipped(ErrorKind::kConflict, "author was removed");
  try {
    return std::visit([this](const auto& body) { return handle(body); }, e_.body);
  } catch (const Reject& r) {
    return {FoldResult::kRejected, r.kind, r.not_owner, r.reason};
  }
}

// Events of a removed node after the last one its remover had seen are ignored.
bool Reducer::author_removed() {
  const auto* removal = std::get_if<NodeRemoved>(&e_.body);
  if (batch_.prescan_) {
    const auto& removals = batch_.prescan_->removals;
    auto it = removals.find(origin_);
    // An effective removal counts even when its author was removed later with a cutoff
    // before it: the prescan took the removals in (lamport, origin) order.
    const bool effective_removal = removal != nullptr && removals.count(removal->node) &&
                                   removals.at(removal->node).event == id_;
    return it != removals.end() && e_.seq > it->second.last_seq && !effective_removal;
  }
  const std::optional<uint64_t> cutoff = batch_.removed_cutoff(origin_);
  // A removed node's node-removed still goes on to the refold, where the prescan decides:
  // it may precede the removal that cut its author off (two nodes removing each other).
  return cutoff && e_.seq > *cutoff && removal == nullptr;
}

// ---- networks

FoldResult Reducer::handle(const NetworkCreated& b) {
  check_name("network id", b.id);
  check_name("network name", b.name);
  if (batch_.network_get(b.id)) fail(ErrorKind::kConflict, "network " + b.id + " already exists");
  const std::string what = "create network " + b.name + " (" + b.id + ")";
  // Check everything, then change.
  const std::vector<CheckedPool> pools = checked_pools(b, what);
  const IpamResult& r = b.ipam_result;
  if (r.vni != 0) check_claim(std::string(kVniSpace), r.vni, what + ": vni", false);
  if (r.has_pool_index) {
    check_claim(std::string(kSubnetPoolSpace), r.pool_index, what + ": subnet pool index", false);
  }
  if (r.vni != 0) claim(std::string(kVniSpace), r.vni);
  if (r.has_pool_index) claim(std::string(kSubnetPoolSpace), r.pool_index);
  for (size_t i = 0; i < pools.size(); ++i) {
    const std::string key = network_space_key(b.id, i);
    SpaceRecord sr{id_, e_.lamport, ipam::OwnedSpace(pools[i].first, pools[i].last, origin_)};
    if (pools[i].gateway) sr.space.allocate_specific(origin_, *pools[i].gateway);
    auto& c = batch_.space_entry(key);
    c.record = std::move(sr);
    c.dirty = true;
    changes_.spaces.insert(key);
  }
  batch_.network_put(NetworkRecord{origin_, origin_, e_.lamport, id_, b});
  // Same-name networks are all stored; the lowest (lamport, creator) in this index holds the
  // name, so the order of creation events does not matter.
  txn_.put(t_.network_names,
           name_key(b.cluster_scope ? 0 : origin_, b.name, e_.lamport, origin_, b.id), "");
  changes_.networks.insert(b.id);
  return {};
}

FoldResult Reducer::handle(const NetworkRemoved& b) {
  if (!batch_.network_get(b.id)) return skipped(ErrorKind::kNotFound, "no such network");
  const NetworkRecord n = *batch_.network_get(b.id);
  if (n.owner != origin_) {
    fail(ErrorKind::kConflict,
         "remove network " + b.id + ": owned by node " + format_node_id(n.owner), true);
  }
  const IpamResult& r = n.spec.ipam_result;
  if (r.vni != 0) release(std::string(kVniSpace), r.vni);
  if (r.has_pool_index) release(std::string(kSubnetPoolSpace), r.pool_index);
  for (size_t i = 0; i < r.pools.size(); ++i) drop_space(network_space_key(b.id, i));
  // The name entry was keyed by the creator, which stays when an heir owns the network.
  txn_.del(t_.network_names, name_key(n.spec.cluster_scope ? 0 : n.creator, n.spec.name, n.lamport,
                                      n.creator, n.spec.id));
  batch_.network_del(b.id);
  batch_.note_tombstone(e_, n.writer);
  changes_.networks.insert(b.id);
  return {};
}

// ---- endpoints

FoldResult Reducer::put_endpoint(const EndpointSpec& spec, bool create) {
  check_name("endpoint id", spec.id);
  check_name("endpoint network", spec.network);
  const std::string what = "endpoint " + spec.id;
  if (spec.owner != origin_) {
    fail(ErrorKind::kInvalidArgument, what + ": owner " + format_node_id(spec.owner) +
                                          " is not the author " + format_node_id(origin_));
  }
  std::optional<EndpointRecord> old;
  if (auto v = txn_.get(t_.endpoints, spec.id)) old = decode_endpoint(*v);
  if (old && old->spec.owner != origin_) {
    fail(ErrorKind::kConflict, what + " belongs to node " + format_node_id(old->spec.owner), true);
  }
  if (old && create) fail(ErrorKind::kConflict, what + " already exists");
  // On a network that is gone (removed concurrently) nothing is claimed: the claim would have
  // been dropped with the network's space anyway ("Orphans").
  std::vector<Claim> claims;
  if (const auto& net = batch_.network_get(spec.network)) {
    claims = checked_endpoint_claims(spec, old, *net, what);
  }
  if (old) {
    release_addresses(old->spec);
    txn_.del(t_.endpoints_by_network, pair_key(old->spec.network, spec.id));
  }
  for (const auto& c : claims) claim(c.space, c.offset);
  txn_.put(t_.endpoints, spec.id, encode_endpoint({id_, spec}));
  txn_.put(t_.endpoints_by_network, pair_key(spec.network, spec.id), "");
  changes_.endpoints.insert(spec.id);
  return {};
}

// An update may keep the addresses the endpoint already holds on the same network.
std::vector<Claim> Reducer::checked_endpoint_claims(const EndpointSpec& spec,
                                                    const std::optional<EndpointRecord>& old,
                                                    const NetworkRecord& n,
                                                    const std::string& what) {
  std::vector<Claim> claims = endpoint_claims(spec, n);
  std::set<std::pair<std::string, uint64_t>> mine;
  if (old && old->spec.network == spec.network) {
    for (const auto& c : endpoint_claims(old->spec, n)) mine.insert({c.space, c.offset});
  }
  std::set<std::pair<std::string, uint64_t>> seen;
  for (const auto& c : claims) {
    if (!seen.insert({c.space, c.offset}).second)
      fail(ErrorKind::kInvalidArgument, what + ": duplicate address");
    check_claim(c.space, c.offset, what, mine.count({c.space, c.offset}) > 0);
  }
  return claims;
}

FoldResult Reducer::handle(const EndpointRemoved& b) {
  auto v = txn_.get(t_.endpoints, b.id);
  if (!v) return skipped(ErrorKind::kNotFound, "no such endpoint");
  const EndpointRecord old = decode_endpoint(*v);
  if (old.spec.owner != origin_) {
    fail(ErrorKind::kConflict,
         "remove endpoint " + b.id + ": owned by node " + format_node_id(old.spec.owner), true);
  }
  delete_endpoint(old);
  batch_.note_tombstone(e_, old.writer);
  return {};
}

// ---- sandboxes and joins

FoldResult Reducer::handle(const SandboxCreated& b) {
  check_name("sandbox id", b.id);
  if (txn_.get(t_.sandboxes, b.id))
    fail(ErrorKind::kConflict, "sandbox " + b.id + " already exists");
  txn_.put(t_.sandboxes, b.id, encode_sandbox({origin_, id_, b}));
  changes_.sandboxes.insert(b.id);
  return {};
}

FoldResult Reducer::handle(const SandboxRemoved& b) {
  auto v = txn_.get(t_.sandboxes, b.id);
  if (!v) return skipped(ErrorKind::kNotFound, "no such sandbox");
  const SandboxRecord s = decode_sandbox(*v);
  if (s.owner != origin_) {
    fail(ErrorKind::kConflict,
         "remove sandbox " + b.id + ": owned by node " + format_node_id(s.owner), true);
  }
  delete_sandbox(b.id);
  batch_.note_tombstone(e_, s.writer);
  return {};
}

FoldResult Reducer::handle(const EndpointJoined& b) {
  check_name("endpoint id", b.endpoint);
  check_name("sandbox id", b.sandbox);
  const std::string what = "join endpoint " + b.endpoint + " to sandbox " + b.sandbox;
  auto sv = txn_.get(t_.sandboxes, b.sandbox);
  if (!sv) fail(ErrorKind::kNotFound, what + ": no such sandbox");
  if (decode_sandbox(*sv).owner != origin_)
    fail(ErrorKind::kConflict, what + ": sandbox owned by another node", true);
  if (auto ev = txn_.get(t_.endpoints, b.endpoint);
      ev && decode_endpoint(*ev).spec.owner != origin_) {
    fail(ErrorKind::kConflict, what + ": endpoint owned by another node", true);
  }
  if (auto j = txn_.get(t_.joins, b.endpoint)) {
    const JoinRecord jr = decode_join(*j);
    if (jr.sandbox != b.sandbox)
      fail(ErrorKind::kConflict, what + ": already joined to " + jr.sandbox);
  }
  txn_.put(t_.joins, b.endpoint, encode_join({b.sandbox, id_}));
  txn_.put(t_.joins_by_sandbox, pair_key(b.sandbox, b.endpoint), "");
  changes_.endpoints.insert(b.endpoint);
  changes_.sandboxes.insert(b.sandbox);
  return {};
}

FoldResult Reducer::handle(const EndpointLeft& b) {
  auto j = txn_.get(t_.joins, b.endpoint);
  if (!j) return skipped(ErrorKind::kNotFound, "not joined");
  const JoinRecord jr = decode_join(*j);
  if (jr.sandbox != b.sandbox)
    fail(ErrorKind::kConflict, "leave: endpoint " + b.endpoint + " is joined to " + jr.sandbox);
  if (jr.writer.origin != origin_)
    fail(ErrorKind::kConflict, "leave: join written by another node", true);
  delete_join(b.endpoint);
  batch_.note_tombstone(e_, jr.writer);
  return {};
}

// ---- spaces

FoldResult Reducer::handle(const SpaceInitialised& b) {
  if (!valid_space_init(b)) {
    fail(ErrorKind::kInvalidArgument,
         "initialise space '" + b.space +
             "': bad name or bounds (network spaces are created with their network)");
  }
  if (batch_.prescan_) {
    auto it = batch_.prescan_->space_inits.find(b.space);
    if (it == batch_.prescan_->space_inits.end() || it->second != id_)
      return skipped(ErrorKind::kConflict, "space initialised by an earlier event");
  }
  auto& c = batch_.space_entry(b.space);
  if (c.record) {
    // Concurrent initialisations: the lowest (lamport, origin) founds the space in every
    // order. When that one arrives second, what was folded on the other must be undone.
    if (less_key(e_.lamport, origin_, c.record->writer_lamport, c.record->writer.origin)) {
      batch_.rebuild();
      return rebuilt();
    }
    return skipped(ErrorKind::kConflict, "space already initialised");
  }
  c.record = SpaceRecord{id_, e_.lamport, ipam::OwnedSpace(b.first, b.last, origin_)};
  c.dirty = true;
  changes_.spaces.insert(b.space);
  return {};
}

FoldResult Reducer::handle(const RangeDonated& b) {
  const std::string what =
      "donate [" + std::to_string(b.first) + ", " + std::to_string(b.last) + "] of " + b.space;
  auto& c = batch_.space_entry(b.space);
  if (!c.record) fail(ErrorKind::kNotFound, what + ": no such space");
  // A donation to a node removed concurrently goes to its heir, as its ranges did.
  const NodeId to = resolve_heir(b.to);
  if (b.to == 0 || to == origin_) fail(ErrorKind::kInvalidArgument, what + ": bad recipient");
  if (b.first > b.last) fail(ErrorKind::kInvalidArgument, what + ": bad range");
  try {
    ipam::OwnedSpace copy = c.record->space;
    copy.apply(ipam::Donation{origin_, to, {b.first, b.last}});
    c.record->space = std::move(copy);
  } catch (const ConflictError& err) {
    fail(ErrorKind::kConflict, what + ": " + err.what(), true);
  } catch (const InvalidArgumentError& err) {
    fail(ErrorKind::kInvalidArgument, what + ": " + err.what());
  }
  c.dirty = true;
  // Effective donations are remembered so that compaction keeps them.
  std::string k = pair_key(b.space, "");
  lmdb::put_u64(k, origin_);
  lmdb::put_u64(k, e_.seq);
  txn_.put(t_.space_events, k, "");
  changes_.spaces.insert(b.space);
  return {};
}

// ---- nodes

FoldResult Reducer::handle(const NodeAnnounced& b) {
  NodeRecord r = node_record(origin_).value_or(NodeRecord{});
  r.name = b.name;
  r.address = b.address;
  r.status = NodeStatus::kActive;
  r.info_writer = id_;
  r.status_writer = id_;
  txn_.put(t_.nodes, u64_key(origin_), encode_node(r));
  changes_.nodes.insert(origin_);
  return {};
}

FoldResult Reducer::handle(const NodeLeft&) {
  NodeRecord r = node_record(origin_).value_or(NodeRecord{});
  r.status = NodeStatus::kLeft;
  r.status_writer = id_;
  txn_.put(t_.nodes, u64_key(origin_), encode_node(r));
  changes_.nodes.insert(origin_);
  return {};
}

FoldResult Reducer::handle(const NodeRemoved& b) {
  if (b.node == 0 || b.node == origin_)
    fail(ErrorKind::kInvalidArgument, "remove node: a node cannot remove itself or node 0");
  if (!rebuilding_) {
    // Which removal is effective depends on the set of removals, not on the order they
    // arrive in: refold with the prescan (rare: an operator action).
    batch_.rebuild();
    return rebuilt();
  }
  auto eff = batch_.prescan_->removals.find(b.node);
  if (eff == batch_.prescan_->removals.end() || eff->second.event != id_)
    return skipped(ErrorKind::kConflict, "node already removed by an earlier event");
  const NodeId heir = resolve_heir(origin_);
  delete_resources_of(b.node);
  hand_over(b.node, heir);
  NodeRecord r = node_record(b.node).value_or(NodeRecord{});
  r.status = NodeStatus::kRemoved;
  r.removed_by = heir;
  r.last_seq = b.last_seq;
  r.status_writer = id_;
  txn_.put(t_.nodes, u64_key(b.node), encode_node(r));
  batch_.removed_[b.node] = b.last_seq;
  changes_.nodes.insert(b.node);
  return {};
}

FoldResult Reducer::handle(const UnknownBody&) {
  // Written by a newer node: kept in the log and forwarded, but it changes nothing here.
  return skipped(ErrorKind::kInvalidArgument, "unknown body type");
}

// ---- helpers

std::vector<Claim> Reducer::endpoint_claims(const EndpointSpec& spec, const NetworkRecord& n) {
  std::vector<Claim> claims;
  for (const auto& text : spec.addresses) {
    const ipam::IpAddress addr = address_of(text);
    bool found = false;
    for (size_t i = 0; i < n.spec.ipam_result.pools.size() && !found; ++i) {
      ipam::Prefix p = ipam::Prefix::parse(n.spec.ipam_result.pools[i].subnet);
      if (!p.contains(addr)) continue;
      found = true;
      claims.push_back({network_space_key(n.spec.id, i), p.offset_of(addr)});
    }
    if (!found) {
      fail(ErrorKind::kInvalidArgument, "endpoint " + spec.id + ": address " + text +
                                            " is in no subnet of network " + n.spec.id);
    }
  }
  return claims;
}

void Reducer::check_claim(const std::string& key, uint64_t offset, const std::string& what,
                          bool already_mine) {
  auto& c = batch_.space_entry(key);
  if (!c.record) fail(ErrorKind::kNotFound, what + ": space '" + key + "' does not exist");
  auto range = c.record->space.ownership().space();
  if (offset < range.first || offset > range.last) {
    fail(ErrorKind::kInvalidArgument,
         what + ": " + std::to_string(offset) + " is outside space '" + key + "'");
  }
  const NodeId owner = c.record->space.ownership().owner_of(offset);
  if (owner != origin_) {
    fail(ErrorKind::kConflict,
         what + ": " + std::to_string(offset) + " in space '" + key + "' is owned by node " +
             format_node_id(owner) + ", not by " + format_node_id(origin_),
         true);
  }
  if (!already_mine && c.record->space.is_allocated(offset)) {
    fail(ErrorKind::kConflict,
         what + ": " + std::to_string(offset) + " in space '" + key + "' is already allocated");
  }
}

void Reducer::claim(const std::string& key, uint64_t offset) {
  auto& c = batch_.space_entry(key);
  if (!c.record->space.is_allocated(offset)) c.record->space.allocate_specific(origin_, offset);
  c.dirty = true;
  changes_.spaces.insert(key);
}

void Reducer::release(const std::string& key, uint64_t offset) {
  auto& c = batch_.space_entry(key);
  if (!c.record) return;
  auto range = c.record->space.ownership().space();
  if (offset < range.first || offset > range.last) return;
  c.record->space.release(offset);
  c.dirty = true;
  changes_.spaces.insert(key);
}

void Reducer::release_addresses(const EndpointSpec& spec) {
  const auto& net = batch_.network_get(spec.network);
  if (!net) return;
  const NetworkRecord& n = *net;
  for (const auto& text : spec.addresses) {
    ipam::IpAddress addr;
    try {
      addr = address_of(text);
    } catch (const Reject&) {
      continue;
    }
    for (size_t i = 0; i < n.spec.ipam_result.pools.size(); ++i) {
      auto& c = batch_.space_entry(network_space_key(n.spec.id, i));
      if (!c.record) continue;
      ipam::Prefix p = ipam::Prefix::parse(n.spec.ipam_result.pools[i].subnet);
      if (!p.contains(addr)) continue;
      const uint64_t off = p.offset_of(addr);
      auto range = c.record->space.ownership().space();
      if (off < range.first || off > range.last) continue;
      c.record->space.release(off);
      c.dirty = true;
      changes_.spaces.insert(network_space_key(n.spec.id, i));
    }
  }
}

void Reducer::delete_join(const std::string& endpoint) {
  auto j = txn_.get(t_.joins, endpoint);
  if (!j) return;
  const JoinRecord jr = decode_join(*j);
  txn_.del(t_.joins_by_sandbox, pair_key(jr.sandbox, endpoint));
  txn_.del(t_.joins, endpoint);
  changes_.sandboxes.insert(jr.sandbox);
  changes_.endpoints.insert(endpoint);
}

void Reducer::delete_endpoint(const EndpointRecord& old) {
  release_addresses(old.spec);
  txn_.del(t_.endpoints_by_network, pair_key(old.spec.network, old.spec.id));
  txn_.del(t_.endpoints, old.spec.id);
  delete_join(old.spec.id);
  changes_.endpoints.insert(old.spec.id);
}

void Reducer::delete_sandbox(const std::string& sandbox) {
  std::vector<std::string> eps;
  {
    lmdb::Cursor cur(txn_, t_.joins_by_sandbox);
    const std::string prefix = pair_key(sandbox, "");
    for (bool ok = cur.seek(prefix); ok && cur.key().substr(0, prefix.size()) == prefix;
         ok = cur.next()) {
      eps.emplace_back(cur.key().substr(prefix.size()));
    }
  }
  for (const auto& ep : eps) delete_join(ep);
  txn_.del(t_.sandboxes, sandbox);
  changes_.sandboxes.insert(sandbox);
}

void Reducer::drop_space(const std::string& key) {
  auto& c = batch_.space_entry(key);
  c.record.reset();
  c.dirty = true;
  std::vector<std::string> keys;
  {
    lmdb::Cursor cur(txn_, t_.space_events);
    const std::string prefix = pair_key(key, "");
    for (bool ok = cur.seek(prefix); ok && cur.key().substr(0, prefix.size()) == prefix;
         ok = cur.next()) {
      keys.emplace_back(cur.key());
    }
  }
  for (const auto& k : keys) txn_.del(t_.space_events, k);
  changes_.spaces.insert(key);
}

void Reducer::delete_resources_of(NodeId node) {
  std::vector<EndpointRecord> eps;
  {
    lmdb::Cursor cur(txn_, t_.endpoints);
    for (bool ok = cur.first(); ok; ok = cur.next()) {
      EndpointRecord r = decode_endpoint(cur.value());
      if (r.spec.owner == node) eps.push_back(std::move(r));
    }
  }
  for (const auto& ep : eps) delete_endpoint(ep);
  std::vector<std::string> sbs;
  {
    lmdb::Cursor cur(txn_, t_.sandboxes);
    for (bool ok = cur.first(); ok; ok = cur.next()) {
      if (decode_sandbox(cur.value()).owner == node) sbs.emplace_back(cur.key());
    }
  }
  for (const auto& sb : sbs) delete_sandbox(sb);
}

void Reducer::hand_over(NodeId node, NodeId heir) {
  std::vector<NetworkRecord> nets;
  {
    lmdb::Cursor cur(txn_, t_.networks);
    for (bool ok = cur.first(); ok; ok = cur.next()) {
      NetworkRecord r = decode_network(cur.value());
      if (r.owner == node) nets.push_back(std::move(r));
    }
  }
  for (auto& n : nets) {
    n.owner = heir;
    batch_.network_put(n);
    changes_.networks.insert(n.spec.id);
  }
  batch_.load_all_spaces();
  for (auto& [key, c] : batch_.spaces_) {
    if (!c.record || c.record->space.ownership().owned_count(node) == 0) continue;
    c.record->space.reassign_all(node, heir);
    c.dirty = true;
    changes_.spaces.insert(key);
  }
}

std::optional<NodeRecord> Reducer::node_record(NodeId n) {
  auto v = txn_.get(t_.nodes, u64_key(n));
  if (!v) return std::nullopt;
  return decode_node(*v);
}

NodeId Reducer::resolve_heir(NodeId n) {
  for (int i = 0; i < 64; ++i) {
    auto rec = node_record(n);
    if (!rec || rec->status != NodeStatus::kRemoved) return n;
    n = rec->removed_by;
  }
  return n;
}

}  // namespace trellis::store
