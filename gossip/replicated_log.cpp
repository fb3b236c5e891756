#include "gossip/replicated_log.h"

#include "common/error.h"

namespace trellis::gossip {

const char* to_string(MemberState state) {
  switch (state) {
    case MemberState::kAlive:
      return "alive";
    case MemberState::kSuspect:
      return "suspect";
    case MemberState::kDead:
      return "dead";
    case MemberState::kLeft:
      return "left";
  }
  return "unknown";
}

VersionVector MemoryLog::version_vector() const {
  VersionVector vv;
  for (const auto& [origin, log] : logs_) {
    if (log.head() > 0) vv[origin] = log.head();
  }
  return vv;
}

LogRead MemoryLog::entries_after(NodeId origin, uint64_t after, size_t max_bytes) const {
  LogRead read;
  auto it = logs_.find(origin);
  if (it == logs_.end()) return read;
  const OriginLog& log = it->second;
  if (after < log.floor) {
    read.compacted = true;
    return read;
  }
  size_t bytes = 0;
  for (uint64_t seq = after + 1; seq <= log.head(); ++seq) {
    const LogEntry& e = log.entries[seq - log.floor - 1];
    if (!read.entries.empty() && bytes + e.encoded.size() > max_bytes) break;
    bytes += e.encoded.size();
    read.entries.push_back(e);
  }
  return read;
}

LogSnapshot MemoryLog::snapshot() const {
  LogSnapshot snap;
  snap.vv = version_vector();
  for (const auto& [origin, log] : logs_) {
    for (const LogEntry& e : log.entries) snap.entries.push_back(e);
  }
  return snap;
}

LogEntry MemoryLog::append(NodeId origin, std::string encoded) {
  OriginLog& log = logs_[origin];
  if (!log.held.empty()) {
    throw InternalError("memory log append: origin " + std::to_string(origin) +
                        " has held remote entries; a node appends only to its own log");
  }
  LogEntry e{origin, log.head() + 1, std::move(encoded)};
  log.entries.push_back(e);
  ++total_;
  return e;
}

std::vector<LogEntry> MemoryLog::apply(const std::vector<LogEntry>& entries) {
  std::vector<LogEntry> added;
  for (const LogEntry& e : entries) {
    OriginLog& log = logs_[e.origin];
    if (e.seq <= log.head()) continue;
    if (e.seq > log.head() + 1) {
      log.held.emplace(e.seq, e);
      continue;
    }
    log.entries.push_back(e);
    added.push_back(e);
    ++total_;
    for (auto h = log.held.begin(); h != log.held.end() && h->first <= log.head() + 1;) {
      if (h->first == log.head() + 1) {
        log.entries.push_back(h->second);
        added.push_back(h->second);
        ++total_;
      }
      h = log.held.erase(h);
    }
  }
  return added;
}

std::vector<LogEntry> MemoryLog::install(const LogSnapshot& snapshot) {
  for (const auto& [origin, seq] : snapshot.vv) {
    OriginLog& log = logs_[origin];
    uint64_t first = seq;
    for (const LogEntry& e : snapshot.entries) {
      if (e.origin == origin && e.seq <= first) first = e.seq - 1;
    }
    // Entries below the snapshot's oldest retained entry were compacted at the source.
    if (log.head() < first) {
      total_ -= log.entries.size();
      log.entries.clear();
      log.floor = first;
    }
  }
  return apply(snapshot.entries);
}

void MemoryLog::compact(const VersionVector& floor) {
  for (const auto& [origin, seq] : floor) {
    auto it = logs_.find(origin);
    if (it == logs_.end()) continue;
    OriginLog& log = it->second;
    uint64_t upto = std::min(seq, log.head());
    if (upto <= log.floor) continue;
    size_t drop = upto - log.floor;
    log.entries.erase(log.entries.begin(), log.entries.begin() + static_cast<ptrdiff_t>(drop));
    log.floor = upto;
    total_ -= drop;
  }
}

uint64_t MemoryLog::head(NodeId origin) const {
  auto it = logs_.find(origin);
  return it == logs_.end() ? 0 : it->second.head();
}

size_t MemoryLog::held_entries() const {
  size_t n = 0;
  for (const auto& [origin, log] : logs_) n += log.held.size();
  return n;
}

}  // namespace trellis::gossip
