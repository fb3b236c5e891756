#include "node/cluster/store_replicated_log.h"

#include <string>
#include <utility>

#include "common/error.h"
#include "store/event.h"

namespace trellis::node {

namespace {

// Events read from LMDB per cursor pass. Small enough that a byte-bounded read does not
// decode much more than it sends.
constexpr size_t kReadBatch = 64;
constexpr size_t kSnapshotBatch = 1024;

gossip::LogEntry to_entry(const store::Event& e) {
  return gossip::LogEntry{e.origin, e.seq, store::encode_event(e)};
}

}  // namespace

StoreReplicatedLog::StoreReplicatedLog(store::Store& store) : store_(store) {}

gossip::VersionVector StoreReplicatedLog::version_vector() const {
  gossip::VersionVector vv;
  for (const auto& [origin, head] : store_.version_vector()) {
    if (head > 0) vv.emplace(origin, head);
  }
  return vv;
}

gossip::LogRead StoreReplicatedLog::entries_after(gossip::NodeId origin, uint64_t after,
                                                  size_t max_bytes) const {
  gossip::LogRead read;
  size_t bytes = 0;
  uint64_t next = after + 1;
  try {
    for (;;) {
      std::vector<store::Event> batch = store_.events_after(origin, next - 1, kReadBatch);
      for (const store::Event& e : batch) {
        // Above the compaction floor the log is contiguous; stop at anything else rather
        // than hand the core a hole it would take for the end of the log.
        if (e.seq != next) return read;
        gossip::LogEntry entry = to_entry(e);
        if (!read.entries.empty() && bytes + entry.encoded.size() > max_bytes) return read;
        bytes += entry.encoded.size();
        read.entries.push_back(std::move(entry));
        ++next;
      }
      if (batch.size() < kReadBatch) return read;
    }
  } catch (const store::LogCompactedError&) {
    if (!read.entries.empty()) return read;  // cannot happen: floors only rise below `after`
    read.compacted = true;
    return read;
  }
}

gossip::LogSnapshot StoreReplicatedLog::snapshot() const {
  gossip::LogSnapshot snap;
  store::Snapshot s = store_.snapshot();
  for (const auto& [origin, head] : s.version_vector()) {
    if (head > 0) snap.vv.emplace(origin, head);
  }
  for (;;) {
    std::vector<store::Event> batch = s.next(kSnapshotBatch);
    if (batch.empty()) break;
    for (const store::Event& e : batch) snap.entries.push_back(to_entry(e));
  }
  return snap;
}

bool StoreReplicatedLog::can_install_snapshot() const { return store_.version_vector().empty(); }

RemoteApply StoreReplicatedLog::apply(const std::vector<gossip::LogEntry>& entries) {
  RemoteApply out;
  if (entries.empty()) return out;
  std::vector<std::string> encoded;
  encoded.reserve(entries.size());
  for (const gossip::LogEntry& e : entries) encoded.push_back(e.encoded);
  try {
    out.changes = store_.apply_remote_encoded(encoded);
    return out;
  } catch (const InvalidArgumentError&) {
    // Corrupt bytes, a newer schema or an impossible identity somewhere in the batch (the
    // store wrote nothing). Fall through and isolate the culprit.
  }
  std::vector<store::Event> good;
  good.reserve(entries.size());
  for (const gossip::LogEntry& e : entries) {
    try {
      store::Event event = store::decode_event(e.encoded);
      if (event.origin != e.origin || event.seq != e.seq) {
        throw CorruptDataError("entry labelled " + store::format_node_id(e.origin) + ":" +
                               std::to_string(e.seq) + " holds event " +
                               store::format_node_id(event.origin) + ":" +
                               std::to_string(event.seq));
      }
      good.push_back(std::move(event));
    } catch (const InvalidArgumentError&) {
      ++out.dropped;
    }
  }
  try {
    out.changes = store_.apply_remote(good);
    return out;
  } catch (const store::InconsistentEventError&) {
  }
  // One transaction per event: slow, but only for a batch that carries an impossible event.
  for (const store::Event& e : good) {
    try {
      store::ChangeSet c = store_.apply_remote({e});
      out.changes.applied.insert(out.changes.applied.end(), c.applied.begin(), c.applied.end());
      out.changes.held += c.held;
      out.changes.duplicates += c.duplicates;
      out.changes.rejected.insert(out.changes.rejected.end(), c.rejected.begin(), c.rejected.end());
      out.changes.networks.insert(c.networks.begin(), c.networks.end());
      out.changes.endpoints.insert(c.endpoints.begin(), c.endpoints.end());
      out.changes.sandboxes.insert(c.sandboxes.begin(), c.sandboxes.end());
      out.changes.spaces.insert(c.spaces.begin(), c.spaces.end());
      out.changes.nodes.insert(c.nodes.begin(), c.nodes.end());
      out.changes.rebuilt = out.changes.rebuilt || c.rebuilt;
    } catch (const store::InconsistentEventError&) {
      ++out.dropped;
    }
  }
  return out;
}

void StoreReplicatedLog::install(const gossip::LogSnapshot& snapshot) {
  std::vector<store::Event> events;
  events.reserve(snapshot.entries.size());
  for (const gossip::LogEntry& e : snapshot.entries) {
    store::Event event = store::decode_event(e.encoded);
    if (event.origin != e.origin || event.seq != e.seq) {
      throw CorruptDataError("snapshot entry labelled " + store::format_node_id(e.origin) + ":" +
                             std::to_string(e.seq) + " holds another event");
    }
    events.push_back(std::move(event));
  }
  store::VersionVector vv(snapshot.vv.begin(), snapshot.vv.end());
  store_.install_snapshot(vv, events);
}

}  // namespace trellis::node
