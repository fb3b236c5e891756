#pragma once
// The HTTP API of trellisd, as a router from (method, target, body) to (status, JSON body),
// independent of the transport (node/api_server.h serves it on the Unix socket). Routes and
// bodies are documented in docs/api.md. Errors are {"error": "...", "kind": "..."} with the
// status chosen from the error's kind in one place (http_status).
//
// Threads: handle() runs on the daemon's I/O thread (it calls the controller).

#include <chrono>
#include <cstddef>
#include <string>

#include "common/error.h"

namespace trellis::node {

class Controller;
class ClusterService;

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

struct ApiInfo {
  std::string version;
  std::string data_dir;
  std::string run_dir;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

class ApiRouter {
 public:
  // `controller` (and `cluster`, when given) must outlive the router. Without a cluster
  // service (clustering off) the /cluster routes answer 503 (kind unavailable).
  ApiRouter(Controller& controller, ApiInfo info, const ClusterService* cluster = nullptr);
  // Never throws: every failure becomes an error response.
  ApiResponse handle(const ApiRequest& request);

 private:
  ApiResponse route(const ApiRequest& request);
  Controller& controller_;
  ApiInfo info_;
  const ClusterService* cluster_;
};

}  // namespace trellis::node
