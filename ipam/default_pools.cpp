#include "ipam/default_pools.h"

#include <charconv>

#include <nlohmann/json.hpp>

#include "ipam/u128.h"

namespace trellis::ipam {
namespace {

unsigned parse_size(std::string_view text, std::string_view context) {
  unsigned size = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), size);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    throw InvalidArgumentError("parse default address pool '" + std::string(context) + "': size '" +
                               std::string(text) + "' is not a number");
  }
  return size;
}

}  // namespace

PoolSpec::PoolSpec(Prefix base_prefix, unsigned subnet_size)
    : base(base_prefix), size(subnet_size) {
  if (size < base.length() || size > base.network().bit_width()) {
    throw InvalidArgumentError("default address pool " + base.to_string() + " size " +
                               std::to_string(size) + ": size must be between " +
                               std::to_string(base.length()) + " and " +
                               std::to_string(base.network().bit_width()));
  }
}

uint64_t PoolSpec::count() const {
  const unsigned bits = size - base.length();
  return bits >= 64 ? UINT64_MAX : uint64_t{1} << bits;
}

Prefix PoolSpec::at(uint64_t index) const {
  const unsigned bits = size - base.length();
  if (bits < 64 && index >= (uint64_t{1} << bits)) {
    throw AddressOutOfRangeError("default pool " + std::to_string(index) + " of " + to_string() +
                                 ": only " + std::to_string(count()) + " pools");
  }
  // Subnet i starts at base + i * 2^(width - size); bits < 64 keeps the shift defined.
  const unsigned host_bits = base.network().bit_width() - size;
  if (host_bits >= 128) return base;  // ::/0 as one pool
  const detail::u128 start = detail::to_u128(base.network()) + (detail::u128{index} << host_bits);
  const IpAddress network = detail::from_u128(start, base.is_v6());
  return Prefix(network, size);
}

std::optional<uint64_t> PoolSpec::index_of(const Prefix& subnet) const {
  if (subnet.length() != size || !base.contains(subnet)) return std::nullopt;
  const unsigned host_bits = base.network().bit_width() - size;
  if (host_bits >= 128) return 0;
  const detail::u128 index =
      (detail::to_u128(subnet.network()) - detail::to_u128(base.network())) >> host_bits;
  if (index > UINT64_MAX) return std::nullopt;
  return static_cast<uint64_t>(index);
}

std::string PoolSpec::to_string() const {
  return "base=" + base.to_string() + ",size=" + std::to_string(size);
}

std::vector<PoolSpec> default_local_pools() {
  // 172.17/16, 172.18/15, 172.20/14 and 172.24/13 together are 172.17.0.0 ... 172.31.255.255.
  return {
      PoolSpec(Prefix::parse("172.17.0.0/16"), 16),  PoolSpec(Prefix::parse("172.18.0.0/15"), 16),
      PoolSpec(Prefix::parse("172.20.0.0/14"), 16),  PoolSpec(Prefix::parse("172.24.0.0/13"), 16),
      PoolSpec(Prefix::parse("192.168.0.0/16"), 20),
  };
}

std::vector<PoolSpec> default_global_pools() { return {PoolSpec(Prefix::parse("10.0.0.0/8"), 24)}; }

PoolSpec parse_pool_spec(std::string_view text) {
  std::optional<Prefix> base;
  std::optional<unsigned> size;
  std::string_view rest = text;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view field = rest.substr(0, comma);
    const auto eq = field.find('=');
    if (eq == std::string_view::npos) {
      throw InvalidArgumentError("parse default address pool '" + std::string(text) +
                                 "': expected base=CIDR,size=N");
    }
    const std::string_view key = field.substr(0, eq);
    const std::string_view value = field.substr(eq + 1);
    if (key == "base" && !base) {
      base = Prefix::parse(value);
    } else if (key == "size" && !size) {
      size = parse_size(value, text);
    } else {
      throw InvalidArgumentError("parse default address pool '" + std::string(text) +
                                 "': unexpected or repeated key '" + std::string(key) + "'");
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (!base || !size) {
    throw InvalidArgumentError("parse default address pool '" + std::string(text) +
                               "': both base and size are required");
  }
  return PoolSpec(*base, *size);
}

std::vector<PoolSpec> parse_pool_specs_json(std::string_view json) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgumentError(std::string("parse default address pools: invalid JSON: ") +
                               e.what());
  }
  if (doc.is_object()) {
    const auto it = doc.find("default-address-pools");
    if (it == doc.end()) {
      throw InvalidArgumentError(
          "parse default address pools: object has no \"default-address-pools\"");
    }
    doc = *it;
  }
  if (!doc.is_array() || doc.empty()) {
    throw InvalidArgumentError("parse default address pools: expected a non-empty array");
  }
  std::vector<PoolSpec> specs;
  for (const auto& entry : doc) {
    if (!entry.is_object() || entry.size() != 2 || !entry.contains("base") ||
        !entry.contains("size") || !entry["base"].is_string() ||
        !entry["size"].is_number_unsigned()) {
      throw InvalidArgumentError("parse default address pools: entry " + entry.dump() +
                                 " is not {\"base\": CIDR, \"size\": N}");
    }
    const uint64_t size = entry["size"].get<uint64_t>();
    if (size > 128) {
      throw InvalidArgumentError("parse default address pools: size " + std::to_string(size) +
                                 " is too large");
    }
    specs.emplace_back(Prefix::parse(entry["base"].get<std::string>()),
                       static_cast<unsigned>(size));
  }
  return specs;
}

}  // namespace trellis::ipam
