#pragma once
// Parsing of driver option values, shared by the drivers' option normalisation so every
// driver words the same mistake the same way ("option mtu=20: expected a number from 68 to
// 65535"). Pure; throws InvalidArgumentError naming the option.

#include <cstdint>
#include <map>
#include <string>

namespace trellis::node {

// true|1|yes, false|0|no.
bool parse_bool_option(const std::string& key, const std::string& value);
// A decimal number in [min, max].
uint32_t parse_number_option(const std::string& key, const std::string& value, uint32_t min,
                             uint32_t max);
// An MTU: 68..65535.
uint32_t parse_mtu_option(const std::string& value);
// The short key of `key` when it is one of the Docker spellings in `aliases`, else `key`.
std::string short_option_key(const std::string& key,
                             const std::map<std::string, std::string>& aliases);

}  // namespace trellis::node
