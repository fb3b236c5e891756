#include "ipam/allocator.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

namespace trellis::ipam {
namespace {

IpAddress ip(std::string_view text) { return IpAddress::parse(text); }
Prefix pfx(std::string_view text) { return Prefix::parse(text); }

constexpr AddressOptions kSerial{.role = AddressRole::kHost, .serial = true};
constexpr AddressOptions kGateway{.role = AddressRole::kGateway, .serial = false};
constexpr AddressOptions kReserved{.role = AddressRole::kReserved, .serial = false};

template <typename E>
ErrorKind kind_of_throw(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.kind();
  }
  ADD_FAILURE() << "expected exception not thrown";
  return ErrorKind::kInternal;
}

// Requests host addresses until the pool is exhausted.
std::vector<IpAddress> drain(Allocator& a, const std::string& id, bool serial = false) {
  std::vector<IpAddress> out;
  try {
    while (true) out.push_back(a.request_address(id, std::nullopt, {.serial = serial}));
  } catch (const NoAvailableAddressError&) {
  }
  return out;
}

TEST(AllocatorPools, PredefinedLocalPoolsComeInDockerOrderUntilExhausted) {
  Allocator a;
  std::vector<std::string> got;
  for (int i = 0; i < 31; ++i) got.push_back(a.request_pool(kLocalSpace).pool.to_string());
  EXPECT_EQ(got.front(), "172.17.0.0/16");
  EXPECT_EQ(got[14], "172.31.0.0/16");
  EXPECT_EQ(got[15], "192.168.0.0/20");
  EXPECT_EQ(got.back(), "192.168.240.0/20");
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 31u);
  EXPECT_EQ(kind_of_throw<NoAvailablePoolError>([&] { a.request_pool(kLocalSpace); }),
            ErrorKind::kUnavailable);
  // Explicit pools elsewhere still work, and IPv6 has no defaults unless configured.
  EXPECT_NO_THROW(a.request_pool(kLocalSpace, "10.1.0.0/16"));
  EXPECT_THROW(a.request_pool(kLocalSpace, "", "", {}, /*v6=*/true), NoAvailablePoolError);
}

TEST(AllocatorPools, PredefinedPoolsAreMarkedAndIdsAreStable) {
  Allocator a;
  const PoolInfo p = a.request_pool(kLocalSpace);
  EXPECT_EQ(p.id, "local/172.17.0.0/16");
  EXPECT_EQ(p.space, "local");
  EXPECT_TRUE(p.predefined);
  EXPECT_EQ(p.references, 1u);
  EXPECT_EQ(p.sub_pool, std::nullopt);
  EXPECT_EQ(a.pool(p.id), p);
  const PoolInfo q = a.request_pool(kLocalSpace, "10.0.0.0/24", "10.0.0.128/25");
  EXPECT_EQ(q.id, "local/10.0.0.0/24/10.0.0.128/25");
  EXPECT_FALSE(q.predefined);
  EXPECT_EQ(q.sub_pool, pfx("10.0.0.128/25"));
  EXPECT_EQ(a.pools().size(), 2u);
}

TEST(AllocatorPools, GlobalSpaceHands10Slash8As24s) {
  Allocator a;
  EXPECT_EQ(a.request_pool(kGlobalSpace).pool, pfx("10.0.0.0/24"));
  EXPECT_EQ(a.request_pool(kGlobalSpace).pool, pfx("10.0.1.0/24"));
  // Spaces do not see each other's pools.
  EXPECT_NO_THROW(a.request_pool(kLocalSpace, "10.0.0.0/16"));
}

TEST(AllocatorPools, PredefinedSkipsPoolsThatOverlapAllocatedOnes) {
  Allocator a;
  a.request_pool(kLocalSpace, "172.17.5.0/24");  // inside the first default
  EXPECT_EQ(a.request_pool(kLocalSpace).pool, pfx("172.18.0.0/16"));
  a.request_pool(kLocalSpace, "172.19.0.0/16");  // equal to the next default
  a.request_pool(kLocalSpace, "172.20.0.0/15");  // covering two defaults
  EXPECT_EQ(a.request_pool(kLocalSpace).pool, pfx("172.22.0.0/16"));
  EXPECT_THROW(a.request_pool(kLocalSpace, "172.16.0.0/12"), PoolOverlapError);
}

TEST(AllocatorPools, PredefinedSkipsACoveringPoolInOneStep) {
  Allocator a;
  a.request_pool(kLocalSpace, "172.16.0.0/12");
  EXPECT_EQ(a.request_pool(kLocalSpace).pool, pfx("192.168.0.0/20"));
  // Global: a /9 hides the first half of 10/8.
  a.request_pool(kGlobalSpace, "10.0.0.0/9");
  EXPECT_EQ(a.request_pool(kGlobalSpace).pool, pfx("10.128.0.0/24"));
}

TEST(AllocatorPools, PredefinedSkipsAvoidedPrefixes) {
  Allocator a;
  PoolOptions options;
  options.avoid = {pfx("172.17.0.0/16"), pfx("172.18.3.0/24"), pfx("fd00::/8")};
  EXPECT_EQ(a.request_pool(kLocalSpace, "", "", options).pool, pfx("172.19.0.0/16"));
  EXPECT_EQ(a.request_pool(kLocalSpace).pool, pfx("172.17.0.0/16"));
  // avoid does not apply to explicit pools.
  EXPECT_NO_THROW(a.request_pool(kLocalSpace, "172.18.0.0/16", "", options));
}

TEST(AllocatorPools, ReleasedPredefinedPoolIsHandedOutAgain) {
  Allocator a;
  const PoolInfo first = a.request_pool(kLocalSpace);
  a.request_pool(kLocalSpace);
  a.release_pool(first.id);
  EXPECT_EQ(a.request_pool(kLocalSpace).pool, first.pool);
}

TEST(AllocatorPools, OverlappingIpv4PoolsAreRejectedIncludingNested) {
  Allocator a;
  a.request_pool(kLocalSpace, "10.0.0.0/16");
  EXPECT_EQ(kind_of_throw<PoolOverlapError>(
                [&] { a.request_pool(kLocalSpace, "10.0.5.0/24"); }),  // inside
            ErrorKind::kConflict);
  EXPECT_THROW(a.request_pool(kLocalSpace, "10.0.0.0/8"), PoolOverlapError);   // around
  EXPECT_THROW(a.request_pool(kLocalSpace, "10.0.0.0/17"), PoolOverlapError);  // same start
  EXPECT_THROW(a.request_pool(kLocalSpace, "10.0.255.255/32"), PoolOverlapError);
  EXPECT_NO_THROW(a.request_pool(kLocalSpace, "10.1.0.0/16"));
  EXPECT_NO_THROW(a.request_pool(kLocalSpace, "9.255.255.255/32"));
  EXPECT_NO_THROW(a.request_pool(kGlobalSpace, "10.0.5.0/24"));  // other space
}

TEST(AllocatorPools, OverlappingIpv6PoolsAreRejectedIncludingNested) {
  Allocator a;
  a.request_pool(kLocalSpace, "fd00::/48", "", {}, true);
  EXPECT_THROW(a.request_pool(kLocalSpace, "fd00:0:0:1::/64", "", {}, true), PoolOverlapError);
  EXPECT_THROW(a.request_pool(kLocalSpace, "fd00::/32", "", {}, true), PoolOverlapError);
  EXPECT_THROW(a.request_pool(kLocalSpace, "::/0", "", {}, true), PoolOverlapError);
  EXPECT_NO_THROW(a.request_pool(kLocalSpace, "fd00:1::/48", "", {}, true));
  // An IPv4 pool never overlaps an IPv6 one.
  EXPECT_NO_THROW(a.request_pool(kLocalSpace, "0.0.0.0/0"));
}

TEST(AllocatorPools, ConfiguredIpv6DefaultsAreUsed) {
  AllocatorConfig config;
  config.local = {parse_pool_spec("base=10.10.0.0/16,size=24"),
                  parse_pool_spec("base=fd00::/62,size=64")};
  Allocator a(config);
  EXPECT_EQ(a.request_pool(kLocalSpace).pool, pfx("10.10.0.0/24"));
  EXPECT_EQ(a.request_pool(kLocalSpace, "", "", {}, true).pool, pfx("fd00::/64"));
  a.request_pool(kLocalSpace, "fd00:0:0:1::/64", "", {}, true);
  EXPECT_EQ(a.request_pool(kLocalSpace, "", "", {}, true).pool, pfx("fd00:0:0:2::/64"));
  EXPECT_EQ(a.request_pool(kLocalSpace, "", "", {}, true).pool, pfx("fd00:0:0:3::/64"));
  EXPECT_THROW(a.request_pool(kLocalSpace, "", "", {}, true), NoAvailablePoolError);
}

TEST(AllocatorPools, CustomDefaultsFromDaemonJsonAreExhaustedInOrder) {
  AllocatorConfig config;
  config.local =
      parse_pool_specs_json(R"({"default-address-pools":[{"base":"10.10.0.0/23","size":24},)"
                            R"({"base":"10.20.0.0/24","size":25}]})");
  Allocator a(config);
  EXPECT_EQ(a.request_pool(kLocalSpace).pool, pfx("10.10.0.0/24"));
  EXPECT_EQ(a.request_pool(kLocalSpace).pool, pfx("10.10.1.0/24"));
  EXPECT_EQ(a.request_pool(kLocalSpace).pool, pfx("10.20.0.0/25"));
  EXPECT_EQ(a.request_pool(kLocalSpace).pool, pfx("10.20.0.128/25"));
  EXPECT_THROW(a.request_pool(kLocalSpace), NoAvailablePoolError);
  // The global space kept Docker's default.
  EXPECT_EQ(a.request_pool(kGlobalSpace).pool, pfx("10.0.0.0/24"));
}

TEST(AllocatorPools, SamePoolTwiceIsRefcounted) {
  Allocator a;
  const PoolInfo p1 = a.request_pool(kLocalSpace, "10.0.0.0/24");
  const PoolInfo p2 = a.request_pool(kLocalSpace, "10.0.0.0/24");
  EXPECT_EQ(p1.id, p2.id);
  EXPECT_EQ(p2.references, 2u);
  const IpAddress addr = a.request_address(p1.id);
  a.release_pool(p1.id);
  EXPECT_EQ(a.pool(p1.id).references, 1u);
  EXPECT_TRUE(a.is_allocated(p1.id, addr));  // still alive
  a.release_pool(p1.id);
  EXPECT_EQ(kind_of_throw<UnknownPoolError>([&] { a.pool(p1.id); }), ErrorKind::kNotFound);
  EXPECT_THROW(a.release_pool(p1.id), UnknownPoolError);
  // Re-requested, the pool starts empty.
  const PoolInfo p3 = a.request_pool(kLocalSpace, "10.0.0.0/24");
  EXPECT_FALSE(a.is_allocated(p3.id, addr));
}

TEST(AllocatorPools, SubPoolsShareTheParentsAddressesAndKeepItAlive) {
  Allocator a;
  const PoolInfo sub = a.request_pool(kLocalSpace, "10.0.0.0/24", "10.0.0.128/25");
  const IpAddress taken = a.request_address(sub.id);
  EXPECT_EQ(taken, ip("10.0.0.128"));
  const PoolInfo parent = a.request_pool(kLocalSpace, "10.0.0.0/24");
  EXPECT_TRUE(a.is_allocated(parent.id, taken));
  EXPECT_THROW(a.request_address(parent.id, taken), AddressInUseError);
  a.release_pool(parent.id);
  EXPECT_TRUE(a.is_allocated(sub.id, taken));  // the sub-pool still holds the pool
  a.release_pool(sub.id);
  EXPECT_THROW(a.request_address(sub.id), UnknownPoolError);
  const PoolInfo again = a.request_pool(kLocalSpace, "10.0.0.0/24");
  EXPECT_FALSE(a.is_allocated(again.id, taken));
}

TEST(AllocatorPools, MalformedRequestsAreRejected) {
  Allocator a;
  EXPECT_THROW(a.request_pool("default"), InvalidPoolRequestError);
  EXPECT_THROW(a.request_pool(kLocalSpace, "", "10.0.0.0/25"), InvalidPoolRequestError);
  EXPECT_THROW(a.request_pool(kLocalSpace, "10.0.0.0/24", "", {}, /*v6=*/true),
               InvalidPoolRequestError);
  EXPECT_THROW(a.request_pool(kLocalSpace, "fd00::/64"), InvalidPoolRequestError);
  EXPECT_EQ(kind_of_throw<InvalidCidrError>([&] { a.request_pool(kLocalSpace, "10.0.0.1/24"); }),
            ErrorKind::kInvalidArgument);
  EXPECT_THROW(a.request_pool(kLocalSpace, "10.0.0.0/24", "10.0.0.0/33"), InvalidCidrError);
  EXPECT_THROW(a.request_pool(kLocalSpace, "10.0.0.0/24", "10.0.1.0/25"), AddressOutOfRangeError);
  EXPECT_THROW(a.request_pool(kLocalSpace, "10.0.0.0/24", "10.0.0.0/23"), AddressOutOfRangeError);
  EXPECT_THROW(a.request_pool(kLocalSpace, "fd00::/48", "fd00:0:0:1::/64", {}, true),
               AddressOutOfRangeError);  // beyond the first 2^64 addresses
  EXPECT_TRUE(a.pools().empty());        // failed calls changed nothing
}

TEST(AllocatorAddresses, FullSlash24HandsOut254AndNeverNetworkOrBroadcast) {
  Allocator a;
  const std::string id = a.request_pool(kLocalSpace, "10.0.0.0/24").id;
  const auto got = drain(a, id);
  ASSERT_EQ(got.size(), 254u);
  EXPECT_EQ(got.front(), ip("10.0.0.1"));
  EXPECT_EQ(got.back(), ip("10.0.0.254"));
  EXPECT_EQ(a.free_count(id), 0u);
  EXPECT_EQ(kind_of_throw<NoAvailableAddressError>([&] { a.request_address(id); }),
            ErrorKind::kUnavailable);
  EXPECT_THROW(a.request_address(id, std::nullopt, kGateway), NoAvailableAddressError);
  // Release and re-request gives the same address back.
  a.release_address(id, ip("10.0.0.77"));
  EXPECT_EQ(a.free_count(id), 1u);
  EXPECT_EQ(a.request_address(id), ip("10.0.0.77"));
}

TEST(AllocatorAddresses, NetworkAndBroadcastAreNeitherGivenNorReleased) {
  Allocator a;
  const std::string id = a.request_pool(kLocalSpace, "10.0.0.0/24").id;
  EXPECT_THROW(a.request_address(id, ip("10.0.0.0")), AddressOutOfRangeError);
  EXPECT_THROW(a.request_address(id, ip("10.0.0.255")), AddressOutOfRangeError);
  EXPECT_THROW(a.request_address(id, ip("10.0.0.0"), kReserved), AddressOutOfRangeError);
  EXPECT_THROW(a.release_address(id, ip("10.0.0.0")), AddressOutOfRangeError);
  EXPECT_THROW(a.release_address(id, ip("10.0.0.255")), AddressOutOfRangeError);
  EXPECT_TRUE(a.is_allocated(id, ip("10.0.0.0")));  // reserved for good
  EXPECT_TRUE(a.is_allocated(id, ip("10.0.0.255")));
  EXPECT_FALSE(a.is_allocated(id, ip("10.0.1.0")));  // outside: false, not an error
  EXPECT_EQ(a.free_count(id), 254u);
}

TEST(AllocatorAddresses, SpecificAddressesAndTheirErrors) {
  Allocator a;
  const std::string id = a.request_pool(kLocalSpace, "10.0.0.0/24").id;
  EXPECT_EQ(a.request_address(id, ip("10.0.0.5")), ip("10.0.0.5"));
  EXPECT_EQ(kind_of_throw<AddressInUseError>([&] { a.request_address(id, ip("10.0.0.5")); }),
            ErrorKind::kConflict);
  EXPECT_EQ(a.free_count(id), 253u);  // the failed call changed nothing
  EXPECT_EQ(kind_of_throw<AddressOutOfRangeError>([&] { a.request_address(id, ip("10.0.1.5")); }),
            ErrorKind::kInvalidArgument);
  EXPECT_THROW(a.request_address(id, ip("::1")), AddressOutOfRangeError);
  EXPECT_THROW(a.release_address(id, ip("10.0.1.5")), AddressOutOfRangeError);
  a.release_address(id, ip("10.0.0.5"));
  a.release_address(id, ip("10.0.0.5"));  // releasing a free address is fine
  EXPECT_EQ(a.request_address(id, ip("10.0.0.5")), ip("10.0.0.5"));
  EXPECT_EQ(a.request_address(id), ip("10.0.0.1"));
}

TEST(AllocatorAddresses, UnknownPoolIsNotFound) {
  Allocator a;
  for (const std::string id : {"local/10.0.0.0/24", "garbage", ""}) {
    EXPECT_EQ(kind_of_throw<UnknownPoolError>([&] { a.request_address(id); }),
              ErrorKind::kNotFound);
    EXPECT_THROW(a.release_address(id, ip("10.0.0.1")), UnknownPoolError);
    EXPECT_THROW(a.is_allocated(id, ip("10.0.0.1")), UnknownPoolError);
    EXPECT_THROW(a.free_count(id), UnknownPoolError);
  }
}

TEST(AllocatorAddresses, GatewayIsFirstUsableByDefaultOrTheGivenOne) {
  Allocator a;
  const std::string id = a.request_pool(kLocalSpace, "10.0.0.0/24").id;
  EXPECT_EQ(a.request_address(id, std::nullopt, kGateway), ip("10.0.0.1"));
  EXPECT_EQ(a.request_address(id), ip("10.0.0.2"));
  const std::string other = a.request_pool(kLocalSpace, "10.0.1.0/24").id;
  EXPECT_EQ(a.request_address(other, ip("10.0.1.254"), kGateway), ip("10.0.1.254"));
  EXPECT_EQ(a.request_address(other), ip("10.0.1.1"));
  EXPECT_THROW(a.request_address(other, ip("10.0.1.254"), kGateway), AddressInUseError);
}

TEST(AllocatorAddresses, GatewayAndReservedMayLieOutsideTheSubPoolHostsMayNot) {
  Allocator a;
  const std::string id = a.request_pool(kLocalSpace, "10.0.0.0/24", "10.0.0.128/25").id;
  EXPECT_EQ(a.request_address(id, std::nullopt, kGateway), ip("10.0.0.1"));  // pool's first
  EXPECT_EQ(a.request_address(id, ip("10.0.0.2"), kReserved), ip("10.0.0.2"));
  EXPECT_THROW(a.request_address(id, ip("10.0.0.3")), AddressOutOfRangeError);
  EXPECT_EQ(a.request_address(id), ip("10.0.0.128"));
  EXPECT_EQ(a.request_address(id, ip("10.0.0.200")), ip("10.0.0.200"));
  // Releasing the gateway through the sub-pool's id works: it is in the pool.
  a.release_address(id, ip("10.0.0.1"));
  EXPECT_EQ(a.request_address(id, ip("10.0.0.1"), kGateway), ip("10.0.0.1"));
}

TEST(AllocatorAddresses, ReservedAddressesAreSkippedAndNeedAnAddress) {
  Allocator a;
  const std::string id = a.request_pool(kLocalSpace, "10.0.0.0/29").id;
  a.request_address(id, ip("10.0.0.1"), kReserved);
  a.request_address(id, ip("10.0.0.3"), kReserved);
  EXPECT_THROW(a.request_address(id, std::nullopt, kReserved), InvalidArgumentError);
  EXPECT_THROW(a.request_address(id, ip("10.0.0.3"), kReserved), AddressInUseError);
  EXPECT_EQ(drain(a, id), (std::vector<IpAddress>{ip("10.0.0.2"), ip("10.0.0.4"), ip("10.0.0.5"),
                                                  ip("10.0.0.6")}));
}

TEST(AllocatorAddresses, SubPoolAtTheEdgesExcludesNetworkAndBroadcast) {
  Allocator a;
  const std::string low = a.request_pool(kLocalSpace, "10.0.0.0/24", "10.0.0.0/25").id;
  const std::string high = a.request_pool(kLocalSpace, "10.0.0.0/24", "10.0.0.128/25").id;
  const auto low_got = drain(a, low);
  ASSERT_EQ(low_got.size(), 127u);
  EXPECT_EQ(low_got.front(), ip("10.0.0.1"));
  EXPECT_EQ(low_got.back(), ip("10.0.0.127"));
  const auto high_got = drain(a, high);
  ASSERT_EQ(high_got.size(), 127u);
  EXPECT_EQ(high_got.front(), ip("10.0.0.128"));
  EXPECT_EQ(high_got.back(), ip("10.0.0.254"));
  // A sub-pool that is only the network address holds nothing usable.
  const std::string none = a.request_pool(kLocalSpace, "10.0.0.0/24", "10.0.0.0/32").id;
  EXPECT_THROW(a.request_address(none), NoAvailableAddressError);
  EXPECT_THROW(a.request_address(none, ip("10.0.0.0")), AddressOutOfRangeError);
}

TEST(AllocatorAddresses, SerialModeDoesNotReuseAtOnceAndWraps) {
  Allocator a;
  const std::string id = a.request_pool(kLocalSpace, "10.0.0.0/29").id;  // .1 to .6
  EXPECT_EQ(a.request_address(id, std::nullopt, kSerial), ip("10.0.0.1"));
  EXPECT_EQ(a.request_address(id, std::nullopt, kSerial), ip("10.0.0.2"));
  EXPECT_EQ(a.request_address(id, std::nullopt, kSerial), ip("10.0.0.3"));
  a.release_address(id, ip("10.0.0.2"));
  EXPECT_EQ(a.request_address(id, std::nullopt, kSerial), ip("10.0.0.4"));
  EXPECT_EQ(a.request_address(id), ip("10.0.0.2"));  // non-serial takes the lowest
  EXPECT_EQ(a.request_address(id, std::nullopt, kSerial), ip("10.0.0.5"));
  EXPECT_EQ(a.request_address(id, std::nullopt, kSerial), ip("10.0.0.6"));
  a.release_address(id, ip("10.0.0.5"));
  a.release_address(id, ip("10.0.0.3"));
  // After .6 the search wraps to the start of the pool.
  EXPECT_EQ(a.request_address(id, std::nullopt, kSerial), ip("10.0.0.3"));
  EXPECT_EQ(a.request_address(id, std::nullopt, kSerial), ip("10.0.0.5"));
  EXPECT_THROW(a.request_address(id, std::nullopt, kSerial), NoAvailableAddressError);
}

TEST(AllocatorAddresses, Slash31AndSlash32FollowRfc3021) {
  Allocator a;
  const std::string p31 = a.request_pool(kLocalSpace, "10.0.0.0/31").id;
  EXPECT_EQ(drain(a, p31), (std::vector<IpAddress>{ip("10.0.0.0"), ip("10.0.0.1")}));
  a.release_address(p31, ip("10.0.0.1"));
  EXPECT_EQ(a.request_address(p31, ip("10.0.0.1")), ip("10.0.0.1"));
  const std::string p32 = a.request_pool(kLocalSpace, "10.0.0.7/32").id;
  EXPECT_EQ(a.request_address(p32, std::nullopt, kGateway), ip("10.0.0.7"));
  EXPECT_THROW(a.request_address(p32), NoAvailableAddressError);
  const std::string p30 = a.request_pool(kLocalSpace, "10.0.0.8/30").id;
  EXPECT_EQ(drain(a, p30), (std::vector<IpAddress>{ip("10.0.0.9"), ip("10.0.0.10")}));
}

TEST(AllocatorAddresses, Ipv6NeverHandsOutTheSubnetRouterAnycast) {
  Allocator a;
  const std::string id = a.request_pool(kLocalSpace, "fd00::/64", "", {}, true).id;
  EXPECT_EQ(a.request_address(id, std::nullopt, kGateway), ip("fd00::1"));
  EXPECT_EQ(a.request_address(id), ip("fd00::2"));
  EXPECT_THROW(a.request_address(id, ip("fd00::")), AddressOutOfRangeError);
  EXPECT_THROW(a.release_address(id, ip("fd00::")), AddressOutOfRangeError);
  EXPECT_EQ(a.request_address(id, ip("fd00::ffff:ffff:ffff:fffe")),
            ip("fd00::ffff:ffff:ffff:fffe"));
  // The last address of a /64 is beyond the 2^64-1 tracked ones.
  EXPECT_THROW(a.request_address(id, ip("fd00::ffff:ffff:ffff:ffff")), AddressOutOfRangeError);
  EXPECT_FALSE(a.is_allocated(id, ip("fd00::ffff:ffff:ffff:ffff")));
  EXPECT_EQ(a.free_count(id), UINT64_MAX - 1 - 3);  // 2^64-1 bits, anycast + 3 taken
  a.release_address(id, ip("fd00::2"));
  EXPECT_EQ(a.request_address(id, std::nullopt, kSerial), ip("fd00::2"));
}

TEST(AllocatorAddresses, Ipv6SmallPrefixesFollowRfc6164) {
  Allocator a;
  const std::string p127 = a.request_pool(kLocalSpace, "fd00::/127", "", {}, true).id;
  EXPECT_EQ(drain(a, p127), (std::vector<IpAddress>{ip("fd00::"), ip("fd00::1")}));
  const std::string p126 = a.request_pool(kLocalSpace, "fd00::4/126", "", {}, true).id;
  // No broadcast in IPv6: the last address is usable.
  EXPECT_EQ(drain(a, p126), (std::vector<IpAddress>{ip("fd00::5"), ip("fd00::6"), ip("fd00::7")}));
  const std::string p128 = a.request_pool(kLocalSpace, "fd00::8/128", "", {}, true).id;
  EXPECT_EQ(drain(a, p128), std::vector<IpAddress>{ip("fd00::8")});
}

TEST(AllocatorAddresses, Ipv6PoolsWiderThanSlash64UseTheirFirst64Bits) {
  Allocator a;
  const std::string id = a.request_pool(kLocalSpace, "fd00::/48", "", {}, true).id;
  EXPECT_EQ(a.request_address(id), ip("fd00::1"));
  EXPECT_THROW(a.request_address(id, ip("fd00:0:0:1::5")), AddressOutOfRangeError);
  EXPECT_THROW(a.release_address(id, ip("fd00:0:0:1::5")), AddressOutOfRangeError);
  EXPECT_FALSE(a.is_allocated(id, ip("fd00:0:0:1::5")));
  // A sub-pool in the tracked part works, and the whole /0 is a valid pool too.
  const std::string sub = a.request_pool(kGlobalSpace, "::/0", "::ff00/120", {}, true).id;
  EXPECT_EQ(a.request_address(sub), ip("::ff00"));
}

TEST(AllocatorAddresses, SerialAllocationInASlash64SubPool) {
  Allocator a;
  const std::string id = a.request_pool(kLocalSpace, "fd00::/56", "fd00::/64", {}, true).id;
  EXPECT_EQ(a.request_address(id, std::nullopt, kSerial), ip("fd00::1"));  // not the anycast
  EXPECT_EQ(a.request_address(id, std::nullopt, kSerial), ip("fd00::2"));
  EXPECT_THROW(a.request_address(id, ip("fd00:0:0:1::1")), AddressOutOfRangeError);
  // Only the first 2^64-1 addresses of a pool are tracked: a sub-pool past them is refused.
  EXPECT_THROW(a.request_pool(kLocalSpace, "fd00::/56", "fd00:0:0:10::/64", {}, true),
               AddressOutOfRangeError);
}

TEST(AllocatorAddresses, MemoryGrowsWithFragmentation) {
  Allocator a;
  const size_t empty = a.memory_bytes();
  const std::string id = a.request_pool(kLocalSpace, "10.0.0.0/16").id;
  const size_t one_pool = a.memory_bytes();
  EXPECT_GT(one_pool, empty);
  for (int i = 0; i < 100; ++i) {
    a.request_address(id, a.pool(id).pool.address_at(static_cast<uint64_t>(1 + 64 * i)));
  }
  EXPECT_GT(a.memory_bytes(), one_pool);
}

}  // namespace
}  // namespace trellis::ipam
