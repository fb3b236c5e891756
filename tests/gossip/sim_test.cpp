// Seeded simulator tests: whole clusters of protocol cores on virtual time with hard
// assertions. Each seed is a reproducible scenario; a failing seed is a bug report.
#include "gossip/sim.h"

#include <gtest/gtest.h>

namespace trellis::gossip {
namespace {

// Durations in the report's unit (microseconds).
int64_t us(Time t) { return t.count(); }

SimConfig base(size_t nodes, uint64_t seed) {
  SimConfig c;
  c.nodes = nodes;
  c.seed = seed;
  c.join_spread = seconds(1);
  c.warmup = seconds(4);
  return c;
}

TEST(SimTest, HundredNodesConvergeAfterABurstOfAThousandEvents) {
  SimConfig c = base(100, 11);
  c.duration = seconds(12);
  c.events = 1000;
  c.events_at = seconds(5);
  c.events_spread = milliseconds(500);
  SimReport r = run_simulation(c);
  EXPECT_TRUE(r.log_converged) << format_report_text(r);
  EXPECT_EQ(r.events, 1000u);
  EXPECT_EQ(r.to_100.missing, 0u);
  EXPECT_LT(r.to_100.max, us(seconds(3))) << format_report_text(r);
  EXPECT_LT(r.to_99.p50, us(seconds(1))) << format_report_text(r);
  EXPECT_EQ(r.false_dead, 0u);
}

TEST(SimTest, TenPercentLossCausesNoFalseDeathsInTenMinutes) {
  SimConfig c = base(50, 12);
  c.duration = std::chrono::minutes(10);
  c.loss = 0.10;
  c.events = 200;
  c.events_at = seconds(10);
  c.events_spread = std::chrono::minutes(9);
  SimReport r = run_simulation(c);
  EXPECT_EQ(r.false_dead, 0u) << format_report_text(r);
  EXPECT_GT(r.false_suspect, 0u) << "10% loss should cause (refuted) suspicions";
  EXPECT_TRUE(r.log_converged) << format_report_text(r);
  EXPECT_TRUE(r.membership_converged) << format_report_text(r);
}

TEST(SimTest, HalvesPartitionedForAMinuteHealToOneViewAndOneLog) {
  SimConfig c = base(100, 13);
  c.duration = seconds(95);
  c.partitions.push_back({seconds(5), seconds(60), 0.5});
  c.events = 200;  // appended on both sides during the partition
  c.events_at = seconds(10);
  c.events_spread = seconds(50);
  SimReport r = run_simulation(c);
  EXPECT_TRUE(r.log_converged) << format_report_text(r);
  EXPECT_TRUE(r.membership_converged) << format_report_text(r);
  // One membership view within 20 s of the heal at 65 s.
  EXPECT_GE(r.membership_converged_at_us, us(seconds(65)));
  EXPECT_LT(r.membership_converged_at_us, us(seconds(85))) << format_report_text(r);
  EXPECT_EQ(r.false_dead, 0u);
}

TEST(SimTest, CrashedNodesAreDeclaredDeadEverywhereWithinBounds) {
  struct Case {
    size_t nodes;
    Time bound;
  };
  for (const Case& k : {Case{20, seconds(3)}, Case{100, seconds(4)}}) {
    SimConfig c = base(k.nodes, 14);
    c.duration = seconds(60);
    for (int i = 0; i < 5; ++i) c.crashes.push_back({seconds(10 + 10 * i), 1, std::nullopt});
    SimReport r = run_simulation(c);
    ASSERT_EQ(r.crashes.size(), 5u);
    EXPECT_EQ(r.detection_all.missing, 0u) << format_report_text(r);
    EXPECT_LT(r.detection_all.max, us(k.bound)) << format_report_text(r);
    EXPECT_EQ(r.false_dead, 0u);
    EXPECT_TRUE(r.membership_converged) << format_report_text(r);
  }
}

TEST(SimTest, RestartedNodeRejoinsAndCatchesUpOnMissedEvents) {
  SimConfig c = base(30, 15);
  c.duration = seconds(40);
  c.crashes.push_back({seconds(8), 3, seconds(10)});
  c.events = 300;
  c.events_at = seconds(10);
  c.events_spread = seconds(5);  // while three nodes are down
  SimReport r = run_simulation(c);
  EXPECT_EQ(r.live_nodes_at_end, 30u);
  ASSERT_EQ(r.crashes.size(), 3u);
  EXPECT_EQ(r.detection_all.missing, 0u) << format_report_text(r);
  EXPECT_LT(r.detection_all.max, us(seconds(5))) << format_report_text(r);
  EXPECT_TRUE(r.log_converged) << format_report_text(r);
  EXPECT_TRUE(r.membership_converged) << format_report_text(r);
}

TEST(SimTest, SameSeedGivesTheSameReport) {
  SimConfig c = base(40, 16);
  c.duration = seconds(20);
  c.loss = 0.05;
  c.events = 100;
  c.events_spread = seconds(2);
  c.crashes.push_back({seconds(8), 2, seconds(5)});
  c.partitions.push_back({seconds(12), seconds(3), 0.3});
  SimReport a = run_simulation(c);
  SimReport b = run_simulation(c);
  EXPECT_EQ(a, b);
  EXPECT_EQ(format_report_json(a), format_report_json(b));
  c.seed = 17;
  SimReport other = run_simulation(c);
  EXPECT_NE(a.bytes_sent, other.bytes_sent);
}

}  // namespace
}  // namespace trellis::gossip
