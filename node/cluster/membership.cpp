#include "node/cluster/membership.h"

namespace trellis::node {

MembershipUpdate Membership::apply(const MemberChange& change) {
  const ClusterMember& m = change.member;
  if (m.self) return {};
  // A suspect may still answer a space request: it stays live until declared dead or gone.
  const bool live =
      m.state == gossip::MemberState::kAlive || m.state == gossip::MemberState::kSuspect;
  MembershipUpdate update;
  update.live_set_changed = live ? live_.insert(m.id).second : live_.erase(m.id) > 0;
  update.appeared_alive = m.state == gossip::MemberState::kAlive &&
                          (change.is_new || change.previous != gossip::MemberState::kAlive);
  return update;
}

}  // namespace trellis::node
