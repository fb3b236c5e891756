// msgpack wire encoding of gossip messages. Layout: docs/wire-protocol.md.
#include "gossip/message.h"

#include <msgpack.hpp>

#include "common/msgpack_decode.h"

namespace trellis::gossip {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;
namespace md = msgpack_decode;

void pack_str(Packer& pk, const std::string& s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void pack_bin(Packer& pk, const std::string& s) {
  pk.pack_bin(static_cast<uint32_t>(s.size()));
  pk.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

void pack_vv(Packer& pk, const VersionVector& vv) {
  pk.pack_array(static_cast<uint32_t>(vv.size() * 2));
  for (const auto& [origin, seq] : vv) {
    pk.pack(origin);
    pk.pack(seq);
  }
}

void pack_updates(Packer& pk, const std::vector<MemberUpdate>& updates) {
  pk.pack_array(static_cast<uint32_t>(updates.size()));
  for (const MemberUpdate& u : updates) {
    pk.pack_array(6);
    pk.pack(static_cast<uint8_t>(u.kind));
    pk.pack(u.id);
    pk.pack(u.incarnation);
    pk.pack(u.from);
    pack_str(pk, u.name);
    pack_str(pk, u.address);
  }
}

void pack_entries(Packer& pk, const std::vector<LogEntry>& entries) {
  pk.pack_array(static_cast<uint32_t>(entries.size()));
  for (const LogEntry& e : entries) {
    pk.pack_array(3);
    pk.pack(e.origin);
    pk.pack(e.seq);
    pack_bin(pk, e.encoded);
  }
}

void pack_body(Packer& pk, const Body& body) {
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, Ping>) {
          pk.pack_array(2);
          pk.pack(b.seq);
          pk.pack(b.target);
        } else if constexpr (std::is_same_v<T, Ack> || std::is_same_v<T, Nack>) {
          pk.pack_array(1);
          pk.pack(b.seq);
        } else if constexpr (std::is_same_v<T, PingReq>) {
          pk.pack_array(3);
          pk.pack(b.seq);
          pk.pack(b.target);
          pack_str(pk, b.target_address);
        } else if constexpr (std::is_same_v<T, Gossip>) {
          pk.pack_array(0);
        } else if constexpr (std::is_same_v<T, SyncDigest>) {
          pk.pack_array(4);
          pk.pack(b.vv_hash);
          pk.pack(b.join);
          pk.pack(b.push_pull);
          pack_updates(pk, b.members);
        } else if constexpr (std::is_same_v<T, SyncVector>) {
          pk.pack_array(6);
          pk.pack(b.step);
          pack_vv(pk, b.vv);
          pack_updates(pk, b.members);
          pack_entries(pk, b.entries);
          pk.pack(b.more);
          pk.pack(b.snapshot_offer);
        } else if constexpr (std::is_same_v<T, SyncEntries>) {
          pk.pack_array(3);
          pack_entries(pk, b.entries);
          pk.pack(b.more);
          pk.pack(b.snapshot_offer);
        } else if constexpr (std::is_same_v<T, SnapshotRequest>) {
          pk.pack_array(2);
          pk.pack(b.snapshot_id);
          pk.pack(b.index);
        } else if constexpr (std::is_same_v<T, SnapshotChunk>) {
          pk.pack_array(5);
          pk.pack(b.snapshot_id);
          pk.pack(b.index);
          pk.pack(b.total);
          pack_vv(pk, b.vv);
          pack_entries(pk, b.entries);
        } else if constexpr (std::is_same_v<T, SpaceRequest> || std::is_same_v<T, SpaceAnswer>) {
          pk.pack_array(2);
          pk.pack(b.request_id);
          pack_bin(pk, b.payload);
        } else if constexpr (std::is_same_v<T, Refuse>) {
          pk.pack_array(1);
          pk.pack(b.cluster_id);
        }
      },
      body);
}

// ---- decoding ----

uint32_t as_u32(const msgpack::object& o, std::string_view what) {
  uint64_t v = md::as_u64(o, what);
  if (v > UINT32_MAX) throw CorruptDataError(std::string(what) + ": value out of range");
  return static_cast<uint32_t>(v);
}

VersionVector vv_of(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size % 2 != 0) {
    throw CorruptDataError("gossip message: version vector: expected an even-sized array");
  }
  VersionVector vv;
  const auto& a = o.via.array;
  for (uint32_t i = 0; i < a.size; i += 2) {
    vv[md::as_u64(a.ptr[i], "version vector origin")] =
        md::as_u64(a.ptr[i + 1], "version vector seq");
  }
  return vv;
}

std::vector<MemberUpdate> updates_of(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY) {
    throw CorruptDataError("gossip message: member updates: expected an array");
  }
  std::vector<MemberUpdate> out;
  out.reserve(o.via.array.size);
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    const auto& a = md::array_of(o.via.array.ptr[i], 6, "member update", true);
    MemberUpdate u;
    uint64_t kind = md::as_u64(a.ptr[0], "member update kind");
    if (kind > 3) throw CorruptDataError("member update: unknown kind " + std::to_string(kind));
    u.kind = static_cast<MemberUpdate::Kind>(kind);
    u.id = md::as_u64(a.ptr[1], "member update id");
    u.incarnation = md::as_u64(a.ptr[2], "member update incarnation");
    u.from = md::as_u64(a.ptr[3], "member update from");
    u.name = md::as_string(a.ptr[4], "member update name");
    u.address = md::as_string(a.ptr[5], "member update address");
    if (u.id == 0) throw CorruptDataError("member update: node id 0");
    out.push_back(std::move(u));
  }
  return out;
}

std::vector<LogEntry> entries_of(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY) {
    throw CorruptDataError("gossip message: log entries: expected an array");
  }
  std::vector<LogEntry> out;
  out.reserve(o.via.array.size);
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    const auto& a = md::array_of(o.via.array.ptr[i], 3, "log entry", true);
    LogEntry e;
    e.origin = md::as_u64(a.ptr[0], "log entry origin");
    e.seq = md::as_u64(a.ptr[1], "log entry seq");
    e.encoded = md::as_string(a.ptr[2], "log entry bytes");
    if (e.origin == 0 || e.seq == 0) throw CorruptDataError("log entry: origin or seq 0");
    out.push_back(std::move(e));
  }
  return out;
}

Body body_of(uint64_t type, const msgpack::object& o) {
  auto arr = [&](uint32_t n) -> const msgpack::object_array& {
    return md::array_of(o, n, "gossip message body", true);
  };
  switch (static_cast<MessageType>(type)) {
    case MessageType::kPing: {
      const auto& a = arr(2);
      return Ping{md::as_u64(a.ptr[0], "ping seq"), md::as_u64(a.ptr[1], "ping target")};
    }
    case MessageType::kAck:
      return Ack{md::as_u64(arr(1).ptr[0], "ack seq")};
    case MessageType::kNack:
      return Nack{md::as_u64(arr(1).ptr[0], "nack seq")};
    case MessageType::kPingReq: {
      const auto& a = arr(3);
      return PingReq{md::as_u64(a.ptr[0], "ping-req seq"), md::as_u64(a.ptr[1], "ping-req target"),
                     md::as_string(a.ptr[2], "ping-req address")};
    }
    case MessageType::kGossip:
      arr(0);
      return Gossip{};
    case MessageType::kSyncDigest: {
      const auto& a = arr(4);
      return SyncDigest{md::as_u64(a.ptr[0], "sync digest hash"), md::as_bool(a.ptr[1], "join"),
                        md::as_bool(a.ptr[2], "push-pull"), updates_of(a.ptr[3])};
    }
    case MessageType::kSyncVector: {
      const auto& a = arr(6);
      SyncVector v;
      uint64_t step = md::as_u64(a.ptr[0], "sync step");
      if (step != 2 && step != 3) throw CorruptDataError("sync vector: bad step");
      v.step = static_cast<uint8_t>(step);
      v.vv = vv_of(a.ptr[1]);
      v.members = updates_of(a.ptr[2]);
      v.entries = entries_of(a.ptr[3]);
      v.more = md::as_bool(a.ptr[4], "sync more");
      v.snapshot_offer = md::as_bool(a.ptr[5], "sync snapshot offer");
      return v;
    }
    case MessageType::kSyncEntries: {
      const auto& a = arr(3);
      return SyncEntries{entries_of(a.ptr[0]), md::as_bool(a.ptr[1], "sync more"),
                         md::as_bool(a.ptr[2], "sync snapshot offer")};
    }
    case MessageType::kSnapshotRequest: {
      const auto& a = arr(2);
      return SnapshotRequest{md::as_u64(a.ptr[0], "snapshot id"),
                             as_u32(a.ptr[1], "snapshot index")};
    }
    case MessageType::kSnapshotChunk: {
      const auto& a = arr(5);
      SnapshotChunk c;
      c.snapshot_id = md::as_u64(a.ptr[0], "snapshot id");
      c.index = as_u32(a.ptr[1], "snapshot index");
      c.total = as_u32(a.ptr[2], "snapshot total");
      if (c.total == 0 || c.index >= c.total) throw CorruptDataError("snapshot chunk: bad index");
      c.vv = vv_of(a.ptr[3]);
      c.entries = entries_of(a.ptr[4]);
      return c;
    }
    case MessageType::kSpaceRequest: {
      const auto& a = arr(2);
      return SpaceRequest{md::as_u64(a.ptr[0], "space request id"),
                          md::as_string(a.ptr[1], "space request payload")};
    }
    case MessageType::kSpaceAnswer: {
      const auto& a = arr(2);
      return SpaceAnswer{md::as_u64(a.ptr[0], "space answer id"),
                         md::as_string(a.ptr[1], "space answer payload")};
    }
    case MessageType::kRefuse:
      return Refuse{md::as_u64(arr(1).ptr[0], "refuse cluster id")};
  }
  throw CorruptDataError("gossip message: unknown type " + std::to_string(type));
}

size_t uint_size(uint64_t v) {
  if (v < 128) return 1;
  if (v < 256) return 2;
  if (v < 65536) return 3;
  if (v <= UINT32_MAX) return 5;
  return 9;
}

size_t str_size(size_t n) { return n + (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5); }
size_t bin_size(size_t n) { return n + (n < 256 ? 2 : n < 65536 ? 3 : 5); }

}  // namespace

MessageType message_type(const Body& body) { return static_cast<MessageType>(body.index() + 1); }

const char* message_type_name(const Body& body) {
  static const char* const kNames[] = {"ping",           "ack",           "ping-req",
                                       "nack",           "gossip",        "sync-digest",
                                       "sync-vector",    "sync-entries",  "snapshot-request",
                                       "snapshot-chunk", "space-request", "space-answer",
                                       "refuse"};
  return kNames[body.index()];
}

std::string encode(const Message& m) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pk.pack_array(8);
  pk.pack(kWireVersion);
  pk.pack(static_cast<uint8_t>(message_type(m.body)));
  pk.pack(m.cluster_id);
  pk.pack(m.from);
  pack_str(pk, m.from_address);
  pack_body(pk, m.body);
  pack_updates(pk, m.updates);
  pack_entries(pk, m.entries);
  return std::string(buf.data(), buf.size());
}

Message decode(std::string_view frame) {
  msgpack::object_handle handle = md::unpack_whole(frame, "gossip message");
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size < 1) {
    throw CorruptDataError("gossip message: expected an array");
  }
  // The version comes first so that a future layout is recognised before anything else.
  uint64_t version = md::as_u64(root.via.array.ptr[0], "gossip message version");
  if (version != kWireVersion) {
    throw UnsupportedVersionError(
        static_cast<uint32_t>(std::min<uint64_t>(version, UINT32_MAX)),
        "gossip message: unsupported wire version " + std::to_string(version));
  }
  const auto& a = md::array_of(root, 8, "gossip message", true);
  Message m;
  uint64_t type = md::as_u64(a.ptr[1], "gossip message type");
  m.cluster_id = md::as_u64(a.ptr[2], "gossip message cluster id");
  m.from = md::as_u64(a.ptr[3], "gossip message sender");
  if (m.from == 0) throw CorruptDataError("gossip message: sender id 0");
  m.from_address = md::as_string(a.ptr[4], "gossip message sender address");
  m.body = body_of(type, a.ptr[5]);
  m.updates = updates_of(a.ptr[6]);
  m.entries = entries_of(a.ptr[7]);
  return m;
}

size_t encoded_size(const MemberUpdate& u) {
  return 1 + 1 + uint_size(u.id) + uint_size(u.incarnation) + uint_size(u.from) +
         str_size(u.name.size()) + str_size(u.address.size());
}

size_t encoded_size(const LogEntry& e) {
  return 1 + uint_size(e.origin) + uint_size(e.seq) + bin_size(e.encoded.size());
}

uint64_t hash_version_vector(const VersionVector& vv) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (i * 8)) & 0xff;
      h *= 1099511628211ULL;
    }
  };
  for (const auto& [origin, seq] : vv) {
    if (seq == 0) continue;
    mix(origin);
    mix(seq);
  }
  return h;
}

}  // namespace trellis::gossip
