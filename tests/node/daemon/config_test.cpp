// trellisd's flags and config file (node/daemon/config.h).

#include "node/daemon/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "common/error.h"
#include "tests/node/support/temp_dir.h"

namespace trellis::node {
namespace {

using testing::TempDir;

std::optional<Config> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "trellisd");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), "0.0.0-test");
}

TEST(ConfigTest, DefaultsFollowTheDesign) {
  const auto c = parse({"--log-level", "warn"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->data_dir, "/var/lib/trellis");
  EXPECT_EQ(c->run_dir, "/run/trellis");
  EXPECT_FALSE(c->name.empty());  // the host name
  EXPECT_EQ(c->vxlan_port, 4789u);
  EXPECT_FALSE(c->egress);
}

TEST(ConfigTest, EgressAndVxlanPortFlags) {
  const auto c = parse({"--log-level", "warn", "--egress", "--vxlan-port", "4790"});
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->egress);
  EXPECT_EQ(c->vxlan_port, 4790u);
  EXPECT_THROW(parse({"--vxlan-port", "0"}), InvalidArgumentError);
}

TEST(ConfigTest, ConfigFileIsReadAndFlagsWin) {
  TempDir dir;
  {
    std::ofstream f(dir / "trellisd.conf");
    f << "data-dir = \"" << (dir / "data") << "\"\n"
      << "run-dir = \"" << (dir / "run") << "\"\n"
      << "name = \"from-file\"\n"
      << "log-level = \"warn\"\n";
  }
  const auto c = parse({"--config", dir / "trellisd.conf", "--name", "from-flag"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->data_dir, dir / "data");
  EXPECT_EQ(c->run_dir, dir / "run");
  EXPECT_EQ(c->name, "from-flag");
}

// A typo in the config file is an error naming the key, never a silent fall-back to the
// defaults (a "[trellisd]" header once sent a daemon to /var/lib/trellis).
TEST(ConfigTest, UnknownKeysAndSectionsInTheConfigFileAreInvalidArguments) {
  TempDir dir;
  auto parse_file = [&](const std::string& text) {
    std::ofstream(dir / "trellisd.conf") << text;
    return parse({"--config", dir / "trellisd.conf"});
  };
  auto error_of = [&](const std::string& text) -> std::string {
    try {
      parse_file(text);
    } catch (const InvalidArgumentError& e) {
      return e.what();
    }
    return "";
  };
  const std::string ok = "data-dir = \"" + std::string(dir / "data") + "\"\n";
  ASSERT_TRUE(parse_file(ok));

  std::string e = error_of(ok + "date-dir = \"/tmp/x\"\n");
  EXPECT_NE(e.find("unknown key 'date-dir'"), std::string::npos) << e;
  EXPECT_NE(e.find(std::string(dir / "trellisd.conf")), std::string::npos) << e;

  e = error_of("[trellisd]\n" + ok);
  EXPECT_NE(e.find("section [trellisd] is not allowed"), std::string::npos) << e;
  EXPECT_NE(e.find("outside any [section]"), std::string::npos) << e;

  e = error_of(ok + "advertise-address = \"192.0.2.1\"\n");
  EXPECT_NE(e.find("unknown key 'advertise-address'"), std::string::npos) << e;
}

TEST(ConfigTest, BadFlagsAreInvalidArguments) {
  EXPECT_THROW(parse({"--no-such-flag"}), InvalidArgumentError);
  EXPECT_THROW(parse({"--vxlan-port", "0"}), InvalidArgumentError);
  EXPECT_THROW(parse({"--log-level", "loud"}), InvalidArgumentError);
  EXPECT_THROW(parse({"--advertise-addr", "not-an-ip", "--log-level", "warn"}),
               InvalidArgumentError);
  EXPECT_THROW(parse({"--run-dir", "/tmp/" + std::string(80, 'x'), "--log-level", "warn"}),
               InvalidArgumentError);
  EXPECT_THROW(parse({"--config", "/nonexistent/trellisd.conf"}), InvalidArgumentError);
}

TEST(ConfigTest, ClusteringFlagsTurnClusteringOn) {
  EXPECT_FALSE(parse({"--log-level", "warn"})->clustering());
  auto c = parse({"--join", "192.0.2.1,192.0.2.2:7000", "--advertise-addr", "192.0.2.9:7001",
                  "--listen-addr", "0.0.0.0:7001", "--cluster-key", "/etc/trellis/key",
                  "--log-level", "warn"});
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->clustering());
  EXPECT_EQ(c->join, (std::vector<std::string>{"192.0.2.1", "192.0.2.2:7000"}));
  EXPECT_EQ(c->advertise_addr, "192.0.2.9:7001");
  EXPECT_EQ(c->listen_addr, "0.0.0.0:7001");
  EXPECT_EQ(c->cluster_key, "/etc/trellis/key");
  EXPECT_TRUE(parse({"--listen-addr", "127.0.0.1", "--log-level", "warn"})->clustering());
}

TEST(ConfigTest, MalformedClusteringFlagsAreInvalidArguments) {
  EXPECT_THROW(parse({"--listen-addr", "127.0.0.1:99999", "--log-level", "warn"}),
               InvalidArgumentError);
  EXPECT_THROW(parse({"--advertise-addr", "192.0.2.1:x", "--log-level", "warn"}),
               InvalidArgumentError);
  EXPECT_THROW(parse({"--cluster-key", "/k", "--log-level", "warn"}), InvalidArgumentError);
}

}  // namespace
}  // namespace trellis::node
