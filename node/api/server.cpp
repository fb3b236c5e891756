#include "node/api/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "node/api/router.h"

namespace trellis::node {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using local = asio::local::stream_protocol;

namespace {

spdlog::logger& logger() { return log("api"); }

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(local::socket socket, ApiRouter& router) : socket_(std::move(socket)), router_(router) {}

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(kMaxRequestBody);
    http::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](boost::beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(boost::beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      return close();
    }
    if (ec) {
      // Malformed HTTP or a body over the limit: answer once, then close.
      const bool too_big = ec == http::error::body_limit;
      const std::string message =
          too_big ? "request body exceeds " + std::to_string(kMaxRequestBody) + " bytes"
                  : "bad HTTP request: " + ec.message();
      ApiResponse r{http_status(ErrorKind::kInvalidArgument),
                    nlohmann::json{{"error", message}, {"kind", "invalid-argument"}}.dump()};
      return write(std::move(r), 11, false);
    }
    http::request<http::string_body> req = parser_->release();
    ApiRequest request{std::string(req.method_string()), std::string(req.target()),
                       std::move(req.body())};
    // Most answers come at once; a request waiting for a space donation answers later, from
    // a timer on this thread. Either way this session reads its next request only after
    // writing the answer (HTTP/1.1 without pipelining).
    router_.handle(request, [self = shared_from_this(), version = req.version(),
                             keep_alive = req.keep_alive()](ApiResponse response) {
      self->write(std::move(response), version, keep_alive);
    });
  }

  void write(ApiResponse r, unsigned version, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version);
    res->set(http::field::server, "trellisd");
    if (!r.body.empty()) res->set(http::field::content_type, "application/json");
    res->keep_alive(keep_alive);
    res->body() = std::move(r.body);
    res->prepare_payload();
    http::async_write(
        socket_, *res,
        [self = shared_from_this(), res, keep_alive](boost::beast::error_code ec, size_t) {
          if (ec || !keep_alive) return self->close();
          self->read();
        });
  }

  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(local::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  local::socket socket_;
  ApiRouter& router_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

struct ApiServer::Impl {
  asio::io_context& io;
  ApiRouter& router;
  std::string path;
  local::acceptor acceptor;
  bool listening = false;

  Impl(asio::io_context& i, ApiRouter& r, std::string p)
      : io(i), router(r), path(std::move(p)), acceptor(i) {}

  void accept() {
    acceptor.async_accept([this](boost::system::error_code ec, local::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        logger().warn("accept on {}: {}", path, ec.message());
      } else {
        std::make_shared<Session>(std::move(socket), router)->start();
      }
      accept();
    });
  }
};

ApiServer::ApiServer(asio::io_context& io, ApiRouter& router, std::string socket_path)
    : impl_(std::make_unique<Impl>(io, router, std::move(socket_path))) {}

ApiServer::~ApiServer() { stop(); }

void ApiServer::start() {
  const std::string& path = impl_->path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw InvalidArgumentError("API socket " + path + " exists and is not a socket");
    local::socket probe(impl_->io);
    boost::system::error_code ec;
    probe.connect(local::endpoint(path), ec);
    if (!ec) throw UnavailableError("another trellisd is listening on " + path);
    ::unlink(path.c_str());
  }
  boost::system::error_code ec;
  impl_->acceptor.open(local(), ec);
  if (!ec) impl_->acceptor.bind(local::endpoint(path), ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw InternalError("listen on API socket " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0660);
  impl_->listening = true;
  impl_->accept();
  logger().info("API listening on unix://{}", path);
}

void ApiServer::stop() {
  if (!impl_ || !impl_->listening) return;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  ::unlink(impl_->path.c_str());
  impl_->listening = false;
}

}  // namespace trellis::node
