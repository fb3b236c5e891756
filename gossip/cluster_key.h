#pragma once
// Cluster keys for CURVE encryption and mutual authentication of the gossip transport.
// A cluster key is one Curve25519 secret key shared by every member (Z85 text, 40 chars).
// Every member serves (ROUTER, CURVE server) and connects (DEALER, CURVE client) with the
// keypair of the first key of its key file, and admits clients (ZAP) whose public key belongs
// to any key of the file: holding a listed secret is what makes a peer a member. Rotation:
// add the new key second everywhere, then first everywhere, then drop the old one (see
// docs/wire-protocol.md, "Encryption"). Pure functions; safe from any thread.

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace trellis::gossip {

struct ClusterKey {
  std::string secret_z85;  // 40 characters
  std::string public_z85;  // derived (zmq_curve_public)
  friend bool operator==(const ClusterKey&, const ClusterKey&) = default;
};

// The keys of a key file, newest (used for sending) first. Never empty.
struct ClusterKeys {
  std::vector<ClusterKey> keys;
  const ClusterKey& primary() const { return keys.front(); }
  bool admits(std::string_view client_public_z85) const;
};

// Whether this libzmq was built with CURVE (zmq_has("curve")).
bool curve_available();

// A fresh random cluster key (Z85 secret). UnavailableError without CURVE support.
std::string generate_cluster_key();

// Parses key file text: one Z85 secret per line; blank lines and lines starting with '#'
// are ignored; surrounding whitespace is trimmed. InvalidArgumentError naming the line for a
// malformed key, or when the file holds no key.
ClusterKeys parse_cluster_keys(std::string_view text);

// Reads and parses a key file. NotFoundError if it cannot be read.
ClusterKeys load_cluster_keys(const std::string& path);

}  // namespace trellis::gossip
