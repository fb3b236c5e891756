#include "node/api/client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <optional>

#include "common/error.h"

namespace trellis::node {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using local = asio::local::stream_protocol;

std::string socket_path_from_host(std::string_view host) {
  constexpr std::string_view kUnix = "unix://";
  if (host.substr(0, kUnix.size()) == kUnix) host.remove_prefix(kUnix.size());
  if (host.find("://") != std::string_view::npos) {
    throw InvalidArgumentError("host '" + std::string(host) +
                               "': only unix:// sockets are supported (tcp is not implemented)");
  }
  if (host.empty()) throw InvalidArgumentError("empty API socket path");
  return std::string(host);
}

std::string url_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

struct ApiClient::Impl {
  std::string path;
  asio::io_context io;
  std::optional<local::socket> socket;
  boost::beast::flat_buffer buffer;

  void connect() {
    socket.emplace(io);
    boost::system::error_code ec;
    socket->connect(local::endpoint(path), ec);
    if (ec) {
      socket.reset();
      throw UnavailableError("cannot reach trellisd at unix://" + path + ": " + ec.message());
    }
    buffer.clear();
  }

  Response exchange(std::string_view method, std::string_view target, std::string_view body) {
    http::request<http::string_body> req;
    req.method_string(boost::beast::string_view(method.data(), method.size()));
    req.target(boost::beast::string_view(target.data(), target.size()));
    req.version(11);
    req.set(http::field::host, "trellis");
    req.set(http::field::user_agent, "trellis");
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
    req.keep_alive(true);
    req.prepare_payload();
    http::write(*socket, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(*socket, buffer, parser);
    auto res = parser.release();
    if (!res.keep_alive()) socket.reset();
    return {static_cast<int>(res.result_int()), std::move(res.body())};
  }
};

ApiClient::ApiClient(std::string socket_path) : impl_(std::make_unique<Impl>()) {
  impl_->path = std::move(socket_path);
}

ApiClient::~ApiClient() = default;

ApiClient::Response ApiClient::request(std::string_view method, std::string_view target,
                                       std::string_view body) {
  const bool reused = impl_->socket.has_value();
  if (!reused) impl_->connect();
  try {
    return impl_->exchange(method, target, body);
  } catch (const boost::system::system_error& e) {
    impl_->socket.reset();
    if (!reused) {
      throw UnavailableError("request " + std::string(method) + " " + std::string(target) +
                             " to unix://" + impl_->path + ": " + e.what());
    }
  }
  // The daemon closed an idle keep-alive connection: retry once on a new one.
  impl_->connect();
  try {
    return impl_->exchange(method, target, body);
  } catch (const boost::system::system_error& e) {
    impl_->socket.reset();
    throw UnavailableError("request " + std::string(method) + " " + std::string(target) +
                           " to unix://" + impl_->path + ": " + e.what());
  }
}

std::string ApiClient::call(std::string_view method, std::string_view target,
                            std::string_view body) {
  Response r = request(method, target, body);
  if (r.status >= 200 && r.status < 300) return std::move(r.body);
  ErrorKind kind = ErrorKind::kInternal;
  std::string message = "HTTP " + std::to_string(r.status);
  try {
    auto j = nlohmann::json::parse(r.body);
    if (j.contains("error") && j["error"].is_string()) message = j["error"].get<std::string>();
    const std::string k = j.value("kind", "");
    for (ErrorKind candidate : {ErrorKind::kNotFound, ErrorKind::kInvalidArgument,
                                ErrorKind::kConflict, ErrorKind::kUnavailable}) {
      if (k == to_string(candidate)) kind = candidate;
    }
  } catch (const std::exception&) {
    if (!r.body.empty()) message += ": " + r.body;
  }
  throw_error(kind, message);
}

}  // namespace trellis::node
