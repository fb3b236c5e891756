#include "ipam/ip.h"

#include <gtest/gtest.h>

#include <set>

namespace trellis::ipam {
namespace {

IpAddress ip(std::string_view text) { return IpAddress::parse(text); }
Prefix pfx(std::string_view text) { return Prefix::parse(text); }

TEST(IpAddress, ParsesAndPrintsIpv4) {
  const IpAddress a = ip("192.0.2.1");
  EXPECT_TRUE(a.is_v4());
  EXPECT_FALSE(a.is_v6());
  EXPECT_EQ(a.to_string(), "192.0.2.1");
  EXPECT_EQ(a.to_v4_uint(), 0xC0000201u);
  ASSERT_EQ(a.bytes().size(), 4u);
  EXPECT_EQ(a.bytes()[0], 192);
  EXPECT_EQ(a.bytes()[3], 1);
  EXPECT_EQ(IpAddress::v4(0xC0000201u), a);
  EXPECT_EQ(a.bit_width(), 32u);
}

TEST(IpAddress, ParsesAndPrintsIpv6Canonically) {
  EXPECT_EQ(ip("2001:DB8:0:0:0:0:0:1").to_string(), "2001:db8::1");
  EXPECT_EQ(ip("::").to_string(), "::");
  EXPECT_EQ(ip("2001:db8:0:1:1:1:1:1").to_string(), "2001:db8:0:1:1:1:1:1");
  EXPECT_EQ(ip("::ffff:192.0.2.1").to_string(), "::ffff:192.0.2.1");
  EXPECT_TRUE(ip("::ffff:192.0.2.1").is_v6());
  EXPECT_EQ(ip("fe80::1").bytes().size(), 16u);
  EXPECT_EQ(ip("fe80::1").bit_width(), 128u);
  EXPECT_THROW(ip("fe80::1").to_v4_uint(), InvalidArgumentError);
}

TEST(IpAddress, RejectsMalformedText) {
  for (const char* bad :
       {"", " 1.2.3.4", "1.2.3.4 ", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-1",
        "0x1.2.3.4", "1::2::3", "fe80::1%eth0", "12345::", "abc", "1.2.3.4/24", ":::"}) {
    EXPECT_THROW(ip(bad), InvalidAddressError) << bad;
  }
  EXPECT_THROW(ip(std::string_view("1.2.3.4\0", 8)), InvalidAddressError);
  EXPECT_THROW(ip(std::string(100, '1')), InvalidAddressError);
  // The precise condition is also the broad kind.
  try {
    ip("nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
  }
}

TEST(IpAddress, FromBytesRoundTrips) {
  const IpAddress v6 = ip("2001:db8::42");
  EXPECT_EQ(IpAddress::from_bytes(v6.bytes()), v6);
  const IpAddress v4 = ip("10.1.2.3");
  EXPECT_EQ(IpAddress::from_bytes(v4.bytes()), v4);
  const uint8_t five[5] = {1, 2, 3, 4, 5};
  EXPECT_THROW(IpAddress::from_bytes(five), InvalidAddressError);
}

TEST(IpAddress, OrdersV4BeforeV6ThenNumerically) {
  EXPECT_LT(ip("10.0.0.1"), ip("10.0.0.2"));
  EXPECT_LT(ip("9.255.255.255"), ip("10.0.0.0"));
  EXPECT_LT(ip("255.255.255.255"), ip("::"));
  EXPECT_LT(ip("::1"), ip("::2"));
  EXPECT_LT(ip("::ffff"), ip("1::"));
  EXPECT_EQ(ip("10.0.0.1"), ip("10.0.0.1"));
  EXPECT_NE(ip("::"), IpAddress());  // :: is not 0.0.0.0
  EXPECT_EQ(ip("0.0.0.0"), IpAddress());
}

TEST(Prefix, ParsesAndPrints) {
  const Prefix p = pfx("10.0.0.0/24");
  EXPECT_EQ(p.network(), ip("10.0.0.0"));
  EXPECT_EQ(p.length(), 24u);
  EXPECT_TRUE(p.is_v4());
  EXPECT_EQ(p.to_string(), "10.0.0.0/24");
  EXPECT_EQ(p.last(), ip("10.0.0.255"));
  EXPECT_EQ(pfx("2001:db8::/32").to_string(), "2001:db8::/32");
  EXPECT_TRUE(pfx("2001:db8::/32").is_v6());
  EXPECT_EQ(pfx("2001:db8::/32").last(), ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
  EXPECT_EQ(pfx("0.0.0.0/0").last(), ip("255.255.255.255"));
  EXPECT_EQ(pfx("::/0").last(), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  EXPECT_EQ(pfx("192.0.2.7/32").last(), ip("192.0.2.7"));
}

TEST(Prefix, RejectsMalformedCidrAndHostBits) {
  for (const char* bad : {"10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8",
                          "10.0.0.0/08", "10.0.0.0/ 8", "10.0.0/8", "/8", "::/129", "::/1000",
                          "10.0.0.5/24", "2001:db8::1/64", "10.0.0.0/24/1"}) {
    EXPECT_THROW(pfx(bad), InvalidCidrError) << bad;
  }
  EXPECT_THROW(pfx("10.0.0.0/0"), InvalidCidrError);  // every bit is a host bit in a /0
  EXPECT_NO_THROW(pfx("0.0.0.0/0"));
  try {
    pfx("10.0.0.5/24");
    FAIL();
  } catch (const InvalidCidrError& e) {
    EXPECT_NE(std::string(e.what()).find("10.0.0.0/24"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Prefix(ip("10.0.0.1"), 24), InvalidCidrError);
  EXPECT_THROW(Prefix(ip("10.0.0.0"), 33), InvalidCidrError);
}

TEST(Prefix, ContainingClearsHostBits) {
  EXPECT_EQ(Prefix::containing(ip("10.0.0.77"), 24), pfx("10.0.0.0/24"));
  EXPECT_EQ(Prefix::containing(ip("2001:db8::ff"), 120), pfx("2001:db8::/120"));
  EXPECT_EQ(Prefix::containing(ip("10.1.2.3"), 0), pfx("0.0.0.0/0"));
  EXPECT_THROW(Prefix::containing(ip("10.1.2.3"), 40), InvalidCidrError);
}

TEST(Prefix, InterfaceAddressKeepsHostBits) {
  const InterfaceAddress ia = InterfaceAddress::parse("10.0.0.5/24");
  EXPECT_EQ(ia.address, ip("10.0.0.5"));
  EXPECT_EQ(ia.prefix, pfx("10.0.0.0/24"));
  EXPECT_EQ(ia.to_string(), "10.0.0.5/24");
  EXPECT_EQ(InterfaceAddress::parse("fd00::5/64").prefix, pfx("fd00::/64"));
  EXPECT_THROW(InterfaceAddress::parse("10.0.0.5"), InvalidCidrError);
  EXPECT_THROW(InterfaceAddress::parse("10.0.0.5/33"), InvalidCidrError);
}

TEST(Prefix, ContainsAddressesOfItsFamilyOnly) {
  const Prefix p = pfx("10.0.0.0/24");
  EXPECT_TRUE(p.contains(ip("10.0.0.0")));
  EXPECT_TRUE(p.contains(ip("10.0.0.255")));
  EXPECT_FALSE(p.contains(ip("10.0.1.0")));
  EXPECT_FALSE(p.contains(ip("9.255.255.255")));
  EXPECT_FALSE(pfx("::/0").contains(ip("10.0.0.1")));
  EXPECT_FALSE(pfx("0.0.0.0/0").contains(ip("::1")));
  EXPECT_TRUE(pfx("0.0.0.0/0").contains(ip("255.255.255.255")));
}

TEST(Prefix, ContainsAndOverlapsNestedPrefixes) {
  const Prefix big = pfx("10.0.0.0/16");
  const Prefix small = pfx("10.0.5.0/24");
  EXPECT_TRUE(big.contains(small));
  EXPECT_FALSE(small.contains(big));
  EXPECT_TRUE(big.contains(big));
  EXPECT_TRUE(big.overlaps(small));
  EXPECT_TRUE(small.overlaps(big));
  EXPECT_FALSE(pfx("10.0.0.0/24").overlaps(pfx("10.0.1.0/24")));
  EXPECT_FALSE(pfx("10.0.0.0/8").overlaps(pfx("::/0")));
  EXPECT_TRUE(pfx("2001:db8::/32").overlaps(pfx("2001:db8:1::/48")));
  EXPECT_FALSE(pfx("2001:db8::/48").overlaps(pfx("2001:db8:1::/48")));
}

TEST(Prefix, HostCountSaturatesForLargeIpv6) {
  EXPECT_EQ(pfx("10.0.0.0/24").host_count(), 256u);
  EXPECT_EQ(pfx("10.0.0.0/32").host_count(), 1u);
  EXPECT_EQ(pfx("0.0.0.0/0").host_count(), uint64_t{1} << 32);
  EXPECT_EQ(pfx("fd00::/65").host_count(), uint64_t{1} << 63);
  EXPECT_EQ(pfx("fd00::/64").host_count(), UINT64_MAX);
  EXPECT_EQ(pfx("::/0").host_count(), UINT64_MAX);
  EXPECT_EQ(pfx("fd00::1/128").host_count(), 1u);
}

TEST(Prefix, OffsetsMapAddressesBothWays) {
  const Prefix p = pfx("10.0.0.0/16");
  EXPECT_EQ(p.offset_of(ip("10.0.0.0")), 0u);
  EXPECT_EQ(p.offset_of(ip("10.0.1.2")), 258u);
  EXPECT_EQ(p.address_at(258), ip("10.0.1.2"));
  EXPECT_EQ(p.address_at(65535), ip("10.0.255.255"));
  EXPECT_THROW(p.address_at(65536), AddressOutOfRangeError);
  EXPECT_THROW(p.offset_of(ip("10.1.0.0")), AddressOutOfRangeError);
  EXPECT_THROW(p.offset_of(ip("::1")), AddressOutOfRangeError);

  const Prefix v6 = pfx("2001:db8::/64");
  EXPECT_EQ(v6.offset_of(ip("2001:db8::ffff:ffff:ffff:ffff")), UINT64_MAX);
  EXPECT_EQ(v6.address_at(UINT64_MAX), ip("2001:db8::ffff:ffff:ffff:ffff"));
  EXPECT_EQ(v6.address_at(0x1234), ip("2001:db8::1234"));

  // Shorter than /64: only the first 2^64 addresses have offsets.
  const Prefix wide = pfx("2001:db8::/48");
  EXPECT_EQ(wide.offset_of(ip("2001:db8::5")), 5u);
  EXPECT_THROW(wide.offset_of(ip("2001:db8:0:1::")), AddressOutOfRangeError);
  EXPECT_EQ(wide.address_at(UINT64_MAX), ip("2001:db8::ffff:ffff:ffff:ffff"));

  const Prefix all = pfx("0.0.0.0/0");
  EXPECT_EQ(all.offset_of(ip("255.255.255.255")), 0xFFFFFFFFu);
  EXPECT_EQ(all.address_at(0xFFFFFFFFu), ip("255.255.255.255"));
  EXPECT_THROW(all.address_at(uint64_t{1} << 32), AddressOutOfRangeError);
}

TEST(Prefix, HostOffsetsFollowDocumentedRules) {
  struct Case {
    const char* prefix;
    uint64_t first;
    uint64_t last;
  };
  for (const Case& c :
       {Case{"10.0.0.0/24", 1, 254}, Case{"10.0.0.0/30", 1, 2}, Case{"10.0.0.0/31", 0, 1},
        Case{"10.0.0.7/32", 0, 0}, Case{"0.0.0.0/0", 1, 0xFFFFFFFEu}, Case{"fd00::/120", 1, 255},
        Case{"fd00::/126", 1, 3}, Case{"fd00::/127", 0, 1}, Case{"fd00::1/128", 0, 0},
        Case{"fd00::/65", 1, (uint64_t{1} << 63) - 1}, Case{"fd00::/64", 1, UINT64_MAX - 1},
        Case{"fd00::/48", 1, UINT64_MAX - 1}}) {
    const Prefix p = pfx(c.prefix);
    EXPECT_EQ(p.first_host_offset(), c.first) << c.prefix;
    EXPECT_EQ(p.last_host_offset(), c.last) << c.prefix;
  }
}

TEST(Prefix, OrdersByNetworkThenLength) {
  std::set<Prefix> s = {pfx("10.0.1.0/24"), pfx("10.0.0.0/24"), pfx("10.0.0.0/16"), pfx("::/0"),
                        pfx("9.0.0.0/8")};
  std::vector<std::string> order;
  for (const Prefix& p : s) order.push_back(p.to_string());
  EXPECT_EQ(order, (std::vector<std::string>{"9.0.0.0/8", "10.0.0.0/16", "10.0.0.0/24",
                                             "10.0.1.0/24", "::/0"}));
}

}  // namespace
}  // namespace trellis::ipam
