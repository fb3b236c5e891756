#include "node/drivers/bridge/bridge_driver.h"

#include "common/error.h"
#include "ipam/ip.h"
#include "node/dataplane/names.h"
#include "node/drivers/option_parsing.h"
#include "node/drivers/pool_rules.h"

namespace trellis::node {

BridgeOptions bridge_options(const std::map<std::string, std::string>& options) {
  BridgeOptions o;
  for (const auto& [key, value] : options) {
    if (key == "icc") {
      o.icc = parse_bool_option(key, value);
    } else if (key == "masquerade") {
      o.masquerade = parse_bool_option(key, value);
    } else if (key == "host_ip") {
      o.host_ip = value;
    } else if (key == "mtu") {
      o.mtu = parse_mtu_option(value);
    } else {
      throw InvalidArgumentError("unknown bridge option '" + key + "'");
    }
  }
  return o;
}

const DriverCapabilities& BridgeDriver::capabilities() const {
  static const DriverCapabilities kCapabilities{
      .scope = DriverScope::kLocal, .needs_ipam = true, .publishes_ports = true};
  return kCapabilities;
}

std::map<std::string, std::string> BridgeDriver::normalize_options(
    const std::map<std::string, std::string>& options) const {
  static const std::map<std::string, std::string> kAliases = {
      {"com.docker.network.bridge.enable_icc", "icc"},
      {"com.docker.network.bridge.enable_ip_masquerade", "masquerade"},
      {"com.docker.network.bridge.host_binding_ipv4", "host_ip"},
      {"com.docker.network.driver.mtu", "mtu"},
  };
  std::map<std::string, std::string> out;
  for (const auto& [raw_key, value] : options) {
    const std::string key = short_option_key(raw_key, kAliases);
    if (key == "icc" || key == "masquerade") {
      out[key] = parse_bool_option(key, value) ? "true" : "false";
    } else if (key == "host_ip") {
      const ipam::IpAddress a = ipam::IpAddress::parse(value);
      if (!a.is_v4()) throw InvalidArgumentError("option host_ip=" + value + ": IPv4 only");
      out[key] = a.to_string();
    } else if (key == "mtu") {
      out[key] = std::to_string(parse_mtu_option(value));
    } else {
      throw InvalidArgumentError("unknown bridge option '" + raw_key +
                                 "' (expected icc, masquerade, host_ip or mtu)");
    }
  }
  return out;
}

std::optional<SpaceWanted> BridgeDriver::plan_network(const PlanningContext&,
                                                      store::NetworkCreated&,
                                                      store::IpamPoolConfig&,
                                                      const std::string&) const {
  return std::nullopt;
}

AddressPlan BridgeDriver::plan_address(const PlanningContext& context,
                                       const store::NetworkInfo& network,
                                       const std::string& preferred, const std::string&) const {
  return {pick_owned_address(context.state, context.self, network, preferred), std::nullopt};
}

std::map<std::string, std::string> BridgeDriver::view_fields(
    const store::NetworkCreated& spec) const {
  return {{"bridge", bridge_name(spec.id)}};
}

}  // namespace trellis::node
