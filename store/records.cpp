// msgpack encoding of the state-table records (docs/event-format.md, "Store layout").
// Records embed the body encoding of the event that wrote them, so the body codec is the one
// place that knows those fields.

#include <msgpack.hpp>

#include "common/msgpack_decode.h"
#include "store/store_impl.h"

namespace trellis::store {

namespace md = trellis::msgpack_decode;
using Packer = msgpack::packer<msgpack::sbuffer>;

namespace {

constexpr uint32_t kRecordVersion = 1;

void pack_bin(Packer& pk, std::string_view s) {
  pk.pack_bin(static_cast<uint32_t>(s.size()));
  pk.pack_bin_body(s.data(), s.size());
}
void pack_str(Packer& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), s.size());
}
void pack_id(Packer& pk, const EventId& id) {
  pk.pack_uint64(id.origin);
  pk.pack_uint64(id.seq);
}
std::string done(const msgpack::sbuffer& b) { return std::string(b.data(), b.size()); }

const msgpack::object_array& open_record(const msgpack::object_handle& h, uint32_t size,
                                         const char* what) {
  const auto& a = md::array_of(h.get(), size, what);
  if (md::as_u64(a.ptr[0], what) != kRecordVersion) {
    throw CorruptDataError(std::string(what) + ": unknown record version");
  }
  return a;
}
EventId id_at(const msgpack::object_array& a, uint32_t i, const char* what) {
  return {md::as_u64(a.ptr[i], what), md::as_u64(a.ptr[i + 1], what)};
}
std::string bin_at(const msgpack::object_array& a, uint32_t i, const char* what) {
  return md::as_string(a.ptr[i], what);
}

template <typename T>
T body_as(BodyType type, std::string_view bytes, const char* what) {
  Body b = decode_body(static_cast<uint32_t>(type), bytes);
  if (auto* v = std::get_if<T>(&b)) return std::move(*v);
  throw CorruptDataError(std::string(what) + ": wrong body type");
}

}  // namespace

std::vector<std::pair<const char*, MDB_dbi Tables::*>> state_tables() {
  return {{"networks", &Tables::networks},
          {"network_names", &Tables::network_names},
          {"endpoints", &Tables::endpoints},
          {"endpoints_by_network", &Tables::endpoints_by_network},
          {"sandboxes", &Tables::sandboxes},
          {"joins", &Tables::joins},
          {"joins_by_sandbox", &Tables::joins_by_sandbox},
          {"spaces", &Tables::spaces},
          {"space_events", &Tables::space_events},
          {"nodes", &Tables::nodes}};
}

std::string encode_network(const NetworkRecord& r) {
  msgpack::sbuffer b;
  Packer pk(b);
  pk.pack_array(7);
  pk.pack_uint32(kRecordVersion);
  pk.pack_uint64(r.creator);
  pk.pack_uint64(r.owner);
  pk.pack_uint64(r.lamport);
  pack_id(pk, r.writer);
  pack_bin(pk, encode_body(r.spec));
  return done(b);
}

NetworkRecord decode_network(std::string_view bytes) {
  auto h = md::unpack_whole(bytes, "network record");
  const auto& a = open_record(h, 7, "network record");
  NetworkRecord r;
  r.creator = md::as_u64(a.ptr[1], "network creator");
  r.owner = md::as_u64(a.ptr[2], "network owner");
  r.lamport = md::as_u64(a.ptr[3], "network lamport");
  r.writer = id_at(a, 4, "network writer");
  r.spec = body_as<NetworkCreated>(BodyType::kNetworkCreated, bin_at(a, 6, "network body"),
                                   "network record");
  return r;
}

std::string encode_endpoint(const EndpointRecord& r) {
  msgpack::sbuffer b;
  Packer pk(b);
  pk.pack_array(4);
  pk.pack_uint32(kRecordVersion);
  pack_id(pk, r.writer);
  pack_bin(pk, encode_body(EndpointCreated{r.spec}));
  return done(b);
}

EndpointRecord decode_endpoint(std::string_view bytes) {
  auto h = md::unpack_whole(bytes, "endpoint record");
  const auto& a = open_record(h, 4, "endpoint record");
  EndpointRecord r;
  r.writer = id_at(a, 1, "endpoint writer");
  r.spec = body_as<EndpointCreated>(BodyType::kEndpointCreated, bin_at(a, 3, "endpoint body"),
                                    "endpoint record")
               .endpoint;
  return r;
}

std::string encode_sandbox(const SandboxRecord& r) {
  msgpack::sbuffer b;
  Packer pk(b);
  pk.pack_array(5);
  pk.pack_uint32(kRecordVersion);
  pk.pack_uint64(r.owner);
  pack_id(pk, r.writer);
  pack_bin(pk, encode_body(r.spec));
  return done(b);
}

SandboxRecord decode_sandbox(std::string_view bytes) {
  auto h = md::unpack_whole(bytes, "sandbox record");
  const auto& a = open_record(h, 5, "sandbox record");
  SandboxRecord r;
  r.owner = md::as_u64(a.ptr[1], "sandbox owner");
  r.writer = id_at(a, 2, "sandbox writer");
  r.spec = body_as<SandboxCreated>(BodyType::kSandboxCreated, bin_at(a, 4, "sandbox body"),
                                   "sandbox record");
  return r;
}

std::string encode_join(const JoinRecord& r) {
  msgpack::sbuffer b;
  Packer pk(b);
  pk.pack_array(4);
  pk.pack_uint32(kRecordVersion);
  pack_str(pk, r.sandbox);
  pack_id(pk, r.writer);
  return done(b);
}

JoinRecord decode_join(std::string_view bytes) {
  auto h = md::unpack_whole(bytes, "join record");
  const auto& a = open_record(h, 4, "join record");
  return JoinRecord{md::as_string(a.ptr[1], "join sandbox"), id_at(a, 2, "join writer")};
}

std::string encode_space(const SpaceRecord& r) {
  msgpack::sbuffer b;
  Packer pk(b);
  pk.pack_array(5);
  pk.pack_uint32(kRecordVersion);
  pack_id(pk, r.writer);
  pk.pack_uint64(r.writer_lamport);
  pack_bin(pk, r.space.serialize());
  return done(b);
}

SpaceRecord decode_space(std::string_view bytes) {
  auto h = md::unpack_whole(bytes, "space record");
  const auto& a = open_record(h, 5, "space record");
  SpaceRecord r;
  r.writer = id_at(a, 1, "space writer");
  r.writer_lamport = md::as_u64(a.ptr[3], "space writer lamport");
  r.space = ipam::OwnedSpace::deserialize(bin_at(a, 4, "space body"));
  return r;
}

std::string encode_node(const NodeRecord& r) {
  msgpack::sbuffer b;
  Packer pk(b);
  pk.pack_array(10);
  pk.pack_uint32(kRecordVersion);
  pack_str(pk, r.name);
  pack_str(pk, r.address);
  pk.pack_uint32(static_cast<uint32_t>(r.status));
  pk.pack_uint64(r.removed_by);
  pk.pack_uint64(r.last_seq);
  pack_id(pk, r.info_writer);
  pack_id(pk, r.status_writer);
  return done(b);
}

NodeRecord decode_node(std::string_view bytes) {
  auto h = md::unpack_whole(bytes, "node record");
  const auto& a = open_record(h, 10, "node record");
  NodeRecord r;
  r.name = md::as_string(a.ptr[1], "node name");
  r.address = md::as_string(a.ptr[2], "node address");
  uint64_t status = md::as_u64(a.ptr[3], "node status");
  if (status > 2) throw CorruptDataError("node record: bad status");
  r.status = static_cast<NodeStatus>(status);
  r.removed_by = md::as_u64(a.ptr[4], "node removed by");
  r.last_seq = md::as_u64(a.ptr[5], "node last seq");
  r.info_writer = id_at(a, 6, "node info writer");
  r.status_writer = id_at(a, 8, "node status writer");
  return r;
}

std::string name_prefix(NodeId scope, std::string_view name) {
  std::string k;
  lmdb::put_u64(k, scope);
  k.append(name);
  k.push_back('\0');
  return k;
}

std::string name_key(NodeId scope, std::string_view name, uint64_t lamport, NodeId creator,
                     std::string_view id) {
  std::string k = name_prefix(scope, name);
  lmdb::put_u64(k, lamport);
  lmdb::put_u64(k, creator);
  k.append(id);
  return k;
}

std::string pair_key(std::string_view a, std::string_view b) {
  std::string k(a);
  k.push_back('\0');
  k.append(b);
  return k;
}

std::string to_string(NodeStatus status) {
  switch (status) {
    case NodeStatus::kActive:
      return "active";
    case NodeStatus::kLeft:
      return "left";
    case NodeStatus::kRemoved:
      return "removed";
  }
  return "unknown";
}

}  // namespace trellis::store
