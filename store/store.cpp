// Store: opening the LMDB environment, the write loop (with map growth), the public write
// operations, reads, snapshots, compaction and the state digest.

#include "store/store.h"

#include <sys/statvfs.h>
#include <msgpack.hpp>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <random>

#include "common/msgpack_decode.h"
#include "store/store_impl.h"

namespace trellis::store {

namespace md = trellis::msgpack_decode;
using lmdb::event_key;
using lmdb::u64_key;

// ---- LMDB errors ----------------------------------------------------------------------------

namespace lmdb {

void throw_error(int rc, std::string_view operation) {
  std::string what = "store: " + std::string(operation) + ": " + mdb_strerror(rc);
  if (rc == MDB_MAP_FULL) throw MapFullError(what);
  if (rc == ENOSPC || rc == EDQUOT) throw DiskFullError(what);
  if (rc == MDB_NOTFOUND) throw NotFoundError(what);
  throw InternalError(what);
}

}  // namespace lmdb

namespace {

std::string encode_identity(const NodeIdentity& id) {
  msgpack::sbuffer b;
  msgpack::packer<msgpack::sbuffer> pk(b);
  pk.pack_array(3);
  pk.pack_uint64(id.id);
  pk.pack(id.name);
  pk.pack_uint64(id.cluster_id);
  return std::string(b.data(), b.size());
}

NodeIdentity decode_identity(std::string_view bytes) {
  auto h = md::unpack_whole(bytes, "node identity");
  const auto& a = md::array_of(h.get(), 3, "node identity");
  return {md::as_u64(a.ptr[0], "node id"), md::as_string(a.ptr[1], "node name"),
          md::as_u64(a.ptr[2], "cluster id")};
}

std::string encode_vv(const VersionVector& vv) {
  msgpack::sbuffer b;
  msgpack::packer<msgpack::sbuffer> pk(b);
  pk.pack_map(static_cast<uint32_t>(vv.size()));
  for (const auto& [o, s] : vv) {
    pk.pack_uint64(o);
    pk.pack_uint64(s);
  }
  return std::string(b.data(), b.size());
}

VersionVector decode_vv(std::string_view bytes) {
  auto h = md::unpack_whole(bytes, "version vector");
  if (h.get().type != msgpack::type::MAP) throw CorruptDataError("version vector: expected a map");
  VersionVector vv;
  for (uint32_t i = 0; i < h.get().via.map.size; ++i) {
    vv[md::as_u64(h.get().via.map.ptr[i].key, "vv origin")] =
        md::as_u64(h.get().via.map.ptr[i].val, "vv seq");
  }
  return vv;
}

VersionVector read_u64_table(const lmdb::Txn& txn, MDB_dbi dbi) {
  VersionVector vv;
  lmdb::Cursor cur(txn, dbi);
  for (bool ok = cur.first(); ok; ok = cur.next()) {
    vv[lmdb::get_u64(cur.key())] = lmdb::get_u64(cur.value());
  }
  return vv;
}

// Two independent 64-bit hashes over (table, key, value) triples: a digest for equality
// checks across nodes, not a cryptographic commitment.
class Digest {
 public:
  void add(std::string_view bytes) {
    add_len(bytes.size());
    for (unsigned char c : bytes) byte(c);
  }
  std::string hex() const {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a_),
                  static_cast<unsigned long long>(b_));
    return buf;
  }

 private:
  void add_len(uint64_t n) {
    for (int i = 0; i < 8; ++i) byte(static_cast<unsigned char>(n >> (i * 8)));
  }
  void byte(unsigned char c) {
    a_ = (a_ ^ c) * 0x100000001b3ULL;
    b_ = (b_ + c + 1) * 0x9e3779b97f4a7c15ULL;
    b_ ^= b_ >> 29;
  }
  uint64_t a_ = 0xcbf29ce484222325ULL;
  uint64_t b_ = 0x2545f4914f6cdd1dULL;
};

std::string digest_of(const lmdb::Txn& txn, const Tables& t) {
  Digest d;
  for (const auto& [name, member] : state_tables()) {
    d.add(name);
    lmdb::Cursor cur(txn, t.*member);
    for (bool ok = cur.first(); ok; ok = cur.next()) {
      d.add(cur.key());
      d.add(cur.value());
    }
  }
  return d.hex();
}

// Whether the logged event `e` still contributes to the state: it wrote a current record,
// or it is a structural event (space initialised, effective donation, node status) that the
// state depends on. Unknown bodies are kept: a newer node may need them.
bool is_live(const lmdb::Txn& txn, const Tables& t, const Event& e) {
  const EventId id = e.id();
  return std::visit(
      [&](const auto& b) -> bool {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, NetworkCreated>) {
          auto v = txn.get(t.networks, b.id);
          return v && decode_network(*v).writer == id;
        } else if constexpr (std::is_same_v<T, EndpointCreated> ||
                             std::is_same_v<T, EndpointUpdated>) {
          auto v = txn.get(t.endpoints, b.endpoint.id);
          return v && decode_endpoint(*v).writer == id;
        } else if constexpr (std::is_same_v<T, SandboxCreated>) {
          auto v = txn.get(t.sandboxes, b.id);
          return v && decode_sandbox(*v).writer == id;
        } else if constexpr (std::is_same_v<T, EndpointJoined>) {
          auto v = txn.get(t.joins, b.endpoint);
          return v && decode_join(*v).writer == id;
        } else if constexpr (std::is_same_v<T, SpaceInitialised>) {
          auto v = txn.get(t.spaces, b.space);
          return v && decode_space(*v).writer == id;
        } else if constexpr (std::is_same_v<T, RangeDonated>) {
          std::string k = pair_key(b.space, "");
          lmdb::put_u64(k, e.origin);
          lmdb::put_u64(k, e.seq);
          return txn.get(t.space_events, k).has_value();
        } else if constexpr (std::is_same_v<T, NodeAnnounced>) {
          auto v = txn.get(t.nodes, u64_key(e.origin));
          if (!v) return false;
          NodeRecord r = decode_node(*v);
          return r.info_writer == id || r.status_writer == id;
        } else if constexpr (std::is_same_v<T, NodeLeft>) {
          auto v = txn.get(t.nodes, u64_key(e.origin));
          return v && decode_node(*v).status_writer == id;
        } else if constexpr (std::is_same_v<T, NodeRemoved>) {
          auto v = txn.get(t.nodes, u64_key(b.node));
          return v && decode_node(*v).status_writer == id;
        } else if constexpr (std::is_same_v<T, UnknownBody>) {
          return true;
        } else {
          return false;  // removals and leaves are tombstones
        }
      },
      e.body);
}

// LMDB reports a write cut short by a full file system as EIO; tell the two apart.
bool file_system_nearly_full(const std::string& dir) {
  struct statvfs st;
  if (::statvfs(dir.c_str(), &st) != 0) return false;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize < (uint64_t{4} << 20);
}

int64_t system_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---- Impl -----------------------------------------------------------------------------------

lmdb::Txn Store::Impl::begin_read() const {
  for (int attempt = 0;; ++attempt) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &txn);
    if (rc == MDB_MAP_RESIZED && attempt < 3) {
      // Another process grew the map; adopt its size (no transaction of ours is open).
      lmdb::check(mdb_env_set_mapsize(env.get(), 0), "adopt grown map");
      continue;
    }
    lmdb::check(rc, "begin read transaction");
    return lmdb::Txn::adopt(txn);
  }
}

void Store::Impl::grow_map() {
  std::unique_lock lock(resize_mutex);
  if (map_size >= options.max_map_size) {
    throw MapFullError("store " + dir + ": the map is full at its maximum size of " +
                       std::to_string(options.max_map_size) + " bytes");
  }
  const uint64_t next =
      std::min(options.max_map_size, std::max(map_size * 2, map_size + (uint64_t{1} << 20)));
  lmdb::check(mdb_env_set_mapsize(env.get(), next), "grow map");
  map_size = next;
}

void Store::Impl::write(const std::function<void(WriteBatch&)>& body) {
  if (options.read_only) throw InvalidArgumentError("store " + dir + ": opened read-only");
  std::lock_guard wlock(write_mutex);
  for (;;) {
    ChangeSet changes;
    try {
      std::map<NodeId, uint64_t> new_heads;
      uint64_t new_lamport = 0, new_counter = 0;
      {
        std::shared_lock rlock(resize_mutex);
        WriteBatch batch(*this);
        body(batch);
        batch.flush();
        new_heads = std::move(batch.heads());
        new_lamport = batch.lamport();
        new_counter = batch.counter();
        changes = std::move(batch.changes());
        try {
          batch.txn().commit();
        } catch (const InternalError& e) {
          if (file_system_nearly_full(dir)) {
            throw DiskFullError("store " + dir + ": file system full: " + e.what());
          }
          throw;
        }
      }
      {
        std::lock_guard c(committed_mutex);
        heads = std::move(new_heads);
        lamport = new_lamport;
        counter = new_counter;
      }
    } catch (const MapFullError&) {
      grow_map();
      continue;
    }
    if (listener) listener(changes);
    return;
  }
}

// ---- open -----------------------------------------------------------------------------------

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

Store Store::open(const std::string& dir, Options options) {
  namespace fs = std::filesystem;
  const std::string what = "open store " + dir;
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / "data.mdb", ec)) {
    if (!options.create_if_missing || options.read_only)
      throw NotFoundError(what + ": no store there");
    fs::create_directories(dir, ec);
    if (ec) throw InternalError(what + ": cannot create directory: " + ec.message());
  }
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = std::move(options);
  Options& opt = impl->options;
  if (!opt.wall_clock_ms) opt.wall_clock_ms = system_clock_ms;

  MDB_env* raw = nullptr;
  lmdb::check(mdb_env_create(&raw), what);
  impl->env = lmdb::Env(raw);
  lmdb::check(mdb_env_set_maxdbs(raw, 32), what);
  lmdb::check(mdb_env_set_mapsize(raw, opt.initial_map_size), what);
  unsigned flags = MDB_NOTLS;
  if (!opt.durable) flags |= MDB_NOSYNC;
  if (opt.read_only) flags |= MDB_RDONLY;
  int rc = mdb_env_open(raw, dir.c_str(), flags, 0644);
  if (rc != MDB_SUCCESS) lmdb::throw_error(rc, what);
  int dead_readers = 0;
  mdb_reader_check(raw, &dead_readers);  // slots left by killed processes
  MDB_envinfo info;
  lmdb::check(mdb_env_info(raw, &info), what);
  impl->map_size = info.me_mapsize;

  Tables& t = impl->tables;
  const unsigned create = opt.read_only ? 0 : MDB_CREATE;
  lmdb::Txn txn(raw, opt.read_only ? MDB_RDONLY : 0);
  auto open_dbi = [&](const char* name, MDB_dbi& dbi) {
    int r = mdb_dbi_open(txn.get(), name, create, &dbi);
    if (r == MDB_NOTFOUND) throw NotFoundError(what + ": table '" + name + "' is missing");
    lmdb::check(r, what);
  };
  open_dbi("meta", t.meta);
  auto schema = txn.get(t.meta, "schema");
  if (schema) {
    const uint64_t v = schema->size() == 8 ? lmdb::get_u64(*schema) : 0;
    if (v > kStoreSchemaVersion) {
      throw SchemaTooNewError(what + ": written by store schema version " + std::to_string(v) +
                              ", this build reads up to version " +
                              std::to_string(kStoreSchemaVersion) + "; upgrade Trellis");
    }
    if (v == 0) throw CorruptDataError(what + ": bad schema record");
  } else if (opt.read_only) {
    throw NotFoundError(what + ": not initialised");
  }
  open_dbi("log", t.log);
  open_dbi("order", t.order);
  open_dbi("heads", t.heads);
  open_dbi("floors", t.floors);
  open_dbi("pending", t.pending);
  open_dbi("rejections", t.rejections);
  open_dbi("tombstones", t.tombstones);
  open_dbi("networks", t.networks);
  open_dbi("network_names", t.network_names);
  open_dbi("endpoints", t.endpoints);
  open_dbi("endpoints_by_network", t.endpoints_by_network);
  open_dbi("sandboxes", t.sandboxes);
  open_dbi("joins", t.joins);
  open_dbi("joins_by_sandbox", t.joins_by_sandbox);
  open_dbi("spaces", t.spaces);
  open_dbi("space_events", t.space_events);
  open_dbi("nodes", t.nodes);

  if (!schema) {
    txn.put(t.meta, "schema", u64_key(kStoreSchemaVersion));
    NodeIdentity id{opt.node_id, opt.node_name, 0};
    if (id.id == 0) {
      std::random_device rd;
      std::mt19937_64 gen((uint64_t{rd()} << 32) ^ rd());
      while (id.id == 0) id.id = gen();
    }
    txn.put(t.meta, "identity", encode_identity(id));
  }
  auto ident = txn.get(t.meta, "identity");
  if (!ident) throw CorruptDataError(what + ": node identity record is missing");
  impl->identity = decode_identity(*ident);
  impl->heads = read_u64_table(txn, t.heads);
  if (auto v = txn.get(t.meta, "lamport")) impl->lamport = lmdb::get_u64(*v);
  if (auto v = txn.get(t.meta, "counter")) impl->counter = lmdb::get_u64(*v);
  txn.commit();  // also for read-only: table handles opened in an aborted txn are closed
  return Store(std::move(impl));
}

NodeIdentity Store::identity() const {
  std::lock_guard c(impl_->committed_mutex);
  return impl_->identity;
}

void Store::set_cluster_id(uint64_t cluster_id) {
  NodeIdentity id = identity();
  id.cluster_id = cluster_id;
  impl_->write(
      [&](WriteBatch& b) { b.txn().put(impl_->tables.meta, "identity", encode_identity(id)); });
  std::lock_guard c(impl_->committed_mutex);
  impl_->identity.cluster_id = cluster_id;
}

// ---- writes ---------------------------------------------------------------------------------

Event Store::append_local(Body body) {
  std::vector<Body> one;
  one.push_back(std::move(body));
  return append_local(std::move(one)).front();
}

std::vector<Event> Store::append_local(std::vector<Body> bodies) {
  std::vector<Event> out;
  const NodeId self = impl_->identity.id;
  const Tables& t = impl_->tables;
  impl_->write([&](WriteBatch& b) {
    out.clear();
    if (auto v = b.txn().get(t.nodes, u64_key(self));
        v && decode_node(*v).status == NodeStatus::kRemoved) {
      throw NodeRemovedError("append event: node " + format_node_id(self) +
                             " was removed from the cluster by node " +
                             format_node_id(decode_node(*v).removed_by));
    }
    VersionVector authored;
    if (auto v = b.txn().get(t.meta, "authored")) authored = decode_vv(*v);
    for (const Body& body : bodies) {
      Event e;
      e.origin = self;
      e.seq = b.head(self) + 1;
      e.lamport = b.lamport() + 1;
      e.wall_time_ms = impl_->options.wall_clock_ms();
      e.body = body;
      if (auto* c = std::get_if<EndpointCreated>(&e.body); c && c->endpoint.owner == 0)
        c->endpoint.owner = self;
      if (auto* u = std::get_if<EndpointUpdated>(&e.body); u && u->endpoint.owner == 0)
        u->endpoint.owner = self;
      if (auto* r = std::get_if<NodeRemoved>(&e.body); r && r->last_seq == 0)
        r->last_seq = b.head(r->node);
      // Dependencies: what this node applied from others since its previous event. With the
      // per-origin order this gives every event its author's whole causal past.
      for (const auto& [origin, seq] : b.heads()) {
        if (origin == self) continue;
        uint64_t& seen = authored[origin];
        if (seq > seen) {
          e.deps.push_back({origin, seq});
          seen = seq;
        }
      }
      const std::string encoded = encode_event(e);
      b.apply(e, encoded, true);
      out.push_back(std::move(e));
    }
    b.txn().put(t.meta, "authored", encode_vv(authored));
  });
  return out;
}

namespace {

void validate_remote(const Event& e, NodeId self, uint64_t self_head) {
  const std::string name = format_node_id(e.origin) + ":" + std::to_string(e.seq);
  if (e.origin == 0 || e.seq == 0 || e.lamport == 0) {
    throw InconsistentEventError("apply event " + name +
                                 ": origin, seq and lamport must be non-zero");
  }
  if (e.origin == self && e.seq > self_head) {
    throw InconsistentEventError("apply event " + name +
                                 ": claims to be authored by this node, which never wrote it");
  }
  for (const auto& d : e.deps) {
    if (d.origin == 0 || d.seq == 0 || (d.origin == e.origin && d.seq >= e.seq)) {
      throw InconsistentEventError("apply event " + name + ": impossible dependency " +
                                   format_node_id(d.origin) + ":" + std::to_string(d.seq));
    }
  }
}

}  // namespace

ChangeSet Store::apply_remote(const std::vector<Event>& events) {
  std::vector<std::string> encoded;
  encoded.reserve(events.size());
  const NodeId self = impl_->identity.id;
  const uint64_t self_head = version_vector()[self];
  for (const auto& e : events) {
    validate_remote(e, self, self_head);
    encoded.push_back(encode_event(e));
  }
  ChangeSet out;
  impl_->write([&](WriteBatch& b) {
    for (size_t i = 0; i < events.size(); ++i) b.apply(events[i], encoded[i], false);
    b.drain_pending();
    out = b.changes();
  });
  return out;
}

ChangeSet Store::apply_remote_encoded(const std::vector<std::string>& encoded) {
  std::vector<Event> events;
  events.reserve(encoded.size());
  for (const auto& bytes : encoded) events.push_back(decode_event(bytes));
  return apply_remote(events);
}

void Store::install_snapshot(const VersionVector& vv, const std::vector<Event>& events) {
  std::vector<std::string> encoded;
  for (const auto& e : events) {
    validate_remote(e, 0, 0);
    auto it = vv.find(e.origin);
    if (it == vv.end() || it->second < e.seq) {
      throw InconsistentEventError("install snapshot: event " + format_node_id(e.origin) + ":" +
                                   std::to_string(e.seq) +
                                   " is beyond the snapshot's version vector");
    }
    encoded.push_back(encode_event(e));
  }
  impl_->write([&](WriteBatch& b) {
    if (b.txn().entries(impl_->tables.log) != 0 || !b.heads().empty()) {
      throw ConflictError("install snapshot into " + impl_->dir + ": the store already has events");
    }
    for (size_t i = 0; i < events.size(); ++i) b.install(events[i], encoded[i]);
    for (const auto& [origin, seq] : vv) {
      if (seq == 0) continue;
      b.set_head(origin, seq);
      b.txn().put(impl_->tables.floors, u64_key(origin), u64_key(seq));
    }
  });
}

namespace {

bool is_tombstone(const Body& body) {
  return std::holds_alternative<NetworkRemoved>(body) ||
         std::holds_alternative<EndpointRemoved>(body) ||
         std::holds_alternative<SandboxRemoved>(body) || std::holds_alternative<EndpointLeft>(body);
}

}  // namespace

CompactionStats Store::compact(const VersionVector& stable) {
  CompactionStats stats;
  const Tables& t = impl_->tables;
  constexpr uint64_t kChunk = 20000;  // events examined per transaction
  std::map<NodeId, uint64_t> limits;
  const VersionVector heads = version_vector();
  for (const auto& [origin, stable_seq] : stable) {
    auto it = heads.find(origin);
    const uint64_t limit = std::min(stable_seq, it == heads.end() ? 0 : it->second);
    if (limit > 0) limits[origin] = limit;
  }
  // Floors first: from here on nobody is served a log with holes as if it were whole.
  impl_->write([&](WriteBatch& b) {
    for (const auto& [origin, limit] : limits) {
      uint64_t floor = 0;
      if (auto f = b.txn().get(t.floors, u64_key(origin))) floor = lmdb::get_u64(*f);
      if (limit > floor) b.txn().put(t.floors, u64_key(origin), u64_key(limit));
    }
  });
  // Two passes, each transaction safe on its own (a crash between any two leaves a log whose
  // fold is the same state): first events that no longer contribute, then tombstones whose
  // deleted record's writer is gone from the log.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [origin, limit] : limits) {
      uint64_t next = 1;
      while (next <= limit) {
        impl_->write([&](WriteBatch& b) {
          uint64_t examined = 0, pos = next;
          std::vector<std::string> dead;
          {
            lmdb::Cursor cur(b.txn(), t.log);
            bool ok = cur.seek(event_key(origin, pos));
            for (; ok && examined < kChunk; ok = cur.next()) {
              if (lmdb::get_u64(cur.key(), 0) != origin) break;
              const uint64_t seq = lmdb::get_u64(cur.key(), 8);
              if (seq > limit) break;
              pos = seq + 1;
              ++examined;
              Event e = decode_event(cur.value().substr(8));
              const bool tomb = is_tombstone(e.body);
              if (pass == 0 && !tomb && !is_live(b.txn(), t, e)) dead.emplace_back(cur.key());
              if (pass == 1 && tomb) {
                auto ref = b.txn().get(t.tombstones, cur.key());
                if (!ref || !b.txn().get(t.log, *ref)) dead.emplace_back(cur.key());
              }
            }
            if (examined < kChunk) pos = limit + 1;  // reached the end of the range
          }
          for (const auto& key : dead) {
            auto v = b.txn().get(t.log, key);
            b.txn().del(t.order, v->substr(0, 8));
            b.txn().del(t.log, key);
            b.txn().del(t.rejections, key);
            b.txn().del(t.tombstones, key);
          }
          if (pass == 0) stats.examined += examined;
          stats.dropped += dead.size();
          next = pos;
        });
      }
    }
  }
  return stats;
}

void Store::set_change_listener(std::function<void(const ChangeSet&)> listener) {
  std::lock_guard wlock(impl_->write_mutex);
  impl_->listener = std::move(listener);
}

// ---- reads ----------------------------------------------------------------------------------

VersionVector Store::version_vector() const {
  std::lock_guard c(impl_->committed_mutex);
  VersionVector vv;
  for (const auto& [o, s] : impl_->heads) vv.emplace(o, s);
  return vv;
}

VersionVector Store::compacted_floors() const {
  std::shared_lock lock(impl_->resize_mutex);
  lmdb::Txn txn = impl_->begin_read();
  return read_u64_table(txn, impl_->tables.floors);
}

uint64_t Store::lamport() const {
  std::lock_guard c(impl_->committed_mutex);
  return impl_->lamport;
}

std::vector<Event> Store::events_after(NodeId origin, uint64_t after, size_t limit) const {
  std::shared_lock lock(impl_->resize_mutex);
  lmdb::Txn txn = impl_->begin_read();
  const Tables& t = impl_->tables;
  if (auto f = txn.get(t.floors, u64_key(origin)); f && after < lmdb::get_u64(*f)) {
    throw LogCompactedError("events of node " + format_node_id(origin) + " after " +
                            std::to_string(after) + ": compacted through " +
                            std::to_string(lmdb::get_u64(*f)) + "; sync from a snapshot");
  }
  std::vector<Event> out;
  lmdb::Cursor cur(txn, t.log);
  for (bool ok = cur.seek(event_key(origin, after + 1)); ok && out.size() < limit;
       ok = cur.next()) {
    if (lmdb::get_u64(cur.key(), 0) != origin) break;
    out.push_back(decode_event(cur.value().substr(8)));
  }
  return out;
}

std::optional<Event> Store::event(EventId id) const {
  std::shared_lock lock(impl_->resize_mutex);
  lmdb::Txn txn = impl_->begin_read();
  auto v = txn.get(impl_->tables.log, event_key(id.origin, id.seq));
  if (!v) return std::nullopt;
  return decode_event(v->substr(8));
}

std::string Store::state_digest() const { return read().state_digest(); }

std::string Store::digest_from_scratch() const {
  if (impl_->options.read_only) {
    throw InvalidArgumentError("digest from scratch needs a writable store (scratch transaction)");
  }
  std::lock_guard wlock(impl_->write_mutex);
  for (;;) {
    try {
      std::shared_lock rlock(impl_->resize_mutex);
      WriteBatch batch(*impl_);
      batch.rebuild();
      batch.flush();
      return digest_of(batch.txn(), impl_->tables);  // the batch aborts: nothing is kept
    } catch (const MapFullError&) {
      impl_->grow_map();  // the refold needs room beside the current state until it aborts
    }
  }
}

Counts Store::counts() const {
  std::shared_lock lock(impl_->resize_mutex);
  lmdb::Txn txn = impl_->begin_read();
  const Tables& t = impl_->tables;
  Counts c;
  c.events = txn.entries(t.log);
  c.pending = txn.entries(t.pending);
  c.networks = txn.entries(t.networks);
  c.endpoints = txn.entries(t.endpoints);
  c.sandboxes = txn.entries(t.sandboxes);
  c.joins = txn.entries(t.joins);
  c.nodes = txn.entries(t.nodes);
  c.spaces = txn.entries(t.spaces);
  c.rejections = txn.entries(t.rejections);
  MDB_envinfo info;
  MDB_stat st;
  lmdb::check(mdb_env_info(impl_->env.get(), &info), "env info");
  lmdb::check(mdb_env_stat(impl_->env.get(), &st), "env stat");
  c.map_size = info.me_mapsize;
  c.map_used = (info.me_last_pgno + 1) * uint64_t{st.ms_psize};
  return c;
}

std::vector<Rejection> Store::rejections(size_t limit) const {
  std::shared_lock lock(impl_->resize_mutex);
  lmdb::Txn txn = impl_->begin_read();
  std::vector<Rejection> out;
  lmdb::Cursor cur(txn, impl_->tables.rejections);
  for (bool ok = cur.first(); ok && out.size() < limit; ok = cur.next()) {
    auto h = md::unpack_whole(cur.value(), "rejection");
    const auto& a = md::array_of(h.get(), 2, "rejection");
    out.push_back({{lmdb::get_u64(cur.key(), 0), lmdb::get_u64(cur.key(), 8)},
                   md::as_string(a.ptr[0], "rejection type"),
                   md::as_string(a.ptr[1], "rejection reason")});
  }
  return out;
}

std::vector<EventId> Store::pending() const {
  std::shared_lock lock(impl_->resize_mutex);
  lmdb::Txn txn = impl_->begin_read();
  std::vector<EventId> out;
  lmdb::Cursor cur(txn, impl_->tables.pending);
  for (bool ok = cur.first(); ok; ok = cur.next()) {
    out.push_back({lmdb::get_u64(cur.key(), 0), lmdb::get_u64(cur.key(), 8)});
  }
  return out;
}

// ---- ReadView -------------------------------------------------------------------------------

struct ReadView::Impl {
  const Store::Impl* store;
  std::shared_lock<std::shared_mutex> lock;
  lmdb::Txn txn;
};

ReadView::ReadView(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ReadView::ReadView(ReadView&&) noexcept = default;
ReadView& ReadView::operator=(ReadView&&) noexcept = default;
ReadView::~ReadView() {
  if (impl_) impl_->txn.abort();  // before the lock is released
}

ReadView Store::read() const {
  std::shared_lock lock(impl_->resize_mutex);
  lmdb::Txn txn = impl_->begin_read();
  return ReadView(std::make_unique<ReadView::Impl>(
      ReadView::Impl{impl_.get(), std::move(lock), std::move(txn)}));
}

namespace {

NetworkInfo network_info(const lmdb::Txn& txn, const Tables& t, NetworkRecord r) {
  NetworkInfo n{std::move(r.spec), r.creator, r.owner, r.lamport, r.writer, false};
  lmdb::Cursor cur(txn, t.network_names);
  const std::string prefix = name_prefix(n.spec.cluster_scope ? 0 : n.creator, n.spec.name);
  if (cur.seek(prefix) && cur.key().substr(0, prefix.size()) == prefix) {
    n.name_conflict = cur.key().substr(prefix.size() + 16) != n.spec.id;
  }
  return n;
}

EndpointInfo endpoint_info(const lmdb::Txn& txn, const Tables& t, EndpointRecord r) {
  EndpointInfo e{std::move(r.spec), r.writer, false, {}};
  e.orphaned = !txn.get(t.networks, e.spec.network).has_value();
  if (auto j = txn.get(t.joins, e.spec.id)) e.sandbox = decode_join(*j).sandbox;
  return e;
}

}  // namespace

std::optional<NetworkInfo> ReadView::network(const std::string& id) const {
  auto v = impl_->txn.get(impl_->store->tables.networks, id);
  if (!v) return std::nullopt;
  return network_info(impl_->txn, impl_->store->tables, decode_network(*v));
}

std::optional<NetworkInfo> ReadView::network_by_name(const std::string& name,
                                                     NodeId local_node) const {
  const Tables& t = impl_->store->tables;
  for (NodeId scope : {NodeId{0}, local_node}) {
    lmdb::Cursor cur(impl_->txn, t.network_names);
    const std::string prefix = name_prefix(scope, name);
    if (cur.seek(prefix) && cur.key().substr(0, prefix.size()) == prefix) {
      return network(std::string(cur.key().substr(prefix.size() + 16)));
    }
    if (local_node == 0) break;
  }
  return std::nullopt;
}

std::vector<NetworkInfo> ReadView::networks() const {
  std::vector<NetworkInfo> out;
  lmdb::Cursor cur(impl_->txn, impl_->store->tables.networks);
  for (bool ok = cur.first(); ok; ok = cur.next()) {
    out.push_back(network_info(impl_->txn, impl_->store->tables, decode_network(cur.value())));
  }
  return out;
}

std::optional<EndpointInfo> ReadView::endpoint(const std::string& id) const {
  auto v = impl_->txn.get(impl_->store->tables.endpoints, id);
  if (!v) return std::nullopt;
  return endpoint_info(impl_->txn, impl_->store->tables, decode_endpoint(*v));
}

std::vector<EndpointInfo> ReadView::endpoints() const {
  std::vector<EndpointInfo> out;
  lmdb::Cursor cur(impl_->txn, impl_->store->tables.endpoints);
  for (bool ok = cur.first(); ok; ok = cur.next()) {
    out.push_back(endpoint_info(impl_->txn, impl_->store->tables, decode_endpoint(cur.value())));
  }
  return out;
}

std::vector<EndpointInfo> ReadView::endpoints_of_network(const std::string& network_id) const {
  const Tables& t = impl_->store->tables;
  std::vector<EndpointInfo> out;
  lmdb::Cursor cur(impl_->txn, t.endpoints_by_network);
  const std::string prefix = pair_key(network_id, "");
  for (bool ok = cur.seek(prefix); ok && cur.key().substr(0, prefix.size()) == prefix;
       ok = cur.next()) {
    if (auto e = endpoint(std::string(cur.key().substr(prefix.size()))))
      out.push_back(std::move(*e));
  }
  return out;
}

std::optional<SandboxInfo> ReadView::sandbox(const std::string& id) const {
  const Tables& t = impl_->store->tables;
  auto v = impl_->txn.get(t.sandboxes, id);
  if (!v) return std::nullopt;
  SandboxRecord r = decode_sandbox(*v);
  SandboxInfo s{std::move(r.spec), r.owner, r.writer, {}};
  lmdb::Cursor cur(impl_->txn, t.joins_by_sandbox);
  const std::string prefix = pair_key(id, "");
  for (bool ok = cur.seek(prefix); ok && cur.key().substr(0, prefix.size()) == prefix;
       ok = cur.next()) {
    s.endpoints.emplace_back(cur.key().substr(prefix.size()));
  }
  return s;
}

std::vector<SandboxInfo> ReadView::sandboxes() const {
  std::vector<std::string> ids;
  {
    lmdb::Cursor cur(impl_->txn, impl_->store->tables.sandboxes);
    for (bool ok = cur.first(); ok; ok = cur.next()) ids.emplace_back(cur.key());
  }
  std::vector<SandboxInfo> out;
  for (const auto& id : ids) out.push_back(*sandbox(id));
  return out;
}

namespace {
NodeInfo node_info(NodeId id, const NodeRecord& r) {
  return {id, r.name, r.address, r.status, r.removed_by, r.last_seq};
}
}  // namespace

std::optional<NodeInfo> ReadView::node(NodeId id) const {
  auto v = impl_->txn.get(impl_->store->tables.nodes, u64_key(id));
  if (!v) return std::nullopt;
  return node_info(id, decode_node(*v));
}

std::vector<NodeInfo> ReadView::nodes() const {
  std::vector<NodeInfo> out;
  lmdb::Cursor cur(impl_->txn, impl_->store->tables.nodes);
  for (bool ok = cur.first(); ok; ok = cur.next()) {
    out.push_back(node_info(lmdb::get_u64(cur.key()), decode_node(cur.value())));
  }
  return out;
}

std::optional<SpaceInfo> ReadView::space(const std::string& key) const {
  auto v = impl_->txn.get(impl_->store->tables.spaces, key);
  if (!v) return std::nullopt;
  SpaceRecord r = decode_space(*v);
  return SpaceInfo{key, std::move(r.space), r.writer};
}

std::vector<std::string> ReadView::space_keys() const {
  std::vector<std::string> out;
  lmdb::Cursor cur(impl_->txn, impl_->store->tables.spaces);
  for (bool ok = cur.first(); ok; ok = cur.next()) out.emplace_back(cur.key());
  return out;
}

VersionVector ReadView::version_vector() const {
  return read_u64_table(impl_->txn, impl_->store->tables.heads);
}

std::string ReadView::state_digest() const { return digest_of(impl_->txn, impl_->store->tables); }

// ---- Snapshot -------------------------------------------------------------------------------

struct Snapshot::Impl {
  const Store::Impl* store;
  std::shared_lock<std::shared_mutex> lock;
  lmdb::Txn txn;
  VersionVector vv;
  uint64_t next_counter = 1;
  bool done = false;
};

Snapshot::Snapshot(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Snapshot::Snapshot(Snapshot&&) noexcept = default;
Snapshot& Snapshot::operator=(Snapshot&&) noexcept = default;
Snapshot::~Snapshot() {
  if (impl_) impl_->txn.abort();
}

const VersionVector& Snapshot::version_vector() const { return impl_->vv; }

std::vector<Event> Snapshot::next(size_t limit) {
  std::vector<Event> out;
  if (impl_->done) return out;
  const Tables& t = impl_->store->tables;
  lmdb::Cursor cur(impl_->txn, t.order);
  bool ok = cur.seek(u64_key(impl_->next_counter));
  for (; ok && out.size() < limit; ok = cur.next()) {
    impl_->next_counter = lmdb::get_u64(cur.key()) + 1;
    auto entry = impl_->txn.get(t.log, cur.value());
    if (!entry)
      throw InternalError("snapshot: apply-order index names an event missing from the log");
    Event e = decode_event(entry->substr(8));
    if (is_live(impl_->txn, t, e)) out.push_back(std::move(e));
  }
  if (!ok) impl_->done = true;
  return out;
}

Snapshot Store::snapshot() const {
  std::shared_lock lock(impl_->resize_mutex);
  lmdb::Txn txn = impl_->begin_read();
  VersionVector vv = read_u64_table(txn, impl_->tables.heads);
  return Snapshot(std::make_unique<Snapshot::Impl>(
      Snapshot::Impl{impl_.get(), std::move(lock), std::move(txn), std::move(vv), 1, false}));
}

}  // namespace trellis::store
