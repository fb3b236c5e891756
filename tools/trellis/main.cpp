// trellis: the command-line client of trellisd (docs/operations.md "Flags and config file"). Talks
// to the daemon's HTTP API on its Unix socket; `run` and `exec` also start processes inside
// sandboxes (tools/trellis/container.h). Exit status 0 on success; on failure a one-line error on
// stderr and status 1 (125 for `run`/`exec` when Trellis itself fails, as Docker does;
// otherwise the command's own status).

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "common/error.h"
#include "node/api/client.h"
#include "tools/trellis/container.h"

namespace trellis::cli {
namespace {

using nlohmann::json;
using node::url_escape;

constexpr const char* kDefaultHost = "unix:///run/trellis/trellis.sock";

// ---- output ----------------------------------------------------------------------------------

std::string cell(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_array()) {
    std::string out;
    for (const auto& item : v) out += (out.empty() ? "" : ",") + cell(item);
    return out;
  }
  return v.dump();
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out += std::string(width[i] - r[i].size() + 3, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

// inspect without --format json: "key: value" per top-level field.
void print_fields(const json& j) {
  size_t width = 0;
  for (const auto& [k, v] : j.items()) width = std::max(width, k.size());
  for (const auto& [k, v] : j.items()) {
    std::string value;
    if (v.is_object()) {
      for (const auto& [ik, iv] : v.items())
        value += (value.empty() ? "" : " ") + ik + "=" + cell(iv);
    } else if (v.is_array() && !v.empty() && v.front().is_object()) {
      value = v.dump();
    } else {
      value = cell(v);
    }
    std::cout << k << ":" << std::string(width - k.size() + 1, ' ') << value << "\n";
  }
}

std::string short_id(const json& id) { return cell(id).substr(0, 12); }

std::string ports_text(const json& ports) {
  std::string out;
  for (const auto& p : ports) {
    std::string one = cell(p["host_ip"]);
    if (!one.empty()) one += ":";
    one += std::to_string(p["host_port"].get<int>()) + "->" +
           std::to_string(p["container_port"].get<int>()) + "/" + cell(p["protocol"]);
    out += (out.empty() ? "" : ",") + one;
  }
  return out;
}

// ---- parsing helpers -------------------------------------------------------------------------

std::pair<std::string, std::string> split_kv(const std::string& text, char sep,
                                             const std::string& what) {
  const auto pos = text.find(sep);
  if (pos == std::string::npos || pos == 0)
    throw InvalidArgumentError(what + " '" + text + "': expected KEY" + sep + "VALUE");
  return {text.substr(0, pos), text.substr(pos + 1)};
}

uint32_t parse_port(const std::string& text, const std::string& spec) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
      text.size() > 5 || std::stoul(text) > 65535)
    throw InvalidArgumentError("port mapping '" + spec + "': bad port '" + text + "'");
  return static_cast<uint32_t>(std::stoul(text));
}

// Docker's -p forms: CTR, HOST:CTR, IP:HOST:CTR, IP::CTR, each with an optional /tcp|/udp.
json parse_publish(const std::string& spec) {
  std::string body = spec;
  std::string proto = "tcp";
  if (auto slash = body.rfind('/'); slash != std::string::npos) {
    proto = body.substr(slash + 1);
    body = body.substr(0, slash);
  }
  std::vector<std::string> parts;
  std::stringstream in(body);
  for (std::string p; std::getline(in, p, ':');) parts.push_back(p);
  if (!body.empty() && body.back() == ':') parts.push_back("");
  json j = {{"protocol", proto}};
  if (parts.size() == 1) {
    j["container_port"] = parse_port(parts[0], spec);
  } else if (parts.size() == 2) {
    j["host_port"] = parse_port(parts[0], spec);
    j["container_port"] = parse_port(parts[1], spec);
  } else if (parts.size() == 3) {
    j["host_ip"] = parts[0];
    if (!parts[1].empty()) j["host_port"] = parse_port(parts[1], spec);
    j["container_port"] = parse_port(parts[2], spec);
  } else {
    throw InvalidArgumentError("port mapping '" + spec +
                               "': expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]");
  }
  return j;
}

json extra_hosts(const std::vector<std::string>& specs) {
  json out = json::array();
  for (const auto& s : specs) {
    auto [name, address] = split_kv(s, ':', "--add-host");
    out.push_back({{"name", name}, {"address", address}});
  }
  return out;
}

std::string random_name() {
  std::mt19937_64 gen{std::random_device{}()};
  char buf[16];
  std::snprintf(buf, sizeof buf, "c-%08x", static_cast<unsigned>(gen()));
  return buf;
}

// "now", "12s ago", "5m ago", "3h ago" for an RFC 3339 UTC time ("2024-05-01T12:00:00.123Z");
// the text itself when it does not parse.
std::string ago(const std::string& rfc3339) {
  std::tm tm{};
  double seconds = 0;
  if (std::sscanf(rfc3339.c_str(), "%d-%d-%dT%d:%d:%lf", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &seconds) != 6)
    return rfc3339;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_sec = static_cast<int>(seconds);
  const time_t then = timegm(&tm);
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  const long long d = static_cast<long long>(now - then);
  if (d < 1) return "now";
  if (d < 120) return std::to_string(d) + "s ago";
  if (d < 7200) return std::to_string(d / 60) + "m ago";
  return std::to_string(d / 3600) + "h ago";
}

// ---- the program -----------------------------------------------------------------------------

struct Options {
  std::string host;
  std::string format = "table";
  bool quiet = false;
  bool all = false;
  bool force = false;
  bool detach = false;
  bool remove = false;
  // network create
  std::string driver = "bridge";
  std::string subnet, ip_range, gateway;
  std::vector<std::string> aux, opts, labels;
  bool internal = false, attachable = false, ipv6 = false, egress = false;
  uint32_t mtu = 0;
  // endpoint / run
  std::string network, ip, mac;
  std::vector<std::string> networks, aliases, publish;
  // sandbox / run
  std::string name, hostname, domain;
  std::vector<std::string> dns, dns_search, dns_options, add_hosts;
  std::vector<std::string> names;  // positional objects (inspect, rm)
  std::string object;              // the one positional object (create, join, leave, exec)
  std::string sandbox;
  std::vector<std::string> command;
};

class Cli {
 public:
  explicit Cli(Options& o) : o_(o) {}

  node::ApiClient& api() {
    if (!client_) {
      std::string host = o_.host;
      if (host.empty()) {
        const char* env = std::getenv("TRELLIS_HOST");
        host = env && *env ? env : kDefaultHost;
      }
      client_ = std::make_unique<node::ApiClient>(node::socket_path_from_host(host));
    }
    return *client_;
  }
  json call(const std::string& method, const std::string& target, const json& body = nullptr) {
    const std::string text = api().call(method, target, body.is_null() ? "" : body.dump());
    return text.empty() ? json() : json::parse(text);
  }
  bool json_output() const {
    if (o_.format != "json" && o_.format != "table")
      throw InvalidArgumentError("--format " + o_.format + ": expected table or json");
    return o_.format == "json";
  }
  void print_json(const json& j) const { std::cout << j.dump(2) << "\n"; }
  std::string net_query() const {
    return o_.network.empty() ? "" : "?network=" + url_escape(o_.network);
  }

  // network
  int network_create() {
    json body = {{"name", o_.object},           {"driver", o_.driver}, {"internal", o_.internal},
                 {"attachable", o_.attachable}, {"ipv6", o_.ipv6},     {"mtu", o_.mtu}};
    json options = json::object(), labels = json::object();
    for (const auto& kv : o_.opts)
      options[split_kv(kv, '=', "-o").first] = split_kv(kv, '=', "-o").second;
    if (o_.egress) {
      if (options.contains("egress") && options["egress"] != "true")
        throw InvalidArgumentError("--egress contradicts -o egress=" + cell(options["egress"]));
      options["egress"] = "true";
    }
    for (const auto& kv : o_.labels)
      labels[split_kv(kv, '=', "--label").first] = split_kv(kv, '=', "--label").second;
    body["options"] = options;
    body["labels"] = labels;
    if (!o_.subnet.empty() || !o_.ip_range.empty() || !o_.gateway.empty() || !o_.aux.empty()) {
      json pool = {{"subnet", o_.subnet}, {"ip_range", o_.ip_range}, {"gateway", o_.gateway}};
      json aux = json::object();
      for (const auto& kv : o_.aux)
        aux[split_kv(kv, '=', "--aux-address").first] = split_kv(kv, '=', "--aux-address").second;
      pool["aux_addresses"] = aux;
      body["ipam"] = {{"config", json::array({pool})}};
    }
    const json n = call("POST", "/networks", body);
    std::cout << cell(n["id"]) << "\n";
    return 0;
  }
  int network_ls() {
    const json list = call("GET", std::string("/networks") + (o_.all ? "?all=1" : ""));
    if (json_output()) return print_json(list), 0;
    if (o_.quiet) {
      for (const auto& n : list) std::cout << cell(n["id"]) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : list) {
      std::string subnet, gateway;
      for (const auto& s : n["subnets"]) {
        subnet += (subnet.empty() ? "" : ",") + cell(s["subnet"]);
        gateway += (gateway.empty() ? "" : ",") + cell(s["gateway"]);
      }
      std::string flags = n["internal"].get<bool>() ? "internal" : "";
      if (n["name_conflict"].get<bool>())
        flags += (flags.empty() ? "" : ",") + std::string("name-conflict");
      rows.push_back({short_id(n["id"]), cell(n["name"]), cell(n["driver"]), cell(n["scope"]),
                      subnet, gateway, std::to_string(n["endpoints"].get<int>()), flags});
    }
    print_table(
        {"NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET", "GATEWAY", "ENDPOINTS", "FLAGS"}, rows);
    return 0;
  }
  int inspect(const std::string& kind, const std::string& query = "") {
    json all = json::array();
    for (const auto& name : o_.names)
      all.push_back(call("GET", "/" + kind + "/" + url_escape(name) + query));
    if (json_output()) return print_json(all.size() == 1 ? all[0] : all), 0;
    for (size_t i = 0; i < all.size(); ++i) {
      if (i) std::cout << "\n";
      print_fields(all[i]);
    }
    return 0;
  }
  int remove(const std::string& kind, const std::string& query = "") {
    for (const auto& name : o_.names) {
      call("DELETE", "/" + kind + "/" + url_escape(name) + query);
      std::cout << name << "\n";
    }
    return 0;
  }

  // endpoint
  json endpoint_body(const std::string& network, const std::string& name, bool with_ports,
                     bool with_ip) {
    json body = {{"network", network}, {"name", name}, {"aliases", o_.aliases}};
    if (with_ip && !o_.ip.empty()) body["ip"] = o_.ip;
    if (with_ip && !o_.mac.empty()) body["mac"] = o_.mac;
    json ports = json::array();
    if (with_ports)
      for (const auto& p : o_.publish) ports.push_back(parse_publish(p));
    body["ports"] = ports;
    return body;
  }
  int endpoint_create() {
    if (o_.network.empty()) throw InvalidArgumentError("endpoint create: --network is required");
    const json e = call("POST", "/endpoints", endpoint_body(o_.network, o_.object, true, true));
    std::cout << cell(e["id"]) << "\n";
    return 0;
  }
  int endpoint_ls() {
    const json list = call("GET", "/endpoints" + net_query());
    if (json_output()) return print_json(list), 0;
    if (o_.quiet) {
      for (const auto& e : list) std::cout << cell(e["id"]) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : list) {
      rows.push_back({short_id(e["id"]), cell(e["name"]), cell(e["network_name"]),
                      cell(e["addresses"]), cell(e["mac"]),
                      e["sandbox_name"].get<std::string>().empty() ? "" : cell(e["sandbox_name"]),
                      cell(e["interface"]), ports_text(e["ports"])});
    }
    print_table(
        {"ENDPOINT ID", "NAME", "NETWORK", "ADDRESS", "MAC", "SANDBOX", "INTERFACE", "PORTS"},
        rows);
    return 0;
  }
  int endpoint_join(bool join) {
    json body = json::object();
    if (!o_.sandbox.empty()) body["sandbox"] = o_.sandbox;
    call("POST", "/endpoints/" + url_escape(o_.object) + (join ? "/join" : "/leave") + net_query(),
         body);
    return 0;
  }

  // sandbox
  json sandbox_body(const std::string& name) {
    return {{"name", name},
            {"hostname", o_.hostname},
            {"domain", o_.domain},
            {"dns", o_.dns},
            {"dns_search", o_.dns_search},
            {"dns_options", o_.dns_options},
            {"extra_hosts", extra_hosts(o_.add_hosts)}};
  }
  int sandbox_create() {
    const json s = call("POST", "/sandboxes", sandbox_body(o_.object));
    std::cout << cell(s["id"]) << "\n";
    return 0;
  }
  int sandbox_ls() {
    const json list = call("GET", "/sandboxes");
    if (json_output()) return print_json(list), 0;
    if (o_.quiet) {
      for (const auto& s : list) std::cout << cell(s["id"]) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : list) {
      std::string eps;
      for (const auto& e : s["endpoints"])
        eps += (eps.empty() ? "" : ",") + cell(e["network_name"]) + ":" + cell(e["addresses"]);
      rows.push_back({short_id(s["id"]), cell(s["name"]), cell(s["hostname"]), eps,
                      s["host_mode"].get<bool>() ? "host" : cell(s["netns"])});
    }
    print_table({"SANDBOX ID", "NAME", "HOSTNAME", "ENDPOINTS", "NETNS"}, rows);
    return 0;
  }

  static SandboxEntry entry(const json& s) {
    SandboxEntry e;
    e.netns = cell(s["netns"]);
    e.hosts_file = cell(s["files"]["hosts"]);
    e.resolv_file = cell(s["files"]["resolv_conf"]);
    e.hostname_file = cell(s["files"]["hostname"]);
    e.hostname = cell(s["hostname"]);
    e.host_mode = s["host_mode"].get<bool>();
    return e;
  }

  // Starts the command in the sandbox; registers the process; waits unless detached.
  int start_process(const json& s) {
    Launch l;
    l.command = o_.command;
    l.detach = o_.detach;
    l.output_file = cell(s["files"]["output"]);
    const int pid = launch(entry(s), l);
    try {
      call("POST", "/sandboxes/" + cell(s["id"]) + "/processes", {{"pid", pid}});
    } catch (const NotFoundError&) {
      // Already gone: nothing left to kill later.
    }
    if (o_.detach) return 0;
    return wait_for(pid);
  }

  int run() {
    if (o_.command.empty())
      throw InvalidArgumentError("run: no command given (trellis run ... -- CMD)");
    const std::string name = o_.name.empty() ? random_name() : o_.name;
    const json created = call("POST", "/sandboxes", sandbox_body(name));
    const std::string sid = cell(created["id"]);
    json s;
    try {
      for (size_t i = 0; i < o_.networks.size(); ++i) {
        const json e =
            call("POST", "/endpoints", endpoint_body(o_.networks[i], name, i == 0, i == 0));
        try {
          call("POST", "/endpoints/" + cell(e["id"]) + "/join", {{"sandbox", sid}});
        } catch (...) {
          api().request("DELETE", "/endpoints/" + cell(e["id"]));
          throw;
        }
      }
      if (o_.networks.empty() && !o_.publish.empty())
        throw InvalidArgumentError("run: -p needs a --network");
      s = call("GET", "/sandboxes/" + sid);
    } catch (...) {
      api().request("DELETE", "/sandboxes/" + sid);
      throw;
    }
    int status = 0;
    try {
      if (o_.detach) std::cout << name << "\n" << std::flush;
      status = start_process(s);
    } catch (...) {
      api().request("DELETE", "/sandboxes/" + sid + "?kill=1");
      throw;
    }
    if (o_.remove && !o_.detach) call("DELETE", "/sandboxes/" + sid + "?kill=1");
    return status;
  }

  int exec() {
    if (o_.command.empty())
      throw InvalidArgumentError("exec: no command given (trellis exec NAME -- CMD)");
    return start_process(call("GET", "/sandboxes/" + url_escape(o_.object)));
  }

  int rm() {
    for (const auto& name : o_.names) {
      call("DELETE", "/sandboxes/" + url_escape(name) + "?kill=1");
      std::cout << name << "\n";
    }
    return 0;
  }

  // cluster
  int cluster_members() {
    const json list = call("GET", "/cluster/members");
    if (json_output()) return print_json(list), 0;
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : list) {
      const bool self = m.value("self", false);
      rows.push_back({cell(m["name"]) + (self ? " (self)" : ""), cell(m["id"]), cell(m["address"]),
                      cell(m["state"]), cell(m["incarnation"]), ago(cell(m["last_seen"]))});
    }
    print_table({"NAME", "ID", "ADDRESS", "STATE", "INCARNATION", "LAST SEEN"}, rows);
    return 0;
  }
  int cluster_log() {
    const json l = call("GET", "/cluster/log");
    if (json_output()) return print_json(l), 0;
    std::cout << "node " << cell(l["node_id"]) << ", cluster " << cell(l["cluster_id"]) << ", "
              << cell(l["events"]) << " events, " << cell(l["pending"]) << " pending\n"
              << "state digest " << cell(l["state_digest"]) << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& o : l["origins"]) {
      const bool self = o.value("self", false);
      rows.push_back({cell(o["origin"]), cell(o["name"]) + (self ? " (self)" : ""), cell(o["head"]),
                      cell(o["floor"])});
    }
    print_table({"ORIGIN", "NAME", "HEAD", "FLOOR"}, rows);
    return 0;
  }

  // node
  int node_ls() {
    const json list = call("GET", "/nodes");
    if (json_output()) return print_json(list), 0;
    if (o_.quiet) {
      for (const auto& n : list) std::cout << cell(n["id"]) << "\n";
      return 0;
    }
    // One row per node: its share of the VNI and subnet spaces and, per overlay network, of
    // its addresses, as OWNED/FREE.
    auto share = [](const json& s) { return cell(s["owned"]) + "/" + cell(s["free"]); };
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : list) {
      std::string vnis = "-", subnets = "-", addresses;
      for (const auto& s : n["spaces"]) {
        const std::string kind = cell(s["kind"]);
        if (kind == "vni") {
          vnis = share(s);
        } else if (kind == "subnet") {
          subnets = share(s);
        } else if (kind == "address") {
          std::string net = cell(s["network_name"]);
          if (net.empty()) net = cell(s["network"]).substr(0, 12);
          addresses += (addresses.empty() ? "" : " ") + net + ":" + share(s);
        }
      }
      const bool self = n.value("self", false);
      rows.push_back({cell(n["name"]) + (self ? " (self)" : ""), cell(n["id"]), cell(n["address"]),
                      cell(n["state"]), vnis, subnets, addresses.empty() ? "-" : addresses});
    }
    print_table({"NAME", "ID", "ADDRESS", "STATE", "VNIS OWNED/FREE", "SUBNETS OWNED/FREE",
                 "ADDRESSES OWNED/FREE PER NETWORK"},
                rows);
    return 0;
  }

  int info() {
    const json i = call("GET", "/info");
    if (json_output()) return print_json(i), 0;
    print_fields(i);
    return 0;
  }

 private:
  Options& o_;
  std::unique_ptr<node::ApiClient> client_;
};

int not_implemented(const std::string& what) {
  std::fprintf(stderr, "trellis: %s: not implemented yet\n", what.c_str());
  return 1;
}

// The command tree of trellis. CLI11 runs a command's callback while it is still parsing, so a
// callback only chooses the handler; run_parsed() calls it once the whole line has parsed and
// passed its checks, so a bad line never half-runs a command. The callbacks hold `this`:
// keep a Commands alive while the CLI::App it was added to parses.
class Commands {
 public:
  // `command`: the words after the first "--", the command of run and exec.
  explicit Commands(std::vector<std::string> command) : command_(std::move(command)) {}
  Commands(const Commands&) = delete;
  Commands& operator=(const Commands&) = delete;

  // Adds the global options and every command, in the order --help lists them.
  void add_to(CLI::App& app) {
    add_global_options(app);
    add_network_commands(app);
    add_endpoint_commands(app);
    add_sandbox_commands(app);
    add_container_commands(app);
    add_info_command(app);
    add_cluster_commands(app);
    add_node_commands(app);
    add_events_command(app);
  }

  // Runs the command `app` parsed; returns the exit status.
  int run_parsed(const CLI::App& app) {
    if (!pending_.empty()) return not_implemented(pending_);
    const bool container_cmd =
        !app.get_subcommands().empty() && (app.get_subcommands()[0]->get_name() == "run" ||
                                           app.get_subcommands()[0]->get_name() == "exec");
    if (!command_.empty() && !container_cmd) {
      std::fprintf(stderr, "trellis: unexpected arguments after --\n");
      return 2;
    }
    try {
      return action_ ? action_() : 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "trellis: %s\n", e.what());
      return container_cmd ? 125 : 1;
    }
  }

 private:
  void add_global_options(CLI::App& app) {
    app.add_option(
        "-H,--host", o_.host,
        "Daemon socket, unix://PATH (default $TRELLIS_HOST or " + std::string(kDefaultHost) + ")");
    app.require_subcommand(1);
    app.fallthrough();
    app.footer(
        "Examples:\n"
        "  trellis network create --subnet 10.1.0.0/24 web\n"
        "  trellis run -d --name alice --network web -- sleep 600\n"
        "  trellis run -d --name bob --network web -p 8080:80 -- python3 -m http.server 80\n"
        "  trellis exec alice -- ping -c 1 10.1.0.3\n"
        "  trellis endpoint ls --format json\n"
        "  trellis rm alice bob && trellis network rm web\n"
        "  trellis network create -d overlay --egress front   (multi-host; needs clustering)\n"
        "  trellis node ls\n"
        "\n"
        "Every listing and inspect prints a table (default) or JSON with --format json.\n"
        "Environment: TRELLIS_HOST=unix://PATH selects the daemon when -H is not given.\n"
        "Run 'trellis COMMAND --help' for a command's options.");
  }

  // ---- flags shared by several commands ----

  void add_format_flags(CLI::App* c, bool quiet) {
    c->add_option("--format", o_.format, "Output: table (default) or json")
        ->check(CLI::IsMember({"table", "json"}));
    if (quiet) c->add_flag("-q,--quiet", o_.quiet, "Print ids only");
  }
  void add_sandbox_flags(CLI::App* c) {
    c->add_option("--hostname", o_.hostname, "Host name (default: the name)");
    c->add_option("--domain", o_.domain, "Domain name");
    c->add_option("--dns", o_.dns, "DNS server (repeatable)")->allow_extra_args(false);
    c->add_option("--dns-search", o_.dns_search, "DNS search domain (repeatable)")
        ->allow_extra_args(false);
    c->add_option("--dns-option", o_.dns_options, "resolv.conf option (repeatable)")
        ->allow_extra_args(false);
    c->add_option("--add-host", o_.add_hosts, "Extra /etc/hosts entry NAME:IP (repeatable)")
        ->allow_extra_args(false);
  }
  void add_endpoint_flags(CLI::App* c) {
    c->add_option("--ip", o_.ip, "IPv4 address (default: the first free one)");
    c->add_option("--mac", o_.mac, "MAC address (default: derived from the address)");
    c->add_option("--alias", o_.aliases, "Alias (repeatable)")->allow_extra_args(false);
    c->add_option("-p,--publish", o_.publish,
                  "Publish a port [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp] (repeatable)")
        ->allow_extra_args(false);
  }

  // The handler of `c`, chosen when `c` is parsed.
  void on_parsed(CLI::App* c, std::function<int()> handler) {
    c->callback([this, handler = std::move(handler)] { action_ = handler; });
  }

  // ---- commands ----

  void add_network_commands(CLI::App& app) {
    auto* network = app.add_subcommand("network", "Manage networks")->require_subcommand(1);
    auto* c = network->add_subcommand("create", "Create a network");
    c->add_option("-d,--driver", o_.driver,
                  "Driver: bridge (default), overlay (multi-host; needs clustering), host or null");
    c->add_option("--subnet", o_.subnet,
                  "Subnet in CIDR form (default: a free private /16; overlay: a /24 of "
                  "10.0.0.0/8)");
    c->add_option("--ip-range", o_.ip_range, "Allocate container addresses from this range");
    c->add_option("--gateway", o_.gateway, "Gateway address (default: the first host)");
    c->add_option("--aux-address", o_.aux, "Address to keep from containers NAME=IP (repeatable)")
        ->allow_extra_args(false);
    c->add_flag("--internal", o_.internal, "No route out, no NAT, no published ports");
    c->add_flag("--attachable", o_.attachable, "Recorded for compatibility");
    c->add_flag("--ipv6", o_.ipv6, "Enable IPv6 (not implemented yet)");
    c->add_option("--mtu", o_.mtu, "MTU of the bridge and its interfaces");
    c->add_option("-o,--opt", o_.opts,
                  "Driver option KEY=VALUE: bridge icc, masquerade, host_ip, mtu; overlay vni, "
                  "mtu, egress")
        ->allow_extra_args(false);
    c->add_flag("--egress", o_.egress,
                "Overlay: containers also get an interface on the host's NAT bridge to reach "
                "outside the cluster (= -o egress=true)");
    c->add_option("--label", o_.labels, "Label KEY=VALUE (repeatable)")->allow_extra_args(false);
    c->add_option("name", o_.object, "Network name")->required();
    on_parsed(c, [this] { return cli_.network_create(); });

    auto* ls = network->add_subcommand("ls", "List networks");
    ls->alias("list");
    add_format_flags(ls, true);
    ls->add_flag("-a,--all", o_.all, "Include other nodes' local networks");
    on_parsed(ls, [this] { return cli_.network_ls(); });

    auto* in = network->add_subcommand("inspect", "Show networks in detail");
    add_format_flags(in, false);
    in->add_option("name", o_.names, "Network name or id")->required();
    on_parsed(in, [this] { return cli_.inspect("networks"); });

    auto* rm = network->add_subcommand("rm", "Remove networks (they must have no endpoints)");
    rm->alias("remove");
    rm->add_option("name", o_.names, "Network name or id")->required();
    on_parsed(rm, [this] { return cli_.remove("networks"); });
  }

  void add_endpoint_commands(CLI::App& app) {
    auto* endpoint = app.add_subcommand("endpoint", "Manage endpoints")->require_subcommand(1);
    auto* c = endpoint->add_subcommand("create", "Create an endpoint on a network");
    c->add_option("--network", o_.network, "Network name or id")->required();
    add_endpoint_flags(c);
    c->add_option("name", o_.object, "Endpoint name")->required();
    on_parsed(c, [this] { return cli_.endpoint_create(); });

    auto* ls = endpoint->add_subcommand("ls", "List endpoints");
    ls->alias("list");
    add_format_flags(ls, true);
    ls->add_option("--network", o_.network, "Only this network's endpoints");
    on_parsed(ls, [this] { return cli_.endpoint_ls(); });

    auto* in = endpoint->add_subcommand("inspect", "Show endpoints in detail");
    add_format_flags(in, false);
    in->add_option("--network", o_.network, "The network (when the name is used on several)");
    in->add_option("name", o_.names, "Endpoint name or id")->required();
    on_parsed(in, [this] { return cli_.inspect("endpoints", cli_.net_query()); });

    auto* rm = endpoint->add_subcommand("rm", "Remove endpoints");
    rm->alias("remove");
    rm->add_flag("-f,--force", o_.force, "Leave the sandbox first if joined");
    rm->add_option("--network", o_.network, "The network (when the name is used on several)");
    rm->add_option("name", o_.names, "Endpoint name or id")->required();
    on_parsed(rm, [this] {
      std::string q = cli_.net_query();
      if (o_.force) q += (q.empty() ? "?" : "&") + std::string("force=1");
      return cli_.remove("endpoints", q);
    });

    auto* join = endpoint->add_subcommand("join", "Attach an endpoint to a sandbox");
    join->add_option("--network", o_.network, "The endpoint's network");
    join->add_option("endpoint", o_.object, "Endpoint name or id")->required();
    join->add_option("sandbox", o_.sandbox, "Sandbox name or id")->required();
    on_parsed(join, [this] { return cli_.endpoint_join(true); });

    auto* leave = endpoint->add_subcommand("leave", "Detach an endpoint from its sandbox");
    leave->add_option("--network", o_.network, "The endpoint's network");
    leave->add_option("endpoint", o_.object, "Endpoint name or id")->required();
    leave->add_option("sandbox", o_.sandbox, "Sandbox name or id (checked if given)");
    on_parsed(leave, [this] { return cli_.endpoint_join(false); });
  }

  void add_sandbox_commands(CLI::App& app) {
    auto* sandbox = app.add_subcommand("sandbox", "Manage sandboxes")->require_subcommand(1);
    auto* c = sandbox->add_subcommand("create", "Create a sandbox (a network namespace)");
    add_sandbox_flags(c);
    c->add_option("name", o_.object, "Sandbox name")->required();
    on_parsed(c, [this] { return cli_.sandbox_create(); });

    auto* ls = sandbox->add_subcommand("ls", "List sandboxes");
    ls->alias("list");
    add_format_flags(ls, true);
    on_parsed(ls, [this] { return cli_.sandbox_ls(); });

    auto* in = sandbox->add_subcommand("inspect", "Show sandboxes in detail");
    add_format_flags(in, false);
    in->add_option("name", o_.names, "Sandbox name or id")->required();
    on_parsed(in, [this] { return cli_.inspect("sandboxes"); });

    auto* rm = sandbox->add_subcommand("rm", "Remove sandboxes with their endpoints");
    rm->alias("remove");
    rm->add_option("name", o_.names, "Sandbox name or id")->required();
    on_parsed(rm, [this] { return cli_.remove("sandboxes"); });
  }

  // run, exec and rm: sandboxes with processes in them.
  void add_container_commands(CLI::App& app) {
    auto* run = app.add_subcommand(
        "run",
        "Create a sandbox, attach it to networks and run a command in it: run [OPTIONS] -- CMD...");
    run->add_option("--name", o_.name, "Container (sandbox and endpoint) name");
    run->add_option("--network", o_.networks,
                    "Network to attach (repeatable; the first gets -p, --ip)")
        ->allow_extra_args(false);
    add_endpoint_flags(run);
    add_sandbox_flags(run);
    run->add_flag("-d,--detach", o_.detach,
                  "Run in the background (output to the sandbox's output.log)");
    run->add_flag("--rm", o_.remove, "Remove the container when the command exits");
    run->prefix_command();
    run->footer(
        "The command runs in the sandbox's network namespace, with the sandbox's generated\n"
        "hosts, resolv.conf and hostname over /etc. Exit status: the command's own; 125 when\n"
        "Trellis fails, 126/127 when the command cannot be run or is not found.\n"
        "Example: trellis run --rm --network web -p 8080:80/tcp -- python3 -m http.server 80");
    run->callback([this, run] {
      take_command(run);
      action_ = [this] { return cli_.run(); };
    });

    auto* exec = app.add_subcommand("exec", "Run a command in a container: exec NAME -- CMD...");
    exec->add_flag("-d,--detach", o_.detach, "Run in the background");
    exec->add_option("name", o_.object, "Container (sandbox) name or id")->required();
    exec->prefix_command();
    exec->footer(
        "Exit status: the command's own; 125 when Trellis fails.\n"
        "Example: trellis exec alice -- ip -o addr");
    exec->callback([this, exec] {
      take_command(exec);
      action_ = [this] { return cli_.exec(); };
    });

    auto* rm = app.add_subcommand("rm", "Kill a container's processes and remove it");
    rm->add_option("name", o_.names, "Container (sandbox) name or id")->required();
    on_parsed(rm, [this] { return cli_.rm(); });
  }

  // The command of run/exec: the words the prefix command left unparsed, then those after "--".
  void take_command(const CLI::App* c) {
    for (const auto& r : c->remaining()) o_.command.push_back(r);
    o_.command.insert(o_.command.end(), command_.begin(), command_.end());
  }

  void add_info_command(CLI::App& app) {
    auto* info = app.add_subcommand("info", "Show the daemon's identity and counts");
    add_format_flags(info, false);
    on_parsed(info, [this] { return cli_.info(); });
  }

  void add_cluster_commands(CLI::App& app) {
    auto* cluster = app.add_subcommand("cluster", "Cluster membership and replicated log");
    auto* members =
        cluster->add_subcommand("members", "List cluster members as this node sees them");
    add_format_flags(members, false);
    on_parsed(members, [this] { return cli_.cluster_members(); });
    auto* log = cluster->add_subcommand(
        "log", "Show this node's version vector: each origin's applied head and compaction floor");
    add_format_flags(log, false);
    on_parsed(log, [this] { return cli_.cluster_log(); });
    cluster->require_subcommand(1);
  }

  void add_node_commands(CLI::App& app) {
    auto* node = app.add_subcommand("node", "Cluster nodes and the space they own");
    auto* ls = node->add_subcommand(
        "ls", "List cluster nodes and the space each owns (VNIs, subnets, addresses; owned/free)");
    ls->alias("list");
    add_format_flags(ls, true);
    on_parsed(ls, [this] { return cli_.node_ls(); });
    auto* rm = node->add_subcommand(
        "rm", "Remove nodes gone for good (refused while a node is alive or suspect)");
    rm->alias("remove");
    rm->add_option("node", o_.names, "Node name or id")->required();
    rm->footer(
        "The removed node's endpoints and sandboxes are dropped on every node and its address,\n"
        "VNI and subnet ranges pass to this node, so they can be used again.\n"
        "A removed node can no longer author changes with its old data directory; bring the\n"
        "machine back only with a fresh --data-dir (as a new node). Use it for machines that\n"
        "are gone (a dead disk, a decommissioned host).");
    on_parsed(rm, [this] { return cli_.remove("nodes"); });
    node->require_subcommand(1);
  }

  void add_events_command(CLI::App& app) {
    app.add_subcommand("events", "Stream events (not implemented yet)")->callback([this] {
      pending_ = "events";
    });
  }

  Options o_;
  Cli cli_{o_};
  std::vector<std::string> command_;
  std::function<int()> action_;  // the parsed command's handler
  std::string pending_;          // the parsed command, when it is not implemented yet
};

}  // namespace

int main_impl(int argc, char** argv) {
  // Everything after the first "--" is the command of run/exec, untouched by option parsing.
  std::vector<std::string> command;
  int parse_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      command.assign(argv + i + 1, argv + argc);
      parse_argc = i;
      break;
    }
  }

  CLI::App app{
      "trellis: the command-line client of trellisd (networks, endpoints, sandboxes and\n"
      "process containers). Talks to the daemon's API socket.",
      "trellis"};
  Commands commands(command);
  commands.add_to(app);

  if (parse_argc <= 1 && command.empty()) {
    std::cout << app.help();
    return 0;
  }
  try {
    app.parse(parse_argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "trellis: %s (see --help)\n", e.what());
    return 2;
  }
  return commands.run_parsed(app);
}

}  // namespace trellis::cli

int main(int argc, char** argv) { return trellis::cli::main_impl(argc, argv); }
