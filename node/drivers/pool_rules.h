#pragma once
// The IPAM rules every driver with addresses shares: a network's pool (subnet checked against
// the networks it could meet, or allocated from the local default pools; ip range, gateway and
// aux addresses checked) and the pick of an address in a network this node owns whole (a local
// network's space belongs to its creator). Drivers with their own space rules (the overlay)
// plan first and leave the pool complete for these checks.
//
// Pure over the state given; throws InvalidArgumentError / ConflictError naming `what`,
// UnavailableError when nothing is free.

#include <string>
#include <string_view>
#include <vector>

#include "ipam/ip.h"
#include "node/model/host_prefixes.h"
#include "store/store.h"

namespace trellis::node {

class StateCache;

// `text` as an IPv4 address; `what` names it in the error (InvalidArgumentError for text that
// is no address, or an IPv6 one: drivers do not take IPv6 yet).
ipam::IpAddress parse_v4(std::string_view what, std::string_view text);

// "name (1a2b3c4d5e6f)", how messages name a network.
std::string describe_network(const store::NetworkInfo& network);

// ConflictError naming the holder when `subnet` overlaps a subnet of `self`'s local networks,
// of any cluster network, a prefix the host uses (`host`), or a reserved range (0.0.0.0/8,
// 127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4, 240.0.0.0/4).
void check_subnet_free(const StateCache& state, store::NodeId self,
                       const std::vector<HostPrefix>& host, const ipam::Prefix& subnet,
                       const std::string& what);

// Completes `pool` and records it in `spec` (ipam.pools and ipam_result.pools): the subnet must
// be free (check_subnet_free); without one, a free one is allocated from the local default
// pools, skipping the same prefixes.
void complete_pool(const StateCache& state, store::NodeId self, const std::vector<HostPrefix>& host,
                   store::NetworkCreated& spec, store::IpamPoolConfig pool,
                   const std::string& what);

// An address "a.b.c.d/len" for a new endpoint of `network`, whose address space `self` owns:
// `preferred` if it is a free host address of the subnet, else the first free one (inside the
// pool's ip range, if it has one); the gateway and aux addresses are never handed out.
std::string pick_owned_address(const StateCache& state, store::NodeId self,
                               const store::NetworkInfo& network, const std::string& preferred);

}  // namespace trellis::node
