#pragma once
// A blocking client of trellisd's HTTP API on its Unix socket, for the `trellis` CLI and the
// tests. One keep-alive connection, opened on first use and reopened once if the daemon
// closed it. Not thread-safe: one client per thread.

#include <memory>
#include <string>
#include <string_view>

namespace trellis::node {

// "unix:///run/trellis/trellis.sock" or a plain path -> the path. InvalidArgumentError for
// other schemes (tcp:// is not implemented).
std::string socket_path_from_host(std::string_view host);

// `s` percent-encoded for one path segment or query value of an API target (unreserved
// characters kept, every other byte %XX).
std::string url_escape(std::string_view s);

class ApiClient {
 public:
  explicit ApiClient(std::string socket_path);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  struct Response {
    int status = 0;
    std::string body;
  };

  // Sends one request. UnavailableError when the daemon cannot be reached.
  Response request(std::string_view method, std::string_view target, std::string_view body = {});

  // As request(), but a non-2xx answer throws trellis::Error with the kind and message of the
  // daemon's error body. Returns the response body.
  std::string call(std::string_view method, std::string_view target, std::string_view body = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trellis::node
