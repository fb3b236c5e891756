#pragma once
// Events of the replicated log (docs/event-format.md): what a node says happened, authored once by
// its origin and folded by every node into the same state. This header holds the event value types
// and their versioned msgpack encoding; the byte layout is documented in docs/event-format.md.
// Pure values, no I/O; safe to use from any thread.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.h"

namespace trellis::store {

using NodeId = uint64_t;

// Version of the event envelope written by this build. Decoding an event with a higher
// version fails with UnsupportedSchemaError; new body types do not need a new version.
inline constexpr uint32_t kEventSchemaVersion = 1;

// An event names its origin's log and its place in it.
struct EventId {
  NodeId origin = 0;
  uint64_t seq = 0;
  friend auto operator<=>(const EventId&, const EventId&) = default;
};

// The event was written by a newer schema than this build understands.
class UnsupportedSchemaError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};

// The event's identity is impossible (origin 0, seq 0, a remote event claiming to be ours,
// the same (origin, seq) with different content).
class InconsistentEventError : public InvalidArgumentError {
 public:
  using InvalidArgumentError::InvalidArgumentError;
};

// ---- bodies ---------------------------------------------------------------------------------

// One pool of a network's IPAM configuration, as requested (strings as the user gave them;
// empty means "choose for me").
struct IpamPoolConfig {
  std::string subnet;
  std::string ip_range;
  std::string gateway;
  std::map<std::string, std::string> aux_addresses;
  friend bool operator==(const IpamPoolConfig&, const IpamPoolConfig&) = default;
};

struct IpamConfig {
  std::string driver = "default";
  std::vector<IpamPoolConfig> pools;
  std::map<std::string, std::string> options;
  friend bool operator==(const IpamConfig&, const IpamConfig&) = default;
};

// One pool as allocated by the creator: the subnet in CIDR form and the gateway address
// (without prefix length; empty for internal networks without gateway). The pool's host
// offsets form an owned space named network_space_key(network id, pool index).
struct IpamPoolResult {
  std::string subnet;
  std::string gateway;
  friend bool operator==(const IpamPoolResult&, const IpamPoolResult&) = default;
};

struct IpamResult {
  std::vector<IpamPoolResult> pools;
  // The VNI claimed in the cluster's "vni" space; 0 means none (local networks).
  uint32_t vni = 0;
  // The /24 index claimed in the cluster's "subnet-pool" space, if the subnet came from it.
  bool has_pool_index = false;
  uint64_t pool_index = 0;
  friend bool operator==(const IpamResult&, const IpamResult&) = default;
};

struct NetworkCreated {
  std::string id;  // unique, chosen by the creator
  std::string name;
  std::string driver;
  bool cluster_scope = false;  // overlay networks share one name space for the cluster
  bool internal = false;
  bool attachable = false;
  bool enable_ipv6 = false;
  uint32_t mtu = 0;  // 0 = derived
  IpamConfig ipam;
  IpamResult ipam_result;
  std::map<std::string, std::string> options;
  std::map<std::string, std::string> labels;
  friend bool operator==(const NetworkCreated&, const NetworkCreated&) = default;
};

struct NetworkRemoved {
  std::string id;
  friend bool operator==(const NetworkRemoved&, const NetworkRemoved&) = default;
};

struct PortBinding {
  std::string protocol = "tcp";
  uint32_t container_port = 0;
  uint32_t host_port = 0;  // 0 = exposed only
  std::string host_ip;
  friend bool operator==(const PortBinding&, const PortBinding&) = default;
};

// The full description of an endpoint. Created and Updated both carry all of it, so the
// latest event for an endpoint says everything (compaction keeps only that one).
struct EndpointSpec {
  std::string id;
  std::string network;  // network id
  std::string name;
  std::string mac;
  std::vector<std::string> addresses;  // "a.b.c.d/len" or "a.b.c.d"; IPv6 alike
  std::vector<std::string> aliases;
  std::vector<PortBinding> ports;
  NodeId owner = 0;  // must equal the event's origin (0 in append_local: filled in)
  friend bool operator==(const EndpointSpec&, const EndpointSpec&) = default;
};

struct EndpointCreated {
  EndpointSpec endpoint;
  friend bool operator==(const EndpointCreated&, const EndpointCreated&) = default;
};

struct EndpointUpdated {
  EndpointSpec endpoint;
  friend bool operator==(const EndpointUpdated&, const EndpointUpdated&) = default;
};

struct EndpointRemoved {
  std::string id;
  friend bool operator==(const EndpointRemoved&, const EndpointRemoved&) = default;
};

struct ExtraHost {
  std::string name;
  std::string address;
  friend bool operator==(const ExtraHost&, const ExtraHost&) = default;
};

struct SandboxCreated {
  std::string id;
  std::string container_id;
  std::string hostname;
  std::string domain;
  std::vector<std::string> dns_servers;
  std::vector<std::string> dns_search;
  std::vector<std::string> dns_options;
  std::vector<ExtraHost> extra_hosts;
  friend bool operator==(const SandboxCreated&, const SandboxCreated&) = default;
};

struct SandboxRemoved {
  std::string id;
  friend bool operator==(const SandboxRemoved&, const SandboxRemoved&) = default;
};

struct EndpointJoined {
  std::string endpoint;
  std::string sandbox;
  friend bool operator==(const EndpointJoined&, const EndpointJoined&) = default;
};

struct EndpointLeft {
  std::string endpoint;
  std::string sandbox;
  friend bool operator==(const EndpointLeft&, const EndpointLeft&) = default;
};

// A cluster-wide integer space comes into being, wholly owned by the event's origin
// (the founder). Names: kVniSpace, kSubnetPoolSpace.
struct SpaceInitialised {
  std::string space;
  uint64_t first = 0;
  uint64_t last = 0;
  friend bool operator==(const SpaceInitialised&, const SpaceInitialised&) = default;
};

// The origin hands [first, last] of `space` to node `to`.
struct RangeDonated {
  std::string space;
  NodeId to = 0;
  uint64_t first = 0;
  uint64_t last = 0;
  friend bool operator==(const RangeDonated&, const RangeDonated&) = default;
};

// Node metadata, published by the node itself (at start and when it changes).
struct NodeAnnounced {
  std::string name;
  std::string address;
  friend bool operator==(const NodeAnnounced&, const NodeAnnounced&) = default;
};

// The origin leaves the cluster gracefully.
struct NodeLeft {
  friend bool operator==(const NodeLeft&, const NodeLeft&) = default;
};

// The origin (an operator's node) removes `node` for good: `node`'s events after `last_seq`
// are ignored everywhere, its endpoints and sandboxes are removed, its ranges and networks
// pass to the origin.
struct NodeRemoved {
  NodeId node = 0;
  uint64_t last_seq = 0;
  friend bool operator==(const NodeRemoved&, const NodeRemoved&) = default;
};

// A body type this build does not know (written by a newer node). Kept verbatim in the log,
// re-encoded byte for byte, skipped by the reducer.
struct UnknownBody {
  uint32_t type = 0;
  std::string bytes;  // the body's msgpack encoding
  friend bool operator==(const UnknownBody&, const UnknownBody&) = default;
};

using Body =
    std::variant<NetworkCreated, NetworkRemoved, EndpointCreated, EndpointUpdated, EndpointRemoved,
                 SandboxCreated, SandboxRemoved, EndpointJoined, EndpointLeft, SpaceInitialised,
                 RangeDonated, NodeAnnounced, NodeLeft, NodeRemoved, UnknownBody>;

// Stable wire codes of the body types (never reuse a number).
enum class BodyType : uint32_t {
  kNetworkCreated = 1,
  kNetworkRemoved = 2,
  kEndpointCreated = 3,
  kEndpointUpdated = 4,
  kEndpointRemoved = 5,
  kSandboxCreated = 6,
  kSandboxRemoved = 7,
  kEndpointJoined = 8,
  kEndpointLeft = 9,
  kSpaceInitialised = 10,
  kRangeDonated = 11,
  kNodeAnnounced = 12,
  kNodeLeft = 13,
  kNodeRemoved = 14,
};

// The wire code of a body (UnknownBody: its recorded type).
uint32_t body_type_code(const Body& body);
// "network-created", ..., or "unknown-<code>".
std::string body_type_name(const Body& body);

struct Event {
  NodeId origin = 0;
  uint64_t seq = 0;          // 1, 2, ... in the origin's log
  uint64_t lamport = 0;      // > every lamport the origin had witnessed
  int64_t wall_time_ms = 0;  // origin's clock, informational only
  // Causal dependencies beyond the origin's own previous event: the event is applied only
  // after every (origin, seq) listed here (see docs/event-format.md, "Dependencies").
  std::vector<EventId> deps;
  Body body;

  EventId id() const { return {origin, seq}; }
  friend bool operator==(const Event&, const Event&) = default;
};

// Encodes an event (envelope version kEventSchemaVersion).
std::string encode_event(const Event& event);
// Decodes one event. CorruptDataError for malformed, truncated or trailing bytes and
// impossible identities; UnsupportedSchemaError for a newer envelope version. Unknown body
// types decode to UnknownBody.
Event decode_event(std::string_view bytes);

// Encoding of one body alone (as carried inside the envelope) and its inverse.
std::string encode_body(const Body& body);
Body decode_body(uint32_t type, std::string_view bytes);

// Cluster-wide spaces founded by SpaceInitialised.
inline constexpr std::string_view kVniSpace = "vni";
inline constexpr uint64_t kVniFirst = 4096;
inline constexpr uint64_t kVniLast = (uint64_t{1} << 24) - 1;
inline constexpr std::string_view kSubnetPoolSpace = "subnet-pool";  // 10.0.0.0/8 as /24s
inline constexpr uint64_t kSubnetPoolFirst = 0;
inline constexpr uint64_t kSubnetPoolLast = 65535;

// The owned space of pool `pool_index` of network `network_id`: "net/<id>/<index>".
std::string network_space_key(std::string_view network_id, size_t pool_index);

std::string format_node_id(NodeId id);  // 16 lower-case hex digits
// Parses 1-16 hex digits. InvalidArgumentError.
NodeId parse_node_id(std::string_view text);

}  // namespace trellis::store
