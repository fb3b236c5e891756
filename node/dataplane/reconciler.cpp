#include "node/dataplane/reconciler.h"

namespace trellis::node {

std::string ObjectRef::to_string() const {
  switch (kind) {
    case Kind::kNetwork:
      return "network/" + id;
    case Kind::kEndpoint:
      return "endpoint/" + id;
    case Kind::kSandbox:
      return "sandbox/" + id;
    case Kind::kNftables:
      return "nftables";
    case Kind::kLink:
      return "link/" + id;
    case Kind::kDriver:
      return "driver/" + id;
    case Kind::kHost:
      return "host";
  }
  return "?";
}

void Dirty::merge(const store::ChangeSet& changes) {
  if (changes.rebuilt) all = true;
  if (!changes.nodes.empty()) overlays = true;
  networks.insert(changes.networks.begin(), changes.networks.end());
  endpoints.insert(changes.endpoints.begin(), changes.endpoints.end());
  sandboxes.insert(changes.sandboxes.begin(), changes.sandboxes.end());
}

void Dirty::merge(const Dirty& other) {
  all = all || other.all;
  overlays = overlays || other.overlays;
  networks.insert(other.networks.begin(), other.networks.end());
  endpoints.insert(other.endpoints.begin(), other.endpoints.end());
  sandboxes.insert(other.sandboxes.begin(), other.sandboxes.end());
}

}  // namespace trellis::node
