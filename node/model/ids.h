#pragma once
// Identifiers and names of the objects the controller manages: random ids (hex), their short
// forms, the derived MAC of an endpoint, and the validation of user-chosen names.
// Pure functions; safe from any thread (new_id uses a thread-local generator).

#include <string>
#include <string_view>

#include "ipam/ip.h"

namespace trellis::node {

// A new random id: 32 lower-case hex digits (128 bits).
std::string new_id();
// The first 12 characters of an id (what listings print).
std::string short_id(std::string_view id);

// Names of networks, endpoints and sandboxes: 1-64 characters of [A-Za-z0-9_.-], starting
// with a letter or digit (Docker's container name rule). Throws InvalidArgumentError naming
// `what` ("network name", ...).
void validate_name(std::string_view what, std::string_view name);

// The MAC an endpoint gets when none is given: 02:42 followed by the four bytes of its IPv4
// address (Docker's rule), so ARP caches stay valid when an address is reused.
std::string mac_from_ipv4(const ipam::IpAddress& address);
// Validates and normalises "aa:bb:cc:dd:ee:ff" (lower case). Multicast addresses are
// refused. Throws InvalidArgumentError.
std::string normalize_mac(std::string_view text);

}  // namespace trellis::node
