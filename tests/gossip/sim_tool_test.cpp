// The trellis-sim command line, run as a program.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

#include "../common/temp_dir.h"

namespace {

std::pair<int, std::string> run(const std::string& args) {
  return trellis::test_support::run_command(std::string(TRELLIS_SIM_TOOL) + " " + args);
}

TEST(TrellisSimTool, JsonReportIsDeterministicAndComplete) {
  const std::string args =
      "-n 12 --seed 5 --duration 15 --events 20 --events-spread 2 --crash 8:1 --loss 0.02 "
      "--partition 10:2:0.25 --format json";
  auto [rc, out] = run(args);
  ASSERT_EQ(rc, 0) << out;
  auto [rc2, again] = run(args);
  ASSERT_EQ(rc2, 0);
  EXPECT_EQ(out, again) << "same flags and seed must give the same report";
  nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["nodes"], 12);
  EXPECT_EQ(j["seed"], 5);
  EXPECT_EQ(j["events"], 20);
  ASSERT_EQ(j["crashes"].size(), 1u);
  EXPECT_TRUE(j["crashes"][0]["all_detected_s"].is_number());
  EXPECT_EQ(j["false_dead"], 0);
  EXPECT_TRUE(j["log_converged"].get<bool>());
  EXPECT_GT(j["bytes_per_node_s"].get<double>(), 0.0);
}

TEST(TrellisSimTool, HelpExplainsFlagsAndBadFlagsFail) {
  auto [rc, help] = run("--help");
  EXPECT_EQ(rc, 0);
  for (const char* flag : {"--nodes", "--seed", "--loss", "--partition", "--crash", "--events",
                           "--profile", "--probe-interval-ms", "--format"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
  auto [rc_text, text] = run("-n 5 --duration 8 --events 2 --profile memberlist");
  EXPECT_EQ(rc_text, 0) << text;
  EXPECT_NE(text.find("log converged: yes"), std::string::npos) << text;
  EXPECT_NE(run("--partition 1:2:1.5").first, 0);
  EXPECT_NE(run("--crash soon").first, 0);
  EXPECT_NE(run("--format yaml").first, 0);
}

}  // namespace
