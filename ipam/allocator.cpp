#include "ipam/allocator.h"

#include <algorithm>

#include "ipam/u128.h"

namespace trellis::ipam {
namespace {

using detail::from_u128;
using detail::to_u128;
using detail::u128;

std::string make_id(std::string_view space, const Prefix& pool,
                    const std::optional<Prefix>& sub_pool) {
  std::string id(space);
  id += '/';
  id += pool.to_string();
  if (sub_pool) {
    id += '/';
    id += sub_pool->to_string();
  }
  return id;
}

std::optional<Prefix> parse_optional(std::string_view cidr) {
  if (cidr.empty()) return std::nullopt;
  return Prefix::parse(cidr);
}

const char* family(bool v6) { return v6 ? "IPv6" : "IPv4"; }

}  // namespace

Allocator::Allocator(AllocatorConfig config) {
  auto split = [](std::vector<PoolSpec> specs) {
    Space space;
    for (PoolSpec& spec : specs) {
      (spec.base.is_v6() ? space.v6_defaults : space.v4_defaults).push_back(std::move(spec));
    }
    return space;
  };
  spaces_.emplace(std::string(kLocalSpace), split(std::move(config.local)));
  spaces_.emplace(std::string(kGlobalSpace), split(std::move(config.global)));
}

Allocator::Space& Allocator::space(std::string_view name, const char* operation) {
  auto it = spaces_.find(name);
  if (it == spaces_.end()) {
    throw InvalidPoolRequestError(std::string(operation) + " in address space '" +
                                  std::string(name) + "': no such space (use \"" +
                                  std::string(kLocalSpace) + "\" or \"" +
                                  std::string(kGlobalSpace) + "\")");
  }
  return it->second;
}

const Allocator::Pool* Allocator::overlapping(const Space& space, const Prefix& prefix) const {
  // Pools of a space are disjoint, so the one starting last at or before prefix.last() is the
  // only candidate, and it also reaches furthest among those that overlap.
  auto it = space.pools.upper_bound(prefix.last());
  if (it == space.pools.begin()) return nullptr;
  --it;
  return it->second.prefix.overlaps(prefix) ? &it->second : nullptr;
}

std::optional<Prefix> Allocator::next_predefined(const Space& space, bool v6,
                                                 const std::vector<Prefix>& avoid) const {
  for (const PoolSpec& spec : v6 ? space.v6_defaults : space.v4_defaults) {
    const u128 base_last = to_u128(spec.base.last());
    u128 cursor = to_u128(spec.base.network());
    while (true) {
      const Prefix candidate(from_u128(cursor, v6), spec.size);
      // Skip past whatever overlaps the candidate: all prefixes are aligned, so the next
      // candidate starts right after the furthest-reaching overlapping prefix.
      u128 reach = 0;
      bool clash = false;
      if (const Pool* pool = overlapping(space, candidate)) {
        clash = true;
        reach = std::max(to_u128(candidate.last()), to_u128(pool->prefix.last()));
      }
      for (const Prefix& avoided : avoid) {
        if (avoided.overlaps(candidate)) {
          reach = std::max({reach, to_u128(candidate.last()), to_u128(avoided.last())});
          clash = true;
        }
      }
      if (!clash) return candidate;
      if (reach >= base_last) break;
      cursor = reach + 1;
    }
  }
  return std::nullopt;
}

PoolInfo Allocator::request_pool(std::string_view space_name, std::string_view pool,
                                 std::string_view sub_pool, const PoolOptions& options, bool v6) {
  return request_pool(space_name, parse_optional(pool), parse_optional(sub_pool), options, v6);
}

PoolInfo Allocator::request_pool(std::string_view space_name, const std::optional<Prefix>& pool,
                                 const std::optional<Prefix>& sub_pool, const PoolOptions& options,
                                 bool v6) {
  Space& sp = space(space_name, "request pool");
  Prefix prefix;
  bool predefined = false;
  if (pool) {
    if (pool->is_v6() != v6) {
      throw InvalidPoolRequestError("request pool " + pool->to_string() + " in space " +
                                    std::string(space_name) + ": not an " + family(v6) + " pool");
    }
    if (const Pool* existing = overlapping(sp, *pool); existing && existing->prefix != *pool) {
      throw PoolOverlapError("request pool " + pool->to_string() + " in space " +
                             std::string(space_name) + ": overlaps allocated pool " +
                             existing->prefix.to_string());
    }
    prefix = *pool;
  } else {
    if (sub_pool) {
      throw InvalidPoolRequestError("request sub-pool " + sub_pool->to_string() + " in space " +
                                    std::string(space_name) + ": a sub-pool needs a pool");
    }
    const auto chosen = next_predefined(sp, v6, options.avoid);
    if (!chosen) {
      throw NoAvailablePoolError("request pool in space " + std::string(space_name) +
                                 ": every predefined " + family(v6) + " pool is in use");
    }
    prefix = *chosen;
    predefined = true;
  }

  // The offsets hosts are drawn from: the pool's usable ones, narrowed to the sub-pool.
  uint64_t host_first = prefix.first_host_offset();
  uint64_t host_last = prefix.last_host_offset();
  if (sub_pool) {
    if (!prefix.contains(*sub_pool)) {
      throw AddressOutOfRangeError("request sub-pool " + sub_pool->to_string() + " of pool " +
                                   prefix.to_string() + ": not inside the pool");
    }
    uint64_t sub_first;
    try {
      sub_first = prefix.offset_of(sub_pool->network());
    } catch (const AddressOutOfRangeError&) {
      throw AddressOutOfRangeError("request sub-pool " + sub_pool->to_string() + " of pool " +
                                   prefix.to_string() +
                                   ": beyond the first 2^64-1 addresses, which are all a "
                                   "pool can track");
    }
    // A sub-pool reaching past the tracked offsets is cut at the pool's last host offset.
    const u128 sub_last = to_u128(sub_pool->last()) - to_u128(prefix.network());
    host_first = std::max(host_first, sub_first);
    host_last = sub_last < host_last ? static_cast<uint64_t>(sub_last) : host_last;
  }

  const std::string id = make_id(space_name, prefix, sub_pool);
  if (auto it = ids_.find(id); it != ids_.end()) {
    ++it->second.references;
    ++it->second.pool->users;
    return info(it->first, it->second);
  }

  auto pool_it = sp.pools.find(prefix.network());
  if (pool_it == sp.pools.end()) {
    // host_count() saturates at 2^64-1 = the longest bit sequence.
    Pool fresh{prefix, predefined, 0, bitseq::Sequence(prefix.host_count())};
    const uint64_t last_bit = fresh.bits.bits() - 1;
    for (uint64_t i = 0; i < prefix.first_host_offset(); ++i) fresh.bits.set(i);
    for (uint64_t i = prefix.last_host_offset(); i < last_bit; ++i) fresh.bits.set(i + 1);
    pool_it = sp.pools.emplace(prefix.network(), std::move(fresh)).first;
  }
  Pool& target = pool_it->second;
  ++target.users;
  auto [it, inserted] = ids_.emplace(
      id, IdEntry{&sp, &target, std::string(space_name), sub_pool, 1, host_first, host_last});
  return info(it->first, it->second);
}

void Allocator::release_pool(std::string_view pool_id) {
  IdEntry& e = entry(pool_id, "release pool");
  Pool* pool = e.pool;
  Space* sp = e.space;
  if (--e.references == 0) ids_.erase(ids_.find(pool_id));
  if (--pool->users == 0) sp->pools.erase(pool->prefix.network());
}

Allocator::IdEntry& Allocator::entry(std::string_view pool_id, const char* operation) {
  auto it = ids_.find(pool_id);
  if (it == ids_.end()) {
    throw UnknownPoolError(std::string(operation) + " " + std::string(pool_id) + ": no such pool");
  }
  return it->second;
}

const Allocator::IdEntry& Allocator::entry(std::string_view pool_id, const char* operation) const {
  return const_cast<Allocator*>(this)->entry(pool_id, operation);
}

PoolInfo Allocator::info(const std::string& id, const IdEntry& e) const {
  return PoolInfo{id, e.space_name, e.pool->prefix, e.sub_pool, e.pool->predefined, e.references};
}

PoolInfo Allocator::pool(std::string_view pool_id) const {
  auto it = ids_.find(pool_id);
  if (it == ids_.end()) {
    throw UnknownPoolError("inspect pool " + std::string(pool_id) + ": no such pool");
  }
  return info(it->first, it->second);
}

std::vector<PoolInfo> Allocator::pools() const {
  std::vector<PoolInfo> out;
  out.reserve(ids_.size());
  for (const auto& [id, e] : ids_) out.push_back(info(id, e));
  return out;
}

IpAddress Allocator::request_address(std::string_view pool_id,
                                     const std::optional<IpAddress>& preferred,
                                     const AddressOptions& options) {
  IdEntry& e = entry(pool_id, "request address in pool");
  Pool& pool = *e.pool;
  const bool host = options.role == AddressRole::kHost;
  const uint64_t first = host ? e.host_first : pool.prefix.first_host_offset();
  const uint64_t last = host ? e.host_last : pool.prefix.last_host_offset();

  if (preferred) {
    const auto where = [&] { return preferred->to_string() + " in pool " + std::string(pool_id); };
    if (!pool.prefix.contains(*preferred)) {
      throw AddressOutOfRangeError("request address " + where() + ": not in " +
                                   pool.prefix.to_string());
    }
    uint64_t offset;
    try {
      offset = pool.prefix.offset_of(*preferred);
    } catch (const AddressOutOfRangeError&) {
      offset = UINT64_MAX;  // beyond what a pool tracks: reported below
    }
    if (offset < pool.prefix.first_host_offset() || offset > pool.prefix.last_host_offset()) {
      throw AddressOutOfRangeError("request address " + where() +
                                   ": not a usable host address (network, broadcast, "
                                   "subnet-router anycast, or beyond the first 2^64-1 addresses)");
    }
    if (offset < first || offset > last) {
      throw AddressOutOfRangeError("request address " + where() + ": outside sub-pool " +
                                   e.sub_pool->to_string());
    }
    try {
      pool.bits.set(offset);
    } catch (const bitseq::AlreadyAllocatedError&) {
      throw AddressInUseError("request address " + where() + ": already in use");
    }
    return *preferred;
  }

  if (options.role == AddressRole::kReserved) {
    throw InvalidArgumentError("reserve address in pool " + std::string(pool_id) +
                               ": a reserved address must be given");
  }
  if (first > last) {
    throw NoAvailableAddressError("request address in pool " + std::string(pool_id) +
                                  ": the sub-pool holds no usable address");
  }
  // A gateway is the lowest free address, whatever the mode.
  const bool serial = host && options.serial;
  try {
    return pool.prefix.address_at(pool.bits.set_any_in_range(first, last, serial));
  } catch (const bitseq::NoBitAvailableError&) {
    throw NoAvailableAddressError("request address in pool " + std::string(pool_id) +
                                  ": no available addresses");
  }
}

void Allocator::release_address(std::string_view pool_id, const IpAddress& address) {
  IdEntry& e = entry(pool_id, "release address in pool");
  Pool& pool = *e.pool;
  uint64_t offset = UINT64_MAX;
  if (pool.prefix.contains(address)) {
    try {
      offset = pool.prefix.offset_of(address);
    } catch (const AddressOutOfRangeError&) {
    }
  }
  if (offset < pool.prefix.first_host_offset() || offset > pool.prefix.last_host_offset()) {
    throw AddressOutOfRangeError("release address " + address.to_string() + " in pool " +
                                 std::string(pool_id) + ": not a usable address of " +
                                 pool.prefix.to_string());
  }
  pool.bits.unset(offset);
}

bool Allocator::is_allocated(std::string_view pool_id, const IpAddress& address) const {
  const Pool& pool = *entry(pool_id, "inspect address in pool").pool;
  if (!pool.prefix.contains(address)) return false;
  try {
    const uint64_t offset = pool.prefix.offset_of(address);
    return offset < pool.bits.bits() && pool.bits.is_set(offset);
  } catch (const AddressOutOfRangeError&) {
    return false;
  }
}

uint64_t Allocator::free_count(std::string_view pool_id) const {
  return entry(pool_id, "count free addresses in pool").pool->bits.unselected();
}

size_t Allocator::memory_bytes() const {
  // Map nodes: the value plus three pointers and a colour word.
  constexpr size_t kNodeOverhead = 4 * sizeof(void*);
  size_t total = sizeof(*this);
  for (const auto& [name, sp] : spaces_) {
    total += sizeof(std::pair<const std::string, Space>) + kNodeOverhead;
    total += (sp.v4_defaults.capacity() + sp.v6_defaults.capacity()) * sizeof(PoolSpec);
    for (const auto& [network, pool] : sp.pools) {
      // Sequence::memory_bytes() includes sizeof(Sequence), which the node already holds.
      total += sizeof(std::pair<const IpAddress, Pool>) + kNodeOverhead - sizeof(pool.bits) +
               pool.bits.memory_bytes();
    }
  }
  for (const auto& [id, e] : ids_) {
    total += sizeof(std::pair<const std::string, IdEntry>) + kNodeOverhead;
    if (id.capacity() > 15) total += id.capacity() + 1;  // beyond the small-string buffer
    if (e.space_name.capacity() > 15) total += e.space_name.capacity() + 1;
  }
  return total;
}

}  // namespace trellis::ipam
