#include "node/drivers/option_parsing.h"

#include "common/error.h"

namespace trellis::node {

bool parse_bool_option(const std::string& key, const std::string& value) {
  if (value == "true" || value == "1" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "no") return false;
  throw InvalidArgumentError("option " + key + "=" + value + ": expected true or false");
}

uint32_t parse_number_option(const std::string& key, const std::string& value, uint32_t min,
                             uint32_t max) {
  size_t used = 0;
  unsigned long v = 0;
  try {
    v = std::stoul(value, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  // stoul accepts a sign and leading blanks; an option value is digits only.
  const bool digits = value.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || used != value.size() || value.empty() || v < min || v > max) {
    throw InvalidArgumentError("option " + key + "=" + value + ": expected a number from " +
                               std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<uint32_t>(v);
}

uint32_t parse_mtu_option(const std::string& value) {
  return parse_number_option("mtu", value, 68, 65535);
}

std::string short_option_key(const std::string& key,
                             const std::map<std::string, std::string>& aliases) {
  auto it = aliases.find(key);
  return it == aliases.end() ? key : it->second;
}

}  // namespace trellis::node
