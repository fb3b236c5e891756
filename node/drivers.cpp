#include "node/drivers.h"

#include "common/error.h"
#include "ipam/ip.h"

namespace trellis::node {

namespace {

constexpr DriverTraits kNull{"null", false, true};
constexpr DriverTraits kHost{"host", false, true};
constexpr DriverTraits kBridge{"bridge", true, false};
constexpr DriverTraits kOverlay{"overlay", true, false};

bool parse_bool(const std::string& key, const std::string& value) {
  if (value == "true" || value == "1" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "no") return false;
  throw InvalidArgumentError("option " + key + "=" + value + ": expected true or false");
}

uint32_t parse_number(const std::string& key, const std::string& value, unsigned long min,
                      unsigned long max) {
  size_t used = 0;
  unsigned long v = 0;
  try {
    v = std::stoul(value, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  const bool digits = value.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || used != value.size() || value.empty() || v < min || v > max) {
    throw InvalidArgumentError("option " + key + "=" + value + ": expected a number from " +
                               std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<uint32_t>(v);
}

uint32_t parse_mtu(const std::string& value) { return parse_number("mtu", value, 68, 65535); }
uint32_t parse_vni(const std::string& value) {
  return parse_number("vni", value, kMinUserVni, kMaxVni);
}

std::map<std::string, std::string> normalize_overlay_options(
    const std::map<std::string, std::string>& options) {
  static const std::map<std::string, std::string> kAliases = {
      {"com.docker.network.driver.overlay.vxlanid_list", "vni"},
      {"com.docker.network.driver.mtu", "mtu"},
  };
  std::map<std::string, std::string> out;
  for (const auto& [raw_key, value] : options) {
    std::string key = raw_key;
    if (auto it = kAliases.find(key); it != kAliases.end()) key = it->second;
    if (out.count(key)) throw InvalidArgumentError("option " + key + " is given twice");
    if (key == "vni") {
      if (value.find(',') != std::string::npos)
        throw InvalidArgumentError("option vni=" + value + ": one VNI per network");
      out[key] = std::to_string(parse_vni(value));
    } else if (key == "mtu") {
      out[key] = std::to_string(parse_mtu(value));
    } else if (key == "egress") {
      out[key] = parse_bool(key, value) ? "true" : "false";
    } else {
      throw InvalidArgumentError("unknown overlay option '" + raw_key +
                                 "' (expected vni, mtu or egress)");
    }
  }
  return out;
}

}  // namespace

const DriverTraits& driver_traits(std::string_view name) {
  if (name == "null") return kNull;
  if (name == "host") return kHost;
  if (name == "bridge") return kBridge;
  if (name == "overlay") return kOverlay;
  throw InvalidArgumentError("unknown network driver '" + std::string(name) +
                             "' (expected null, host, bridge or overlay)");
}

std::map<std::string, std::string> normalize_driver_options(
    std::string_view driver, const std::map<std::string, std::string>& options) {
  const DriverTraits& traits = driver_traits(driver);
  std::map<std::string, std::string> out;
  if (traits.name == "overlay") return normalize_overlay_options(options);
  if (traits.name != "bridge") {
    if (!options.empty()) {
      throw InvalidArgumentError("driver " + std::string(driver) + " accepts no options (got " +
                                 options.begin()->first + ")");
    }
    return out;
  }
  static const std::map<std::string, std::string> kAliases = {
      {"com.docker.network.bridge.enable_icc", "icc"},
      {"com.docker.network.bridge.enable_ip_masquerade", "masquerade"},
      {"com.docker.network.bridge.host_binding_ipv4", "host_ip"},
      {"com.docker.network.driver.mtu", "mtu"},
  };
  for (const auto& [raw_key, value] : options) {
    std::string key = raw_key;
    if (auto it = kAliases.find(key); it != kAliases.end()) key = it->second;
    if (key == "icc" || key == "masquerade") {
      out[key] = parse_bool(key, value) ? "true" : "false";
    } else if (key == "host_ip") {
      ipam::IpAddress a = ipam::IpAddress::parse(value);
      if (!a.is_v4()) throw InvalidArgumentError("option host_ip=" + value + ": IPv4 only");
      out[key] = a.to_string();
    } else if (key == "mtu") {
      out[key] = std::to_string(parse_mtu(value));
    } else {
      throw InvalidArgumentError("unknown bridge option '" + raw_key +
                                 "' (expected icc, masquerade, host_ip or mtu)");
    }
  }
  return out;
}

BridgeOptions bridge_options(const std::map<std::string, std::string>& options) {
  BridgeOptions o;
  for (const auto& [key, value] : options) {
    if (key == "icc") {
      o.icc = parse_bool(key, value);
    } else if (key == "masquerade") {
      o.masquerade = parse_bool(key, value);
    } else if (key == "host_ip") {
      o.host_ip = value;
    } else if (key == "mtu") {
      o.mtu = parse_mtu(value);
    } else {
      throw InvalidArgumentError("unknown bridge option '" + key + "'");
    }
  }
  return o;
}

OverlayOptions overlay_options(const std::map<std::string, std::string>& options) {
  OverlayOptions o;
  for (const auto& [key, value] : options) {
    if (key == "vni") {
      o.vni = parse_vni(value);
    } else if (key == "mtu") {
      o.mtu = parse_mtu(value);
    } else if (key == "egress") {
      o.egress = parse_bool(key, value);
    } else {
      throw InvalidArgumentError("unknown overlay option '" + key + "'");
    }
  }
  return o;
}

}  // namespace trellis::node
