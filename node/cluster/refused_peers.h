#pragma once
// The transport refuses peers with a wrong cluster key, garbage and foreign protocol versions,
// and only counts them (gossip::TransportStats); an operator would never learn of a
// misconfigured node. This compares the counters with the previous reading and logs a warning
// naming what was refused since then, at most once per check.
//
// Threads: one caller at a time (the cluster policy's periodic tick). Never throws.

#include <chrono>

#include "gossip/transport.h"

namespace trellis::node {

class RefusedPeersReport {
 public:
  // Logs what `now` counts beyond the previous reading; `period` is the time since then (for
  // the message). The first reading is compared with zero.
  void check(const gossip::TransportStats& now, std::chrono::seconds period);

 private:
  gossip::TransportStats last_{};
};

}  // namespace trellis::node
