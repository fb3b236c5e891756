#pragma once
// What a node writes about itself once it may write: its announcement (name and address, so
// peers can show it and reach its VTEP), and, on the node that founds the cluster, the
// cluster-wide spaces (VNIs, the overlay subnet pool), wholly owned by the founder until join
// donations spread them (docs/overlay.md sec. 3). Both are idempotent, so a restart writes nothing
// new.
//
// Threads: the store's writer thread. Errors: what the store or the writer throws.

#include <optional>
#include <string>

#include "node/model/local_log.h"
#include "store/store.h"

namespace trellis::node {

// The NodeAnnounced event for `name` and `address`, or nullopt when the store already records
// exactly that for this node.
std::optional<store::NodeAnnounced> node_announcement(const store::Store& store,
                                                      const std::string& name,
                                                      const std::string& address);

// Authors the SpaceInitialised events of the cluster spaces that do not exist yet (none once
// they do).
void found_cluster_spaces(const store::Store& store, LocalEventWriter& writer);

}  // namespace trellis::node
