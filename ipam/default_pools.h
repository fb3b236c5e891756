#pragma once
// Predefined address pools: the lists a network's subnet is picked from when the user gives
// none, written like Docker's `default-address-pools` (a base prefix cut into subnets of a
// given size). Values; thread-compatible.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ipam/ip.h"

namespace trellis::ipam {

// `base` cut into consecutive subnets of prefix length `size` (base.length() <= size <= the
// family width): {172.18.0.0/15, 16} stands for 172.18.0.0/16 and 172.19.0.0/16.
struct PoolSpec {
  Prefix base;
  unsigned size = 0;

  // Throws InvalidArgumentError when size is shorter than the base or beyond the family width.
  PoolSpec(Prefix base, unsigned size);

  // Number of subnets, saturating at UINT64_MAX (only for IPv6 with size - base > 63).
  uint64_t count() const;
  // The index-th subnet. AddressOutOfRangeError when index >= count().
  Prefix at(uint64_t index) const;
  // The index of `subnet` if it is one of this spec's subnets (same size, inside the base,
  // index below 2^64).
  std::optional<uint64_t> index_of(const Prefix& subnet) const;

  // "base=172.18.0.0/15,size=16", the form parse_pool_spec reads.
  std::string to_string() const;

  friend bool operator==(const PoolSpec&, const PoolSpec&) = default;
};

// Docker's local defaults: 172.17.0.0/16 ... 172.31.0.0/16 as /16s, then 192.168.0.0/16 as
// /20s (15 + 16 = 31 pools), in that order.
std::vector<PoolSpec> default_local_pools();
// Docker Swarm's global default: 10.0.0.0/8 as /24s (65,536 pools).
std::vector<PoolSpec> default_global_pools();

// Parses dockerd's `--default-address-pool` flag form "base=10.10.0.0/16,size=24" (keys in
// any order, both required, no others). Throws InvalidArgumentError (InvalidCidrError for
// the base).
PoolSpec parse_pool_spec(std::string_view text);

// Parses the JSON of daemon.json's "default-address-pools": either the array
// [{"base": "10.10.0.0/16", "size": 24}, ...] or an object holding it under
// "default-address-pools". An empty array is an error (use the defaults instead).
// Throws InvalidArgumentError (InvalidCidrError for a base).
std::vector<PoolSpec> parse_pool_specs_json(std::string_view json);

}  // namespace trellis::ipam
