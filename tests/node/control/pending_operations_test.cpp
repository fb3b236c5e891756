// PendingOperations: commands that wait for another node's space resume on the donation, end
// early when the owner gives nothing, and time out at the limit. A fake requester stands in
// for gossip; the io_context is driven by hand.

#include "node/control/pending_operations.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "node/control/controller.h"

namespace trellis::node {
namespace {

using namespace std::chrono_literals;

constexpr store::NodeId kOwner = 0xa1;
const std::string kSpace = "net/n1/0";

struct Sent {
  store::NodeId owner;
  std::string payload;
};

class FakeRequester : public SpaceRequester {
 public:
  void request_space(store::NodeId owner, std::string payload,
                     std::function<void(uint64_t)> on_sent) override {
    sent.push_back({owner, payload});
    on_sent(sent.size());  // request ids 1, 2, ...
  }
  std::vector<Sent> sent;
};

SpaceShortage shortage() {
  return SpaceShortage("create endpoint 'web'", kOwner, "addresses", kSpace, "payload");
}

class PendingOperationsTest : public ::testing::Test {
 protected:
  // Runs a command that needs the space until `granted`; records its outcome.
  void start(PendingOperations& pending) {
    pending.run(
        [this] {
          ++runs_;
          if (!granted_) throw shortage();
          succeeded_ = true;
        },
        [this](const std::exception& e) { failure_ = e.what(); });
  }
  // Drives the io_context until the command ended or `limit` passed.
  void run_until_done(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!succeeded_ && !failure_ && std::chrono::steady_clock::now() < end) {
      io_.restart();
      io_.run_one_for(10ms);
    }
  }
  void settle() {
    io_.restart();
    io_.poll();
  }

  boost::asio::io_context io_;
  FakeRequester requester_;
  int runs_ = 0;
  bool granted_ = false;
  bool succeeded_ = false;
  std::optional<std::string> failure_;
};

TEST_F(PendingOperationsTest, CommandWithSpaceRunsOnceAndNeverWaits) {
  PendingOperations pending(&io_, &requester_);
  granted_ = true;
  start(pending);
  EXPECT_TRUE(succeeded_);
  EXPECT_EQ(runs_, 1);
  EXPECT_EQ(pending.waiting(), 0u);
  EXPECT_TRUE(requester_.sent.empty());
}

TEST_F(PendingOperationsTest, ShortageAsksTheOwnerAndResumesWhenTheDonationIsApplied) {
  PendingOperations pending(&io_, &requester_, {10s, 30s});
  start(pending);
  EXPECT_EQ(pending.waiting(), 1u);
  ASSERT_EQ(requester_.sent.size(), 1u);
  EXPECT_EQ(requester_.sent[0].owner, kOwner);
  EXPECT_EQ(requester_.sent[0].payload, "payload");

  // A change of another space does not run the command again.
  store::ChangeSet other;
  other.spaces = {"vni"};
  pending.on_change(other);
  settle();
  EXPECT_EQ(runs_, 1);

  granted_ = true;
  store::ChangeSet donation;
  donation.spaces = {kSpace};
  pending.on_change(donation);
  EXPECT_EQ(runs_, 1);  // never inside the listener: posted
  settle();
  EXPECT_TRUE(succeeded_);
  EXPECT_EQ(runs_, 2);
  EXPECT_EQ(pending.waiting(), 0u);
  EXPECT_FALSE(failure_);
}

TEST_F(PendingOperationsTest, AnOwnerThatGivesNothingEndsTheWaitAtOnce) {
  PendingOperations pending(&io_, &requester_, {10s, 30s});
  start(pending);
  settle();  // the request id reaches the waiting command
  const auto t0 = std::chrono::steady_clock::now();
  pending.on_answer(1, true, "no free addresses left");
  run_until_done(5s);
  ASSERT_TRUE(failure_);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_NE(failure_->find("node 00000000000000a1 has nothing to donate: no free addresses left"),
            std::string::npos)
      << *failure_;
  EXPECT_EQ(pending.waiting(), 0u);
}

TEST_F(PendingOperationsTest, AnswersToOtherRequestsAndDonationsInFlightKeepWaiting) {
  PendingOperations pending(&io_, &requester_, {10s, 30s});
  start(pending);
  settle();
  pending.on_answer(7, true, "not ours");         // another request
  pending.on_answer(1, false, "donated [3, 9]");  // the event is on its way
  settle();
  EXPECT_EQ(pending.waiting(), 1u);
  EXPECT_FALSE(failure_);
}

TEST_F(PendingOperationsTest, TimesOutAtTheLimitAfterAskingAgain) {
  PendingOperations pending(&io_, &requester_, {50ms, 300ms});
  start(pending);
  run_until_done(5s);
  ASSERT_TRUE(failure_);
  EXPECT_NE(failure_->find("space request to node 00000000000000a1 timed out after 300 ms"),
            std::string::npos)
      << *failure_;
  EXPECT_GE(requester_.sent.size(), 2u);  // re-sent: gossip may lose a request
  EXPECT_EQ(pending.waiting(), 0u);
}

TEST_F(PendingOperationsTest, WithoutAWayToAskTheShortageFailsAtOnce) {
  PendingOperations pending(&io_, nullptr);
  start(pending);
  ASSERT_TRUE(failure_);
  EXPECT_NE(failure_->find("waiting for node 00000000000000a1 to donate addresses"),
            std::string::npos);
  EXPECT_EQ(pending.waiting(), 0u);
}

TEST_F(PendingOperationsTest, OtherErrorsFailTheCommandWithoutWaiting) {
  PendingOperations pending(&io_, &requester_);
  pending.run([] { throw ConflictError("name taken"); },
              [this](const std::exception& e) { failure_ = e.what(); });
  EXPECT_EQ(failure_, "name taken");
  EXPECT_EQ(pending.waiting(), 0u);
}

}  // namespace
}  // namespace trellis::node
