#pragma once
// The one write path for events this node authors outside a user command (cluster
// bookkeeping: its announcement, founding the cluster's spaces, donations of space): in
// trellisd, Controller::append, which commits the events to the local log, hands them to
// gossip and reconciles what they touched. Declared here, below control/, so that the
// cluster's policy (node/cluster/) can author events without depending on the controller.
//
// Threads: the store's writer thread (the daemon's I/O thread). Errors: whatever the commit
// throws (store errors); nothing was written then.

#include <vector>

#include "store/event.h"

namespace trellis::node {

class LocalEventWriter {
 public:
  virtual ~LocalEventWriter() = default;
  // Appends `bodies` to this node's log in one transaction; an empty list writes nothing.
  virtual void append(std::vector<store::Body> bodies) = 0;
};

}  // namespace trellis::node
