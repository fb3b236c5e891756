#pragma once
// The host prefixes (node/model/host_prefixes.h) from a listing of the host namespace's links
// and routes. Pure. This node's own links (a "trl" name and an alias naming `self`: bridges
// holding the gateways of networks that are in the state already) and what routes through them
// are left out, and so is the default route (it overlaps everything and shadows nothing).
// Another trellisd's links count like any other. Only IPv4.

#include <string>
#include <utility>
#include <vector>

#include "node/dataplane/netops.h"
#include "node/model/host_prefixes.h"
#include "store/event.h"

namespace trellis::node {

// `routes`: (destination "a.b.c.d/len", link) as NetOps::routes lists them.
std::vector<HostPrefix> host_prefixes_of(
    const std::vector<LinkInfo>& links,
    const std::vector<std::pair<std::string, std::string>>& routes, store::NodeId self);

}  // namespace trellis::node
