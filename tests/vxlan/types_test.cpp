// Pure value types of vxlan/: address parsing and formatting, VNI validation.

#include "vxlan/types.h"

#include "vxlan/device.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace trellis::vxlan {
namespace {

TEST(VniTest, AcceptsTheWholeTwentyFourBitRangeExceptZero) {
  EXPECT_NO_THROW(validate_vni(1));
  EXPECT_NO_THROW(validate_vni(4096));
  EXPECT_NO_THROW(validate_vni(kMaxVni));
  EXPECT_EQ(kMaxVni, 16777215u);
}

TEST(VniTest, RejectsZeroAndValuesAboveTwentyFourBitsAsInvalidArgument) {
  EXPECT_THROW(validate_vni(0), InvalidArgumentError);
  EXPECT_THROW(validate_vni(kMaxVni + 1), InvalidArgumentError);
  EXPECT_THROW(validate_vni(0xFFFFFFFFu), InvalidArgumentError);
  try {
    validate_vni(16777216);
    FAIL() << "no error";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("16777216"), std::string::npos) << e.what();
  }
}

TEST(MacAddressTest, ParsesEitherCaseAndFormatsLowerCase) {
  const MacAddress mac = MacAddress::parse("02:AB:cd:00:0F:ff");
  EXPECT_EQ(mac.bytes, (std::array<uint8_t, 6>{0x02, 0xab, 0xcd, 0x00, 0x0f, 0xff}));
  EXPECT_EQ(mac.to_string(), "02:ab:cd:00:0f:ff");
  EXPECT_EQ(MacAddress::parse(mac.to_string()), mac);
}

TEST(MacAddressTest, RejectsMalformedText) {
  for (const char* bad :
       {"", "02:ab:cd:00:0f", "02:ab:cd:00:0f:ff:00", "02-ab-cd-00-0f-ff", "02:ab:cd:00:0f:fg",
        "2:ab:cd:00:0f:ff:", "02:ab:cd:00:0f:f ", "02:ab:cd:00:0f:fff"}) {
    EXPECT_THROW(MacAddress::parse(bad), InvalidArgumentError) << bad;
  }
}

TEST(MacAddressTest, ClassifiesZeroAndMulticast) {
  EXPECT_TRUE(MacAddress{}.is_zero());
  EXPECT_TRUE(MacAddress::parse("00:00:00:00:00:00").is_zero());
  EXPECT_FALSE(MacAddress::parse("02:00:00:00:00:01").is_zero());
  EXPECT_TRUE(MacAddress::parse("ff:ff:ff:ff:ff:ff").is_multicast());
  EXPECT_TRUE(MacAddress::parse("01:00:5e:00:00:01").is_multicast());
  EXPECT_FALSE(MacAddress::parse("02:42:ac:11:00:02").is_multicast());
}

TEST(Ipv4AddressTest, ParsesDottedQuadInHostOrder) {
  const Ipv4Address a = Ipv4Address::parse("192.0.2.1");
  EXPECT_EQ(a.value, 0xC0000201u);
  EXPECT_EQ(a.to_string(), "192.0.2.1");
  EXPECT_EQ(Ipv4Address::parse("0.0.0.0").value, 0u);
  EXPECT_TRUE(Ipv4Address::parse("0.0.0.0").is_unspecified());
  EXPECT_EQ(Ipv4Address::parse("255.255.255.255").to_string(), "255.255.255.255");
  EXPECT_LT(Ipv4Address::parse("10.0.0.9"), Ipv4Address::parse("10.0.0.10"));
}

TEST(Ipv4AddressTest, RejectsMalformedText) {
  for (const char* bad : {"", "192.0.2", "192.0.2.256", "192.0.2.1.5", "192.0.2.1/24", "::1",
                          "a.b.c.d", " 192.0.2.1", "192.0.02.1"}) {
    EXPECT_THROW(Ipv4Address::parse(bad), InvalidArgumentError) << bad;
  }
}

VxlanConfig good_config() {
  VxlanConfig c;
  c.name = "trlvx0";
  c.vni = 4096;
  c.local = Ipv4Address::parse("192.0.2.11");
  return c;
}

TEST(VxlanConfigTest, AcceptsAWellFormedConfig) {
  EXPECT_NO_THROW(validate_config(good_config()));
  VxlanConfig c = good_config();
  c.name = "0123456789abcde";  // 15 bytes: the kernel's limit
  c.mtu = 1450;
  c.alias = std::string(255, 'a');
  EXPECT_NO_THROW(validate_config(c));
}

TEST(VxlanConfigTest, RejectsEachMalformedFieldAsInvalidArgument) {
  auto rejects = [](auto mutate) {
    VxlanConfig c = good_config();
    mutate(c);
    EXPECT_THROW(validate_config(c), InvalidArgumentError) << c.name;
  };
  rejects([](VxlanConfig& c) { c.name = ""; });
  rejects([](VxlanConfig& c) { c.name = "0123456789abcdef"; });
  rejects([](VxlanConfig& c) { c.name = "a/b"; });
  rejects([](VxlanConfig& c) { c.name = "a:b"; });
  rejects([](VxlanConfig& c) { c.name = "a b"; });
  rejects([](VxlanConfig& c) { c.name = "."; });
  rejects([](VxlanConfig& c) { c.vni = 0; });
  rejects([](VxlanConfig& c) { c.vni = kMaxVni + 1; });
  rejects([](VxlanConfig& c) { c.local = Ipv4Address{}; });
  rejects([](VxlanConfig& c) { c.port = 0; });
  rejects([](VxlanConfig& c) { c.mtu = 67; });
  rejects([](VxlanConfig& c) { c.mtu = 65536; });
  rejects([](VxlanConfig& c) { c.alias = std::string(256, 'a'); });
}

}  // namespace
}  // namespace trellis::vxlan
