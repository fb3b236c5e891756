#include "node/cluster/founding.h"

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "overlay/space_planner.h"

namespace trellis::node {

std::optional<store::NodeAnnounced> node_announcement(const store::Store& store,
                                                      const std::string& name,
                                                      const std::string& address) {
  const std::optional<store::NodeInfo> self = store.read().node(store.identity().id);
  if (self && self->name == name && self->address == address) return std::nullopt;
  return store::NodeAnnounced{name, address};
}

void found_cluster_spaces(const store::Store& store, LocalEventWriter& writer) {
  std::vector<store::Body> bodies;
  for (store::SpaceInitialised& init : overlay::missing_cluster_spaces(store.read())) {
    log("cluster").info("founding space {} [{}, {}]", init.space, init.first, init.last);
    bodies.push_back(std::move(init));
  }
  writer.append(std::move(bodies));
}

}  // namespace trellis::node
