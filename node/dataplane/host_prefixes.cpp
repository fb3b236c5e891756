#include "node/dataplane/host_prefixes.h"

#include <optional>
#include <set>

#include "common/error.h"
#include "node/dataplane/names.h"

namespace trellis::node {

std::vector<HostPrefix> host_prefixes_of(
    const std::vector<LinkInfo>& links,
    const std::vector<std::pair<std::string, std::string>>& routes, store::NodeId self) {
  // This node's own links: a trl* name and an alias naming this node. Another trellisd's
  // bridges in the same namespace count like any other interface of the host.
  std::set<std::string> ours;
  for (const LinkInfo& l : links) {
    if (l.name.rfind(kLinkPrefix, 0) != 0) continue;
    const std::optional<ObjectAlias> alias = parse_object_alias(l.alias);
    if (alias && alias->node == self) ours.insert(l.name);
  }
  std::vector<HostPrefix> out;
  std::set<ipam::Prefix> seen;
  for (const LinkInfo& l : links) {
    if (ours.count(l.name)) continue;
    for (const std::string& cidr : l.addresses) {
      try {
        const ipam::InterfaceAddress a = ipam::InterfaceAddress::parse(cidr);
        if (!a.address.is_v4()) continue;
        const ipam::Prefix p = a.prefix;
        if (seen.insert(p).second) out.push_back({p, "address " + cidr + " on " + l.name});
      } catch (const Error&) {
        // A listing we cannot read names nothing to avoid.
      }
    }
  }
  for (const auto& [destination, link] : routes) {
    if (ours.count(link)) continue;
    try {
      const ipam::Prefix p = ipam::Prefix::parse(destination);
      if (!p.is_v4() || p.length() == 0) continue;
      if (seen.insert(p).second)
        out.push_back({p, "route " + p.to_string() + (link.empty() ? "" : " on " + link)});
    } catch (const Error&) {
    }
  }
  return out;
}

}  // namespace trellis::node
