#include "overlay/space_request.h"

#include <gtest/gtest.h>

#include "tests/overlay/cluster_fixture.h"

namespace trellis::overlay {
namespace {

using testing::Cluster;
using testing::overlay_network;

constexpr int kA = 0, kB = 1;

TEST(SpaceRequestCodec, RequestsAndAnswersRoundTrip) {
  for (const SpaceRequestBody& r :
       {SpaceRequestBody{"vni", 256, std::nullopt}, SpaceRequestBody{"net/abc/0", 0, 17},
        SpaceRequestBody{"", 0, std::nullopt}}) {
    EXPECT_EQ(decode_space_request(encode_space_request(r)), r);
  }
  for (const SpaceAnswerBody& a :
       {SpaceAnswerBody{SpaceAnswerStatus::kDonated, 10, 20, ""},
        SpaceAnswerBody{SpaceAnswerStatus::kNothingFree, 0, 0, "nothing free"},
        SpaceAnswerBody{SpaceAnswerStatus::kUnknownSpace, 0, 0, "x"},
        SpaceAnswerBody{SpaceAnswerStatus::kRefused, 0, 0, "y"}}) {
    EXPECT_EQ(decode_space_answer(encode_space_answer(a)), a);
  }
}

TEST(SpaceRequestCodec, MalformedBytesAreCorruptDataNeverACrash) {
  const std::string good = encode_space_request({"vni", 1, std::nullopt});
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_THROW(decode_space_request(good.substr(0, n)), CorruptDataError) << n;
  EXPECT_THROW(decode_space_request(good + "x"), CorruptDataError);
  EXPECT_THROW(decode_space_answer(good), CorruptDataError);  // wrong field types
  std::string newer = good;
  newer[1] = 2;  // version 2 (positive fixint after the fixarray header)
  EXPECT_THROW(decode_space_request(newer), CorruptDataError);
  std::string bad_status = encode_space_answer({SpaceAnswerStatus::kRefused, 0, 0, ""});
  bad_status[2] = 9;
  EXPECT_THROW(decode_space_answer(bad_status), CorruptDataError);
  EXPECT_THROW(decode_space_answer(encode_space_answer({SpaceAnswerStatus::kDonated, 5, 4, ""})),
               CorruptDataError);
}

TEST(SpaceRequestCodec, NetworkSpaceKeysParse) {
  EXPECT_EQ(parse_network_space_key(store::network_space_key("abc", 3)),
            (std::pair<std::string, size_t>{"abc", 3}));
  EXPECT_EQ(parse_network_space_key("vni"), std::nullopt);
  EXPECT_EQ(parse_network_space_key("net/abc/"), std::nullopt);
  EXPECT_EQ(parse_network_space_key("net//1"), std::nullopt);
  EXPECT_EQ(parse_network_space_key("net/abc/01"), std::nullopt);
  EXPECT_EQ(parse_network_space_key("net/abc/x"), std::nullopt);
}

class DecideTest : public ::testing::Test {
 protected:
  DecideTest() : c_(2) {
    c_.found(kA);
    store::NetworkCreated n = overlay_network("net", "10.7.0.0/28", 0);
    n.ipam.pools[0].aux_addresses = {{"r", "10.7.0.14"}};
    c_.node(kA).append_local(n);
    c_.sync_all();
  }
  DonorDecision decide(int self, int requester, const SpaceRequestBody& r) {
    return decide_space_request(c_.node(self).read(), Cluster::id_of(self),
                                Cluster::id_of(requester), r);
  }
  Cluster c_;
};

TEST_F(DecideTest, TheOwnerDonatesAndTheRequesterCanThenAllocate) {
  DonorDecision d = decide(kA, kB, {"subnet-pool", 256, std::nullopt});
  ASSERT_TRUE(d.donation);
  EXPECT_EQ(d.answer.status, SpaceAnswerStatus::kDonated);
  EXPECT_EQ(d.answer.last - d.answer.first + 1, 256u);
  EXPECT_EQ(d.donation->to, Cluster::id_of(kB));
  c_.node(kA).append_local(*d.donation);
  c_.sync_all();
  Membership m{Cluster::id_of(kB), {Cluster::id_of(kA)}};
  EXPECT_TRUE(pick_pool_subnet(c_.node(kB).read(), m).value);
}

TEST_F(DecideTest, NetworkSpacesDonateOnlyUsableAddresses) {
  // Free: .2 .. .13 (the gateway .1 is taken, .14 is an aux address): the upper half of the
  // run .2-.13 is .8-.13, never .14.
  DonorDecision d = decide(kA, kB, {store::network_space_key("net", 0), 100, std::nullopt});
  ASSERT_TRUE(d.donation);
  EXPECT_EQ(d.donation->first, 8u);
  EXPECT_EQ(d.donation->last, 13u);
}

TEST_F(DecideTest, SpecificOffsetsUnknownSpacesAndBadRequestsAreAnsweredPlainly) {
  const std::string key = store::network_space_key("net", 0);
  DonorDecision d = decide(kA, kB, {key, 0, 5});
  ASSERT_TRUE(d.donation);
  EXPECT_EQ(d.donation->first, 5u);
  EXPECT_EQ(d.donation->last, 5u);
  EXPECT_EQ(decide(kA, kB, {key, 0, 1}).answer.status, SpaceAnswerStatus::kNothingFree);  // gateway
  EXPECT_EQ(decide(kB, kA, {key, 4, std::nullopt}).answer.status, SpaceAnswerStatus::kNothingFree);
  EXPECT_EQ(decide(kA, kB, {"net/other/0", 4, std::nullopt}).answer.status,
            SpaceAnswerStatus::kUnknownSpace);
  EXPECT_EQ(decide(kA, kB, {key, 0, std::nullopt}).answer.status, SpaceAnswerStatus::kRefused);
  EXPECT_EQ(decide(kA, kA, {key, 4, std::nullopt}).answer.status, SpaceAnswerStatus::kRefused);
  EXPECT_FALSE(decide(kA, kA, {key, 4, std::nullopt}).donation);
}

}  // namespace
}  // namespace trellis::overlay
