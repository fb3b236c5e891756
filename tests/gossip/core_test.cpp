#include "gossip/core.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "mini_net.h"

namespace trellis::gossip {
namespace {

using testing::MiniNet;

// A cluster of n nodes joined through node 0.
void form_cluster(MiniNet& net, size_t n, const std::function<void(Config&)>& tweak = {}) {
  for (size_t i = 0; i < n; ++i) {
    Config c = MiniNet::base_config(i);
    if (i > 0) c.seeds = {MiniNet::base_config(0).address};
    if (tweak) tweak(c);
    net.add(std::move(c));
  }
  net.run_until(net.now() + seconds(3));
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(net.core(i).live_count(), n) << "node " << i;
}

Message gossip_from(const Core& sender, std::vector<MemberUpdate> updates,
                    std::vector<LogEntry> entries = {}) {
  Message m;
  m.cluster_id = sender.cluster_id();
  m.from = sender.id();
  m.body = Gossip{};
  m.updates = std::move(updates);
  m.entries = std::move(entries);
  return m;
}

TEST(CoreTest, FoundsAClusterWithoutSeedsAndJoinersAdoptItsId) {
  MiniNet net;
  form_cluster(net, 3);
  auto founded = net.effects_of<ClusterJoined>(0);
  ASSERT_EQ(founded.size(), 1u);
  EXPECT_TRUE(founded[0].founded);
  EXPECT_NE(founded[0].cluster_id, 0u);
  for (size_t i = 1; i < 3; ++i) {
    auto joined = net.effects_of<ClusterJoined>(i);
    ASSERT_EQ(joined.size(), 1u);
    EXPECT_FALSE(joined[0].founded);
    EXPECT_EQ(joined[0].cluster_id, founded[0].cluster_id);
    EXPECT_TRUE(net.core(i).joined());
  }
}

TEST(CoreTest, RefutesSuspicionOfItselfWithAHigherIncarnation) {
  MiniNet net;
  form_cluster(net, 3);
  const uint64_t before = net.core(1).incarnation();
  MemberUpdate suspect{
      MemberUpdate::Kind::kSuspect, net.core(1).id(), before, net.core(2).id(), {}, {}};
  net.inject(1, gossip_from(net.core(2), {suspect}));
  EXPECT_EQ(net.core(1).incarnation(), before + 1);
  EXPECT_EQ(net.core(1).stats().refutations, 1u);

  // A death rumour about itself is refuted too, outbidding the rumour's incarnation.
  MemberUpdate dead{
      MemberUpdate::Kind::kDead, net.core(1).id(), before + 5, net.core(2).id(), {}, {}};
  net.inject(1, gossip_from(net.core(2), {dead}));
  EXPECT_EQ(net.core(1).incarnation(), before + 6);

  net.run_until(net.now() + seconds(1));
  for (size_t i : {0, 2}) {
    auto m = net.core(i).member(net.core(1).id());
    ASSERT_TRUE(m);
    EXPECT_EQ(m->state, MemberState::kAlive);
    EXPECT_EQ(m->incarnation, before + 6);
  }
}

TEST(CoreTest, SuspicionTimeoutShrinksLogarithmicallyWithConfirmations) {
  const Time min = seconds(1), max = seconds(6);
  EXPECT_EQ(suspicion_timeout(min, max, 3, 0), max);
  EXPECT_EQ(suspicion_timeout(min, max, 3, 1), milliseconds(3500));  // log 2 / log 4 = 1/2
  EXPECT_LT(suspicion_timeout(min, max, 3, 2), milliseconds(3500));
  EXPECT_EQ(suspicion_timeout(min, max, 3, 3), min);
  EXPECT_EQ(suspicion_timeout(min, max, 3, 30), min);
  EXPECT_EQ(suspicion_timeout(min, max, 0, 0), min);
}

// Runs a 6-node cluster, silences everyone but node 0, injects suspicions of node 5 from
// `accusers` distinct members, and returns how long node 0 took to declare node 5 dead.
Time time_to_dead(size_t accusers) {
  MiniNet net;
  form_cluster(net, 6);
  for (size_t i = 1; i < 6; ++i) net.set_up(i, false);
  const Time start = net.now();
  const NodeId victim = net.core(5).id();
  std::vector<MemberUpdate> updates;
  for (size_t a = 1; a <= accusers; ++a) {
    updates.push_back({MemberUpdate::Kind::kSuspect,
                       victim,
                       net.core(5).incarnation(),
                       net.core(a).id(),
                       {},
                       {}});
  }
  net.inject(0, gossip_from(net.core(1), updates));
  EXPECT_EQ(net.core(0).member(victim)->state, MemberState::kSuspect);
  for (Time t = start; t < start + seconds(10); t += milliseconds(5)) {
    net.run_until(t);
    if (net.core(0).member(victim)->state == MemberState::kDead) return t - start;
  }
  return seconds(100);
}

TEST(CoreTest, IndependentConfirmationsBringTheDeathDeclarationForward) {
  // 6 members: min = 1.5 * log10(10) * 400 ms = 600 ms, max = 6 * min, k = 3.
  Time confirmed = time_to_dead(4);  // first suspicion + 3 confirmations
  Time single = time_to_dead(1);
  EXPECT_GE(confirmed, milliseconds(600));
  EXPECT_LE(confirmed, milliseconds(610));
  // One accuser: node 0's own failed probe of the suspect is one confirmation at most
  // (3.6 s - 3 s / 2 = 2.1 s), so it takes far longer.
  EXPECT_GE(single, milliseconds(2000));
  EXPECT_LE(single, milliseconds(3610));
}

TEST(CoreTest, RefusesToMergeWithAnotherCluster) {
  MiniNet net;
  net.add(MiniNet::base_config(0));
  Config other = MiniNet::base_config(1);
  other.cluster_id = 4242;  // a node of another cluster trying to join this one
  other.seeds = {MiniNet::base_config(0).address};
  net.add(std::move(other));
  net.run_until(seconds(3));

  EXPECT_EQ(net.core(0).live_count(), 1u);
  EXPECT_EQ(net.core(1).live_count(), 1u);
  EXPECT_FALSE(net.core(0).member(net.core(1).id()));
  EXPECT_GE(net.core(0).stats().dropped_cluster_mismatch, 1u);
  auto refused = net.effects_of<JoinRefused>(1);
  ASSERT_FALSE(refused.empty());
  EXPECT_EQ(refused[0].their_cluster_id, net.core(0).cluster_id());
  EXPECT_EQ(net.core(1).cluster_id(), 4242u);
  EXPECT_FALSE(net.core(1).joined());

  // Any other message carrying a foreign cluster id is dropped unanswered and counted.
  size_t sent_before = net.sent().size();
  uint64_t dropped_before = net.core(0).stats().dropped_cluster_mismatch;
  Message ping;
  ping.cluster_id = 4242;
  ping.from = net.core(1).id();
  ping.from_address = net.core(1).config().address;
  ping.body = Ping{99, net.core(0).id()};
  net.inject(0, ping);
  EXPECT_EQ(net.sent().size(), sent_before);
  EXPECT_EQ(net.core(0).stats().dropped_cluster_mismatch, dropped_before + 1);
}

TEST(CoreTest, OutOfOrderEntriesAreHandedToTheOwnerInPerOriginOrder) {
  MiniNet net;
  net.set_auto_apply(false);
  net.add(MiniNet::base_config(0));
  Core& core = net.core(0);
  auto entry = [](NodeId origin, uint64_t seq) {
    return LogEntry{origin, seq, "e" + std::to_string(origin) + "-" + std::to_string(seq)};
  };
  Message m = gossip_from(core, {}, {entry(7, 3), entry(8, 2)});
  m.from = 5555;
  net.inject(0, m);
  EXPECT_TRUE(net.effects_of<ApplyRemote>(0).empty());
  EXPECT_EQ(core.pending_entries(), 2u);

  m.entries = {entry(7, 1), entry(8, 1)};
  net.inject(0, m);
  m.entries = {entry(7, 2), entry(7, 3), entry(7, 1)};  // 3 and 1 are duplicates by now
  net.inject(0, m);

  std::map<NodeId, std::vector<uint64_t>> order;
  for (const ApplyRemote& a : net.effects_of<ApplyRemote>(0)) {
    for (const LogEntry& e : a.entries) {
      order[e.origin].push_back(e.seq);
      EXPECT_EQ(e.encoded, entry(e.origin, e.seq).encoded);
    }
  }
  EXPECT_EQ(order[7], (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(order[8], (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(core.pending_entries(), 0u);
  EXPECT_GE(core.stats().entries_duplicate, 2u);
}

TEST(CoreTest, ChunkedAntiEntropyCatchesUpANodeThatMissedEverything) {
  constexpr size_t kChunk = 16 * 1024;
  MiniNet net;
  form_cluster(net, 2, [](Config& c) {
    c.sync_chunk_bytes = kChunk;
    c.piggyback_bytes = 0;  // no piggybacking, no eager push: only anti-entropy moves entries
    c.eager_fanout = 0;
  });
  for (int i = 0; i < 200; ++i) net.append(0, std::string(1000, static_cast<char>('a' + i % 26)));
  EXPECT_EQ(net.log(1).head(net.core(0).id()), 0u);
  net.run_until(net.now() + seconds(20));

  EXPECT_EQ(net.log(1).head(net.core(0).id()), 200u);
  size_t chunks = 0;
  for (const auto& s : net.sent()) {
    size_t bytes = 0, n = 0;
    auto count = [&](const std::vector<LogEntry>& es) {
      for (const LogEntry& e : es) bytes += e.encoded.size();
      n += es.size();
    };
    if (auto* v = std::get_if<SyncVector>(&s.message.body)) count(v->entries);
    if (auto* e = std::get_if<SyncEntries>(&s.message.body)) count(e->entries);
    EXPECT_TRUE(s.message.entries.empty());
    if (n == 0) continue;
    ++chunks;
    EXPECT_LE(bytes, kChunk) << "an anti-entropy message exceeded the chunk size";
  }
  EXPECT_GE(chunks, 200u * 1000u / kChunk);
}

TEST(CoreTest, ANodeBelowTheCompactionFloorGetsAChunkedSnapshot) {
  MiniNet net;
  auto tweak = [](Config& c) {
    c.sync_chunk_bytes = 8 * 1024;
    c.piggyback_bytes = 0;
    c.eager_fanout = 0;
  };
  Config c0 = MiniNet::base_config(0);
  tweak(c0);
  net.add(std::move(c0));
  for (int i = 0; i < 50; ++i) net.append(0, std::string(1000, 'x'));
  net.log(0).compact({{net.core(0).id(), 40}});

  Config c1 = MiniNet::base_config(1);
  tweak(c1);
  c1.seeds = {MiniNet::base_config(0).address};
  net.add(std::move(c1));
  net.run_until(net.now() + seconds(10));

  auto installs = net.effects_of<InstallSnapshot>(1);
  ASSERT_EQ(installs.size(), 1u);
  EXPECT_EQ(installs[0].snapshot.vv.at(net.core(0).id()), 50u);
  EXPECT_EQ(net.log(1).head(net.core(0).id()), 50u);
  EXPECT_GE(net.core(0).stats().snapshot_chunks_sent, 2u);
  EXPECT_EQ(net.core(1).stats().snapshots_installed, 1u);
}

TEST(CoreTest, SpaceRequestsAreAnsweredOrReportedAsFailed) {
  MiniNet net;
  form_cluster(net, 2);
  uint64_t id = net.core(0).request_space(net.core(1).id(), "need vni", net.now());
  net.drain(0);
  net.run_until(net.now() + milliseconds(10));
  auto got = net.effects_of<SpaceRequestReceived>(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "need vni");
  EXPECT_EQ(got[0].from, net.core(0).id());
  net.core(1).answer_space(got[0].from, got[0].request_id, "donated", net.now());
  net.drain(1);
  net.run_until(net.now() + milliseconds(10));
  auto answers = net.effects_of<SpaceAnswerReceived>(0);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].request_id, id);
  EXPECT_EQ(answers[0].payload, "donated");

  net.set_filter(
      [](const MiniNet::Sent& s) { return !std::holds_alternative<SpaceRequest>(s.message.body); });
  uint64_t lost = net.core(0).request_space(net.core(1).id(), "again", net.now());
  net.drain(0);
  net.run_until(net.now() + seconds(3));
  auto failed = net.effects_of<SpaceRequestFailed>(0);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].request_id, lost);
  EXPECT_THROW(net.core(0).request_space(12345, "x", net.now()), NotFoundError);
}

TEST(CoreTest, GracefulLeaveIsSeenAsLeftAndNeverRetried) {
  MiniNet net;
  form_cluster(net, 3);
  net.core(2).leave(net.now());
  net.drain(2);
  net.run_until(net.now() + seconds(1));
  net.set_up(2, false);
  for (size_t i : {0, 1}) {
    EXPECT_EQ(net.core(i).member(net.core(2).id())->state, MemberState::kLeft);
  }
  const Time left_at = net.now();
  net.run_until(net.now() + seconds(20));
  for (const auto& s : net.sent()) {
    if (s.at > left_at && s.from != 2) {
      EXPECT_NE(s.address, net.core(2).config().address) << message_type_name(s.message.body);
    }
  }
  EXPECT_EQ(net.core(0).member(net.core(2).id())->state, MemberState::kLeft);
}

TEST(CoreTest, CrashedMemberIsDeclaredDeadAndARestartRefutesIt) {
  MiniNet net;
  form_cluster(net, 5);
  const NodeId victim = net.core(4).id();
  net.set_up(4, false);
  net.run_until(net.now() + seconds(5));
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(net.core(i).member(victim)->state, MemberState::kDead);
  // Dead members are retried now and then: when it is reachable again it learns of its death
  // and refutes it.
  net.set_up(4, true);
  net.run_until(net.now() + seconds(10));
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(net.core(i).member(victim)->state, MemberState::kAlive) << "node " << i;
  }
  EXPECT_GE(net.core(4).stats().refutations, 1u);
}

TEST(CoreTest, RejectsABadConfiguration) {
  MemoryLog log;
  Config c = MiniNet::base_config(0);
  c.node_id = 0;
  EXPECT_THROW(Core(c, log, Time{0}), InvalidArgumentError);
  c = MiniNet::base_config(0);
  c.address.clear();
  EXPECT_THROW(Core(c, log, Time{0}), InvalidArgumentError);
}

}  // namespace
}  // namespace trellis::gossip
