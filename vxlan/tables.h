#pragma once
// The forwarding (FDB) and IPv4 neighbour tables of a VXLAN device, over libnl-3, and the
// diff-based synchronisation of both with a set of remote peers.
//
// For each remote endpoint the overlay installs a static FDB entry (MAC -> remote VTEP) on its
// VXLAN device and a permanent neighbour entry (IP -> MAC) on the same device; with proxy ARP
// on, the device answers ARP from that table, so nothing is flooded to the underlay.
//
// Devices are named; every function resolves the name in the socket's namespace first
// (NotFoundError naming device and namespace when absent). FDB functions and sync_peers
// require a VXLAN device (InvalidArgumentError otherwise); neighbour functions take any link.
// Errors name the operation, the entry, the device, the namespace and the kernel's reason. Threads:
// one thread at a time per socket.

#include <string>
#include <vector>

#include "osl/netlink.h"
#include "vxlan/sync_plan.h"
#include "vxlan/types.h"

namespace trellis::vxlan {

// --- FDB (family AF_BRIDGE, the device's own NTF_SELF entries) -----------------------------

// Makes `mac` forward to `vtep`, permanently. Creates the entry or replaces an existing one
// for `mac` (whatever its VTEP or state): idempotent. `mac` must be unicast and non-zero
// (use add_flood_vtep for the all-zeros entry), `vtep` non-zero: InvalidArgumentError.
void add_fdb_entry(osl::NetlinkSocket& sock, const std::string& device, const MacAddress& mac,
                   Ipv4Address vtep);

// Removes the entry `mac -> vtep`. Returns false when there is no such entry. Reads the
// device's table first (O(entries)): the kernel acknowledges a removal naming a remote the
// entry does not have without removing anything, so its answer alone cannot tell.
bool remove_fdb_entry(osl::NetlinkSocket& sock, const std::string& device, const MacAddress& mac,
                      Ipv4Address vtep);

// Adds `vtep` to the device's head-end replication list (an all-zeros MAC entry; the kernel
// keeps one such entry per VTEP and copies broadcast/unknown-unicast frames to each).
// Idempotent.
void add_flood_vtep(osl::NetlinkSocket& sock, const std::string& device, Ipv4Address vtep);

// Removes `vtep` from the replication list. Returns false when it was not in it.
bool remove_flood_vtep(osl::NetlinkSocket& sock, const std::string& device, Ipv4Address vtep);

// The device's own FDB rows with an IPv4 destination (one row per remote of an entry),
// including learned ones (permanent == false), sorted. Rows the bridge holds for the device
// as a port (NTF_MASTER) are not the device's and are not listed.
std::vector<FdbEntry> list_fdb(osl::NetlinkSocket& sock, const std::string& device);

// --- IPv4 neighbours (family AF_INET) --------------------------------------------------------

// Makes `ip` resolve to `mac` on `device`, permanently; creates or replaces: idempotent.
// `ip` must be non-zero and `mac` unicast, non-zero: InvalidArgumentError.
void add_neighbor_entry(osl::NetlinkSocket& sock, const std::string& device, Ipv4Address ip,
                        const MacAddress& mac);

// Removes the neighbour entry for `ip` on `device`. Returns false when there is none.
bool remove_neighbor_entry(osl::NetlinkSocket& sock, const std::string& device, Ipv4Address ip);

// The device's IPv4 neighbour entries, dynamic ones included (permanent == false), sorted.
std::vector<NeighborEntry> list_neighbor_entries(osl::NetlinkSocket& sock,
                                                 const std::string& device);

// --- Synchronisation -------------------------------------------------------------------------

// Makes the FDB and neighbour tables of the VXLAN device `device` match `desired` in one call:
// reads both tables, computes plan_sync (see vxlan/sync_plan.h for which rows are ours), and
// applies it — additions and updates before removals, FDB entries before the neighbour entries
// that point at them — and returns the plan it applied. Idempotent: a second call with the
// same `desired` changes nothing and returns an empty plan.
// Not atomic: if a request fails midway, the error names the entry and the tables hold a mix
// of old and new rows; calling again converges. An entry vanishing under us during removal is
// not an error.
SyncPlan sync_peers(osl::NetlinkSocket& sock, const std::string& device,
                    const DesiredPeers& desired);

}  // namespace trellis::vxlan
