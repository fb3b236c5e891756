#include "node/daemon/config.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/error.h"
#include "common/log.h"
#include "ipam/ip.h"
#include "node/model/ids.h"

namespace trellis::node {

namespace {

// "IP" or "IP:PORT" ("[IPv6]:PORT"); the cluster service resolves the rest.
void check_gossip_address(const std::string& flag, const std::string& text) {
  std::string host = text;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) throw InvalidArgumentError(flag + " " + text + ": missing ]");
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') throw InvalidArgumentError(flag + " " + text + ": bad port");
      port = text.substr(close + 2);
    }
  } else if (const auto colon = text.rfind(':');
             colon != std::string::npos && text.find(':') == colon) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  try {
    ipam::IpAddress::parse(host);
  } catch (const Error&) {
    throw InvalidArgumentError(flag + " " + text + ": expected IP or IP:PORT");
  }
  if (!port.empty() || text.back() == ':') {
    const bool digits = !port.empty() && port.size() <= 5 &&
                        port.find_first_not_of("0123456789") == std::string::npos &&
                        std::stoul(port) <= 65535;
    if (!digits) throw InvalidArgumentError(flag + " " + text + ": bad port '" + port + "'");
  }
}

}  // namespace

std::optional<Config> parse_command_line(int argc, const char* const* argv,
                                         const std::string& version) {
  Config c;
  CLI::App app{
      "trellisd: the Trellis node daemon. Keeps the desired state of networks, endpoints and\n"
      "sandboxes in an event store (--data-dir), programs bridges, veths, namespaces and\n"
      "nftables to match it, and serves the HTTP API on <run-dir>/trellis.sock.",
      "trellisd"};
  app.set_version_flag("--version", version);
  CLI::Option* config_file = app.set_config(
      "--config", "",
      "Read options from an INI/TOML file: one 'key = value' per line, the keys being the long "
      "flag names without '--', outside any [section]; unknown keys are errors");
  // A typo in the file must not silently fall back to defaults (a "[trellisd]" header once
  // sent a daemon to /var/lib/trellis): keys that match no flag are errors, like flags.
  app.allow_config_extras(CLI::config_extras_mode::error);
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
  app.add_option("--vxlan-port", c.vxlan_port,
                 "UDP port of VXLAN (overlay networks; the same on every node of a cluster)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  app.add_flag("--egress", c.egress,
               "Overlay containers get a second interface on this host's NAT bridge (trlgw0) "
               "for traffic out of the cluster, unless their network sets -o egress=false")
      ->capture_default_str();
  app.add_option("--log-level", c.log_level,
                 "trace, debug, info, warn (or warning), error (or err), critical or off")
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
  } catch (const CLI::ConfigError& e) {
    std::string why = e.what();
    const std::string unparsed = "INI was not able to parse ";
    if (why.rfind(unparsed, 0) == 0) {
      const std::string key = why.substr(unparsed.size());
      // CLI11 reports a section header as "<section>.++" (its opening marker).
      const bool section = key.size() > 3 && key.compare(key.size() - 3, 3, ".++") == 0;
      why = section ? "section [" + key.substr(0, key.size() - 3) + "] is not allowed"
                    : "unknown key '" + key + "'";
    }
    throw InvalidArgumentError("--config " + config_file->as<std::string>() + ": " + why +
                               " (keys are the long flag names without '--', e.g. "
                               "data-dir = \"/var/lib/trellis\", outside any [section])");
  } catch (const CLI::ParseError& e) {
    throw InvalidArgumentError(e.what());
  }
  if (!c.advertise_addr.empty()) check_gossip_address("--advertise-addr", c.advertise_addr);
  if (!c.listen_addr.empty()) check_gossip_address("--listen-addr", c.listen_addr);
  for (const auto& seed : c.join) {
    if (seed.empty()) throw InvalidArgumentError("--join: empty address in the list");
  }
  if (!c.cluster_key.empty() && !c.clustering()) {
    throw InvalidArgumentError(
        "--cluster-key needs clustering: give --join, --advertise-addr or --listen-addr too");
  }
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
