#include "node/cluster/refused_peers.h"

#include <spdlog/spdlog.h>

#include "common/log.h"

namespace trellis::node {

void RefusedPeersReport::check(const gossip::TransportStats& now, std::chrono::seconds period) {
  const uint64_t denied = now.auth_denied - last_.auth_denied;
  const uint64_t handshakes = now.handshake_failures - last_.handshake_failures;
  const uint64_t malformed = (now.dropped_malformed - last_.dropped_malformed) +
                             (now.dropped_oversized - last_.dropped_oversized) +
                             (now.dropped_bad_version - last_.dropped_bad_version);
  if (denied > 0 || handshakes > 0) {
    log("cluster").warn(
        "refused gossip peers: {} connections with an unknown cluster key (auth denied), {} "
        "failed handshakes (wrong key or not a gossip peer) in the last {} s; totals {} and {}",
        denied, handshakes, period.count(), now.auth_denied, now.handshake_failures);
  }
  if (malformed > 0) {
    log("cluster").warn(
        "dropped {} gossip frames (malformed, oversized or another protocol version) in the "
        "last {} s",
        malformed, period.count());
  }
  last_ = now;
}

}  // namespace trellis::node
