#pragma once
// Serves an ApiRouter over HTTP/1.1 (Boost.Beast) on a Unix socket: keep-alive connections,
// request bodies limited to kMaxRequestBody, one request at a time per connection.
//
// Threads: everything runs on the io_context's thread (the daemon's I/O thread), so the
// router is never called concurrently.

#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace trellis::node {

class ApiRouter;

class ApiServer {
 public:
  // `io` and `router` must outlive the server.
  ApiServer(boost::asio::io_context& io, ApiRouter& router, std::string socket_path);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds and listens (mode 0660). A stale socket file is replaced; a socket another process
  // still answers on is UnavailableError ("another trellisd runs there").
  void start();
  // Stops accepting and closes the socket file; open connections end with the io_context.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trellis::node
