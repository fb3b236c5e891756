#include "node/config.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/error.h"
#include "ipam/ip.h"
#include "node/ids.h"
#include "node/log.h"

namespace trellis::node {

std::optional<Config> parse_command_line(int argc, const char* const* argv,
                                         const std::string& version) {
  Config c;
  CLI::App app{
      "trellisd: the Trellis node daemon. Keeps the desired state of networks, endpoints and\n"
      "sandboxes in an event store (--data-dir), programs bridges, veths, namespaces and\n"
      "nftables to match it, and serves the HTTP API on <run-dir>/trellis.sock.",
      "trellisd"};
  app.set_version_flag("--version", version);
  app.set_config("--config", "", "Read options from an INI/TOML file (keys: the long flag names)");
  app.add_option("--data-dir", c.data_dir, "Event store directory (LMDB)")->capture_default_str();
  app.add_option("--run-dir", c.run_dir,
                 "Runtime directory: API socket, namespace files, sandbox files")
      ->capture_default_str();
  app.add_option("--name", c.name, "Node name (default: the host name)");
  app.add_option("--advertise-addr", c.advertise_addr,
                 "Address other nodes reach this one at (clustering)");
  app.add_option("--listen-addr", c.listen_addr, "Gossip listen address IP[:PORT] (clustering)");
  app.add_option("--join", c.join, "Peers to join ADDR[,ADDR...] (clustering)")->delimiter(',');
  app.add_option("--cluster-key", c.cluster_key, "Cluster key file (clustering)");
  app.add_option("--vxlan-port", c.vxlan_port, "UDP port of VXLAN (overlay networks)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  app.add_option("--resolv-conf", c.resolv_conf,
                 "The host's resolv.conf, source of DNS servers for sandboxes")
      ->capture_default_str();
  app.add_option("--nft-table", c.nft_table, "Name of Trellis's nftables table (family inet)")
      ->capture_default_str();
  app.add_option("--nft-program", c.nft_program, "The nft program")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    app.exit(e);
    return std::nullopt;
  } catch (const CLI::CallForVersion& e) {
    app.exit(e);
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    throw InvalidArgumentError(e.what());
  }
  if (!c.join.empty() || !c.listen_addr.empty() || !c.cluster_key.empty()) {
    throw InvalidArgumentError(
        "not implemented yet: clustering (--join, --listen-addr and --cluster-key need the "
        "gossip layer; run without them for a single node)");
  }
  if (!c.advertise_addr.empty()) ipam::IpAddress::parse(c.advertise_addr);
  if (c.data_dir.empty() || c.run_dir.empty())
    throw InvalidArgumentError("--data-dir and --run-dir must not be empty");
  if (c.run_dir.size() > 60) {
    // The API socket path must fit sockaddr_un (108 bytes) with room for "/trellis.sock" and
    // the namespace files' names.
    throw InvalidArgumentError("--run-dir " + c.run_dir + " is too long (at most 60 characters)");
  }
  if (c.name.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) c.name = host;
    if (c.name.empty()) c.name = "trellis";
  }
  set_log_level(c.log_level);
  return c;
}

}  // namespace trellis::node
