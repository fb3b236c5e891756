// trellis-store: prints what an event store directory holds (identity, heads, counts, the
// decoded log, the state, the digest), for humans and for tests (--format json). Opens the
// store read-only, so it is safe next to a running trellisd.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <type_traits>
#include <vector>

#include "store/store.h"

namespace {

using nlohmann::json;
using namespace trellis::store;

json id_json(const EventId& id) { return {{"origin", format_node_id(id.origin)}, {"seq", id.seq}}; }

json spec_json(const EndpointSpec& e) {
  json ports = json::array();
  for (const auto& p : e.ports) {
    ports.push_back({{"protocol", p.protocol},
                     {"container_port", p.container_port},
                     {"host_port", p.host_port},
                     {"host_ip", p.host_ip}});
  }
  return {{"id", e.id},
          {"network", e.network},
          {"name", e.name},
          {"mac", e.mac},
          {"addresses", e.addresses},
          {"aliases", e.aliases},
          {"ports", ports},
          {"owner", format_node_id(e.owner)}};
}

json network_json(const NetworkCreated& n) {
  json pools = json::array();
  for (const auto& p : n.ipam.pools) {
    pools.push_back({{"subnet", p.subnet},
                     {"ip_range", p.ip_range},
                     {"gateway", p.gateway},
                     {"aux_addresses", p.aux_addresses}});
  }
  json result = json::array();
  for (const auto& p : n.ipam_result.pools)
    result.push_back({{"subnet", p.subnet}, {"gateway", p.gateway}});
  json j = {{"id", n.id},
            {"name", n.name},
            {"driver", n.driver},
            {"scope", n.cluster_scope ? "cluster" : "local"},
            {"internal", n.internal},
            {"attachable", n.attachable},
            {"ipv6", n.enable_ipv6},
            {"mtu", n.mtu},
            {"ipam", {{"driver", n.ipam.driver}, {"pools", pools}, {"options", n.ipam.options}}},
            {"ipam_result", {{"pools", result}, {"vni", n.ipam_result.vni}}},
            {"options", n.options},
            {"labels", n.labels}};
  if (n.ipam_result.has_pool_index) j["ipam_result"]["pool_index"] = n.ipam_result.pool_index;
  return j;
}

json body_json(const Body& body) {
  return std::visit(
      [](const auto& b) -> json {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, NetworkCreated>) {
          return network_json(b);
        } else if constexpr (std::is_same_v<T, NetworkRemoved> ||
                             std::is_same_v<T, EndpointRemoved> ||
                             std::is_same_v<T, SandboxRemoved>) {
          return {{"id", b.id}};
        } else if constexpr (std::is_same_v<T, EndpointCreated> ||
                             std::is_same_v<T, EndpointUpdated>) {
          return spec_json(b.endpoint);
        } else if constexpr (std::is_same_v<T, SandboxCreated>) {
          json hosts = json::array();
          for (const auto& h : b.extra_hosts)
            hosts.push_back({{"name", h.name}, {"address", h.address}});
          return {{"id", b.id},
                  {"container_id", b.container_id},
                  {"hostname", b.hostname},
                  {"domain", b.domain},
                  {"dns_servers", b.dns_servers},
                  {"dns_search", b.dns_search},
                  {"dns_options", b.dns_options},
                  {"extra_hosts", hosts}};
        } else if constexpr (std::is_same_v<T, EndpointJoined> || std::is_same_v<T, EndpointLeft>) {
          return {{"endpoint", b.endpoint}, {"sandbox", b.sandbox}};
        } else if constexpr (std::is_same_v<T, SpaceInitialised>) {
          return {{"space", b.space}, {"first", b.first}, {"last", b.last}};
        } else if constexpr (std::is_same_v<T, RangeDonated>) {
          return {{"space", b.space},
                  {"to", format_node_id(b.to)},
                  {"first", b.first},
                  {"last", b.last}};
        } else if constexpr (std::is_same_v<T, NodeAnnounced>) {
          return {{"name", b.name}, {"address", b.address}};
        } else if constexpr (std::is_same_v<T, NodeLeft>) {
          return json::object();
        } else if constexpr (std::is_same_v<T, NodeRemoved>) {
          return {{"node", format_node_id(b.node)}, {"last_seq", b.last_seq}};
        } else {
          return {{"type", b.type}, {"bytes", b.bytes.size()}};
        }
      },
      body);
}

json event_json(const Event& e) {
  json deps = json::array();
  for (const auto& d : e.deps) deps.push_back(id_json(d));
  return {{"origin", format_node_id(e.origin)}, {"seq", e.seq}, {"lamport", e.lamport},
          {"wall_time_ms", e.wall_time_ms},     {"deps", deps}, {"type", body_type_name(e.body)},
          {"body", body_json(e.body)}};
}

// A one-line summary of a body for the text format.
std::string body_text(const Body& body) {
  json j = body_json(body);
  for (const char* key : {"id", "name", "space", "endpoint", "node"}) {
    if (j.contains(key))
      return std::string(key) + "=" +
             (j[key].is_string() ? j[key].get<std::string>() : j[key].dump());
  }
  return j.dump();
}

json heads_json(const Store& s) {
  json out = json::array();
  const VersionVector floors = s.compacted_floors();
  for (const auto& [origin, head] : s.version_vector()) {
    auto f = floors.find(origin);
    out.push_back({{"origin", format_node_id(origin)},
                   {"head", head},
                   {"compacted_through", f == floors.end() ? 0 : f->second}});
  }
  return out;
}

json counts_json(const Store& s) {
  const Counts c = s.counts();
  return {{"events", c.events},       {"pending", c.pending},     {"networks", c.networks},
          {"endpoints", c.endpoints}, {"sandboxes", c.sandboxes}, {"joins", c.joins},
          {"nodes", c.nodes},         {"spaces", c.spaces},       {"rejections", c.rejections},
          {"map_size", c.map_size},   {"map_used", c.map_used}};
}

json state_json(const Store& s) {
  auto view = s.read();
  json nets = json::array(), eps = json::array(), sbs = json::array(), nodes = json::array(),
       spaces = json::array();
  for (const auto& n : view.networks()) {
    json j = network_json(n.spec);
    j["creator"] = format_node_id(n.creator);
    j["owner"] = format_node_id(n.owner);
    j["name_conflict"] = n.name_conflict;
    nets.push_back(j);
  }
  for (const auto& e : view.endpoints()) {
    json j = spec_json(e.spec);
    j["orphaned"] = e.orphaned;
    j["sandbox"] = e.sandbox;
    eps.push_back(j);
  }
  for (const auto& sb : view.sandboxes()) {
    sbs.push_back({{"id", sb.spec.id},
                   {"container_id", sb.spec.container_id},
                   {"owner", format_node_id(sb.owner)},
                   {"endpoints", sb.endpoints}});
  }
  for (const auto& n : view.nodes()) {
    nodes.push_back({{"id", format_node_id(n.id)},
                     {"name", n.name},
                     {"address", n.address},
                     {"status", to_string(n.status)}});
  }
  for (const auto& key : view.space_keys()) {
    auto sp = view.space(key);
    json owners = json::array();
    for (const auto& [range, owner] : sp->space.ownership().all()) {
      owners.push_back(
          {{"first", range.first}, {"last", range.last}, {"owner", format_node_id(owner)}});
    }
    json free = json::object();
    for (const auto& [node, count] : sp->space.free_by_owner()) free[format_node_id(node)] = count;
    spaces.push_back({{"key", key}, {"ranges", owners}, {"free", free}});
  }
  return {{"networks", nets},
          {"endpoints", eps},
          {"sandboxes", sbs},
          {"nodes", nodes},
          {"spaces", spaces}};
}

void print_json(const json& j) { std::cout << j.dump(2) << "\n"; }

void print_heads(const Store& s, bool as_json) {
  json h = heads_json(s);
  if (as_json) return print_json(h);
  for (const auto& e : h) {
    std::cout << e["origin"].get<std::string>() << "  head " << e["head"] << "  compacted through "
              << e["compacted_through"] << "\n";
  }
}

void print_counts(const Store& s, bool as_json) {
  json c = counts_json(s);
  if (as_json) return print_json(c);
  for (const auto& [k, v] : c.items()) std::cout << k << " " << v << "\n";
}

// Which events `log` prints.
struct LogFilter {
  std::string origin;  // hex node id; empty: every origin
  uint64_t after = 0;
  size_t limit = SIZE_MAX;  // per origin
};

void print_log(const Store& s, const LogFilter& filter, bool as_json) {
  std::vector<NodeId> origins;
  if (!filter.origin.empty()) {
    origins.push_back(parse_node_id(filter.origin));
  } else {
    for (const auto& [o, h] : s.version_vector()) origins.push_back(o);
  }
  json all = json::array();
  for (NodeId o : origins) {
    // Below the floor the events are compacted away; events_after would refuse to start there.
    const uint64_t floor = s.compacted_floors()[o];
    for (const auto& e : s.events_after(o, std::max(filter.after, floor), filter.limit)) {
      if (as_json) {
        all.push_back(event_json(e));
      } else {
        std::cout << format_node_id(e.origin) << ":" << e.seq << "  L" << e.lamport << "  "
                  << body_type_name(e.body) << "  " << body_text(e.body) << "\n";
      }
    }
  }
  if (as_json) print_json(all);
}

void print_state(const Store& s, bool as_json) {
  json st = state_json(s);
  if (as_json) return print_json(st);
  for (const auto& n : st["networks"]) {
    std::cout << "network " << n["id"].get<std::string>() << " " << n["name"].get<std::string>()
              << " " << n["driver"].get<std::string>() << " owner " << n["owner"].get<std::string>()
              << (n["name_conflict"].get<bool>() ? " (name conflict)" : "") << "\n";
  }
  for (const auto& e : st["endpoints"]) {
    std::cout << "endpoint " << e["id"].get<std::string>() << " on "
              << e["network"].get<std::string>() << " " << e["addresses"].dump() << " owner "
              << e["owner"].get<std::string>() << (e["orphaned"].get<bool>() ? " (orphaned)" : "")
              << "\n";
  }
  for (const auto& sb : st["sandboxes"]) {
    std::cout << "sandbox " << sb["id"].get<std::string>() << " owner "
              << sb["owner"].get<std::string>() << " endpoints " << sb["endpoints"].dump() << "\n";
  }
  for (const auto& n : st["nodes"]) {
    std::cout << "node " << n["id"].get<std::string>() << " " << n["name"].get<std::string>() << " "
              << n["status"].get<std::string>() << "\n";
  }
  for (const auto& sp : st["spaces"]) {
    std::cout << "space " << sp["key"].get<std::string>() << " ranges " << sp["ranges"].size()
              << " free " << sp["free"].dump() << "\n";
  }
}

void print_digest(const Store& s, bool as_json) {
  if (as_json) return print_json(json{{"digest", s.state_digest()}});
  std::cout << s.state_digest() << "\n";
}

void print_rejections(const Store& s, bool as_json) {
  json out = json::array();
  for (const auto& r : s.rejections(SIZE_MAX)) {
    out.push_back({{"event", id_json(r.event)}, {"type", r.body_type}, {"reason", r.reason}});
  }
  if (as_json) return print_json(out);
  for (const auto& r : out)
    std::cout << r["event"]["origin"].get<std::string>() << ":" << r["event"]["seq"] << " "
              << r["type"].get<std::string>() << ": " << r["reason"].get<std::string>() << "\n";
}

// Without a subcommand: identity, heads, counts and digest.
void print_summary(const Store& s, bool as_json) {
  const NodeIdentity id = s.identity();
  json summary = {
      {"node", {{"id", format_node_id(id.id)}, {"name", id.name}, {"cluster_id", id.cluster_id}}},
      {"schema", kStoreSchemaVersion},
      {"lamport", s.lamport()},
      {"heads", heads_json(s)},
      {"counts", counts_json(s)},
      {"digest", s.state_digest()}};
  if (as_json) return print_json(summary);
  std::cout << "node " << format_node_id(id.id) << " (" << id.name << ") cluster " << id.cluster_id
            << "\nlamport " << s.lamport() << "\ndigest " << s.state_digest() << "\n";
  for (const auto& h : summary["heads"]) {
    std::cout << "head " << h["origin"].get<std::string>() << " " << h["head"] << "\n";
  }
  for (const auto& [k, v] : summary["counts"].items()) std::cout << k << " " << v << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trellis-store: inspect a Trellis event store directory (read-only)"};
  std::string dir;
  std::string format = "text";
  // The daemon opens its store in the data directory itself (data.mdb beside trellisd.lock).
  app.add_option("dir", dir, "store directory: trellisd's --data-dir (default /var/lib/trellis)")
      ->required();
  app.add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.require_subcommand(0, 1);
  auto* heads = app.add_subcommand("heads", "per-origin heads and compaction floors");
  auto* counts = app.add_subcommand("counts", "entries per table and map usage");
  auto* log = app.add_subcommand("log", "the decoded log, by origin and seq");
  LogFilter filter;
  log->add_option("--origin", filter.origin, "only this origin (hex node id)");
  log->add_option("--after", filter.after, "only events with seq greater than this");
  log->add_option("--limit", filter.limit, "at most this many events per origin");
  auto* state = app.add_subcommand("state", "networks, endpoints, sandboxes, nodes, spaces");
  auto* digest = app.add_subcommand("digest", "the state digest");
  auto* rejected = app.add_subcommand("rejections", "events the reducer rejected");
  CLI11_PARSE(app, argc, argv);
  const bool as_json = format == "json";

  try {
    Options options;
    options.read_only = true;
    options.create_if_missing = false;
    const Store s = Store::open(dir, options);
    if (heads->parsed()) {
      print_heads(s, as_json);
    } else if (counts->parsed()) {
      print_counts(s, as_json);
    } else if (log->parsed()) {
      print_log(s, filter, as_json);
    } else if (state->parsed()) {
      print_state(s, as_json);
    } else if (digest->parsed()) {
      print_digest(s, as_json);
    } else if (rejected->parsed()) {
      print_rejections(s, as_json);
    } else {
      print_summary(s, as_json);
    }
  } catch (const trellis::Error& e) {
    std::cerr << "trellis-store: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
