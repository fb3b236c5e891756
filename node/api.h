#pragma once
// The HTTP API of trellisd, as a router from (method, target, body) to (status, JSON body),
// independent of the transport (node/api_server.h serves it on the Unix socket). Routes and
// bodies are documented in docs/api.md. Errors are {"error": "...", "kind": "..."} with the
// status chosen from the error's kind in one place (http_status).
//
// Requests that need space this node does not own (an overlay network's VNI or subnet, an
// overlay endpoint's address) are asynchronous: the router asks the owner for a donation over
// gossip and retries the operation on a timer until it succeeds, fails otherwise, or
// kSpaceWaitLimit passes (503, "space request to node X timed out"). Other requests answer at
// once, inside handle().
//
// Threads: handle() and the retries run on the daemon's I/O thread (they call the
// controller); the donation event is applied on that same thread, so nothing here blocks.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "common/error.h"

namespace boost::asio {
class io_context;
}

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

// How a request waiting for a space donation retries (SpaceShortage): every retry_interval
// it runs again; every resend_interval the request to the donor is sent again (gossip may
// lose it); after limit it fails with 503.
struct SpaceWaitOptions {
  std::chrono::milliseconds retry_interval{20};
  std::chrono::milliseconds resend_interval{1000};
  std::chrono::milliseconds limit{5000};
};

class ApiRouter {
 public:
  // `controller` (and `cluster` and `io`, when given) must outlive the router. Without a
  // cluster service (clustering off) the /cluster and /nodes routes answer 503 (kind
  // unavailable), and so does a request that would need a space donation. Without `io`, a
  // request needing a donation fails at once with the shortage's 503.
  ApiRouter(Controller& controller, ApiInfo info, ClusterService* cluster = nullptr,
            boost::asio::io_context* io = nullptr, SpaceWaitOptions wait = {});
  ~ApiRouter();
  ApiRouter(const ApiRouter&) = delete;
  ApiRouter& operator=(const ApiRouter&) = delete;

  // Answers `request` through `done`, exactly once: at once for most requests, later (from
  // the I/O thread) for those waiting for a donation. Never throws: every failure becomes an
  // error response.
  void handle(const ApiRequest& request, std::function<void(ApiResponse)> done);
  // The synchronous part alone: what handle() answers without waiting (a request that needs
  // a donation gets the shortage's 503). For tests and tools.
  ApiResponse handle_now(const ApiRequest& request);

  // Requests currently waiting for a donation.
  size_t waiting() const { return waiters_.size(); }

 private:
  class Waiter;
  ApiResponse route(const ApiRequest& request);
  ApiResponse error(const ApiRequest& request, const std::exception& e);
  Controller& controller_;
  ApiInfo info_;
  ClusterService* cluster_;
  boost::asio::io_context* io_;
  SpaceWaitOptions wait_;
  std::set<std::shared_ptr<Waiter>> waiters_;
};

}  // namespace trellis::node
