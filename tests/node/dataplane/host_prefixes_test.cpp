// host_prefixes_of: what a listing of the host namespace says new subnets must avoid.

#include "node/dataplane/host_prefixes.h"

#include <gtest/gtest.h>

#include "node/dataplane/names.h"

namespace trellis::node {
namespace {

constexpr store::NodeId kSelf = 0xa1;

LinkInfo link(const std::string& name, std::vector<std::string> addresses,
              const std::string& alias = "") {
  LinkInfo l;
  l.name = name;
  l.alias = alias;
  l.addresses = std::move(addresses);
  return l;
}

// This node's bridges hold networks already in the state; another node's (a second trellisd
// in the namespace) are the host's like docker0.
TEST(HostPrefixesTest, AddressesAndRoutesCountOursAndTheDefaultRouteDoNot) {
  const std::vector<HostPrefix> got =
      host_prefixes_of({link("lo", {"127.0.0.1/8"}), link("docker0", {"172.17.0.1/16"}),
                        link("eth0", {"192.0.2.10/24", "192.0.2.77/24"}),
                        link("trlb1a2b3c4d5e", {"10.9.0.1/24"}, object_alias(kSelf, "net", "n1")),
                        link("trlb9f9f9f9f9f", {"10.7.0.1/24"}, object_alias(0xb2, "net", "n2"))},
                       {{"192.0.2.0/24", "eth0"},
                        {"10.8.0.0/16", "tun0"},
                        {"10.9.0.0/24", "trlb1a2b3c4d5e"},
                        {"0.0.0.0/0", "eth0"},
                        {"not a prefix", "x"}},
                       kSelf);
  std::vector<std::string> texts;
  for (const HostPrefix& h : got) texts.push_back(h.prefix.to_string() + " " + h.source);
  EXPECT_EQ(texts, (std::vector<std::string>{"127.0.0.0/8 address 127.0.0.1/8 on lo",
                                             "172.17.0.0/16 address 172.17.0.1/16 on docker0",
                                             "192.0.2.0/24 address 192.0.2.10/24 on eth0",
                                             "10.7.0.0/24 address 10.7.0.1/24 on trlb9f9f9f9f9f",
                                             "10.8.0.0/16 route 10.8.0.0/16 on tun0"}));
}

}  // namespace
}  // namespace trellis::node
