#include "node/api/router.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <map>

#include "common/log.h"
#include "node/api/cluster_json.h"
#include "node/api/requests.h"
#include "node/cluster/service.h"
#include "node/control/controller.h"
#include "node/control/pending_operations.h"
#include "node/control/references.h"
#include "node/dataplane/processes.h"
#include "node/model/ids.h"

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

const ApiResponse kNoContent{204, ""};

std::vector<std::string> split_pattern(const std::string& pattern) {
  return api::parse_target(pattern).segments;
}

// Whether `segments` match `pattern`; fills `params` with the "{name}" segments.
bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& segments,
             std::map<std::string, std::string>& params) {
  if (pattern.size() != segments.size()) return false;
  std::map<std::string, std::string> found;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const std::string& p = pattern[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      found[p.substr(1, p.size() - 2)] = segments[i];
    } else if (p != segments[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

}  // namespace

// One request as a handler sees it; copied into a command that waits for space.
struct ApiRouter::Call {
  ApiRequest request;
  api::Target target;
  std::map<std::string, std::string> params;  // "{name}" segments of the route
  bool may_wait = true;

  const std::string& param(const std::string& name) const { return params.at(name); }
};

ApiRouter::ApiRouter(Controller& controller, ApiInfo info, ClusterService* cluster,
                     PendingOperations* pending)
    : controller_(controller),
      info_(std::move(info)),
      cluster_(cluster),
      pending_(pending),
      views_(controller) {
  add("GET", "/info", [this](const Call&) { return ok(views_.info(info_)); });
  add_network_routes();
  add_endpoint_routes();
  add_sandbox_routes();
  add_cluster_routes();
}

ApiRouter::~ApiRouter() = default;

void ApiRouter::add(std::string method, const std::string& pattern,
                    std::function<ApiResponse(const Call&)> handler) {
  routes_.push_back(
      {std::move(method), split_pattern(pattern),
       [handler = std::move(handler)](const Call& call, Reply reply) { reply(handler(call)); }});
}

void ApiRouter::add_command(std::string method, const std::string& pattern,
                            std::function<ApiResponse(const Call&)> command) {
  routes_.push_back({std::move(method), split_pattern(pattern),
                     [this, command = std::move(command)](const Call& call, Reply reply) {
                       if (!call.may_wait || !pending_) {
                         reply(command(call));
                         return;
                       }
                       pending_->run([command, call, reply] { reply(command(call)); },
                                     [request = call.request, reply](const std::exception& e) {
                                       reply(error(request, e));
                                     });
                     }});
}

void ApiRouter::add_network_routes() {
  add("GET", "/networks", [this](const Call& c) {
    json out = json::array();
    for (const auto& n : controller_.networks(c.target.flag("all")))
      out.push_back(views_.network(n));
    return ok(out);
  });
  add_command("POST", "/networks", [this](const Call& c) {
    const auto request = api::network_request(api::parse_body(c.request.body, "network"));
    return ok(views_.network(controller_.create_network(request)), 201);
  });
  add("GET", "/networks/{ref}",
      [this](const Call& c) { return ok(views_.network(controller_.network(c.param("ref")))); });
  add("DELETE", "/networks/{ref}", [this](const Call& c) {
    controller_.remove_network(c.param("ref"));
    return kNoContent;
  });
}

void ApiRouter::add_endpoint_routes() {
  add("GET", "/endpoints", [this](const Call& c) {
    json out = json::array();
    for (const auto& e : controller_.endpoints(c.target.param("network")))
      out.push_back(views_.endpoint(e));
    return ok(out);
  });
  add_command("POST", "/endpoints", [this](const Call& c) {
    const auto request = api::endpoint_request(api::parse_body(c.request.body, "endpoint"));
    return ok(views_.endpoint(controller_.create_endpoint(request)), 201);
  });
  add("GET", "/endpoints/{ref}", [this](const Call& c) {
    return ok(views_.endpoint(controller_.endpoint(c.param("ref"), c.target.param("network"))));
  });
  add("DELETE", "/endpoints/{ref}", [this](const Call& c) {
    controller_.remove_endpoint(c.param("ref"), c.target.param("network"), c.target.flag("force"));
    return kNoContent;
  });
  for (const std::string action : {"join", "leave"}) {
    add("POST", "/endpoints/{ref}/" + action, [this, action](const Call& c) {
      const json body = api::parse_body(c.request.body, action);
      api::Fields f(body, action);
      const std::string sandbox = f.str("sandbox");
      f.done();
      const std::string& ref = c.param("ref");
      const std::string network = c.target.param("network");
      if (action == "join") {
        if (sandbox.empty()) throw InvalidArgumentError("join: field 'sandbox' is required");
        controller_.join(ref, network, sandbox);
      } else {
        controller_.leave(ref, network, sandbox);
      }
      return ok(views_.endpoint(controller_.endpoint(ref, network)));
    });
  }
}

void ApiRouter::add_sandbox_routes() {
  add("GET", "/sandboxes", [this](const Call&) {
    json out = json::array();
    for (const auto& s : controller_.sandboxes()) out.push_back(views_.sandbox(s));
    return ok(out);
  });
  add("POST", "/sandboxes", [this](const Call& c) {
    const auto request = api::sandbox_request(api::parse_body(c.request.body, "sandbox"));
    return ok(views_.sandbox(controller_.create_sandbox(request)), 201);
  });
  add("GET", "/sandboxes/{ref}",
      [this](const Call& c) { return ok(views_.sandbox(controller_.sandbox(c.param("ref")))); });
  add("DELETE", "/sandboxes/{ref}", [this](const Call& c) {
    const store::SandboxInfo s = controller_.sandbox(c.param("ref"));
    if (c.target.flag("kill") && s.owner == controller_.identity().id) {
      const std::string netns =
          controller_.host_mode(s.spec.id) ? "" : controller_.paths().sandbox_netns(s.spec.id);
      const size_t n = kill_sandbox_processes(controller_.paths().pids_file(s.spec.id), netns,
                                              std::chrono::seconds(5));
      if (n > 0) logger().debug("killed {} processes of sandbox {}", n, short_id(s.spec.id));
    }
    controller_.remove_sandbox(s.spec.id);
    return kNoContent;
  });
  add("POST", "/sandboxes/{ref}/processes", [this](const Call& c) {
    const json body = api::parse_body(c.request.body, "process");
    api::Fields f(body, "process");
    const uint64_t pid = f.number("pid", 0x7fffffff);
    f.done();
    const store::SandboxInfo s = controller_.sandbox(c.param("ref"));
    if (s.owner != controller_.identity().id)
      throw ConflictError("sandbox " + c.param("ref") + " belongs to another node");
    record_process(controller_.paths().pids_file(s.spec.id), static_cast<int>(pid));
    return kNoContent;
  });
}

ClusterService& ApiRouter::cluster() const {
  if (!cluster_) {
    throw UnavailableError(
        "clustering is off on this node (start trellisd with --join, --advertise-addr or "
        "--listen-addr)");
  }
  return *cluster_;
}

void ApiRouter::add_cluster_routes() {
  add("GET", "/cluster/members",
      [this](const Call&) { return ok(views_.members(cluster().members())); });
  add("GET", "/cluster/log", [this](const Call&) {
    json j = log_status_to_json(cluster().log_status());
    j["state_digest"] = controller_.state_digest();
    return ok(j);
  });
  add("GET", "/cluster/stats",
      [this](const Call&) { return ok(stats_to_json(cluster().stats())); });
  add("GET", "/nodes", [this](const Call&) { return ok(views_.nodes(cluster().members())); });
  add("GET", "/nodes/{ref}", [this](const Call& c) {
    const json all = views_.nodes(cluster().members());
    std::vector<ReferenceCandidate<json>> candidates;
    std::vector<std::string> ids, names;
    ids.reserve(all.size());
    names.reserve(all.size());
    for (const auto& n : all) {
      ids.push_back(n["id"].get<std::string>());
      names.push_back(n["name"].get<std::string>());
    }
    for (size_t i = 0; i < all.size(); ++i) candidates.push_back({ids[i], names[i], &all[i]});
    return ok(resolve_reference(c.param("ref"), candidates, {"node", "give the node id"}));
  });
  add("DELETE", "/nodes/{ref}", [this](const Call& c) {
    cluster();  // 503 without clustering
    controller_.remove_node(c.param("ref"));
    return kNoContent;
  });
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

void ApiRouter::dispatch(const ApiRequest& request, Reply done, bool may_wait) {
  Reply logged = [request, done = std::move(done)](ApiResponse r) {
    logger().debug("{} {} -> {}", request.method, request.target, r.status);
    done(std::move(r));
  };
  try {
    Call call{request, api::parse_target(request.target), {}, may_wait};
    const Route* path_match = nullptr;
    for (const Route& route : routes_) {
      std::map<std::string, std::string> params;
      if (!matches(route.pattern, call.target.segments, params)) continue;
      path_match = &route;
      if (route.method != request.method) continue;
      call.params = std::move(params);
      route.handler(call, logged);
      return;
    }
    if (path_match) {
      logged({405, json{{"error", "method " + request.method + " not allowed on " + request.target},
                        {"kind", "invalid-argument"}}
                       .dump()});
      return;
    }
    throw NotFoundError("no route for " + request.method + " " + request.target);
  } catch (const std::exception& e) {
    logged(error(request, e));
  }
}

void ApiRouter::handle(const ApiRequest& request, Reply done) {
  dispatch(request, std::move(done), true);
}

ApiResponse ApiRouter::handle_now(const ApiRequest& request) {
  ApiResponse out;
  dispatch(
      request, [&out](ApiResponse r) { out = std::move(r); }, false);
  return out;
}

}  // namespace trellis::node
