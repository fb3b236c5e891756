#pragma once
// trellisd's configuration: command-line flags (docs/operations.md "Flags and config file") and an
// optional config file
// (--config FILE, INI/TOML syntax with the flags' long names as keys, e.g.
// `data-dir = "/var/lib/trellis"`; flags given on the command line win). Documented in
// docs/operations.md. Pure values; thread-compatible.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trellis::node {

struct Config {
  std::string data_dir = "/var/lib/trellis";
  std::string run_dir = "/run/trellis";
  std::string name;  // default: the host name
  std::string advertise_addr;
  std::string listen_addr;
  std::vector<std::string> join;
  std::string cluster_key;
  uint32_t vxlan_port = 4789;
  // Default of overlay networks' "egress" option: containers on an overlay network also get an
  // interface on the per-host NAT bridge for traffic leaving the cluster (docs/overlay.md).
  bool egress = false;
  std::string log_level = "info";
  // The host's resolver configuration: sandboxes without DNS servers get its servers
  // (loopback ones removed).
  std::string resolv_conf = "/etc/resolv.conf";
  // The nftables table (family inet) holding NAT, published ports and ICC rules.
  std::string nft_table = "trellis";
  // The nft program.
  std::string nft_program = "nft";

  // Clustering is on when any of --join, --advertise-addr or --listen-addr is given.
  bool clustering() const {
    return !join.empty() || !advertise_addr.empty() || !listen_addr.empty();
  }
};

// Parses trellisd's arguments. Returns nullopt when --help or --version was answered (text
// written to stdout). Throws InvalidArgumentError with a one-line message for bad flags or a
// bad config file (malformed --advertise-addr/--listen-addr, --cluster-key without
// clustering).
std::optional<Config> parse_command_line(int argc, const char* const* argv,
                                         const std::string& version);

}  // namespace trellis::node
