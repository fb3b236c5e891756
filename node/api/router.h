#pragma once
// The HTTP API of trellisd: a route table {method, path pattern, handler} from (method,
// target, body) to (status, JSON body), independent of the transport (node/api/server.h serves
// it on the Unix socket). Routes and bodies are documented in docs/api.md. A handler parses
// the request (node/api/requests.h), calls the control layer and renders the result
// (node/api/views.h); it holds no network-model rules. Errors are {"error": "...", "kind":
// "..."} with the status chosen from the error's kind in one place (http_status).
//
// Commands that need space this node does not own (an overlay network's VNI or subnet, an
// overlay endpoint's address) wait in the control layer's PendingOperations, which answers
// later; every other request is answered inside handle().
//
// Threads: the daemon's I/O thread (handlers call the controller).

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "node/api/views.h"

namespace trellis::node {

class Controller;
class ClusterService;
class PendingOperations;

inline constexpr size_t kMaxRequestBody = 64 * 1024;

// 404 not-found, 400 invalid-argument, 409 conflict, 503 unavailable, 500 internal.
int http_status(ErrorKind kind);

struct ApiRequest {
  std::string method;  // "GET", "POST", "DELETE", ...
  std::string target;  // path and query, e.g. "/networks?all=1"
  std::string body;
};

struct ApiResponse {
  int status = 200;
  std::string body;  // JSON
};

using ApiInfo = api::ProcessInfo;

class ApiRouter {
 public:
  using Reply = std::function<void(ApiResponse)>;

  // `controller` (and `cluster` and `pending`, when given) must outlive the router. Without a
  // cluster service (clustering off) the /cluster and /nodes routes answer 503 (kind
  // unavailable). Without `pending`, a command that needs a donation fails at once with the
  // shortage's 503.
  ApiRouter(Controller& controller, ApiInfo info, ClusterService* cluster = nullptr,
            PendingOperations* pending = nullptr);
  ~ApiRouter();
  ApiRouter(const ApiRouter&) = delete;
  ApiRouter& operator=(const ApiRouter&) = delete;

  // Answers `request` through `done`, exactly once: at once for most requests, later (from
  // the I/O thread) for commands waiting for a donation. Never throws: every failure becomes
  // an error response.
  void handle(const ApiRequest& request, Reply done);
  // Without waiting: a command that needs a donation gets the shortage's 503. For tests and
  // tools.
  ApiResponse handle_now(const ApiRequest& request);

 private:
  struct Call;
  using Handler = std::function<void(const Call&, Reply)>;
  struct Route {
    std::string method;
    std::vector<std::string> pattern;  // "{name}" matches one segment
    Handler handler;
  };

  void dispatch(const ApiRequest& request, Reply done, bool may_wait);
  // The error response for `e` (logged); static so a waiting command may outlive nothing.
  static ApiResponse error(const ApiRequest& request, const std::exception& e);
  // Registers a handler that answers at once.
  void add(std::string method, const std::string& pattern,
           std::function<ApiResponse(const Call&)> handler);
  // Registers a command that may wait for space: `command` returns the response once it
  // succeeds.
  void add_command(std::string method, const std::string& pattern,
                   std::function<ApiResponse(const Call&)> command);
  void add_network_routes();
  void add_endpoint_routes();
  void add_sandbox_routes();
  void add_cluster_routes();
  ClusterService& cluster() const;

  Controller& controller_;
  ApiInfo info_;
  ClusterService* cluster_;
  PendingOperations* pending_;
  api::Views views_;
  std::vector<Route> routes_;
};

}  // namespace trellis::node
