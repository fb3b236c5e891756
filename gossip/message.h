#pragma once
// The messages of the gossip protocol and their msgpack wire encoding (one ZeroMQ frame per
// message). The byte layout is documented in docs/wire-protocol.md; this header is the
// reference for field meanings. Pure values and functions; safe from any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.h"
#include "gossip/types.h"

namespace trellis::gossip {

// Version of the wire format written by this build. A frame with another version is dropped
// (UnsupportedVersionError) and counted.
inline constexpr uint32_t kWireVersion = 1;

class UnsupportedVersionError : public CorruptDataError {
 public:
  UnsupportedVersionError(uint32_t version, std::string message)
      : CorruptDataError(std::move(message)), version_(version) {}
  uint32_t version() const { return version_; }

 private:
  uint32_t version_;
};

// A membership fact, piggybacked or exchanged in full during push-pull.
struct MemberUpdate {
  enum class Kind : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };
  Kind kind = Kind::kAlive;
  NodeId id = 0;
  uint64_t incarnation = 0;
  NodeId from = 0;      // suspect/dead: who says so
  std::string name;     // alive only
  std::string address;  // alive only
  friend bool operator==(const MemberUpdate&, const MemberUpdate&) = default;
};

// ---- bodies ----
struct Ping {  // direct probe; answered by Ack{seq}
  uint64_t seq = 0;
  NodeId target = 0;  // the node the sender thinks it is probing
  friend bool operator==(const Ping&, const Ping&) = default;
};
struct Ack {
  uint64_t seq = 0;
  friend bool operator==(const Ack&, const Ack&) = default;
};
struct PingReq {  // "probe target for me"; answered by Ack{seq} or Nack{seq}
  uint64_t seq = 0;
  NodeId target = 0;
  std::string target_address;
  friend bool operator==(const PingReq&, const PingReq&) = default;
};
struct Nack {  // Lifeguard: the intermediate got no answer from the target
  uint64_t seq = 0;
  friend bool operator==(const Nack&, const Nack&) = default;
};
struct Gossip {  // carries only the piggybacked updates and entries
  friend bool operator==(const Gossip&, const Gossip&) = default;
};
// Anti-entropy step 1: "my log's version vector hashes to vv_hash". With `members` (push-pull
// or join) the peer merges them and answers with its own.
struct SyncDigest {
  uint64_t vv_hash = 0;
  bool join = false;
  bool push_pull = false;
  std::vector<MemberUpdate> members;
  friend bool operator==(const SyncDigest&, const SyncDigest&) = default;
};
// Anti-entropy steps 2 and 3: a full version vector (and, step 3, the entries the peer lacks).
struct SyncVector {
  uint8_t step = 2;
  VersionVector vv;
  std::vector<MemberUpdate> members;  // step 2 answering a push-pull or join
  std::vector<LogEntry> entries;      // step 3
  bool more = false;                  // entries were cut at the chunk limit
  bool snapshot_offer = false;        // the receiver is below a compaction floor here
  friend bool operator==(const SyncVector&, const SyncVector&) = default;
};
// Anti-entropy step 4: the rest the initiator lacks.
struct SyncEntries {
  std::vector<LogEntry> entries;
  bool more = false;
  bool snapshot_offer = false;
  friend bool operator==(const SyncEntries&, const SyncEntries&) = default;
};
struct SnapshotRequest {
  uint64_t snapshot_id = 0;  // 0: a new snapshot
  uint32_t index = 0;        // the chunk wanted
  friend bool operator==(const SnapshotRequest&, const SnapshotRequest&) = default;
};
struct SnapshotChunk {
  uint64_t snapshot_id = 0;
  uint32_t index = 0;
  uint32_t total = 0;
  VersionVector vv;  // in every chunk (small; lets a receiver restart cleanly)
  std::vector<LogEntry> entries;
  friend bool operator==(const SnapshotChunk&, const SnapshotChunk&) = default;
};
struct SpaceRequest {
  uint64_t request_id = 0;
  std::string payload;
  friend bool operator==(const SpaceRequest&, const SpaceRequest&) = default;
};
struct SpaceAnswer {
  uint64_t request_id = 0;
  std::string payload;
  friend bool operator==(const SpaceAnswer&, const SpaceAnswer&) = default;
};
// Answer to a join from another cluster: "I belong to cluster_id, not yours".
struct Refuse {
  uint64_t cluster_id = 0;
  friend bool operator==(const Refuse&, const Refuse&) = default;
};

using Body = std::variant<Ping, Ack, PingReq, Nack, Gossip, SyncDigest, SyncVector, SyncEntries,
                          SnapshotRequest, SnapshotChunk, SpaceRequest, SpaceAnswer, Refuse>;

// Wire codes of the bodies (never reuse a number).
enum class MessageType : uint8_t {
  kPing = 1,
  kAck = 2,
  kPingReq = 3,
  kNack = 4,
  kGossip = 5,
  kSyncDigest = 6,
  kSyncVector = 7,
  kSyncEntries = 8,
  kSnapshotRequest = 9,
  kSnapshotChunk = 10,
  kSpaceRequest = 11,
  kSpaceAnswer = 12,
  kRefuse = 13,
};
MessageType message_type(const Body& body);
const char* message_type_name(const Body& body);

struct Message {
  uint64_t cluster_id = 0;
  NodeId from = 0;
  std::string from_address;  // where to answer (the sender's advertised address)
  Body body;
  std::vector<MemberUpdate> updates;  // piggybacked membership facts
  std::vector<LogEntry> entries;      // piggybacked log entries (gossip)
  friend bool operator==(const Message&, const Message&) = default;
};

std::string encode(const Message& message);
// Decodes one frame. UnsupportedVersionError for another wire version, CorruptDataError for
// anything malformed (never crashes, never allocates more than the frame justifies).
Message decode(std::string_view frame);

// Encoded size estimates used for piggyback budgets (upper bounds of the real encoding).
size_t encoded_size(const MemberUpdate& update);
size_t encoded_size(const LogEntry& entry);

// Order-independent-free hash of a version vector (FNV-1a over the sorted pairs), equal on
// every node for equal vectors.
uint64_t hash_version_vector(const VersionVector& vv);

}  // namespace trellis::gossip
