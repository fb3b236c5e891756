#include "node/api/views.h"

#include <unistd.h>

#include <map>
#include <set>

#include "node/api/cluster_json.h"
#include "node/dataplane/names.h"
#include "node/drivers/registry.h"
#include "overlay/space_planner.h"
#include "overlay/space_request.h"

namespace trellis::node::api {

namespace {

json ports_json(const std::vector<store::PortBinding>& ports) {
  json out = json::array();
  for (const auto& p : ports) {
    out.push_back({{"protocol", p.protocol},
                   {"container_port", p.container_port},
                   {"host_port", p.host_port},
                   {"host_ip", p.host_ip}});
  }
  return out;
}

}  // namespace

json Views::network(const store::NetworkInfo& n) const {
  const auto& s = n.spec;
  json config = json::array();
  for (const auto& p : s.ipam.pools) {
    config.push_back({{"subnet", p.subnet},
                      {"ip_range", p.ip_range},
                      {"gateway", p.gateway},
                      {"aux_addresses", p.aux_addresses}});
  }
  json subnets = json::array();
  for (const auto& p : s.ipam_result.pools)
    subnets.push_back({{"subnet", p.subnet}, {"gateway", p.gateway}});
  json j = {{"id", s.id},
            {"name", s.name},
            {"driver", s.driver},
            {"scope", s.cluster_scope ? "cluster" : "local"},
            {"internal", s.internal},
            {"attachable", s.attachable},
            {"ipv6", s.enable_ipv6},
            {"mtu", s.mtu},
            {"ipam", {{"driver", s.ipam.driver}, {"config", config}, {"options", s.ipam.options}}},
            {"subnets", subnets},
            {"options", s.options},
            {"labels", s.labels},
            {"owner", store::format_node_id(n.owner)},
            {"local", n.owner == c_.identity().id},
            {"name_conflict", n.name_conflict},
            {"endpoints", c_.endpoint_count(s.id)}};
  if (const NetworkDriver* driver = DriverRegistry::builtin().find(s.driver)) {
    for (const auto& [key, value] : driver->view_fields(s)) j[key] = value;
  }
  if (s.cluster_scope) j["vni"] = s.ipam_result.vni;
  return j;
}

json Views::endpoint(const store::EndpointInfo& e) const {
  const auto& s = e.spec;
  const auto* net = c_.state().network(s.network);
  const auto* sb = e.sandbox.empty() ? nullptr : c_.state().sandbox(e.sandbox);
  json j = {{"id", s.id},
            {"name", s.name},
            {"network", s.network},
            {"network_name", net ? net->spec.name : ""},
            {"owner", store::format_node_id(s.owner)},
            {"mac", s.mac},
            {"addresses", s.addresses},
            {"aliases", s.aliases},
            {"ports", ports_json(s.ports)},
            {"sandbox", e.sandbox},
            {"sandbox_name", sb ? sb->spec.container_id : ""},
            {"orphaned", e.orphaned},
            {"interface", ""},
            {"host_link", ""}};
  if (auto rt = c_.endpoint_runtime(s.id)) {
    j["interface"] = rt->interface;
    j["host_link"] = rt->host_link;
  }
  return j;
}

json Views::sandbox(const store::SandboxInfo& sb) const {
  const auto& s = sb.spec;
  json hosts = json::array();
  for (const auto& h : s.extra_hosts) hosts.push_back({{"name", h.name}, {"address", h.address}});
  json eps = json::array();
  for (const auto* e : c_.state().joined_endpoints(s.id)) {
    const auto* net = c_.state().network(e->spec.network);
    json ej = {{"id", e->spec.id},
               {"name", e->spec.name},
               {"network", e->spec.network},
               {"network_name", net ? net->spec.name : ""},
               {"addresses", e->spec.addresses},
               {"mac", e->spec.mac},
               {"interface", ""}};
    if (auto rt = c_.endpoint_runtime(e->spec.id)) ej["interface"] = rt->interface;
    eps.push_back(std::move(ej));
  }
  const RunPaths& p = c_.paths();
  return {{"id", s.id},
          {"name", s.container_id},
          {"owner", store::format_node_id(sb.owner)},
          {"hostname", s.hostname},
          {"domain", s.domain},
          {"dns", s.dns_servers},
          {"dns_search", s.dns_search},
          {"dns_options", s.dns_options},
          {"extra_hosts", hosts},
          {"endpoints", eps},
          {"host_mode", c_.host_mode(s.id)},
          {"netns", c_.netns_path(s.id)},
          {"dir", p.sandbox_dir(s.id)},
          {"files",
           {{"hosts", p.hosts_file(s.id)},
            {"resolv_conf", p.resolv_file(s.id)},
            {"hostname", p.hostname_file(s.id)},
            {"output", p.output_file(s.id)}}}};
}

json Views::info(const ProcessInfo& process) const {
  const store::NodeIdentity id = c_.identity();
  const store::Counts counts = c_.counts();
  json failures = json::array();
  for (const auto& [key, f] : c_.failures()) {
    failures.push_back(
        {{"object", key}, {"kind", std::string(to_string(f.kind))}, {"error", f.message}});
  }
  const auto up = std::chrono::steady_clock::now() - process.started;
  return {{"node_id", store::format_node_id(id.id)},
          {"name", id.name},
          {"cluster_id", id.cluster_id == 0 ? "" : store::format_node_id(id.cluster_id)},
          {"version", process.version},
          {"pid", static_cast<int>(getpid())},
          {"data_dir", process.data_dir},
          {"run_dir", process.run_dir},
          {"api_socket", c_.paths().api_socket()},
          {"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(up).count()},
          {"networks", c_.state().networks().size()},
          {"endpoints", c_.state().endpoints().size()},
          {"sandboxes", c_.state().sandboxes().size()},
          {"events", counts.events},
          {"failures", failures}};
}

json Views::members(const std::vector<ClusterMember>& members) const {
  json out = members_to_json(members);
  const store::ReadView view = c_.read();
  for (json& m : out) {
    const auto record = view.node(store::parse_node_id(m.value("id", "")));
    if (record && record->status == store::NodeStatus::kRemoved) m["state"] = "removed";
  }
  return out;
}

json Views::nodes(const std::vector<ClusterMember>& members) const {
  const Controller& controller = c_;
  const store::ReadView view = controller.read();
  const store::NodeId self = controller.identity().id;
  std::map<store::NodeId, store::NodeInfo> records;
  for (auto& n : view.nodes()) records[n.id] = n;
  std::map<store::NodeId, const ClusterMember*> by_id;
  for (const auto& m : members) by_id[m.id] = &m;
  std::map<std::string, std::string> network_names;
  for (const auto& n : view.networks()) network_names[n.spec.id] = n.spec.name;
  const auto shares = overlay::space_shares(view);

  std::set<store::NodeId> ids;
  for (const auto& [id, r] : records) ids.insert(id);
  for (const auto& [id, m] : by_id) ids.insert(id);
  for (const auto& [key, owners] : shares)
    for (const auto& [id, share] : owners) ids.insert(id);
  ids.insert(self);

  json out = json::array();
  for (const store::NodeId id : ids) {
    const auto rec = records.find(id);
    const auto mem = by_id.find(id);
    json spaces = json::array();
    for (const auto& [key, owners] : shares) {
      const auto it = owners.find(id);
      if (it == owners.end()) continue;
      json sj = {{"space", key}, {"owned", it->second.owned}, {"free", it->second.free}};
      if (key == store::kVniSpace) {
        sj["kind"] = "vni";
      } else if (key == store::kSubnetPoolSpace) {
        sj["kind"] = "subnet";
      } else if (const auto net = overlay::parse_network_space_key(key)) {
        sj["kind"] = "address";
        sj["network"] = net->first;
        const auto name = network_names.find(net->first);
        sj["network_name"] = name == network_names.end() ? "" : name->second;
      } else {
        sj["kind"] = "other";
      }
      spaces.push_back(std::move(sj));
    }
    std::string state = "unknown";
    if (id == self) {
      state = "alive";
    } else if (mem != by_id.end()) {
      state = gossip::to_string(mem->second->state);
    }
    std::string status = "unknown";
    if (rec != records.end()) status = store::to_string(rec->second.status);
    if (status == "removed") state = "removed";
    std::string name = rec != records.end() ? rec->second.name : "";
    if (name.empty() && mem != by_id.end()) name = mem->second->name;
    std::string address = rec != records.end() ? rec->second.address : "";
    json j = {{"id", store::format_node_id(id)},
              {"name", name},
              {"address", address},
              {"gossip_address", mem != by_id.end() ? mem->second->address : ""},
              {"state", state},
              {"status", status},
              {"self", id == self},
              {"spaces", spaces}};
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace trellis::node::api
