#include "node/model/ids.h"

#include <cstdio>
#include <random>

#include "common/error.h"

namespace trellis::node {

std::string new_id() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  uint64_t a = gen(), b = gen();
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(a >> (60 - 4 * i)) & 0xf];
    id[16 + i] = kHex[(b >> (60 - 4 * i)) & 0xf];
  }
  return id;
}

std::string short_id(std::string_view id) { return std::string(id.substr(0, 12)); }

void validate_name(std::string_view what, std::string_view name) {
  auto bad = [&](const std::string& why) {
    throw InvalidArgumentError(std::string(what) + " '" + std::string(name) + "' " + why);
  };
  if (name.empty()) throw InvalidArgumentError(std::string(what) + " must not be empty");
  if (name.size() > 64) bad("is longer than 64 characters");
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) bad("must start with a letter or digit");
  for (char c : name) {
    if (!alnum(c) && c != '_' && c != '.' && c != '-')
      bad("may contain only letters, digits, '_', '.' and '-'");
  }
}

std::string mac_from_ipv4(const ipam::IpAddress& address) {
  auto b = address.bytes();
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3]);
  return buf;
}

std::string normalize_mac(std::string_view text) {
  auto fail = [&] {
    throw InvalidArgumentError("invalid MAC address '" + std::string(text) +
                               "' (expected aa:bb:cc:dd:ee:ff, unicast)");
  };
  if (text.size() != 17) fail();
  std::string out(text);
  for (size_t i = 0; i < out.size(); ++i) {
    char& c = out[i];
    if (i % 3 == 2) {
      if (c != ':') fail();
      continue;
    }
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) fail();
  }
  const int first = std::stoi(out.substr(0, 2), nullptr, 16);
  if (first & 1) fail();  // multicast bit
  if (out == "00:00:00:00:00:00") fail();
  return out;
}

}  // namespace trellis::node
