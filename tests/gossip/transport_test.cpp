// Transport tests on loopback with ephemeral ports: real ZeroMQ sockets, real CURVE.
#include "gossip/transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>
#include <zmq.hpp>

#include "gossip/node.h"

namespace trellis::gossip {
namespace {

using std::chrono::steady_clock;

Time now_time() { return std::chrono::duration_cast<Time>(steady_clock::now().time_since_epoch()); }

TransportOptions loopback(std::optional<ClusterKeys> keys = std::nullopt) {
  TransportOptions o;
  o.listen_address = "127.0.0.1:0";
  o.keys = std::move(keys);
  return o;
}

Message ping_from(NodeId from, uint64_t seq) {
  Message m;
  m.cluster_id = 7;
  m.from = from;
  m.from_address = "127.0.0.1:1";
  m.body = Ping{seq, 0};
  return m;
}

// Polls `t` until `pred` holds or 5 s pass; returns the messages received meanwhile.
std::vector<Message> poll_until(ZmqTransport& t, const std::function<bool()>& pred,
                                std::vector<ZmqTransport*> others = {}) {
  std::vector<Message> got;
  auto deadline = steady_clock::now() + std::chrono::seconds(5);
  while (!pred() && steady_clock::now() < deadline) {
    for (Message& m : t.poll(milliseconds(20), now_time())) got.push_back(std::move(m));
    for (ZmqTransport* o : others) o->poll(Time{0}, now_time());  // serve their ZAP/monitor
    if (pred()) break;
  }
  return got;
}

// Sends pings from `a` to `b` until `b` receives one (or 5 s pass). Returns whether it did.
bool delivers(ZmqTransport& a, ZmqTransport& b, NodeId from) {
  bool received = false;
  auto deadline = steady_clock::now() + std::chrono::seconds(5);
  uint64_t seq = 0;
  while (!received && steady_clock::now() < deadline) {
    a.send(b.bound_address(), ping_from(from, ++seq), now_time());
    a.poll(Time{0}, now_time());
    for (const Message& m : b.poll(milliseconds(50), now_time())) {
      if (m.from == from) received = true;
    }
  }
  return received;
}

TEST(TransportTest, TransportsExchangeMessagesOnLoopback) {
  ZmqTransport a(loopback()), b(loopback()), c(loopback());
  EXPECT_NE(a.bound_address(), b.bound_address());
  EXPECT_EQ(split_host_port(a.bound_address()).first, "127.0.0.1");
  EXPECT_NE(split_host_port(a.bound_address()).second, 0);
  EXPECT_TRUE(delivers(a, b, 1));
  EXPECT_TRUE(delivers(b, a, 2));
  EXPECT_TRUE(delivers(c, a, 3));
  EXPECT_TRUE(delivers(a, c, 1));

  // Payloads survive the trip intact.
  Message big = ping_from(9, 1);
  big.body = SyncEntries{{{1, 1, std::string(100000, 'q')}}, false, false};
  ASSERT_TRUE(a.send(b.bound_address(), big, now_time()));
  std::vector<Message> got;
  auto deadline = steady_clock::now() + std::chrono::seconds(5);
  while (got.empty() && steady_clock::now() < deadline) {
    for (Message& m : b.poll(milliseconds(20), now_time())) {
      if (m.from == 9) got.push_back(std::move(m));
    }
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], big);
  EXPECT_GT(a.stats().frames_out, 0u);
  EXPECT_GT(b.stats().frames_in, 0u);
}

TEST(TransportTest, ParsesHostPortAndRejectsGarbage) {
  EXPECT_EQ(split_host_port("192.0.2.1:7946"),
            (std::pair<std::string, uint16_t>{"192.0.2.1", 7946}));
  EXPECT_EQ(split_host_port("[::1]:80"), (std::pair<std::string, uint16_t>{"[::1]", 80}));
  EXPECT_THROW(split_host_port("nohost"), InvalidArgumentError);
  EXPECT_THROW(split_host_port("h:99999"), InvalidArgumentError);
  EXPECT_THROW(split_host_port("h:"), InvalidArgumentError);
  EXPECT_THROW(ZmqTransport(TransportOptions{"bad address", {}, 1024, 1, 1, seconds(1)}),
               InvalidArgumentError);
}

TEST(TransportTest, ClusterKeyFilesParseAndRejectBadLines) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  std::string k1 = generate_cluster_key(), k2 = generate_cluster_key();
  ClusterKeys keys =
      parse_cluster_keys("# cluster keys, newest first\n\n  " + k2 + "  \n" + k1 + "\n");
  ASSERT_EQ(keys.keys.size(), 2u);
  EXPECT_EQ(keys.primary().secret_z85, k2);
  EXPECT_EQ(keys.primary().public_z85.size(), 40u);
  EXPECT_TRUE(keys.admits(keys.keys[1].public_z85));
  EXPECT_FALSE(keys.admits(parse_cluster_keys(generate_cluster_key()).primary().public_z85));
  EXPECT_THROW(parse_cluster_keys("# nothing\n"), InvalidArgumentError);
  EXPECT_THROW(parse_cluster_keys("tooshort\n"), InvalidArgumentError);
  EXPECT_THROW(load_cluster_keys("/nonexistent/trellis-key"), NotFoundError);
}

TEST(TransportTest, CurvePeersTalkAndAPeerWithTheWrongKeyIsRefusedAndCounted) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  ClusterKeys cluster = parse_cluster_keys(generate_cluster_key());
  ClusterKeys other = parse_cluster_keys(generate_cluster_key());
  ZmqTransport a(loopback(cluster)), b(loopback(cluster)), intruder(loopback(other));
  EXPECT_TRUE(delivers(a, b, 1));
  EXPECT_TRUE(delivers(b, a, 2));

  // A peer holding another cluster key cannot complete the handshake: nothing is delivered,
  // and the failure is counted.
  for (int i = 0; i < 5; ++i) intruder.send(a.bound_address(), ping_from(66, i), now_time());
  auto got = poll_until(a, [&] { return a.stats().handshake_failures > 0; }, {&intruder});
  for (const Message& m : got) EXPECT_NE(m.from, 66u);
  EXPECT_GT(a.stats().handshake_failures, 0u);

  // A client that knows the server's public key but holds no cluster key is refused by ZAP.
  zmq::context_t ctx;
  zmq::socket_t rogue(ctx, zmq::socket_type::dealer);
  char pub[41], sec[41];
  ASSERT_EQ(zmq_curve_keypair(pub, sec), 0);
  rogue.set(zmq::sockopt::linger, 0);
  rogue.set(zmq::sockopt::curve_serverkey, cluster.primary().public_z85);
  rogue.set(zmq::sockopt::curve_publickey, std::string(pub, 40));
  rogue.set(zmq::sockopt::curve_secretkey, std::string(sec, 40));
  rogue.connect("tcp://" + a.bound_address());
  rogue.send(zmq::buffer(encode(ping_from(77, 1))), zmq::send_flags::dontwait);
  got = poll_until(a, [&] { return a.stats().auth_denied > 0; });
  for (const Message& m : got) EXPECT_NE(m.from, 77u);
  EXPECT_GT(a.stats().auth_denied, 0u);

  // And a plaintext peer cannot talk to a CURVE node at all.
  ZmqTransport plain(loopback());
  const uint64_t failures = a.stats().handshake_failures;
  for (int i = 0; i < 5; ++i) plain.send(a.bound_address(), ping_from(88, i), now_time());
  got = poll_until(a, [&] { return a.stats().handshake_failures > failures; });
  EXPECT_GT(a.stats().handshake_failures, failures);
  for (const Message& m : got) EXPECT_NE(m.from, 88u);

  // The node kept working through all of it.
  EXPECT_TRUE(delivers(b, a, 3));
}

TEST(TransportTest, KeyRotationKeepsNodesOnEitherPrimaryTalking) {
  if (!curve_available()) GTEST_SKIP() << "libzmq without CURVE";
  std::string old_key = generate_cluster_key(), new_key = generate_cluster_key();
  // Mid-rotation: one node already sends with the new key, the other still with the old one;
  // both list both keys.
  ZmqTransport a(loopback(parse_cluster_keys(old_key + "\n" + new_key)));
  ZmqTransport b(loopback(parse_cluster_keys(new_key + "\n" + old_key)));
  EXPECT_TRUE(delivers(a, b, 1));
  EXPECT_TRUE(delivers(b, a, 2));
}

TEST(TransportTest, GarbageOversizedAndUnknownVersionFramesAreSurvivedAndCounted) {
  TransportOptions o = loopback();
  o.max_frame_bytes = 64 * 1024;
  ZmqTransport a(o);
  auto [host, port] = split_host_port(a.bound_address());

  // Random bytes straight onto the TCP port.
  {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::mt19937 rng(5);
    std::string junk(4096, '\0');
    for (char& c : junk) c = static_cast<char>(rng() & 0xff);
    junk[0] = static_cast<char>(0xff);  // looks like a ZMTP 3 greeting at first
    [[maybe_unused]] ssize_t n = write(fd, junk.data(), junk.size());
    poll_until(a, [&] { return a.stats().handshake_failures + a.stats().disconnects > 0; });
    close(fd);
  }
  EXPECT_GT(a.stats().handshake_failures + a.stats().disconnects, 0u);

  // Well-formed ZeroMQ traffic carrying bad frames.
  zmq::context_t ctx;
  zmq::socket_t d(ctx, zmq::socket_type::dealer);
  d.set(zmq::sockopt::linger, 0);
  d.connect("tcp://" + a.bound_address());
  d.send(zmq::buffer(std::string("definitely not msgpack")), zmq::send_flags::none);
  std::string v99 = encode(ping_from(5, 1));
  v99[1] = 99;
  d.send(zmq::buffer(v99), zmq::send_flags::none);
  d.send(zmq::buffer(std::string("part one")), zmq::send_flags::sndmore);
  d.send(zmq::buffer(encode(ping_from(5, 2))), zmq::send_flags::none);
  d.send(zmq::buffer(std::string(o.max_frame_bytes + 1, 'x')), zmq::send_flags::none);
  auto got = poll_until(a, [&] {
    const TransportStats& s = a.stats();
    return s.dropped_malformed >= 2 && s.dropped_bad_version >= 1 && s.dropped_oversized >= 1;
  });
  EXPECT_TRUE(got.empty());
  EXPECT_GE(a.stats().dropped_malformed, 2u);  // garbage + the two-part message
  EXPECT_EQ(a.stats().dropped_bad_version, 1u);
  EXPECT_EQ(a.stats().dropped_oversized, 1u);

  // A frame far over the limit: ZeroMQ cuts that connection; the node goes on.
  uint64_t disconnects = a.stats().disconnects;
  d.send(zmq::buffer(std::string(3 * o.max_frame_bytes, 'y')), zmq::send_flags::none);
  poll_until(a, [&] { return a.stats().disconnects > disconnects; });
  EXPECT_GT(a.stats().disconnects, disconnects);

  ZmqTransport b(loopback());
  EXPECT_TRUE(delivers(b, a, 42));
}

// A ReplicatedLog usable from the test thread and the gossip thread.
class LockedLog : public ReplicatedLog {
 public:
  VersionVector version_vector() const override {
    std::lock_guard<std::mutex> l(mu_);
    return log_.version_vector();
  }
  LogRead entries_after(NodeId o, uint64_t after, size_t max_bytes) const override {
    std::lock_guard<std::mutex> l(mu_);
    return log_.entries_after(o, after, max_bytes);
  }
  LogSnapshot snapshot() const override {
    std::lock_guard<std::mutex> l(mu_);
    return log_.snapshot();
  }
  bool can_install_snapshot() const override { return true; }
  LogEntry append(NodeId origin, std::string body) {
    std::lock_guard<std::mutex> l(mu_);
    return log_.append(origin, std::move(body));
  }
  void apply(const Effect& e) {
    std::lock_guard<std::mutex> l(mu_);
    if (auto* a = std::get_if<ApplyRemote>(&e)) log_.apply(a->entries);
    if (auto* s = std::get_if<InstallSnapshot>(&e)) log_.install(s->snapshot);
  }
  uint64_t head(NodeId origin) const {
    std::lock_guard<std::mutex> l(mu_);
    return log_.head(origin);
  }

 private:
  mutable std::mutex mu_;
  MemoryLog log_;
};

template <typename Pred>
bool wait_for(Pred pred, std::chrono::seconds limit = std::chrono::seconds(10)) {
  auto deadline = steady_clock::now() + limit;
  while (steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

TEST(GossipNodeTest, NodesFormAClusterReplicateEventsAndSeeALeave) {
  constexpr size_t kNodes = 3;
  std::vector<std::unique_ptr<LockedLog>> logs;
  std::vector<std::unique_ptr<GossipNode>> nodes;
  std::optional<ClusterKeys> keys;
  if (curve_available()) keys = parse_cluster_keys(generate_cluster_key());
  for (size_t i = 0; i < kNodes; ++i) {
    logs.push_back(std::make_unique<LockedLog>());
    NodeOptions opts;
    opts.config.node_id = 100 + i;
    opts.config.name = "node-" + std::to_string(i);
    opts.config.random_seed = 1 + i;
    if (i > 0) opts.config.seeds = {nodes[0]->address()};
    opts.transport = loopback(keys);
    LockedLog* log = logs.back().get();
    nodes.push_back(std::make_unique<GossipNode>(std::move(opts), *log,
                                                 [log](const Effect& e) { log->apply(e); }));
  }
  auto alive_count = [&](size_t i) {
    size_t n = 0;
    for (const Member& m : nodes[i]->members()) n += m.state == MemberState::kAlive;
    return n;
  };
  ASSERT_TRUE(wait_for([&] {
    for (size_t i = 0; i < kNodes; ++i) {
      if (alive_count(i) != kNodes) return false;
    }
    return true;
  })) << "membership did not converge";
  EXPECT_NE(nodes[0]->cluster_id(), 0u);
  EXPECT_EQ(nodes[1]->cluster_id(), nodes[0]->cluster_id());

  std::vector<LogEntry> appended;
  for (int e = 0; e < 5; ++e)
    appended.push_back(logs[1]->append(101, "event " + std::to_string(e)));
  nodes[1]->local_appended(appended);
  EXPECT_TRUE(wait_for([&] { return logs[0]->head(101) == 5 && logs[2]->head(101) == 5; }));

  nodes[2]->leave_and_stop(milliseconds(500));
  EXPECT_TRUE(wait_for([&] {
    for (const Member& m : nodes[0]->members()) {
      if (m.id == 102) return m.state == MemberState::kLeft;
    }
    return false;
  }));
  NodeStats s = nodes[0]->stats();
  EXPECT_GT(s.transport.frames_in, 0u);
  EXPECT_GT(s.core.probes, 0u);
  EXPECT_EQ(s.transport.auth_denied, 0u);
}

}  // namespace
}  // namespace trellis::gossip
