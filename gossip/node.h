#pragma once
// A running gossip node: the protocol core (gossip/core.h) and the ZeroMQ transport
// (gossip/transport.h) on one dedicated thread, driven by the steady clock. This is what
// trellisd embeds: it feeds local appends and space requests in from any thread, and gets
// effects (remote entries to apply, membership changes, space requests, ...) through a
// callback on the gossip thread.
//
// Threads: the gossip thread owns the core, the transport and the ZeroMQ sockets (ZeroMQ
// sockets must stay on one thread; a dedicated thread with a command queue is simpler and
// safer than splicing ZMQ_FD's edge-triggered readiness into Boost.Asio). Every public method
// is thread-safe. The effect handler runs on the gossip thread: it must not block for long
// (post heavy work, such as store writes, to your own executor), must not throw and must not
// call stop() or leave_and_stop().
// The ReplicatedLog is read on the gossip thread (store::Store reads are safe from any thread).

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gossip/core.h"
#include "gossip/transport.h"

namespace trellis::gossip {

struct NodeOptions {
  // Protocol configuration. config.address may be left empty (or with port 0): the bound
  // transport address is advertised then (fine for loopback tests; set it for real hosts).
  Config config;
  TransportOptions transport;
};

struct NodeStats {
  CoreStats core;
  TransportStats transport;
};

class GossipNode {
 public:
  using EffectHandler = std::function<void(const Effect&)>;

  // Binds the transport (so bind errors surface here) and starts the gossip thread.
  // `log` must outlive the node.
  GossipNode(NodeOptions options, ReplicatedLog& log, EffectHandler on_effect);
  // Stops without announcing a leave.
  ~GossipNode();
  GossipNode(const GossipNode&) = delete;
  GossipNode& operator=(const GossipNode&) = delete;

  // Announces a graceful leave, keeps gossiping for `grace` so it spreads, then stops.
  void leave_and_stop(Time grace);
  // Stops the thread (idempotent).
  void stop();

  // The advertised "host:port".
  std::string address() const { return address_; }
  NodeId id() const { return id_; }

  // ---- thread-safe inputs (queued to the gossip thread) ----
  void local_appended(std::vector<LogEntry> entries);
  void join(std::vector<std::string> seeds);
  // Sends a space request. `on_sent` (gossip thread) gets its request id; the answer or the
  // failure arrives later as SpaceAnswerReceived / SpaceRequestFailed with that id. For an
  // unknown member, on_sent gets 0 and SpaceRequestFailed{to, 0} follows.
  void request_space(NodeId to, std::string payload,
                     std::function<void(uint64_t request_id)> on_sent = {});
  void answer_space(NodeId to, uint64_t request_id, std::string payload);

  // ---- thread-safe snapshots (refreshed by the gossip thread after each step) ----
  std::vector<Member> members() const;
  uint64_t cluster_id() const;
  NodeStats stats() const;

 private:
  void run();
  Time now() const;
  void flush();

  std::unique_ptr<ZmqTransport> transport_;
  std::unique_ptr<Core> core_;
  ReplicatedLog& log_;
  EffectHandler on_effect_;
  std::string address_;
  NodeId id_ = 0;
  std::chrono::steady_clock::time_point epoch_;

  mutable std::mutex mu_;  // guards everything below
  std::deque<std::function<void(Core&, Time)>> commands_;
  bool stopping_ = false;
  Time leave_grace_{-1};
  std::vector<Member> members_;
  Time members_refreshed_{0};
  uint64_t cluster_id_ = 0;
  NodeStats stats_;

  std::thread thread_;
};

}  // namespace trellis::gossip
