// The cluster's policy without gossip: the live set, join donations, space answers and
// founding, each against real stores (one per node, events copied between them as gossip
// would) and a writer that commits straight to the store.

#include "node/cluster/cluster_policy.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <set>

#include "common/log.h"
#include "node/cluster/founding.h"
#include "node/cluster/join_donations.h"
#include "node/cluster/membership.h"
#include "node/cluster/space_donor.h"
#include "overlay/space_planner.h"
#include "overlay/space_request.h"
#include "tests/node/support/temp_dir.h"

namespace trellis::node {
namespace {

using testing::TempDir;

constexpr store::NodeId kA = 0xa1;
constexpr store::NodeId kB = 0xb2;
constexpr store::NodeId kC = 0xc3;

// Commits to the store, as Controller::append does, and keeps what it was given.
class StoreWriter final : public LocalEventWriter {
 public:
  explicit StoreWriter(store::Store& store) : store_(store) {}
  void append(std::vector<store::Body> bodies) override {
    if (bodies.empty()) return;
    for (const store::Body& b : bodies) written.push_back(b);
    store_.append_local(std::move(bodies));
  }
  template <typename T>
  std::vector<T> written_of() const {
    std::vector<T> out;
    for (const store::Body& b : written)
      if (const T* t = std::get_if<T>(&b)) out.push_back(*t);
    return out;
  }
  std::vector<store::Body> written;

 private:
  store::Store& store_;
};

// One node's store and writer.
struct Node {
  Node(const TempDir& root, store::NodeId id, const std::string& name) {
    store::Options o;
    o.node_id = id;
    o.node_name = name;
    o.durable = false;
    store.emplace(store::Store::open(root / name, o));
    writer = std::make_unique<StoreWriter>(*store);
  }
  std::optional<store::Store> store;
  std::unique_ptr<StoreWriter> writer;
};

// Copies the events `to` lacks from `from` (what anti-entropy does).
void sync(const Node& from, Node& to) {
  const store::VersionVector have = to.store->version_vector();
  for (const auto& [origin, head] : from.store->version_vector()) {
    const auto it = have.find(origin);
    const uint64_t after = it == have.end() ? 0 : it->second;
    if (head > after) to.store->apply_remote(from.store->events_after(origin, after, 1u << 30));
  }
}

MemberChange change(store::NodeId id, gossip::MemberState state, gossip::MemberState previous,
                    bool is_new, bool self = false) {
  MemberChange c;
  c.member.id = id;
  c.member.state = state;
  c.member.self = self;
  c.previous = previous;
  c.is_new = is_new;
  return c;
}

uint64_t owned_by(const store::Store& store, const std::string& space, store::NodeId node) {
  const auto info = store.read().space(space);
  return info ? info->space.ownership().owned_count(node) : 0;
}

class ClusterPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override { log("cluster").set_level(spdlog::level::warn); }
  TempDir root_;
};

using gossip::MemberState;

TEST_F(ClusterPolicyTest, LiveSetExcludesSelfAndDeadOrLeftMembers) {
  Membership m;
  EXPECT_FALSE(
      m.apply(change(kA, MemberState::kAlive, MemberState::kAlive, true, true)).live_set_changed);
  MembershipUpdate u = m.apply(change(kB, MemberState::kAlive, MemberState::kAlive, true));
  EXPECT_TRUE(u.live_set_changed);
  EXPECT_TRUE(u.appeared_alive);
  m.apply(change(kC, MemberState::kAlive, MemberState::kAlive, true));
  EXPECT_EQ(m.live_nodes(), (std::set<store::NodeId>{kB, kC}));

  // A suspect may still answer: it stays live, and nothing changes.
  u = m.apply(change(kB, MemberState::kSuspect, MemberState::kAlive, false));
  EXPECT_FALSE(u.live_set_changed);
  EXPECT_FALSE(u.appeared_alive);
  EXPECT_EQ(m.live_nodes(), (std::set<store::NodeId>{kB, kC}));
  // Refuting the suspicion is an appearance (a donation may be owed), not a live-set change.
  u = m.apply(change(kB, MemberState::kAlive, MemberState::kSuspect, false));
  EXPECT_FALSE(u.live_set_changed);
  EXPECT_TRUE(u.appeared_alive);

  EXPECT_TRUE(
      m.apply(change(kB, MemberState::kDead, MemberState::kSuspect, false)).live_set_changed);
  EXPECT_TRUE(m.apply(change(kC, MemberState::kLeft, MemberState::kAlive, false)).live_set_changed);
  EXPECT_TRUE(m.live_nodes().empty());
  // A dead member coming back is live again, and owed its share again if it has none.
  u = m.apply(change(kB, MemberState::kAlive, MemberState::kDead, false));
  EXPECT_TRUE(u.live_set_changed);
  EXPECT_TRUE(u.appeared_alive);
  EXPECT_EQ(m.live_nodes(), std::set<store::NodeId>{kB});
}

TEST_F(ClusterPolicyTest, FoundingInitialisesMissingSpacesOnce) {
  Node a(root_, kA, "a");
  found_cluster_spaces(*a.store, *a.writer);
  const auto founded = a.writer->written_of<store::SpaceInitialised>();
  ASSERT_EQ(founded.size(), 2u);
  EXPECT_EQ(founded[0].space, "vni");
  EXPECT_EQ(founded[1].space, "subnet-pool");
  EXPECT_GT(owned_by(*a.store, "vni", kA), 0u);

  found_cluster_spaces(*a.store, *a.writer);  // a restart of the founder
  EXPECT_EQ(a.writer->written.size(), 2u) << "the spaces exist: nothing more is written";
  // A node that synced them (a joiner) founds nothing either.
  Node b(root_, kB, "b");
  sync(a, b);
  found_cluster_spaces(*b.store, *b.writer);
  EXPECT_TRUE(b.writer->written.empty());
}

TEST_F(ClusterPolicyTest, NodeIsAnnouncedOnlyWhenNameOrAddressChanged) {
  Node a(root_, kA, "a");
  auto first = node_announcement(*a.store, "a", "192.0.2.1");
  ASSERT_TRUE(first);
  a.writer->append({*first});
  EXPECT_FALSE(node_announcement(*a.store, "a", "192.0.2.1"));
  const auto moved = node_announcement(*a.store, "a", "192.0.2.7");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->address, "192.0.2.7");
}

TEST_F(ClusterPolicyTest, JoinDonationComesOnlyFromTheMemberWithMostFreeSpace) {
  constexpr store::NodeId kD = 0xd4;
  Node a(root_, kA, "a");
  Node b(root_, kB, "b");
  found_cluster_spaces(*a.store, *a.writer);
  FixedLiveNodes a_live, b_live;
  JoinDonations a_donations(*a.store, a_live, *a.writer);
  JoinDonations b_donations(*b.store, b_live, *b.writer);

  // B joins: the founder, the only owner, gives it a share of each cluster space.
  a_live.set({kB});
  a_donations.member_appeared(kB);
  ASSERT_EQ(a.writer->written_of<store::RangeDonated>().size(), 2u);
  // D joins: A and B have as much free; the tie goes to the lower id, A, which then has
  // less free than B.
  a_live.set({kB, kD});
  a_donations.member_appeared(kD);
  ASSERT_EQ(a.writer->written_of<store::RangeDonated>().size(), 4u);
  sync(a, b);
  EXPECT_GT(owned_by(*b.store, "vni", kB), owned_by(*b.store, "vni", kA))
      << "nothing is allocated: B now has the most free";
  const size_t a_written = a.writer->written.size();

  // C joins (D is gone): both run the same plan on the same state; only B, with the most
  // free, donates.
  a_live.set({kB, kC});
  b_live.set({kA, kC});
  a_donations.member_appeared(kC);
  b_donations.member_appeared(kC);
  EXPECT_EQ(a.writer->written.size(), a_written) << "A has less free space than B";
  const auto to_c = b.writer->written_of<store::RangeDonated>();
  ASSERT_EQ(to_c.size(), 2u);
  for (const store::RangeDonated& d : to_c) EXPECT_EQ(d.to, kC);
  EXPECT_GT(owned_by(*b.store, "vni", kC), 0u);

  // Owing again (the periodic check, a repeated appearance) gives nothing more.
  sync(b, a);
  a_donations.owe_all();
  b_donations.owe_all();
  b_donations.member_appeared(kC);
  EXPECT_EQ(a.writer->written.size(), a_written);
  EXPECT_EQ(b.writer->written.size(), 2u);
}

TEST_F(ClusterPolicyTest, ASpaceRequestIsAnsweredWithADonationAuthoredBeforeTheAnswer) {
  Node a(root_, kA, "a");
  found_cluster_spaces(*a.store, *a.writer);
  SpaceDonor donor(*a.store, *a.writer);

  const std::string payload =
      overlay::encode_space_request({"vni", overlay::kClusterSpaceRequestSize, std::nullopt});
  const overlay::SpaceAnswerBody answer =
      overlay::decode_space_answer(donor.answer(SpaceRequest{kB, 7, payload}));
  ASSERT_EQ(answer.status, overlay::SpaceAnswerStatus::kDonated) << answer.reason;
  // By the time the answer exists, the donation it names is committed in the donor's log.
  const auto donated = a.writer->written_of<store::RangeDonated>();
  ASSERT_EQ(donated.size(), 1u);
  EXPECT_EQ(donated[0].to, kB);
  EXPECT_EQ(donated[0].space, "vni");
  EXPECT_EQ(donated[0].first, answer.first);
  EXPECT_EQ(donated[0].last, answer.last);
  EXPECT_EQ(owned_by(*a.store, "vni", kB), answer.last - answer.first + 1);

  // Answers that give nothing write nothing.
  const size_t written = a.writer->written.size();
  const auto unknown = overlay::decode_space_answer(donor.answer(
      SpaceRequest{kB, 8, overlay::encode_space_request({"net/none/0", 4, std::nullopt})}));
  EXPECT_NE(unknown.status, overlay::SpaceAnswerStatus::kDonated);
  const auto malformed = overlay::decode_space_answer(donor.answer(SpaceRequest{kB, 9, "junk"}));
  EXPECT_EQ(malformed.status, overlay::SpaceAnswerStatus::kRefused);
  EXPECT_EQ(a.writer->written.size(), written);
}

// ---- the policy's routing, over a service that is never started ----------------------------

struct RecordedAnswers final : SpaceAnswerListener {
  void space_answered(uint64_t id, bool gives_nothing, const std::string& reason) override {
    answers.push_back({id, gives_nothing, reason});
  }
  struct Answer {
    uint64_t id;
    bool gives_nothing;
    std::string reason;
  };
  std::vector<Answer> answers;
};

class ClusterPolicyRoutingTest : public ClusterPolicyTest {
 protected:
  ClusterPolicy& policy(bool founder) {
    ClusterOptions o;
    o.advertise_addr = "192.0.2.1:0";
    service_ = std::make_unique<ClusterService>(*a_.store, o);
    policy_ = std::make_unique<ClusterPolicy>(*a_.store, *service_, live_, *a_.writer, answers_,
                                              ClusterPolicy::Options{"a", founder});
    return *policy_;
  }
  Node a_{root_, kA, "a"};
  Membership live_;
  RecordedAnswers answers_;
  std::unique_ptr<ClusterService> service_;
  std::unique_ptr<ClusterPolicy> policy_;
};

TEST_F(ClusterPolicyRoutingTest, ReadyAnnouncesAndTheFounderFoundsTheSpaces) {
  ClusterPolicy& p = policy(/*founder=*/true);
  p.ready();
  const auto announced = a_.writer->written_of<store::NodeAnnounced>();
  ASSERT_EQ(announced.size(), 1u);
  EXPECT_EQ(announced[0].name, "a");
  EXPECT_EQ(announced[0].address, "192.0.2.1");
  EXPECT_EQ(a_.writer->written_of<store::SpaceInitialised>().size(), 2u);
  const size_t written = a_.writer->written.size();
  p.ready();  // a restart: nothing new
  EXPECT_EQ(a_.writer->written.size(), written);
}

TEST_F(ClusterPolicyRoutingTest, MemberChangesMoveTheLiveSetAndOweJoinDonations) {
  ClusterPolicy& p = policy(/*founder=*/true);
  p.ready();
  p.member_changed(change(kB, MemberState::kAlive, MemberState::kAlive, true));
  EXPECT_EQ(live_.live_nodes(), std::set<store::NodeId>{kB});
  EXPECT_EQ(a_.writer->written_of<store::RangeDonated>().size(), 2u) << "B got its share";
  p.member_changed(change(kB, MemberState::kSuspect, MemberState::kAlive, false));
  p.member_changed(change(kA, MemberState::kAlive, MemberState::kAlive, false, true));
  EXPECT_EQ(live_.live_nodes(), std::set<store::NodeId>{kB});
  p.member_changed(change(kB, MemberState::kDead, MemberState::kSuspect, false));
  EXPECT_TRUE(live_.live_nodes().empty());
  p.member_changed(change(kB, MemberState::kAlive, MemberState::kDead, false));
  EXPECT_EQ(live_.live_nodes(), std::set<store::NodeId>{kB});
}

TEST_F(ClusterPolicyRoutingTest, AnswersThatGiveNothingEndTheWaitEarly) {
  ClusterPolicy& p = policy(/*founder=*/false);
  using overlay::SpaceAnswerStatus;
  p.space_answered({kB, 1, overlay::encode_space_answer({SpaceAnswerStatus::kDonated, 5, 9, ""})});
  p.space_answered(
      {kB, 2, overlay::encode_space_answer({SpaceAnswerStatus::kNothingFree, 0, 0, "full"})});
  p.space_answered({kB, 3, std::nullopt});  // no answer: the waiter resends or times out
  p.space_answered({kB, 4, std::string("junk")});
  ASSERT_EQ(answers_.answers.size(), 2u);
  EXPECT_EQ(answers_.answers[0].id, 1u);
  EXPECT_FALSE(answers_.answers[0].gives_nothing);
  EXPECT_EQ(answers_.answers[1].id, 2u);
  EXPECT_TRUE(answers_.answers[1].gives_nothing);
  EXPECT_EQ(answers_.answers[1].reason, "full");
}

}  // namespace
}  // namespace trellis::node
