#include "node/api/requests.h"

#include <cctype>
#include <string_view>

namespace trellis::node::api {

namespace {

std::string pct_decode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = std::isxdigit(static_cast<unsigned char>(in[i + 1]));
      const int lo = std::isxdigit(static_cast<unsigned char>(in[i + 2]));
      if (hi && lo) {
        out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

store::PortBinding port_binding(const json& j) {
  Fields f(j, "port");
  store::PortBinding p;
  p.protocol = f.str("protocol", "tcp");
  p.container_port = static_cast<uint32_t>(f.number("container_port", 65535));
  p.host_port = static_cast<uint32_t>(f.number("host_port", 65535));
  p.host_ip = f.str("host_ip");
  f.done();
  return p;
}

}  // namespace

json parse_body(const std::string& body, const std::string& what) {
  if (body.empty()) return json::object();
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    throw InvalidArgumentError(what + ": malformed JSON: " + e.what());
  }
}

NetworkRequest network_request(const json& j) {
  Fields f(j, "network");
  NetworkRequest r;
  r.name = f.str("name");
  if (r.name.empty()) throw InvalidArgumentError("network: field 'name' is required");
  r.driver = f.str("driver", "");
  r.internal = f.boolean("internal");
  r.attachable = f.boolean("attachable");
  r.enable_ipv6 = f.boolean("ipv6");
  r.mtu = static_cast<uint32_t>(f.number("mtu", 65535));
  r.options = f.string_map("options");
  r.labels = f.string_map("labels");
  if (f.has("ipam")) {
    Fields ipam(f.object("ipam"), "network ipam");
    r.ipam.driver = ipam.str("driver", "default");
    r.ipam.options = ipam.string_map("options");
    for (const auto& pj : ipam.objects("config")) {
      Fields p(pj, "network ipam config");
      store::IpamPoolConfig pool;
      pool.subnet = p.str("subnet");
      pool.ip_range = p.str("ip_range");
      pool.gateway = p.str("gateway");
      pool.aux_addresses = p.string_map("aux_addresses");
      p.done();
      r.ipam.pools.push_back(std::move(pool));
    }
    ipam.done();
  }
  f.done();
  return r;
}

EndpointRequest endpoint_request(const json& j) {
  Fields f(j, "endpoint");
  EndpointRequest r;
  r.network = f.str("network");
  if (r.network.empty()) throw InvalidArgumentError("endpoint: field 'network' is required");
  r.name = f.str("name");
  if (r.name.empty()) throw InvalidArgumentError("endpoint: field 'name' is required");
  r.ip = f.str("ip");
  r.mac = f.str("mac");
  r.aliases = f.strings("aliases");
  for (const auto& pj : f.objects("ports")) r.ports.push_back(port_binding(pj));
  f.done();
  return r;
}

SandboxRequest sandbox_request(const json& j) {
  Fields f(j, "sandbox");
  SandboxRequest r;
  r.name = f.str("name");
  if (r.name.empty()) throw InvalidArgumentError("sandbox: field 'name' is required");
  r.hostname = f.str("hostname");
  r.domain = f.str("domain");
  r.dns_servers = f.strings("dns");
  r.dns_search = f.strings("dns_search");
  r.dns_options = f.strings("dns_options");
  for (const auto& hj : f.objects("extra_hosts")) {
    Fields h(hj, "extra host");
    store::ExtraHost host{h.str("name"), h.str("address")};
    h.done();
    if (host.name.empty() || host.address.empty())
      throw InvalidArgumentError("extra host: 'name' and 'address' are required");
    r.extra_hosts.push_back(std::move(host));
  }
  f.done();
  return r;
}

Target parse_target(const std::string& target) {
  Target t;
  const auto q = target.find('?');
  const std::string path = target.substr(0, q);
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) t.segments.push_back(pct_decode(path.substr(start, end - start)));
    start = end + 1;
  }
  if (q != std::string::npos) {
    std::string_view qs = std::string_view(target).substr(q + 1);
    while (!qs.empty()) {
      auto amp = qs.find('&');
      std::string_view part = qs.substr(0, amp);
      auto eq = part.find('=');
      std::string key = pct_decode(part.substr(0, eq));
      std::string value = eq == std::string_view::npos ? "" : pct_decode(part.substr(eq + 1));
      if (!key.empty()) t.query[key] = value;
      if (amp == std::string_view::npos) break;
      qs.remove_prefix(amp + 1);
    }
  }
  return t;
}

}  // namespace trellis::node::api
