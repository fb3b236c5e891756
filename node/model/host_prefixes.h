#pragma once
// What the host's own network namespace already uses: the prefixes of the addresses on its
// links and its routes, each with a description for messages. A network whose subnet overlaps
// one would shadow it (a second bridge holding docker0's 172.17.0.1 cuts both off), so default
// pools skip them and an explicit subnet that overlaps one is refused, naming it (libnetwork
// checks the host's routes the same way). Read from the data plane (Reconciler::host_prefixes)
// when a network is planned.

#include <string>
#include <vector>

#include "ipam/ip.h"

namespace trellis::node {

struct HostPrefix {
  ipam::Prefix prefix;
  std::string source;  // "address 172.17.0.1/16 on docker0", "route 10.8.0.0/16 on tun0"
};

}  // namespace trellis::node
