#pragma once
// Trellis's nftables table: egress masquerade, published ports, inter-container
// communication (ICC) and the isolation of internal and separate bridge networks, all in one
// table of family inet that Trellis owns. The table is rendered from the desired state as a
// whole and replaced in one nft transaction ("add table; delete table; table {...}"), so the
// kernel never sees a half-updated rule set and nothing outside the table is touched.
// Applied with the `nft` program (libnftables has no development package in the stack);
// the last script applied is kept in <run-dir>/nftables.rules for operators.
//
// Layout (docs/operations.md shows an example):
//   chain prerouting   nat, dstnat:   fib daddr type local -> jump published
//   chain output       nat, -100:     fib daddr type local -> jump published (host-originated)
//   chain published                   [ip daddr HOST] tcp|udp dport P dnat ip to CTR:PORT
//   chain postrouting  nat, srcnat:   masquerade egress of non-internal networks (the overlay
//                                     egress bridge trlgw0 is rendered as one), of
//                                     localhost-published traffic and of hairpin traffic
//   chain forward      filter:        internal networks: nothing in or out; separate bridge
//                                     networks: isolated; ICC off: bridge to itself dropped
// ICC relies on br_netfilter (net.bridge.bridge-nf-call-iptables=1) so that bridged IPv4
// traffic passes the inet forward hook.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::node {

struct NftNetwork {
  std::string bridge;  // link name
  std::string subnet;  // CIDR
  bool internal = false;
  bool icc = true;
  bool masquerade = true;
};

struct NftPort {
  std::string protocol;  // tcp | udp
  uint32_t host_port = 0;
  std::string host_ip;  // empty: every local address
  std::string container_ip;
  uint32_t container_port = 0;
};

struct NftRuleset {
  std::vector<NftNetwork> networks;
  std::vector<NftPort> ports;
  bool empty() const { return networks.empty() && ports.empty(); }
};

// The script that replaces table `table` (family inet) with the rules, atomically. The table
// carries the comment "trellis node <owner>" (owner: a formatted node id) and exists even
// without rules (then with the comment alone, no chains), so that a second trellisd started in
// the same network namespace finds it taken (nft_table_owner) instead of replacing it. Table
// comments need nft >= 0.9.7 and Linux >= 5.10.
std::string render_nft_script(std::string_view table, std::string_view owner,
                              const NftRuleset& rules);

// Runs `program -f script_path` after writing `script` there. InternalError with nft's
// message when it fails or cannot be started.
void apply_nft(const std::string& program, const std::string& script_path,
               const std::string& script);

// The owner named by table `table`'s comment (render_nft_script); nullopt when the table does
// not exist or has no such comment (the program's failure to list it counts as no table).
// InternalError when the program cannot be started.
std::optional<std::string> nft_table_owner(const std::string& program, std::string_view table);

}  // namespace trellis::node
