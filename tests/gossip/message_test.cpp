#include "gossip/message.h"

#include <gtest/gtest.h>

#include <random>

namespace trellis::gossip {
namespace {

Message with_body(Body body) {
  Message m;
  m.cluster_id = 0xfeedfacecafebeefULL;
  m.from = 0x1234567890abcdefULL;
  m.from_address = "192.0.2.7:7946";
  m.body = std::move(body);
  m.updates = {{MemberUpdate::Kind::kAlive, 42, 7, 42, "node-a", "192.0.2.9:7946"},
               {MemberUpdate::Kind::kSuspect, 43, 1, 42, {}, {}},
               {MemberUpdate::Kind::kDead, 44, 0, 43, {}, {}},
               {MemberUpdate::Kind::kLeft, 45, 3, 45, {}, {}}};
  m.entries = {{42, 1, std::string("\x00\x01\xff", 3)}, {43, 99, std::string(300, 'z')}};
  return m;
}

TEST(MessageTest, EveryMessageTypeRoundTrips) {
  std::vector<Body> bodies = {
      Ping{1, 2},
      Ack{3},
      PingReq{4, 5, "198.51.100.1:7946"},
      Nack{6},
      Gossip{},
      SyncDigest{77, true, true, {{MemberUpdate::Kind::kAlive, 9, 1, 9, "x", "y:1"}}},
      SyncVector{3, {{1, 5}, {2, 9}}, {}, {{1, 4, "four"}, {1, 5, "five"}}, true, true},
      SyncEntries{{{2, 8, "eight"}}, true, false},
      SnapshotRequest{55, 2},
      SnapshotChunk{55, 1, 3, {{1, 5}}, {{1, 2, "two"}}},
      SpaceRequest{8, std::string("\x01\x02", 2)},
      SpaceAnswer{8, "answer"},
      Refuse{99},
  };
  for (const Body& body : bodies) {
    Message m = with_body(body);
    Message back = decode(encode(m));
    EXPECT_EQ(back, m) << message_type_name(body);
    EXPECT_EQ(static_cast<size_t>(message_type(body)), body.index() + 1);
  }
}

TEST(MessageTest, SizeEstimatesAreUpperBoundsOfTheEncoding) {
  Message empty = with_body(Gossip{});
  empty.updates.clear();
  empty.entries.clear();
  const size_t base = encode(empty).size();
  Message m = with_body(Gossip{});
  size_t estimate = 0;
  for (const auto& u : m.updates) estimate += encoded_size(u);
  for (const auto& e : m.entries) estimate += encoded_size(e);
  EXPECT_LE(encode(m).size() - base, estimate);
}

TEST(MessageTest, AnotherWireVersionIsRejectedAsSuch) {
  std::string frame = encode(with_body(Ping{1, 2}));
  // The first element of the outer array is the version (a positive fixint).
  ASSERT_EQ(static_cast<uint8_t>(frame[1]), kWireVersion);
  frame[1] = 2;
  try {
    decode(frame);
    FAIL() << "decoded a frame of version 2";
  } catch (const UnsupportedVersionError& e) {
    EXPECT_EQ(e.version(), 2u);
  }
}

TEST(MessageTest, MalformedFramesAreCorruptData) {
  std::string good = encode(with_body(SyncVector{3, {{1, 5}}, {}, {{1, 5, "x"}}, false, false}));
  EXPECT_THROW(decode(""), CorruptDataError);
  EXPECT_THROW(decode("garbage"), CorruptDataError);
  EXPECT_THROW(decode(good + "x"), CorruptDataError);  // trailing bytes
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_THROW(decode(good.substr(0, cut)), CorruptDataError) << "truncated at " << cut;
  }
  // A forged huge array length must not allocate: 0xdd = array32 with 2^32-1 elements.
  EXPECT_THROW(decode(std::string("\xdd\xff\xff\xff\xff", 5)), CorruptDataError);
}

TEST(MessageTest, RandomBytesNeverCrashTheDecoder) {
  std::mt19937_64 rng(2024);
  std::string good = encode(with_body(SnapshotChunk{55, 1, 3, {{1, 5}}, {{1, 2, "two"}}}));
  for (int i = 0; i < 20000; ++i) {
    std::string frame;
    if (i % 2 == 0) {
      frame = good;
      for (int flips = 0; flips < 3; ++flips) {
        frame[rng() % frame.size()] = static_cast<char>(rng() & 0xff);
      }
    } else {
      frame.resize(rng() % 64);
      for (char& c : frame) c = static_cast<char>(rng() & 0xff);
    }
    try {
      // Whatever decodes is a well-formed message: it encodes and decodes to itself.
      const Message decoded = decode(frame);
      EXPECT_EQ(decode(encode(decoded)), decoded) << "frame " << i;
    } catch (const CorruptDataError&) {
    }
  }
}

TEST(MessageTest, VersionVectorHashIgnoresZeroSeqsAndDependsOnContent) {
  EXPECT_EQ(hash_version_vector({{1, 2}, {3, 0}}), hash_version_vector({{1, 2}}));
  EXPECT_NE(hash_version_vector({{1, 2}}), hash_version_vector({{1, 3}}));
  EXPECT_NE(hash_version_vector({{1, 2}, {2, 1}}), hash_version_vector({{1, 1}, {2, 2}}));
}

}  // namespace
}  // namespace trellis::gossip
