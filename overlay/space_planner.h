#pragma once
// Cluster-wide allocation decisions over owned ranges (docs/overlay.md sec. 3), for the overlay
// driver: which VNI and which /24 of the global pool a new overlay network takes, which address an
// endpoint gets, whom to ask for a donation when this node owns nothing free, what to donate
// to a joining node or to a node that asks, and the typed errors when nothing is reachable.
//
// Every function is pure over a store read (or the records it returns) plus the membership
// view: it decides, the caller authors the event (NetworkCreated, EndpointCreated,
// RangeDonated) with Store::append_local, which re-checks ownership. Because a node only ever
// picks from ranges it owns, two nodes deciding concurrently — even across a partition — can
// never pick the same VNI, subnet index or address. Safe to call from any thread.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "ipam/ip.h"
#include "ipam/owned_ranges.h"
#include "overlay/peer_table.h"
#include "store/store.h"

namespace trellis::overlay {

// This node owns nothing free in a space, no live owner has anything free, but owners that are
// not alive do. Message: "no address space reachable: N addresses owned by unreachable nodes"
// (prefixed by what was being allocated).
class NoSpaceReachableError : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};

// Nothing in the space is free, on any node.
class SpaceExhaustedError : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};

// The global pool of overlay subnets: 10.0.0.0/8 as /24s, index i = 10.(i / 256).(i % 256).0/24
// (the "subnet-pool" space, store::kSubnetPoolFirst..kSubnetPoolLast).
ipam::Prefix pool_subnet(uint64_t index);
// The gateway of a pool subnet: its first host address (10.x.y.1).
ipam::IpAddress pool_gateway(uint64_t index);

// What a node that owns nothing free in a space can do.
struct DonorChoice {
  // The live owner (other than self) with the most free integers (ties: the lowest id);
  // nullopt when no live owner has any.
  std::optional<store::NodeId> donor;
  uint64_t donor_free = 0;
  // Free integers held by owners that are not alive (their ranges are unreachable until they
  // come back, or until an operator removes them).
  uint64_t unreachable_free = 0;
};

// The outcome of trying to take one integer of a space for this node.
struct SpacePick {
  std::optional<uint64_t> value;  // what to claim (owned by self, free, not otherwise in use)
  DonorChoice shortage;           // when !value: whom to ask
};

// Whom to ask for free space of `space` on behalf of `members.self`.
DonorChoice choose_donor(const ipam::OwnedSpace& space, const Membership& members);
// The same from per-owner counts of usable free integers (see usable_free_by_owner).
DonorChoice choose_donor(const std::map<store::NodeId, uint64_t>& free_by_owner,
                         const Membership& members);

// What a space holds, for messages.
enum class SpaceKind { kAddress, kVni, kSubnet };

// For a DonorChoice without donor (asking is pointless): throws NoSpaceReachableError
// ("<what>: no address space reachable: N addresses owned by unreachable nodes"; "VNI" /
// "VNIs" and "subnet" / "subnets" for the other kinds) when unreachable_free > 0, else
// SpaceExhaustedError ("<what>: no free addresses left in the cluster").
[[noreturn]] void throw_no_space(const DonorChoice& choice, std::string_view what,
                                 SpaceKind kind = SpaceKind::kAddress);

// ---- network creation ----------------------------------------------------------------------

// The lowest VNI of the "vni" space that self owns, is free, and no existing network uses.
// NotFoundError when the space was never initialised (no cluster founded yet).
SpacePick pick_vni(const store::ReadView& view, const Membership& members);
SpacePick pick_vni(const ipam::OwnedSpace& vni_space,
                   const std::vector<store::NetworkInfo>& networks, const Membership& members);

// The lowest index of the "subnet-pool" space that self owns, is free, and whose /24 overlaps
// no subnet of a cluster-scope network nor of one of self's local networks (so a user-chosen
// --subnet inside 10.0.0.0/8 is avoided too), nor any of `avoid` (prefixes this host uses).
// NotFoundError when the space does not exist.
SpacePick pick_pool_subnet(const store::ReadView& view, const Membership& members);
SpacePick pick_pool_subnet(const ipam::OwnedSpace& pool,
                           const std::vector<store::NetworkInfo>& networks,
                           const Membership& members, const std::vector<ipam::Prefix>& avoid = {});

// ---- endpoint addresses --------------------------------------------------------------------

// A free address of pool `pool_index` of `network` in the space self owns: within the pool's
// ip_range if one was configured, never an aux address nor the gateway (which the reducer
// already allocated). `value` is the offset in the subnet (Prefix::offset_of); the shortage
// counts usable addresses only (usable_free_by_owner), so a donor is chosen only if it can
// give something this pool can use.
// NotFoundError if the network has no such pool or its space is missing.
SpacePick pick_address(const store::NetworkInfo& network, size_t pool_index,
                       const ipam::OwnedSpace& space, const Membership& members);
SpacePick pick_address(const store::ReadView& view, const std::string& network_id,
                       size_t pool_index, const Membership& members);

// Per owner, how many addresses of pool `pool_index` it could hand out: free, inside the
// pool's ip_range if one is set, not an aux address. Without ip_range and aux addresses this is
// OwnedSpace::free_by_owner(); otherwise it scans the range (O(size of the ip range)).
std::map<store::NodeId, uint64_t> usable_free_by_owner(const store::NetworkInfo& network,
                                                       size_t pool_index,
                                                       const ipam::OwnedSpace& space);

// How a static address (--ip) can be granted to self.
struct StaticAddressPlan {
  uint64_t offset = 0;      // in the subnet (Prefix::offset_of)
  store::NodeId owner = 0;  // self: claim it now; another (live) node: ask it to donate it
  bool mine = false;        // owner == self
};
// InvalidArgumentError: not a host address of the pool (or the network / pool is unknown);
// ConflictError: allocated already (in use, or the gateway); NoSpaceReachableError: its owner
// is not alive.
StaticAddressPlan plan_static_address(const store::NetworkInfo& network, size_t pool_index,
                                      const ipam::OwnedSpace& space, const ipam::IpAddress& address,
                                      const Membership& members);

// ---- donations (the donor's side) ----------------------------------------------------------

// How many integers to ask for when an endpoint needs an address and self has none free.
inline constexpr uint64_t kAddressRequestSize = 64;
// How many VNIs / pool indices to ask for when self needs one and has none free.
inline constexpr uint64_t kClusterSpaceRequestSize = 256;

// What self (the owner) gives `requester` who asked for up to `wanted` integers of the space
// `space_key`: the upper half of self's largest free run, at most `wanted` (ipam's
// plan_donation). Nullopt when self has nothing free, wanted is 0, or requester is self.
std::optional<store::RangeDonated> plan_requested_donation(const ipam::OwnedSpace& space,
                                                           const std::string& space_key,
                                                           store::NodeId self,
                                                           store::NodeId requester,
                                                           uint64_t wanted);
// The same for the address space of pool `pool_index` of `network` (space key
// network_space_key(network id, pool_index)): only addresses the requester can use — inside the
// pool's ip_range, never an aux address — so a donation never hands over addresses that
// pick_address would skip. The donor recomputes this from its own copy of the network, so a
// request needs to name only the space and the count. O(size of the ip range) when the pool
// has an ip_range or aux addresses, else as plan_requested_donation.
std::optional<store::RangeDonated> plan_address_donation(const store::NetworkInfo& network,
                                                         size_t pool_index,
                                                         const ipam::OwnedSpace& space,
                                                         store::NodeId self,
                                                         store::NodeId requester, uint64_t wanted);
// Exactly `offset` (a static address): nullopt unless self owns it and it is free.
std::optional<store::RangeDonated> plan_specific_donation(const ipam::OwnedSpace& space,
                                                          const std::string& space_key,
                                                          store::NodeId self,
                                                          store::NodeId requester, uint64_t offset);

// When `joiner` joins (appears alive and owns nothing of a cluster space), the live member
// with the most free integers of that space (ties: lowest id) donates it a share:
// free total of the live owners / (number of live owners + 1), at most half of the donor's
// largest free run. Returns the donations self must author (one per cluster space — "vni",
// "subnet-pool" — where self is that member), empty otherwise. Deterministic; two members
// with diverging views may both donate, which only makes the joiner's share larger.
std::vector<store::RangeDonated> plan_join_donations(const store::ReadView& view,
                                                     const Membership& members,
                                                     store::NodeId joiner);

// The SpaceInitialised events the founder of a cluster authors (the cluster spaces that do
// not exist yet), in a fixed order: "vni", then "subnet-pool".
std::vector<store::SpaceInitialised> missing_cluster_spaces(const store::ReadView& view);

// ---- summaries (trellis node ls) -----------------------------------------------------------

struct SpaceShare {
  uint64_t owned = 0;
  uint64_t free = 0;
};
// Per space key, per owner: how much it owns and how much of that is free.
std::map<std::string, std::map<store::NodeId, SpaceShare>> space_shares(
    const store::ReadView& view);

}  // namespace trellis::overlay
