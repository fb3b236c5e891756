#pragma once
// The seam between the gossip core and the event store: the core reads the local log through
// ReplicatedLog (version vector, entries to send, compacted snapshot) and writes to it only by
// emitting effects (ApplyRemote, InstallSnapshot) that the owner applies. gossip/ never links
// store/; the daemon implements this over store::Store, the simulator and tests use MemoryLog.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "gossip/types.h"

namespace trellis::gossip {

// Result of ReplicatedLog::entries_after.
struct LogRead {
  std::vector<LogEntry> entries;  // ascending seq, contiguous from after + 1
  bool compacted = false;         // `after` is below the compaction floor: use a snapshot
};

// The compacted log: installing `entries` in order into an empty log reproduces the state at
// `vv`.
struct LogSnapshot {
  VersionVector vv;
  std::vector<LogEntry> entries;
};

// Read access to the local replicated log. Called only from the core's thread, during the
// core's calls; implementations must be safe to call there (store::Store reads are safe from
// any thread).
class ReplicatedLog {
 public:
  virtual ~ReplicatedLog() = default;
  // origin -> highest seq applied (contiguous from 1).
  virtual VersionVector version_vector() const = 0;
  // Entries of `origin` with seq > after, ascending, stopping before the total encoded size
  // would pass max_bytes (but at least one entry when any exists).
  virtual LogRead entries_after(NodeId origin, uint64_t after, size_t max_bytes) const = 0;
  // The compacted log for a peer that is below a compaction floor.
  virtual LogSnapshot snapshot() const = 0;
  // Whether this log could install a snapshot now (the store accepts one only while empty).
  virtual bool can_install_snapshot() const = 0;
};

// An in-memory log: per-origin vectors, no compaction unless compact() is called. Applying
// ignores duplicates and holds entries after a gap until the gap fills. Used by the simulator
// and tests. Not thread-safe.
class MemoryLog : public ReplicatedLog {
 public:
  VersionVector version_vector() const override;
  LogRead entries_after(NodeId origin, uint64_t after, size_t max_bytes) const override;
  LogSnapshot snapshot() const override;
  bool can_install_snapshot() const override { return true; }

  // Appends a local event of `origin` (seq = next) and returns it.
  LogEntry append(NodeId origin, std::string encoded);
  // Applies remote entries; returns the entries actually added (in order), including held
  // ones that became contiguous.
  std::vector<LogEntry> apply(const std::vector<LogEntry>& entries);
  // Installs a snapshot: entries are applied; origins end at least at vv.
  std::vector<LogEntry> install(const LogSnapshot& snapshot);
  // Drops entries of every origin at or below floor[origin]; entries_after below the floor
  // then reports `compacted`. The snapshot still carries every retained entry plus the floor.
  void compact(const VersionVector& floor);

  uint64_t head(NodeId origin) const;
  size_t total_entries() const { return total_; }
  size_t held_entries() const;

 private:
  struct OriginLog {
    uint64_t floor = 0;                 // entries <= floor were compacted away
    std::vector<LogEntry> entries;      // seq floor+1 .. head
    std::map<uint64_t, LogEntry> held;  // beyond a gap
    uint64_t head() const { return floor + entries.size(); }
  };
  std::map<NodeId, OriginLog> logs_;
  size_t total_ = 0;
};

}  // namespace trellis::gossip
