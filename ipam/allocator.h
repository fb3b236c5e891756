#pragma once
// The address allocator of one node: address spaces ("local", "global"), pools inside them
// (explicit or picked from the predefined lists), optional sub-pools, and addresses inside
// pools, each pool tracked by a bitseq::Sequence. This is libnetwork's IPAM model in our words.
//
// Contract
//  - Spaces. Two spaces exist, kLocalSpace and kGlobalSpace, each with its own predefined
//    lists (IPv4 and IPv6) and its own set of allocated pools. Pools overlap-check only within
//    their space. Any other space name is InvalidPoolRequestError.
//  - Pools. request_pool with a pool allocates exactly that prefix; without one it takes the
//    first predefined subnet (lists in order) that overlaps no allocated pool of the space
//    and none of options.avoid. A pool overlapping an allocated pool without being equal to
//    it is PoolOverlapError. Requesting an allocated pool again (same pool and sub-pool) takes
//    another reference and returns the same id; a sub-pool of an allocated pool shares the
//    pool's addresses. Pools are refcounted: release_pool drops one reference, and a pool's
//    addresses are forgotten when the last reference to it or to any of its sub-pools goes.
//  - Pool ids are "<space>/<pool>" or "<space>/<pool>/<sub-pool>", e.g.
//    "local/172.17.0.0/16/172.17.8.0/21"; they are stable and can be stored.
//  - Addresses. The usable addresses of a pool are Prefix::first_host_offset() ..
//    last_host_offset(): IPv4 never hands out the network or broadcast address (except
//    /31 per RFC 3021 and /32, which have none), IPv6 never the subnet-router anycast
//    address (offset 0; except /127 per RFC 6164 and /128). An IPv6 pool of /64 or shorter
//    is tracked over its first 2^64-1 addresses (the bit sequence limit): the address at
//    offset 2^64-1 and any beyond are out of range.
//  - Roles. A host address comes from the sub-pool if the pool id has one, else from the
//    pool. A gateway or reserved ("aux") address may lie anywhere in the pool, inside the
//    sub-pool or not. Without a preferred address a gateway is the lowest free usable
//    address of the pool (normally network + 1); a reserved address needs a preferred one.
//    Every role occupies the address until release_address.
//  - Serial mode hands out the next free address after the last one handed out serially in
//    the same pool (wrapping around), so released addresses are not reused at once.
//
// Errors: NoAvailablePoolError and NoAvailableAddressError (unavailable), PoolOverlapError and
// AddressInUseError (conflict), InvalidCidrError, AddressOutOfRangeError and
// InvalidPoolRequestError (invalid argument), UnknownPoolError (not found). A failed call
// changes nothing.
//
// Thread-safety: none. One thread owns an Allocator (the node's state thread); const methods
// may run concurrently with each other only.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bitseq/sequence.h"
#include "common/error.h"
#include "ipam/default_pools.h"
#include "ipam/ip.h"

namespace trellis::ipam {

inline constexpr std::string_view kLocalSpace = "local";
inline constexpr std::string_view kGlobalSpace = "global";

// Every predefined pool of the requested family overlaps an allocated pool (or is avoided).
class NoAvailablePoolError : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};
// The requested pool overlaps an allocated pool of the same space.
class PoolOverlapError : public ConflictError {
 public:
  using ConflictError::ConflictError;
};
// The requested address is already handed out (or reserved).
class AddressInUseError : public ConflictError {
 public:
  using ConflictError::ConflictError;
};
// Every usable address of the pool (or sub-pool) is handed out.
class NoAvailableAddressError : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};
// No pool with this id is allocated.
class UnknownPoolError : public NotFoundError {
 public:
  using NotFoundError::NotFoundError;
};
// A pool request that makes no sense: a space other than "local" or "global", a sub-pool
// without a pool, a pool of the other family than requested.
class InvalidPoolRequestError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};

struct AllocatorConfig {
  std::vector<PoolSpec> local = default_local_pools();
  std::vector<PoolSpec> global = default_global_pools();
};

struct PoolOptions {
  // Prefixes the predefined search must also skip (for example networks already routed on
  // the host). Not consulted for an explicit pool.
  std::vector<Prefix> avoid;
};

struct PoolInfo {
  std::string id;
  std::string space;
  Prefix pool;
  std::optional<Prefix> sub_pool;
  bool predefined = false;  // picked from the predefined lists
  uint64_t references = 0;  // references to this id
  friend bool operator==(const PoolInfo&, const PoolInfo&) = default;
};

enum class AddressRole {
  kHost,      // an endpoint's address: from the sub-pool if any
  kGateway,   // anywhere in the pool; default: lowest free usable address
  kReserved,  // an aux address kept from hosts: anywhere in the pool; preferred required
};

struct AddressOptions {
  AddressRole role = AddressRole::kHost;
  bool serial = false;
};

class Allocator {
 public:
  explicit Allocator(AllocatorConfig config = {});
  // Ids point into the space tables: moving keeps them valid, copying would not.
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;
  Allocator(Allocator&&) = default;
  Allocator& operator=(Allocator&&) = default;

  // `pool` and `sub_pool` are CIDR text or empty. With no pool, `v6` picks the family of the
  // predefined pool; with a pool, `v6` must match its family. See the contract above.
  PoolInfo request_pool(std::string_view space, std::string_view pool = {},
                        std::string_view sub_pool = {}, const PoolOptions& options = {},
                        bool v6 = false);
  // Typed form of the same request.
  PoolInfo request_pool(std::string_view space, const std::optional<Prefix>& pool,
                        const std::optional<Prefix>& sub_pool, const PoolOptions& options = {},
                        bool v6 = false);
  // Drops one reference. UnknownPoolError.
  void release_pool(std::string_view pool_id);

  // UnknownPoolError.
  PoolInfo pool(std::string_view pool_id) const;
  // Every pool id with its references, ordered by id.
  std::vector<PoolInfo> pools() const;

  // Hands out `preferred` or, without it, the first free address (or the next one in serial
  // mode) for the role. UnknownPoolError, AddressOutOfRangeError, AddressInUseError,
  // NoAvailableAddressError, InvalidArgumentError (reserved role without an address).
  IpAddress request_address(std::string_view pool_id,
                            const std::optional<IpAddress>& preferred = std::nullopt,
                            const AddressOptions& options = {});
  // Returns the address to the pool; releasing a free address is fine. UnknownPoolError,
  // AddressOutOfRangeError (outside the pool, or the network/broadcast/anycast address).
  void release_address(std::string_view pool_id, const IpAddress& address);
  // UnknownPoolError. False for addresses outside the pool.
  bool is_allocated(std::string_view pool_id, const IpAddress& address) const;
  // Free usable addresses of the whole pool (its sub-pools share them). UnknownPoolError.
  uint64_t free_count(std::string_view pool_id) const;

  // Approximate heap bytes: the bit sequences' run lists plus the pool tables.
  size_t memory_bytes() const;

 private:
  // One allocated prefix of a space and its address bitmap, shared by its sub-pools.
  struct Pool {
    Prefix prefix;
    bool predefined;
    uint64_t users;         // references to the pool id plus to its sub-pool ids
    bitseq::Sequence bits;  // bit i set when the address at offset i is taken or reserved
  };
  struct Space {
    std::vector<PoolSpec> v4_defaults;
    std::vector<PoolSpec> v6_defaults;
    std::map<IpAddress, Pool> pools;  // by network address; pools of a space never overlap
  };
  struct IdEntry {
    Space* space;
    Pool* pool;
    std::string space_name;
    std::optional<Prefix> sub_pool;
    uint64_t references;
    uint64_t host_first;  // offsets hosts are drawn from (the sub-pool's, if any)
    uint64_t host_last;
  };

  Space& space(std::string_view name, const char* operation);
  std::optional<Prefix> next_predefined(const Space& space, bool v6,
                                        const std::vector<Prefix>& avoid) const;
  const Pool* overlapping(const Space& space, const Prefix& prefix) const;
  IdEntry& entry(std::string_view pool_id, const char* operation);
  const IdEntry& entry(std::string_view pool_id, const char* operation) const;
  PoolInfo info(const std::string& id, const IdEntry& entry) const;

  std::map<std::string, Space, std::less<>> spaces_;
  std::map<std::string, IdEntry, std::less<>> ids_;
};

}  // namespace trellis::ipam
