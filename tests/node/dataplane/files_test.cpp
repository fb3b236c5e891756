// Rendering of sandbox files and of the nftables table (pure functions).

#include <gtest/gtest.h>

#include "node/dataplane/nftables.h"
#include "node/dataplane/sandbox_files.h"
#include "node/model/ids.h"

namespace trellis::node {
namespace {

store::SandboxCreated box() {
  store::SandboxCreated s;
  s.id = "0123456789abcdef0123456789abcdef";
  s.container_id = "web";
  s.hostname = "web";
  return s;
}

TEST(SandboxFilesTest, HostsListsOwnAddressesAndExtraHosts) {
  auto s = box();
  s.domain = "example.test";
  s.extra_hosts = {{"db", "192.0.2.9"}};
  const std::string hosts = render_hosts(s, {"192.0.2.2/26", "198.51.100.5/24"});
  EXPECT_NE(hosts.find("127.0.0.1\tlocalhost\n"), std::string::npos);
  EXPECT_NE(hosts.find("192.0.2.9\tdb\n"), std::string::npos);
  EXPECT_NE(hosts.find("192.0.2.2\tweb.example.test web\n"), std::string::npos);
  EXPECT_NE(hosts.find("198.51.100.5\tweb.example.test web\n"), std::string::npos);
}

TEST(SandboxFilesTest, ResolvConfDropsLoopbackServersOfTheHost) {
  const std::string host =
      "# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\n"
      "search corp.test\noptions edns0 trust-ad\n";
  const std::string r = render_resolv_conf(box(), host);
  EXPECT_EQ(r.find("127.0.0.53"), std::string::npos);
  EXPECT_EQ(r.find("::1"), std::string::npos);
  EXPECT_NE(r.find("nameserver 192.0.2.53\n"), std::string::npos);
  EXPECT_NE(r.find("search corp.test\n"), std::string::npos);
  EXPECT_NE(r.find("options edns0 trust-ad\n"), std::string::npos);
}

TEST(SandboxFilesTest, ResolvConfPrefersTheSandboxAndFallsBackToPublicServers) {
  auto s = box();
  s.dns_servers = {"198.51.100.53"};
  s.dns_search = {"a.test"};
  const std::string r = render_resolv_conf(s, "nameserver 192.0.2.53\nsearch corp.test\n");
  EXPECT_NE(r.find("nameserver 198.51.100.53\n"), std::string::npos);
  EXPECT_EQ(r.find("192.0.2.53"), std::string::npos);
  EXPECT_NE(r.find("search a.test\n"), std::string::npos);
  const std::string fallback = render_resolv_conf(box(), "nameserver 127.0.0.1\n");
  EXPECT_NE(fallback.find("nameserver 8.8.8.8\n"), std::string::npos);
}

TEST(NftablesTest, ScriptReplacesTheTableAtomically) {
  NftRuleset rules;
  rules.networks.push_back({"trlbaaaa", "192.0.2.0/26", false, true, true});
  rules.networks.push_back({"trlbbbbb", "192.0.2.64/26", true, false, true});
  rules.ports.push_back({"tcp", 8080, "", "192.0.2.2", 80});
  rules.ports.push_back({"udp", 5353, "127.0.0.1", "192.0.2.3", 53});
  const std::string s = render_nft_script("trellis", "00000000000000a1", rules);
  EXPECT_EQ(s.rfind("add table inet trellis\ndelete table inet trellis\ntable inet trellis {\n"
                    "  comment \"trellis node 00000000000000a1\"\n",
                    0),
            0u);
  EXPECT_NE(s.find("tcp dport 8080 dnat ip to 192.0.2.2:80\n"), std::string::npos);
  EXPECT_NE(s.find("ip daddr 127.0.0.1 udp dport 5353 dnat ip to 192.0.2.3:53\n"),
            std::string::npos);
  EXPECT_NE(s.find("ip saddr 192.0.2.0/26 oifname != \"trlbaaaa\" masquerade"), std::string::npos);
  // The internal network: no masquerade, nothing in or out, ICC off.
  EXPECT_EQ(s.find("ip saddr 192.0.2.64/26 oifname != \"trlbbbbb\" masquerade"), std::string::npos);
  EXPECT_NE(s.find("iifname \"trlbbbbb\" oifname != \"trlbbbbb\" drop"), std::string::npos);
  EXPECT_NE(s.find("iifname \"trlbbbbb\" oifname \"trlbbbbb\" drop"), std::string::npos);
}

TEST(IdsTest, NamesMacsAndIds) {
  EXPECT_EQ(new_id().size(), 32u);
  EXPECT_NE(new_id(), new_id());
  EXPECT_NO_THROW(validate_name("n", "web-1_a.b"));
  EXPECT_THROW(validate_name("n", "a b"), InvalidArgumentError);
  EXPECT_THROW(validate_name("n", std::string(65, 'a')), InvalidArgumentError);
  EXPECT_EQ(mac_from_ipv4(ipam::IpAddress::parse("172.17.0.2")), "02:42:ac:11:00:02");
  EXPECT_EQ(normalize_mac("02:AB:cd:00:00:01"), "02:ab:cd:00:00:01");
  EXPECT_THROW(normalize_mac("01:00:5e:00:00:01"), InvalidArgumentError);
  EXPECT_THROW(normalize_mac("02:00:00:00:00"), InvalidArgumentError);
}

}  // namespace
}  // namespace trellis::node
