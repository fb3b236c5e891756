// The trellis-store inspection tool, run as a program against a real store.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "tests/store/test_support.h"

namespace trellis::store {
namespace {

std::pair<int, std::string> run(const std::string& args) {
  return test_support::run_command(std::string(TRELLIS_STORE_TOOL) + " " + args);
}

TEST(TrellisStoreTool, PrintsHeadsCountsLogAndStateAsJson) {
  testing::TempDir dir;
  const std::string path = dir.sub("s");
  std::string digest;
  {
    Store s = Store::open(path, testing::test_options(0xabc));
    s.append_local(testing::network("n1", "web", "10.9.0.0/24", /*cluster=*/false));
    s.append_local(EndpointCreated{testing::endpoint("e1", "n1", "10.9.0.2/24")});
    digest = s.state_digest();
  }
  auto [rc, out] = run(path + " --format json heads");
  ASSERT_EQ(rc, 0) << out;
  auto heads = nlohmann::json::parse(out);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0]["origin"], "0000000000000abc");
  EXPECT_EQ(heads[0]["head"], 2);

  std::tie(rc, out) = run(path + " --format json counts");
  ASSERT_EQ(rc, 0) << out;
  auto counts = nlohmann::json::parse(out);
  EXPECT_EQ(counts["events"], 2);
  EXPECT_EQ(counts["endpoints"], 1);

  std::tie(rc, out) = run(path + " --format json log");
  ASSERT_EQ(rc, 0) << out;
  auto log = nlohmann::json::parse(out);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0]["type"], "network-created");
  EXPECT_EQ(log[1]["body"]["addresses"][0], "10.9.0.2/24");

  std::tie(rc, out) = run(path + " --format json state");
  ASSERT_EQ(rc, 0) << out;
  auto state = nlohmann::json::parse(out);
  EXPECT_EQ(state["networks"][0]["name"], "web");
  EXPECT_EQ(state["endpoints"][0]["orphaned"], false);

  std::tie(rc, out) = run(path + " digest");
  EXPECT_EQ(out, digest + "\n");

  std::tie(rc, out) = run(path + " log");
  EXPECT_NE(out.find("0000000000000abc:2  L2  endpoint-created  id=e1"), std::string::npos) << out;
}

TEST(TrellisStoreTool, FailsWithAOneLineErrorOnAMissingStore) {
  testing::TempDir dir;
  auto [rc, out] = run(dir.sub("nothing"));
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("no store there"), std::string::npos) << out;
}

}  // namespace
}  // namespace trellis::store
