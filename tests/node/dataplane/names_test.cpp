// Every kernel object name and alias format: aliases round-trip, foreign text is refused, and
// names fit IFNAMSIZ.

#include "node/dataplane/names.h"

#include <gtest/gtest.h>

namespace trellis::node {
namespace {

TEST(NamesTest, AliasesRoundTrip) {
  const store::NodeId node = 0x1234abcd;
  for (std::string_view kind :
       {kNetworkAliasKind, kEndpointAliasKind, kEgressBridgeAliasKind, kEgressAliasKind}) {
    const auto parsed = parse_object_alias(object_alias(node, kind, "0123456789abcdef"));
    ASSERT_TRUE(parsed) << kind;
    EXPECT_EQ(parsed->node, node);
    EXPECT_EQ(parsed->kind, kind);
    EXPECT_EQ(parsed->id, "0123456789abcdef");
  }
}

TEST(NamesTest, ForeignAliasesAreRefused) {
  EXPECT_FALSE(parse_object_alias(""));
  EXPECT_FALSE(parse_object_alias("docker0"));
  EXPECT_FALSE(parse_object_alias("trellis/zz/net/1"));
  EXPECT_FALSE(parse_object_alias("trellis/" + store::format_node_id(1) + "/net/"));
  EXPECT_FALSE(parse_object_alias("trellis/" + store::format_node_id(1) + "/net"));
}

TEST(NamesTest, LinkNamesFitIfnamsizAndStartWithThePrefix) {
  const std::string id(32, 'f');
  for (const std::string& name :
       {bridge_name(id), veth_host_name(id), veth_peer_name(id), egress_host_name(id),
        egress_peer_name(id), std::string(kEgressBridge)}) {
    EXPECT_LE(name.size(), 15u) << name;
    EXPECT_EQ(name.substr(0, kLinkPrefix.size()), kLinkPrefix) << name;
  }
}

}  // namespace
}  // namespace trellis::node
