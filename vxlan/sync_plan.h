#pragma once
// The pure half of peer synchronisation: given the peers a VXLAN device should reach and
// what its FDB and neighbour tables hold now, compute the smallest set of changes. The
// kernel half (vxlan/tables.h, sync_peers) reads the tables, calls plan_sync and applies
// the plan. Keeping the diff pure lets it be tested exhaustively without a kernel.

#include <cstddef>
#include <optional>
#include <vector>

#include "vxlan/types.h"

namespace trellis::vxlan {

// The desired contents of one VXLAN device's tables.
struct DesiredPeers {
  // Remote endpoints. Exact duplicates are allowed (collapsed); two peers with the same MAC
  // but different VTEPs, or the same IP but different MACs, are an InvalidArgumentError.
  std::vector<Peer> peers;
  // Head-end replication targets (all-zeros MAC entries). When unset, the device's existing
  // all-zeros entries are left alone; when set, they are made exactly this set.
  std::optional<std::vector<Ipv4Address>> flood_vteps;
};

// Changes to one table. `updated` holds entries whose key (MAC for the FDB, IP for the
// neighbour table) already existed with another value, written with their new value.
template <typename Entry>
struct TableChanges {
  std::vector<Entry> added;
  std::vector<Entry> updated;
  std::vector<Entry> removed;

  std::size_t size() const { return added.size() + updated.size() + removed.size(); }
  bool empty() const { return size() == 0; }
  bool operator==(const TableChanges&) const = default;
};

// A set of changes to a device's tables; also what sync_peers reports having done.
// FDB entries in `fdb` have non-zero MACs; head-end replication entries are in `flood`
// (never `updated`: an all-zeros entry is keyed by its VTEP).
struct SyncPlan {
  TableChanges<FdbEntry> fdb;
  TableChanges<FdbEntry> flood;
  TableChanges<NeighborEntry> neighbors;

  std::size_t size() const { return fdb.size() + flood.size() + neighbors.size(); }
  bool empty() const { return size() == 0; }
  bool operator==(const SyncPlan&) const = default;
};

// Validates `desired` (see DesiredPeers) and that every peer has a unicast, non-zero MAC and
// non-zero IP and VTEP; throws InvalidArgumentError naming the offending peer.
void validate_desired(const DesiredPeers& desired);

// Computes the changes that make the tables `current_fdb` / `current_neighbors` (rows of one
// device, as listed from the kernel) match `desired`.
//
// Only permanent rows are ours to remove: the kernel's dynamic rows (learned FDB entries,
// ARP-resolved neighbours) are never removed, but a desired key held by a dynamic row is
// "added" (overwritten by a permanent row). Every list in the result is sorted by key so
// plans compare and print deterministically. Validates `desired` first.
SyncPlan plan_sync(const DesiredPeers& desired, const std::vector<FdbEntry>& current_fdb,
                   const std::vector<NeighborEntry>& current_neighbors);

}  // namespace trellis::vxlan
