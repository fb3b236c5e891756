#include "ipam/default_pools.h"

#include <gtest/gtest.h>

namespace trellis::ipam {
namespace {

Prefix pfx(std::string_view text) { return Prefix::parse(text); }

std::vector<std::string> expand(const std::vector<PoolSpec>& specs) {
  std::vector<std::string> out;
  for (const PoolSpec& spec : specs) {
    for (uint64_t i = 0; i < spec.count(); ++i) out.push_back(spec.at(i).to_string());
  }
  return out;
}

TEST(DefaultPools, LocalDefaultsAreDockers31Pools) {
  const auto pools = expand(default_local_pools());
  ASSERT_EQ(pools.size(), 31u);
  for (int i = 0; i < 15; ++i) {
    EXPECT_EQ(pools[static_cast<size_t>(i)], "172." + std::to_string(17 + i) + ".0.0/16");
  }
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(pools[static_cast<size_t>(15 + i)], "192.168." + std::to_string(16 * i) + ".0/20");
  }
}

TEST(DefaultPools, GlobalDefaultsAre10Slash8As24s) {
  const auto specs = default_global_pools();
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].count(), 65536u);
  EXPECT_EQ(specs[0].at(0), pfx("10.0.0.0/24"));
  EXPECT_EQ(specs[0].at(1), pfx("10.0.1.0/24"));
  EXPECT_EQ(specs[0].at(65535), pfx("10.255.255.0/24"));
  EXPECT_THROW(specs[0].at(65536), AddressOutOfRangeError);
  EXPECT_EQ(specs[0].index_of(pfx("10.1.2.0/24")), 258u);
  EXPECT_EQ(specs[0].index_of(pfx("10.1.2.0/23")), std::nullopt);
  EXPECT_EQ(specs[0].index_of(pfx("11.0.0.0/24")), std::nullopt);
}

TEST(DefaultPools, SpecRejectsSizesOutsideBaseAndFamily) {
  EXPECT_THROW(PoolSpec(pfx("10.0.0.0/16"), 8), InvalidArgumentError);
  EXPECT_THROW(PoolSpec(pfx("10.0.0.0/16"), 33), InvalidArgumentError);
  EXPECT_THROW(PoolSpec(pfx("fd00::/48"), 129), InvalidArgumentError);
  EXPECT_NO_THROW(PoolSpec(pfx("10.0.0.0/16"), 16));
  EXPECT_NO_THROW(PoolSpec(pfx("10.0.0.0/16"), 32));
}

TEST(DefaultPools, Ipv6SpecsIndexBeyond32Bits) {
  const PoolSpec spec(pfx("fd00::/48"), 64);
  EXPECT_EQ(spec.count(), 65536u);
  EXPECT_EQ(spec.at(1), pfx("fd00:0:0:1::/64"));
  EXPECT_EQ(spec.index_of(pfx("fd00:0:0:ffff::/64")), 65535u);

  const PoolSpec huge(pfx("fd00::/8"), 128);
  EXPECT_EQ(huge.count(), UINT64_MAX);
  EXPECT_EQ(huge.at(5), pfx("fd00::5/128"));
  EXPECT_EQ(huge.at(UINT64_MAX), pfx("fd00::ffff:ffff:ffff:ffff/128"));
  EXPECT_EQ(huge.index_of(pfx("fd00::5/128")), 5u);
  EXPECT_EQ(huge.index_of(pfx("fd00:0:0:1::/128")), std::nullopt);  // index beyond 2^64

  const PoolSpec whole(pfx("::/0"), 0);
  EXPECT_EQ(whole.count(), 1u);
  EXPECT_EQ(whole.at(0), pfx("::/0"));
  EXPECT_EQ(whole.index_of(pfx("::/0")), 0u);
}

TEST(DefaultPools, ParsesDockerFlagForm) {
  EXPECT_EQ(parse_pool_spec("base=10.10.0.0/16,size=24"), PoolSpec(pfx("10.10.0.0/16"), 24));
  EXPECT_EQ(parse_pool_spec("size=24,base=10.10.0.0/16"), PoolSpec(pfx("10.10.0.0/16"), 24));
  EXPECT_EQ(parse_pool_spec("base=fd00::/48,size=64"), PoolSpec(pfx("fd00::/48"), 64));
  EXPECT_EQ(parse_pool_spec("base=10.10.0.0/16,size=24").to_string(), "base=10.10.0.0/16,size=24");
  for (const char* bad :
       {"", "base=10.10.0.0/16", "size=24", "base=10.10.0.0/16,size=24,x=1",
        "base=10.10.0.0/16,size=24,size=24", "base=10.10.0.0/16,size=-1",
        "base=10.10.0.0/16,size=24x", "base=10.10.0.0/16,size=", "base=10.10.0.0/16,size=8",
        "base 10.10.0.0/16,size=24", "base=10.10.0.0/16;size=24"}) {
    EXPECT_THROW(parse_pool_spec(bad), InvalidArgumentError) << bad;
  }
  EXPECT_THROW(parse_pool_spec("base=10.10.0.1/16,size=24"), InvalidCidrError);
}

TEST(DefaultPools, ParsesDaemonJsonForms) {
  const std::vector<PoolSpec> expected = {PoolSpec(pfx("10.10.0.0/16"), 24),
                                          PoolSpec(pfx("fd00::/48"), 64)};
  EXPECT_EQ(parse_pool_specs_json(
                R"([{"base":"10.10.0.0/16","size":24},{"base":"fd00::/48","size":64}])"),
            expected);
  EXPECT_EQ(parse_pool_specs_json(R"({"default-address-pools": [
                {"base": "10.10.0.0/16", "size": 24}, {"size": 64, "base": "fd00::/48"}]})"),
            expected);
  for (const char* bad :
       {"", "[", "[]", "{}", R"({"other": []})", R"([{"base":"10.0.0.0/8"}])",
        R"([{"base":"10.0.0.0/8","size":"24"}])", R"([{"base":"10.0.0.0/8","size":-24}])",
        R"([{"base":"10.0.0.0/8","size":24.5}])", R"([{"base":"10.0.0.0/8","size":4294967320}])",
        R"([{"base":"10.0.0.0/8","size":24,"extra":1}])", R"([{"base":10,"size":24}])",
        R"(["base=10.0.0.0/8,size=24"])", R"([{"base":"10.0.0.0/8","size":4}])"}) {
    EXPECT_THROW(parse_pool_specs_json(bad), InvalidArgumentError) << bad;
  }
  EXPECT_THROW(parse_pool_specs_json(R"([{"base":"10.0.0.1/8","size":24}])"), InvalidCidrError);
}

}  // namespace
}  // namespace trellis::ipam
