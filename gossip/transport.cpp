// ZeroMQ transport of the gossip protocol. Wire layout and socket pattern:
// docs/wire-protocol.md.
#include "gossip/transport.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace trellis::gossip {

std::pair<std::string, uint16_t> split_host_port(const std::string& address) {
  std::string host;
  std::string port;
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      throw InvalidArgumentError("address " + address + ": expected [v6-address]:port");
    }
    host = address.substr(0, close + 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      throw InvalidArgumentError("address " + address + ": expected host:port");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
    throw InvalidArgumentError("address " + address + ": bad port");
  }
  return {host, static_cast<uint16_t>(std::stoul(port))};
}

namespace {

std::atomic<uint64_t> monitor_counter{0};

// An eventfd owned by RAII; wake() writes, poll() drains.
class EventFd {
 public:
  EventFd() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw InternalError(std::string("gossip transport: eventfd: ") + strerror(errno));
  }
  ~EventFd() { close(fd_); }
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;
  int fd() const { return fd_; }
  void signal() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof one);
  }
  void drain() {
    uint64_t v;
    [[maybe_unused]] ssize_t n = read(fd_, &v, sizeof v);
  }

 private:
  int fd_;
};

}  // namespace

struct ZmqTransport::Impl {
  struct Peer {
    // One DEALER per cluster key: a CURVE server presents a single key (its primary), so while
    // a rotation is under way (several keys listed) we cannot know which one the peer serves
    // with. Every frame goes out on each; only the socket whose key matches completes its
    // handshake, the others keep failing (counted at the peer) and drop at their HWM.
    std::vector<zmq::socket_t> sockets;
    Time last_used{0};
  };

  TransportOptions options;
  zmq::context_t context;
  zmq::socket_t zap;  // ZAP handler (CURVE only); bound before the ROUTER
  zmq::socket_t router;
  zmq::socket_t monitor;
  EventFd wake;
  std::map<std::string, Peer> peers;
  std::string bound;
  TransportStats stats;
  Time next_idle_scan{0};

  explicit Impl(TransportOptions opts) : options(std::move(opts)) {
    if (options.keys && !curve_available()) {
      throw UnavailableError("gossip transport: cluster keys given but libzmq lacks CURVE");
    }
    auto [host, port] = split_host_port(options.listen_address);
    if (options.keys) {
      zap = zmq::socket_t(context, zmq::socket_type::rep);
      zap.set(zmq::sockopt::linger, 0);
      zap.bind("inproc://zeromq.zap.01");
    }
    router = zmq::socket_t(context, zmq::socket_type::router);
    router.set(zmq::sockopt::linger, 0);
    router.set(zmq::sockopt::rcvhwm, options.recv_hwm);
    router.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(2 * options.max_frame_bytes));
    if (options.keys) {
      router.set(zmq::sockopt::curve_server, 1);
      router.set(zmq::sockopt::curve_secretkey, options.keys->primary().secret_z85);
      router.set(zmq::sockopt::zap_domain, "trellis");
    }
    std::string endpoint = "inproc://trellis-gossip-monitor-" + std::to_string(++monitor_counter);
    if (zmq_socket_monitor(router.handle(), endpoint.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_DISCONNECTED) != 0) {
      throw InternalError(std::string("gossip transport: socket monitor: ") +
                          zmq_strerror(zmq_errno()));
    }
    monitor = zmq::socket_t(context, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(endpoint);
    try {
      router.bind("tcp://" + host + ":" + (port == 0 ? std::string("*") : std::to_string(port)));
    } catch (const zmq::error_t& e) {
      throw UnavailableError("gossip transport: cannot bind " + options.listen_address + ": " +
                             e.what());
    }
    std::string last = router.get(zmq::sockopt::last_endpoint);
    // "tcp://host:port" -> "host:port", keeping the host as given (0.0.0.0 stays).
    auto [bound_host, bound_port] = split_host_port(last.substr(last.find("://") + 3));
    bound = host + ":" + std::to_string(bound_port);
  }

  Peer& peer(const std::string& address, Time now) {
    auto it = peers.find(address);
    if (it != peers.end()) {
      it->second.last_used = now;
      return it->second;
    }
    split_host_port(address);  // validates
    Peer p;
    p.last_used = now;
    const size_t n = options.keys ? options.keys->keys.size() : 1;
    for (size_t i = 0; i < n; ++i) {
      zmq::socket_t s(context, zmq::socket_type::dealer);
      s.set(zmq::sockopt::linger, 0);
      s.set(zmq::sockopt::sndhwm, options.send_hwm);
      s.set(zmq::sockopt::reconnect_ivl, 100);
      s.set(zmq::sockopt::reconnect_ivl_max, 5000);
      if (options.keys) {
        const ClusterKey& k = options.keys->keys[i];
        s.set(zmq::sockopt::curve_serverkey, k.public_z85);
        s.set(zmq::sockopt::curve_publickey, k.public_z85);
        s.set(zmq::sockopt::curve_secretkey, k.secret_z85);
      }
      s.connect("tcp://" + address);
      p.sockets.push_back(std::move(s));
    }
    ++stats.peers;
    return peers.emplace(address, std::move(p)).first->second;
  }

  void handle_zap() {
    std::vector<zmq::message_t> req;
    while (zmq::recv_multipart(zap, std::back_inserter(req), zmq::recv_flags::dontwait)) {
      // ZAP 1.0 request: version, request id, domain, address, identity, mechanism, creds...
      std::string request_id = req.size() > 1 ? req[1].to_string() : std::string();
      bool ok = false;
      if (req.size() >= 7 && req[0].to_string() == "1.0" && req[5].to_string() == "CURVE" &&
          req[6].size() == 32) {
        char z85[41];
        zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
        ok = options.keys->admits(std::string_view(z85, 40));
      }
      if (!ok) ++stats.auth_denied;
      std::vector<zmq::message_t> reply;
      reply.emplace_back(std::string("1.0"));
      reply.emplace_back(request_id);
      reply.emplace_back(std::string(ok ? "200" : "400"));
      reply.emplace_back(std::string(ok ? "OK" : "not a cluster key"));
      reply.emplace_back(std::string());
      reply.emplace_back(std::string());
      zmq::send_multipart(zap, reply);
      req.clear();
    }
  }

  void handle_monitor() {
    std::vector<zmq::message_t> ev;
    while (zmq::recv_multipart(monitor, std::back_inserter(ev), zmq::recv_flags::dontwait)) {
      if (!ev.empty() && ev[0].size() >= 2) {
        uint16_t event;
        std::memcpy(&event, ev[0].data(), sizeof event);
        if (event == ZMQ_EVENT_DISCONNECTED) {
          ++stats.disconnects;
        } else {
          ++stats.handshake_failures;
        }
      }
      ev.clear();
    }
  }

  void handle_router(std::vector<Message>& out) {
    std::vector<zmq::message_t> parts;
    // Bounded per poll, so a flood cannot starve the caller's timers.
    for (int n = 0; n < 4096; ++n) {
      parts.clear();
      if (!zmq::recv_multipart(router, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
        break;
      }
      ++stats.frames_in;
      size_t bytes = 0;
      for (const auto& p : parts) bytes += p.size();
      stats.bytes_in += bytes;
      // [routing id, frame]: anything else is not ours.
      if (parts.size() != 2) {
        ++stats.dropped_malformed;
        continue;
      }
      if (parts[1].size() > options.max_frame_bytes) {
        ++stats.dropped_oversized;
        continue;
      }
      try {
        out.push_back(
            decode(std::string_view(static_cast<const char*>(parts[1].data()), parts[1].size())));
      } catch (const UnsupportedVersionError&) {
        ++stats.dropped_bad_version;
      } catch (const CorruptDataError&) {
        ++stats.dropped_malformed;
      }
    }
  }

  void close_idle(Time now) {
    if (now < next_idle_scan) return;
    next_idle_scan = now + std::chrono::seconds(10);
    for (auto it = peers.begin(); it != peers.end();) {
      if (now - it->second.last_used > options.idle_peer_close) {
        it = peers.erase(it);
        --stats.peers;
      } else {
        ++it;
      }
    }
  }
};

ZmqTransport::ZmqTransport(TransportOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ZmqTransport::~ZmqTransport() = default;

std::string ZmqTransport::bound_address() const { return impl_->bound; }

const TransportStats& ZmqTransport::stats() const { return impl_->stats; }

bool ZmqTransport::send(const std::string& address, const Message& message, Time now) {
  return send_frame(address, encode(message), now);
}

bool ZmqTransport::send_frame(const std::string& address, const std::string& frame, Time now) {
  if (frame.size() > impl_->options.max_frame_bytes) {
    ++impl_->stats.dropped_send;
    return false;
  }
  try {
    Impl::Peer& p = impl_->peer(address, now);
    bool any = false;
    for (zmq::socket_t& socket : p.sockets) {
      if (socket.send(zmq::buffer(frame), zmq::send_flags::dontwait)) any = true;
    }
    if (!any) {
      ++impl_->stats.dropped_send;  // high-water mark: the peer is slow or unreachable
      return false;
    }
  } catch (const zmq::error_t&) {
    ++impl_->stats.dropped_send;
    return false;
  } catch (const InvalidArgumentError&) {
    ++impl_->stats.dropped_send;
    return false;
  }
  ++impl_->stats.frames_out;
  impl_->stats.bytes_out += frame.size();
  return true;
}

std::vector<Message> ZmqTransport::poll(Time timeout, Time now) {
  Impl& s = *impl_;
  std::vector<Message> out;
  std::vector<zmq::pollitem_t> items;
  items.push_back({s.router.handle(), 0, ZMQ_POLLIN, 0});
  items.push_back({s.monitor.handle(), 0, ZMQ_POLLIN, 0});
  items.push_back({nullptr, s.wake.fd(), ZMQ_POLLIN, 0});
  if (s.options.keys) items.push_back({s.zap.handle(), 0, ZMQ_POLLIN, 0});
  // Round up so that a sub-millisecond wait does not spin.
  auto ms = std::chrono::milliseconds((std::max<int64_t>(timeout.count(), 0) + 999) / 1000);
  try {
    zmq::poll(items.data(), items.size(), ms);
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return out;  // a signal: the caller polls again
    throw InternalError(std::string("gossip transport: poll: ") + e.what());
  }
  if (items[2].revents & ZMQ_POLLIN) s.wake.drain();
  if (s.options.keys && (items[3].revents & ZMQ_POLLIN)) s.handle_zap();
  if (items[1].revents & ZMQ_POLLIN) s.handle_monitor();
  if (items[0].revents & ZMQ_POLLIN) s.handle_router(out);
  s.close_idle(now);
  return out;
}

void ZmqTransport::wake() { impl_->wake.signal(); }

}  // namespace trellis::gossip
