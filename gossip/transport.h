#pragma once
// The ZeroMQ transport of the gossip protocol: one ROUTER socket bound on the listen address
// for everything inbound, one DEALER socket per peer address for everything outbound (a peer
// answers on its own DEALER to our advertised address; see docs/wire-protocol.md). Frames are
// gossip messages (gossip/message.h). Optional CURVE encryption and mutual authentication from
// cluster keys, with a ZAP handler admitting only clients holding a listed key.
// Garbage, oversized frames, unknown versions and failed handshakes are dropped and counted.
//
// Threads: a ZmqTransport belongs to the thread that created it (ZeroMQ sockets are not
// thread-safe); only wake() may be called from other threads.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gossip/cluster_key.h"
#include "gossip/message.h"
#include "gossip/types.h"

namespace trellis::gossip {

inline constexpr uint16_t kDefaultGossipPort = 7946;

struct TransportOptions {
  // "host:port" to bind; port 0 picks a free port (see ZmqTransport::bound_address()).
  std::string listen_address = "0.0.0.0:7946";
  // CURVE keys; nullopt = plaintext (NULL mechanism).
  std::optional<ClusterKeys> keys;
  // Frames larger than this are dropped and counted; ZeroMQ itself cuts connections that send
  // frames over twice this size.
  size_t max_frame_bytes = 4 * 1024 * 1024;
  int send_hwm = 256;  // frames queued per peer before sends are dropped
  int recv_hwm = 4096;
  Time idle_peer_close = std::chrono::minutes(2);  // DEALERs unused this long are closed
};

// Counters (monotonic).
struct TransportStats {
  uint64_t frames_in = 0, bytes_in = 0;
  uint64_t frames_out = 0, bytes_out = 0;
  uint64_t dropped_send = 0;         // peer queue full (high-water mark) or socket error
  uint64_t dropped_oversized = 0;    // frame over max_frame_bytes
  uint64_t dropped_malformed = 0;    // not a gossip message (or wrong frame count)
  uint64_t dropped_bad_version = 0;  // another wire version
  uint64_t auth_denied = 0;          // ZAP refused a client key (wrong cluster key)
  uint64_t handshake_failures = 0;   // ZMTP/CURVE handshake failed (garbage, wrong mechanism)
  uint64_t disconnects = 0;          // inbound connections closed (including cut by ZeroMQ)
  uint64_t peers = 0;                // open outbound DEALER sockets
};

class ZmqTransport {
 public:
  // Binds the ROUTER (and the ZAP handler when keys are set). UnavailableError when the
  // address cannot be bound, InvalidArgumentError for a malformed address, UnavailableError
  // when keys are set but this libzmq lacks CURVE.
  explicit ZmqTransport(TransportOptions options);
  ~ZmqTransport();
  ZmqTransport(const ZmqTransport&) = delete;
  ZmqTransport& operator=(const ZmqTransport&) = delete;

  // "host:port" actually bound (the real port when 0 was asked).
  std::string bound_address() const;

  // Encodes and queues a message to "host:port" (a DEALER is connected on first use; ZeroMQ
  // reconnects on its own). Returns false if it was dropped (queue full).
  bool send(const std::string& address, const Message& message, Time now);
  // Queues a raw frame (tests, and callers that encode themselves).
  bool send_frame(const std::string& address, const std::string& frame, Time now);

  // Waits up to `timeout` for inbound traffic (or wake()) and returns the valid messages that
  // arrived; everything else is counted and dropped.
  std::vector<Message> poll(Time timeout, Time now);
  // Interrupts a poll() in progress (thread-safe).
  void wake();

  const TransportStats& stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" ("[v6]:port" too). InvalidArgumentError when malformed.
std::pair<std::string, uint16_t> split_host_port(const std::string& address);

}  // namespace trellis::gossip
