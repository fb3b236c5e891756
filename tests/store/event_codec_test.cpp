#include <gtest/gtest.h>

#include <random>

#include "store/event.h"

namespace trellis::store {
namespace {

std::vector<Body> every_body() {
  NetworkCreated n;
  n.id = "n1";
  n.name = "web";
  n.driver = "overlay";
  n.cluster_scope = true;
  n.attachable = true;
  n.mtu = 1450;
  n.ipam.pools.push_back({"10.1.0.0/24", "10.1.0.128/25", "10.1.0.1", {{"host", "10.1.0.2"}}});
  n.ipam.options["opt"] = "v";
  n.ipam_result.pools.push_back({"10.1.0.0/24", "10.1.0.1"});
  n.ipam_result.vni = 4097;
  n.ipam_result.has_pool_index = true;
  n.ipam_result.pool_index = 256;
  n.options["com.docker.network.mtu"] = "1450";
  n.labels["team"] = "a";
  EndpointSpec ep{"e1",
                  "n1",
                  "web-1",
                  "02:42:0a:01:00:02",
                  {"10.1.0.2/24"},
                  {"web"},
                  {{"tcp", 80, 8080, "0.0.0.0"}},
                  7};
  return {n,
          NetworkRemoved{"n1"},
          EndpointCreated{ep},
          EndpointUpdated{ep},
          EndpointRemoved{"e1"},
          SandboxCreated{"s1",
                         "c1",
                         "h",
                         "example.org",
                         {"192.0.2.53"},
                         {"example.org"},
                         {"ndots:2"},
                         {{"db", "10.1.0.9"}}},
          SandboxRemoved{"s1"},
          EndpointJoined{"e1", "s1"},
          EndpointLeft{"e1", "s1"},
          SpaceInitialised{"vni", 4096, 16777215},
          RangeDonated{"net/n1/0", 9, 10, 20},
          NodeAnnounced{"alpha", "192.0.2.1"},
          NodeLeft{},
          NodeRemoved{9, 42},
          UnknownBody{999, std::string("\x92\x01\xa1x", 4)}};
}

Event sample(Body body) {
  return Event{0xabcdef, 3, 17, 1700000000123, {{0x11, 2}, {0x22, 9}}, std::move(body)};
}

TEST(EventCodec, EveryBodyRoundTripsByteForByte) {
  for (const Body& body : every_body()) {
    const Event e = sample(body);
    const std::string bytes = encode_event(e);
    const Event back = decode_event(bytes);
    EXPECT_EQ(back, e) << body_type_name(body);
    EXPECT_EQ(encode_event(back), bytes) << body_type_name(body);
  }
}

TEST(EventCodec, UnknownBodyTypeIsKeptVerbatim) {
  const Event e = sample(UnknownBody{4242, std::string("\x93\x01\x02\x03", 4)});
  const Event back = decode_event(encode_event(e));
  ASSERT_TRUE(std::holds_alternative<UnknownBody>(back.body));
  EXPECT_EQ(std::get<UnknownBody>(back.body).type, 4242u);
  EXPECT_EQ(body_type_name(back.body), "unknown-4242");
}

TEST(EventCodec, TruncatedBufferIsCorruptData) {
  const std::string bytes = encode_event(sample(every_body()[0]));
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(decode_event(std::string_view(bytes).substr(0, n)), CorruptDataError) << n;
  }
  EXPECT_THROW(decode_event(bytes + "x"), CorruptDataError);
}

TEST(EventCodec, NewerSchemaVersionIsRejectedWithATypedError) {
  std::string bytes = encode_event(sample(NodeLeft{}));
  // [version, ...]: the first element follows the one-byte array header.
  ASSERT_EQ(static_cast<unsigned char>(bytes[1]), kEventSchemaVersion);
  bytes[1] = 2;
  EXPECT_THROW(decode_event(bytes), UnsupportedSchemaError);
  bytes[1] = 0;
  EXPECT_THROW(decode_event(bytes), CorruptDataError);
}

TEST(EventCodec, ImpossibleIdentityIsCorruptData) {
  Event e = sample(NodeLeft{});
  e.seq = 0;
  EXPECT_THROW(decode_event(encode_event(e)), CorruptDataError);
  e = sample(NodeLeft{});
  e.origin = 0;
  EXPECT_THROW(decode_event(encode_event(e)), CorruptDataError);
  e = sample(NodeLeft{});
  e.deps.push_back({0, 1});
  EXPECT_THROW(decode_event(encode_event(e)), CorruptDataError);
}

TEST(EventCodec, RandomCorruptionNeverCrashes) {
  std::mt19937_64 rng(7);
  for (const Body& body : every_body()) {
    const std::string bytes = encode_event(sample(body));
    for (int i = 0; i < 300; ++i) {
      std::string b = bytes;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<char>(rng());
      try {
        // Whatever decodes is a well-formed event: it encodes and decodes to itself.
        const Event decoded = decode_event(b);
        EXPECT_EQ(decode_event(encode_event(decoded)), decoded);
      } catch (const InvalidArgumentError&) {
      }
    }
  }
}

TEST(EventCodec, NodeIdsFormatAsSixteenHexDigits) {
  EXPECT_EQ(format_node_id(0xabc), "0000000000000abc");
  EXPECT_EQ(parse_node_id("0000000000000abc"), 0xabcu);
  EXPECT_THROW(parse_node_id("xyz"), InvalidArgumentError);
}

}  // namespace
}  // namespace trellis::store
