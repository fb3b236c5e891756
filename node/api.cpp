#include "node/api.h"

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <vector>

#include "node/cluster.h"
#include "node/cluster_json.h"
#include "node/controller.h"
#include "node/ids.h"
#include "node/log.h"
#include "node/naming.h"
#include "node/processes.h"
#include "overlay/space_planner.h"
#include "overlay/space_request.h"

namespace trellis::node {

using nlohmann::json;

int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNotFound:
      return 404;
    case ErrorKind::kInvalidArgument:
      return 400;
    case ErrorKind::kConflict:
      return 409;
    case ErrorKind::kUnavailable:
      return 503;
    case ErrorKind::kInternal:
      return 500;
  }
  return 500;
}

namespace {

spdlog::logger& logger() { return log("api"); }

ApiResponse error_response(ErrorKind kind, const std::string& message) {
  json body = {{"error", message}, {"kind", std::string(to_string(kind))}};
  return {http_status(kind), body.dump()};
}

ApiResponse ok(const json& body, int status = 200) { return {status, body.dump()}; }

// ---- request parsing -------------------------------------------------------------------------

// Reads the fields of one JSON object, each at most once, and refuses unknown ones.
class Fields {
 public:
  Fields(const json& j, std::string what) : j_(j), what_(std::move(what)) {
    if (!j_.is_object()) throw InvalidArgumentError(what_ + ": expected a JSON object");
  }

  bool has(const std::string& key) {
    known_.insert(key);
    return j_.contains(key) && !j_.at(key).is_null();
  }
  std::string str(const std::string& key, std::string fallback = {}) {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_string()) fail(key, "a string");
    return v.get<std::string>();
  }
  bool boolean(const std::string& key, bool fallback = false) {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_boolean()) fail(key, "true or false");
    return v.get<bool>();
  }
  uint64_t number(const std::string& key, uint64_t max, uint64_t fallback = 0) {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number_unsigned() || v.get<uint64_t>() > max)
      fail(key, "a number from 0 to " + std::to_string(max));
    return v.get<uint64_t>();
  }
  std::vector<std::string> strings(const std::string& key) {
    std::vector<std::string> out;
    if (!has(key)) return out;
    const json& v = j_.at(key);
    if (!v.is_array()) fail(key, "an array of strings");
    for (const auto& item : v) {
      if (!item.is_string()) fail(key, "an array of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  std::map<std::string, std::string> string_map(const std::string& key) {
    std::map<std::string, std::string> out;
    if (!has(key)) return out;
    const json& v = j_.at(key);
    if (!v.is_object()) fail(key, "an object of strings");
    for (const auto& [k, item] : v.items()) {
      if (!item.is_string()) fail(key + "." + k, "a string");
      out[k] = item.get<std::string>();
    }
    return out;
  }
  std::vector<json> objects(const std::string& key) {
    std::vector<json> out;
    if (!has(key)) return out;
    const json& v = j_.at(key);
    if (!v.is_array()) fail(key, "an array of objects");
    for (const auto& item : v) out.push_back(item);
    return out;
  }
  json object(const std::string& key) {
    if (!has(key)) return json::object();
    const json& v = j_.at(key);
    if (!v.is_object()) fail(key, "an object");
    return v;
  }
  // Throws for fields nobody asked about.
  void done() const {
    for (const auto& [k, v] : j_.items()) {
      if (!known_.count(k)) throw InvalidArgumentError(what_ + ": unknown field '" + k + "'");
    }
  }

 private:
  [[noreturn]] void fail(const std::string& key, const std::string& expected) const {
    throw InvalidArgumentError(what_ + ": field '" + key + "' must be " + expected);
  }
  const json j_;
  std::string what_;
  std::set<std::string> known_;
};

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
  r.driver = f.str("driver", "bridge");
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

// ---- responses -------------------------------------------------------------------------------

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

struct Target {
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;

  bool flag(const std::string& key) const {
    auto it = query.find(key);
    if (it == query.end()) return false;
    const std::string& v = it->second;
    if (v.empty() || v == "1" || v == "true" || v == "yes") return true;
    if (v == "0" || v == "false" || v == "no") return false;
    throw InvalidArgumentError("query parameter " + key + "=" + v + ": expected true or false");
  }
  std::string param(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  }
};

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

class Renderer {
 public:
  explicit Renderer(const Controller& c) : c_(c) {}

  json network(const store::NetworkInfo& n) const {
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
    json j = {
        {"id", s.id},
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
    if (s.driver == "bridge") j["bridge"] = bridge_name(s.id);
    if (s.cluster_scope) j["vni"] = s.ipam_result.vni;
    return j;
  }

  json endpoint(const store::EndpointInfo& e) const {
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

  json sandbox(const store::SandboxInfo& sb) const {
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

 private:
  const Controller& c_;
};

// GET /nodes: every node the state or the membership knows, with its share of every space.
json nodes_json(const Controller& controller, const std::vector<ClusterMember>& members) {
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

std::string format_ms(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + " s";
  return std::to_string(ms.count()) + " ms";
}

}  // namespace

// A request waiting for a space donation: retried on the I/O thread until it succeeds, fails
// otherwise, or the limit passes. Owned by the router's set while waiting; the timer's
// handler holds it too.
class ApiRouter::Waiter : public std::enable_shared_from_this<ApiRouter::Waiter> {
 public:
  Waiter(ApiRouter& router, ApiRequest request, std::function<void(ApiResponse)> done)
      : router_(router),
        request_(std::move(request)),
        done_(std::move(done)),
        timer_(*router.io_),
        started_(std::chrono::steady_clock::now()) {}

  // Sends the request to the donor when it is new, or when the last one is old.
  void ask(const SpaceShortage& s) {
    const auto now = std::chrono::steady_clock::now();
    if (sent_ && s.donor() == donor_ && s.payload() == payload_ &&
        now - last_sent_ < router_.wait_.resend_interval)
      return;
    donor_ = s.donor();
    payload_ = s.payload();
    last_sent_ = now;
    sent_ = true;
    logger().debug("{} {}: asking node {} for {} of {}", request_.method, request_.target,
                   store::format_node_id(donor_), s.wanted(), s.space());
    try {
      router_.cluster_->request_space(donor_, payload_);
    } catch (const std::exception& e) {
      // Sent again after resend_interval; the request fails at the limit if nothing comes.
      logger().warn("{} {}: asking node {} for {}: {}", request_.method, request_.target,
                    store::format_node_id(donor_), s.wanted(), e.what());
    }
  }

  void schedule() {
    timer_.expires_after(router_.wait_.retry_interval);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      self->retry();
    });
  }

  void cancel() { timer_.cancel(); }

 private:
  void retry() {
    try {
      ApiResponse r = router_.route(request_);
      logger().debug("{} {} -> {} after waiting {} ms for space", request_.method, request_.target,
                     r.status, elapsed().count());
      finish(std::move(r));
    } catch (const SpaceShortage& s) {
      if (elapsed() >= router_.wait_.limit) {
        const overlay::NoSpaceReachableError timeout(
            s.operation() + ": space request to node " + store::format_node_id(s.donor()) +
            " timed out after " + format_ms(router_.wait_.limit) + " (asked for " + s.wanted() +
            ")");
        logger().warn("{} {}: {}", request_.method, request_.target, timeout.what());
        finish(error_response(timeout.kind(), timeout.what()));
        return;
      }
      ask(s);
      schedule();
    } catch (const std::exception& e) {
      finish(router_.error(request_, e));
    }
  }

  std::chrono::milliseconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 started_);
  }

  void finish(ApiResponse r) {
    auto self = shared_from_this();  // keeps this alive past the erase
    router_.waiters_.erase(self);
    auto done = std::move(done_);
    done(std::move(r));
  }

  ApiRouter& router_;
  ApiRequest request_;
  std::function<void(ApiResponse)> done_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point started_;
  bool sent_ = false;
  store::NodeId donor_ = 0;
  std::string payload_;
  std::chrono::steady_clock::time_point last_sent_;
};

ApiRouter::ApiRouter(Controller& controller, ApiInfo info, ClusterService* cluster,
                     boost::asio::io_context* io, SpaceWaitOptions wait)
    : controller_(controller), info_(std::move(info)), cluster_(cluster), io_(io), wait_(wait) {}

ApiRouter::~ApiRouter() {
  // Their handlers never run again (the I/O thread is stopping); the connections they would
  // answer close with the io_context.
  for (const auto& w : waiters_) w->cancel();
}

ApiResponse ApiRouter::error(const ApiRequest& request, const std::exception& e) {
  if (const auto* err = dynamic_cast<const Error*>(&e)) {
    const ApiResponse r = error_response(err->kind(), err->what());
    (err->kind() == ErrorKind::kInternal
         ? logger().error("{} {}: {}", request.method, request.target, err->what())
         : logger().debug("{} {} -> {}: {}", request.method, request.target, r.status,
                          err->what()));
    return r;
  }
  logger().error("{} {}: {}", request.method, request.target, e.what());
  return error_response(ErrorKind::kInternal, e.what());
}

ApiResponse ApiRouter::handle_now(const ApiRequest& request) {
  try {
    ApiResponse r = route(request);
    logger().debug("{} {} -> {}", request.method, request.target, r.status);
    return r;
  } catch (const std::exception& e) {
    return error(request, e);
  }
}

void ApiRouter::handle(const ApiRequest& request, std::function<void(ApiResponse)> done) {
  ApiResponse response;
  try {
    response = route(request);
    logger().debug("{} {} -> {}", request.method, request.target, response.status);
  } catch (const SpaceShortage& s) {
    if (!cluster_ || !io_) {
      response = error(request, s);
    } else {
      auto waiter = std::make_shared<Waiter>(*this, request, std::move(done));
      waiters_.insert(waiter);
      waiter->ask(s);  // never throws
      waiter->schedule();
      return;
    }
  } catch (const std::exception& e) {
    response = error(request, e);
  }
  done(std::move(response));
}

ApiResponse ApiRouter::route(const ApiRequest& request) {
  const Target t = parse_target(request.target);
  const auto& seg = t.segments;
  const std::string& m = request.method;
  const Renderer render(controller_);
  auto not_allowed = [&]() -> ApiResponse {
    return {405, json{{"error", "method " + m + " not allowed on " + request.target},
                      {"kind", "invalid-argument"}}
                     .dump()};
  };
  if (seg.empty()) throw NotFoundError("no route for " + request.target);

  if (seg[0] == "info" && seg.size() == 1) {
    if (m != "GET") return not_allowed();
    const store::NodeIdentity id = controller_.identity();
    const store::Counts counts = controller_.counts();
    json failures = json::array();
    for (const auto& [key, f] : controller_.failures()) {
      failures.push_back(
          {{"object", key}, {"kind", std::string(to_string(f.kind))}, {"error", f.message}});
    }
    const auto up = std::chrono::steady_clock::now() - info_.started;
    return ok({{"node_id", store::format_node_id(id.id)},
               {"name", id.name},
               {"cluster_id", id.cluster_id == 0 ? "" : store::format_node_id(id.cluster_id)},
               {"version", info_.version},
               {"pid", static_cast<int>(getpid())},
               {"data_dir", info_.data_dir},
               {"run_dir", info_.run_dir},
               {"api_socket", controller_.paths().api_socket()},
               {"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(up).count()},
               {"networks", controller_.state().networks().size()},
               {"endpoints", controller_.state().endpoints().size()},
               {"sandboxes", controller_.state().sandboxes().size()},
               {"events", counts.events},
               {"failures", failures}});
  }

  if (seg[0] == "networks") {
    if (seg.size() == 1) {
      if (m == "GET") {
        json out = json::array();
        for (const auto& n : controller_.networks(t.flag("all"))) out.push_back(render.network(n));
        return ok(out);
      }
      if (m == "POST") {
        const auto n =
            controller_.create_network(network_request(parse_body(request.body, "network")));
        return ok(render.network(n), 201);
      }
      return not_allowed();
    }
    if (seg.size() == 2) {
      if (m == "GET") return ok(render.network(controller_.network(seg[1])));
      if (m == "DELETE") {
        controller_.remove_network(seg[1]);
        return {204, ""};
      }
      return not_allowed();
    }
  }

  if (seg[0] == "endpoints") {
    const std::string network = t.param("network");
    if (seg.size() == 1) {
      if (m == "GET") {
        json out = json::array();
        for (const auto& e : controller_.endpoints(network)) out.push_back(render.endpoint(e));
        return ok(out);
      }
      if (m == "POST") {
        const auto e =
            controller_.create_endpoint(endpoint_request(parse_body(request.body, "endpoint")));
        return ok(render.endpoint(e), 201);
      }
      return not_allowed();
    }
    if (seg.size() == 2) {
      if (m == "GET") return ok(render.endpoint(controller_.endpoint(seg[1], network)));
      if (m == "DELETE") {
        controller_.remove_endpoint(seg[1], network, t.flag("force"));
        return {204, ""};
      }
      return not_allowed();
    }
    if (seg.size() == 3 && (seg[2] == "join" || seg[2] == "leave")) {
      if (m != "POST") return not_allowed();
      const json body = parse_body(request.body, seg[2]);
      Fields f(body, seg[2]);
      const std::string sandbox = f.str("sandbox");
      f.done();
      if (seg[2] == "join") {
        if (sandbox.empty()) throw InvalidArgumentError("join: field 'sandbox' is required");
        controller_.join(seg[1], network, sandbox);
      } else {
        controller_.leave(seg[1], network, sandbox);
      }
      return ok(render.endpoint(controller_.endpoint(seg[1], network)));
    }
  }

  if (seg[0] == "sandboxes") {
    if (seg.size() == 1) {
      if (m == "GET") {
        json out = json::array();
        for (const auto& s : controller_.sandboxes()) out.push_back(render.sandbox(s));
        return ok(out);
      }
      if (m == "POST") {
        const auto s =
            controller_.create_sandbox(sandbox_request(parse_body(request.body, "sandbox")));
        return ok(render.sandbox(s), 201);
      }
      return not_allowed();
    }
    if (seg.size() == 2) {
      if (m == "GET") return ok(render.sandbox(controller_.sandbox(seg[1])));
      if (m == "DELETE") {
        const bool kill = t.flag("kill");
        const store::SandboxInfo s = controller_.sandbox(seg[1]);
        if (kill && s.owner == controller_.identity().id) {
          const std::string netns =
              controller_.host_mode(s.spec.id) ? "" : controller_.paths().sandbox_netns(s.spec.id);
          const size_t n = kill_sandbox_processes(controller_.paths().pids_file(s.spec.id), netns,
                                                  std::chrono::seconds(5));
          if (n > 0) logger().debug("killed {} processes of sandbox {}", n, short_id(s.spec.id));
        }
        controller_.remove_sandbox(s.spec.id);
        return {204, ""};
      }
      return not_allowed();
    }
    if (seg.size() == 3 && seg[2] == "processes") {
      if (m != "POST") return not_allowed();
      const json body = parse_body(request.body, "process");
      Fields f(body, "process");
      const uint64_t pid = f.number("pid", 0x7fffffff);
      f.done();
      const store::SandboxInfo s = controller_.sandbox(seg[1]);
      if (s.owner != controller_.identity().id)
        throw ConflictError("sandbox " + seg[1] + " belongs to another node");
      record_process(controller_.paths().pids_file(s.spec.id), static_cast<int>(pid));
      return {204, ""};
    }
  }

  if (seg[0] == "cluster" && seg.size() == 2 &&
      (seg[1] == "members" || seg[1] == "log" || seg[1] == "stats")) {
    if (m != "GET") return not_allowed();
    if (!cluster_) {
      throw UnavailableError(
          "clustering is off on this node (start trellisd with --join, --advertise-addr or "
          "--listen-addr)");
    }
    if (seg[1] == "members") return ok(members_to_json(cluster_->members()));
    if (seg[1] == "log") {
      json j = log_status_to_json(cluster_->log_status());
      j["state_digest"] = controller_.state_digest();
      return ok(j);
    }
    return ok(stats_to_json(cluster_->stats()));
  }

  if (seg[0] == "nodes" && seg.size() <= 2) {
    if (!cluster_) {
      throw UnavailableError(
          "clustering is off on this node (start trellisd with --join, --advertise-addr or "
          "--listen-addr)");
    }
    if (seg.size() == 1) {
      if (m != "GET") return not_allowed();
      return ok(nodes_json(controller_, cluster_->members()));
    }
    if (m == "GET") {
      const json all = nodes_json(controller_, cluster_->members());
      for (const auto& n : all) {
        if (n["id"] == seg[1] || n["name"] == seg[1]) return ok(n);
      }
      const json* by_prefix = nullptr;
      for (const auto& n : all) {
        if (n["id"].get<std::string>().compare(0, seg[1].size(), seg[1]) != 0) continue;
        if (by_prefix) throw InvalidArgumentError("node id prefix '" + seg[1] + "' is ambiguous");
        by_prefix = &n;
      }
      if (by_prefix) return ok(*by_prefix);
      throw NotFoundError("node '" + seg[1] + "' not found");
    }
    if (m == "DELETE") {
      // The membership right now, not as of the last change callback.
      controller_.set_live_nodes(live_members(cluster_->members()));
      controller_.remove_node(seg[1]);
      return {204, ""};
    }
    return not_allowed();
  }

  throw NotFoundError("no route for " + m + " " + request.target);
}

}  // namespace trellis::node
