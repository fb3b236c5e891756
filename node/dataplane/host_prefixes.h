#pragma once
// The host prefixes (node/model/host_prefixes.h) from a listing of the host namespace's links
// and routes. Pure. Trellis's own links (names starting "trl": bridges holding the gateways of
// networks that are in the state already) and what routes through them are left out, and so is
// the default route (it overlaps everything and shadows nothing). Only IPv4.

#include <string>
#include <utility>
#include <vector>

#include "node/dataplane/netops.h"
#include "node/model/host_prefixes.h"

namespace trellis::node {

// `routes`: (destination "a.b.c.d/len", link) as NetOps::routes lists them.
std::vector<HostPrefix> host_prefixes_of(
    const std::vector<LinkInfo>& links,
    const std::vector<std::pair<std::string, std::string>>& routes);

}  // namespace trellis::node
