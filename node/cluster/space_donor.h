#pragma once
// The owner's side of a space request (docs/overlay.md sec. 3): a peer that owns nothing free of a
// space asks this node for some. The decision is overlay::decide_space_request's; this authors the
// donation event (if any) through the local write path and only then returns the answer to
// send, so the requester never hears "donated" about an event that is not durable here (it
// waits for that event to arrive by gossip).
//
// Threads: the store's writer thread. Never throws: every failure becomes an answer (a
// malformed request is refused; a failure here answers "nothing free" with the cause).

#include <string>

#include "node/cluster/service.h"
#include "node/model/local_log.h"
#include "store/store.h"

namespace trellis::node {

class SpaceDonor {
 public:
  // Both must outlive this. `store` is read (its identity is the donor); the donation is
  // authored through `writer`.
  SpaceDonor(const store::Store& store, LocalEventWriter& writer)
      : store_(store), writer_(writer) {}

  // Decides `request`, authors the donation first, and returns the encoded answer
  // (overlay::encode_space_answer) for ClusterService::answer_space.
  std::string answer(const SpaceRequest& request);

 private:
  const store::Store& store_;
  LocalEventWriter& writer_;
};

}  // namespace trellis::node
