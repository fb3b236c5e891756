// Versioned msgpack encoding of events. Layout: docs/event-format.md.

#include "store/event.h"

#include <msgpack.hpp>

#include <cstdio>
#include <type_traits>

#include "common/msgpack_decode.h"

namespace trellis::store {

namespace md = trellis::msgpack_decode;
using Packer = msgpack::packer<msgpack::sbuffer>;

namespace {

// ---- packing helpers ------------------------------------------------------------------------

void pack_str(Packer& pk, const std::string& s) {
  pk.pack_str(static_cast<uint32_t>(s.size())).pack_str_body(s.data(), s.size());
}

void pack_strings(Packer& pk, const std::vector<std::string>& v) {
  pk.pack_array(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) pack_str(pk, s);
}

void pack_map(Packer& pk, const std::map<std::string, std::string>& m) {
  pk.pack_map(static_cast<uint32_t>(m.size()));
  for (const auto& [k, v] : m) {
    pack_str(pk, k);
    pack_str(pk, v);
  }
}

void pack_spec(Packer& pk, const EndpointSpec& e) {
  pk.pack_array(8);
  pack_str(pk, e.id);
  pack_str(pk, e.network);
  pack_str(pk, e.name);
  pack_str(pk, e.mac);
  pack_strings(pk, e.addresses);
  pack_strings(pk, e.aliases);
  pk.pack_array(static_cast<uint32_t>(e.ports.size()));
  for (const auto& p : e.ports) {
    pk.pack_array(4);
    pack_str(pk, p.protocol);
    pk.pack_uint32(p.container_port);
    pk.pack_uint32(p.host_port);
    pack_str(pk, p.host_ip);
  }
  pk.pack_uint64(e.owner);
}

void pack_body(Packer& pk, const Body& body) {
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, NetworkCreated>) {
          pk.pack_array(12);
          pack_str(pk, b.id);
          pack_str(pk, b.name);
          pack_str(pk, b.driver);
          pk.pack(b.cluster_scope);
          pk.pack(b.internal);
          pk.pack(b.attachable);
          pk.pack(b.enable_ipv6);
          pk.pack_uint32(b.mtu);
          pk.pack_array(3);
          pack_str(pk, b.ipam.driver);
          pk.pack_array(static_cast<uint32_t>(b.ipam.pools.size()));
          for (const auto& p : b.ipam.pools) {
            pk.pack_array(4);
            pack_str(pk, p.subnet);
            pack_str(pk, p.ip_range);
            pack_str(pk, p.gateway);
            pack_map(pk, p.aux_addresses);
          }
          pack_map(pk, b.ipam.options);
          pk.pack_array(4);
          pk.pack_array(static_cast<uint32_t>(b.ipam_result.pools.size()));
          for (const auto& p : b.ipam_result.pools) {
            pk.pack_array(2);
            pack_str(pk, p.subnet);
            pack_str(pk, p.gateway);
          }
          pk.pack_uint32(b.ipam_result.vni);
          pk.pack(b.ipam_result.has_pool_index);
          pk.pack_uint64(b.ipam_result.pool_index);
          pack_map(pk, b.options);
          pack_map(pk, b.labels);
        } else if constexpr (std::is_same_v<T, NetworkRemoved> ||
                             std::is_same_v<T, EndpointRemoved> ||
                             std::is_same_v<T, SandboxRemoved>) {
          pk.pack_array(1);
          pack_str(pk, b.id);
        } else if constexpr (std::is_same_v<T, EndpointCreated> ||
                             std::is_same_v<T, EndpointUpdated>) {
          pack_spec(pk, b.endpoint);
        } else if constexpr (std::is_same_v<T, SandboxCreated>) {
          pk.pack_array(8);
          pack_str(pk, b.id);
          pack_str(pk, b.container_id);
          pack_str(pk, b.hostname);
          pack_str(pk, b.domain);
          pack_strings(pk, b.dns_servers);
          pack_strings(pk, b.dns_search);
          pack_strings(pk, b.dns_options);
          pk.pack_array(static_cast<uint32_t>(b.extra_hosts.size()));
          for (const auto& h : b.extra_hosts) {
            pk.pack_array(2);
            pack_str(pk, h.name);
            pack_str(pk, h.address);
          }
        } else if constexpr (std::is_same_v<T, EndpointJoined> || std::is_same_v<T, EndpointLeft>) {
          pk.pack_array(2);
          pack_str(pk, b.endpoint);
          pack_str(pk, b.sandbox);
        } else if constexpr (std::is_same_v<T, SpaceInitialised>) {
          pk.pack_array(3);
          pack_str(pk, b.space);
          pk.pack_uint64(b.first);
          pk.pack_uint64(b.last);
        } else if constexpr (std::is_same_v<T, RangeDonated>) {
          pk.pack_array(4);
          pack_str(pk, b.space);
          pk.pack_uint64(b.to);
          pk.pack_uint64(b.first);
          pk.pack_uint64(b.last);
        } else if constexpr (std::is_same_v<T, NodeAnnounced>) {
          pk.pack_array(2);
          pack_str(pk, b.name);
          pack_str(pk, b.address);
        } else if constexpr (std::is_same_v<T, NodeLeft>) {
          pk.pack_array(0);
        } else if constexpr (std::is_same_v<T, NodeRemoved>) {
          pk.pack_array(2);
          pk.pack_uint64(b.node);
          pk.pack_uint64(b.last_seq);
        } else {
          static_assert(std::is_same_v<T, UnknownBody>);
        }
      },
      body);
}

// ---- unpacking helpers ----------------------------------------------------------------------

std::string str_at(const msgpack::object_array& a, uint32_t i, std::string_view what) {
  return md::as_string(a.ptr[i], what);
}

std::vector<std::string> strings_of(const msgpack::object& o, std::string_view what) {
  if (o.type != msgpack::type::ARRAY)
    throw CorruptDataError(std::string(what) + ": expected an array");
  std::vector<std::string> out;
  out.reserve(o.via.array.size);
  for (uint32_t i = 0; i < o.via.array.size; ++i)
    out.push_back(md::as_string(o.via.array.ptr[i], what));
  return out;
}

std::map<std::string, std::string> map_of(const msgpack::object& o, std::string_view what) {
  if (o.type != msgpack::type::MAP) throw CorruptDataError(std::string(what) + ": expected a map");
  std::map<std::string, std::string> out;
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    auto [it, inserted] = out.emplace(md::as_string(o.via.map.ptr[i].key, what),
                                      md::as_string(o.via.map.ptr[i].val, what));
    if (!inserted)
      throw CorruptDataError(std::string(what) + ": duplicate key '" + it->first + "'");
  }
  return out;
}

uint32_t u32_of(const msgpack::object& o, std::string_view what) {
  uint64_t v = md::as_u64(o, what);
  if (v > UINT32_MAX) throw CorruptDataError(std::string(what) + ": value out of range");
  return static_cast<uint32_t>(v);
}

EndpointSpec spec_of(const msgpack::object& o) {
  const auto& a = md::array_of(o, 8, "endpoint");
  EndpointSpec e;
  e.id = str_at(a, 0, "endpoint id");
  e.network = str_at(a, 1, "endpoint network");
  e.name = str_at(a, 2, "endpoint name");
  e.mac = str_at(a, 3, "endpoint mac");
  e.addresses = strings_of(a.ptr[4], "endpoint addresses");
  e.aliases = strings_of(a.ptr[5], "endpoint aliases");
  if (a.ptr[6].type != msgpack::type::ARRAY)
    throw CorruptDataError("endpoint ports: expected an array");
  for (uint32_t i = 0; i < a.ptr[6].via.array.size; ++i) {
    const auto& p = md::array_of(a.ptr[6].via.array.ptr[i], 4, "endpoint port");
    e.ports.push_back({str_at(p, 0, "port protocol"), u32_of(p.ptr[1], "container port"),
                       u32_of(p.ptr[2], "host port"), str_at(p, 3, "port host ip")});
  }
  e.owner = md::as_u64(a.ptr[7], "endpoint owner");
  return e;
}

Body body_of(uint32_t type, const msgpack::object& o) {
  switch (static_cast<BodyType>(type)) {
    case BodyType::kNetworkCreated: {
      const auto& a = md::array_of(o, 12, "network-created");
      NetworkCreated n;
      n.id = str_at(a, 0, "network id");
      n.name = str_at(a, 1, "network name");
      n.driver = str_at(a, 2, "network driver");
      n.cluster_scope = md::as_bool(a.ptr[3], "network scope");
      n.internal = md::as_bool(a.ptr[4], "network internal");
      n.attachable = md::as_bool(a.ptr[5], "network attachable");
      n.enable_ipv6 = md::as_bool(a.ptr[6], "network ipv6");
      n.mtu = u32_of(a.ptr[7], "network mtu");
      const auto& ic = md::array_of(a.ptr[8], 3, "network ipam config");
      n.ipam.driver = str_at(ic, 0, "ipam driver");
      if (ic.ptr[1].type != msgpack::type::ARRAY)
        throw CorruptDataError("ipam pools: expected an array");
      for (uint32_t i = 0; i < ic.ptr[1].via.array.size; ++i) {
        const auto& p = md::array_of(ic.ptr[1].via.array.ptr[i], 4, "ipam pool");
        n.ipam.pools.push_back({str_at(p, 0, "pool subnet"), str_at(p, 1, "pool ip range"),
                                str_at(p, 2, "pool gateway"),
                                map_of(p.ptr[3], "pool aux addresses")});
      }
      n.ipam.options = map_of(ic.ptr[2], "ipam options");
      const auto& ir = md::array_of(a.ptr[9], 4, "network ipam result");
      if (ir.ptr[0].type != msgpack::type::ARRAY)
        throw CorruptDataError("ipam result pools: expected an array");
      for (uint32_t i = 0; i < ir.ptr[0].via.array.size; ++i) {
        const auto& p = md::array_of(ir.ptr[0].via.array.ptr[i], 2, "ipam result pool");
        n.ipam_result.pools.push_back(
            {str_at(p, 0, "result subnet"), str_at(p, 1, "result gateway")});
      }
      n.ipam_result.vni = u32_of(ir.ptr[1], "network vni");
      n.ipam_result.has_pool_index = md::as_bool(ir.ptr[2], "network has pool index");
      n.ipam_result.pool_index = md::as_u64(ir.ptr[3], "network pool index");
      n.options = map_of(a.ptr[10], "network options");
      n.labels = map_of(a.ptr[11], "network labels");
      return n;
    }
    case BodyType::kNetworkRemoved:
      return NetworkRemoved{str_at(md::array_of(o, 1, "network-removed"), 0, "network id")};
    case BodyType::kEndpointCreated:
      return EndpointCreated{spec_of(o)};
    case BodyType::kEndpointUpdated:
      return EndpointUpdated{spec_of(o)};
    case BodyType::kEndpointRemoved:
      return EndpointRemoved{str_at(md::array_of(o, 1, "endpoint-removed"), 0, "endpoint id")};
    case BodyType::kSandboxCreated: {
      const auto& a = md::array_of(o, 8, "sandbox-created");
      SandboxCreated s;
      s.id = str_at(a, 0, "sandbox id");
      s.container_id = str_at(a, 1, "sandbox container id");
      s.hostname = str_at(a, 2, "sandbox hostname");
      s.domain = str_at(a, 3, "sandbox domain");
      s.dns_servers = strings_of(a.ptr[4], "sandbox dns servers");
      s.dns_search = strings_of(a.ptr[5], "sandbox dns search");
      s.dns_options = strings_of(a.ptr[6], "sandbox dns options");
      if (a.ptr[7].type != msgpack::type::ARRAY)
        throw CorruptDataError("extra hosts: expected an array");
      for (uint32_t i = 0; i < a.ptr[7].via.array.size; ++i) {
        const auto& h = md::array_of(a.ptr[7].via.array.ptr[i], 2, "extra host");
        s.extra_hosts.push_back(
            {str_at(h, 0, "extra host name"), str_at(h, 1, "extra host address")});
      }
      return s;
    }
    case BodyType::kSandboxRemoved:
      return SandboxRemoved{str_at(md::array_of(o, 1, "sandbox-removed"), 0, "sandbox id")};
    case BodyType::kEndpointJoined: {
      const auto& a = md::array_of(o, 2, "endpoint-joined");
      return EndpointJoined{str_at(a, 0, "join endpoint"), str_at(a, 1, "join sandbox")};
    }
    case BodyType::kEndpointLeft: {
      const auto& a = md::array_of(o, 2, "endpoint-left");
      return EndpointLeft{str_at(a, 0, "leave endpoint"), str_at(a, 1, "leave sandbox")};
    }
    case BodyType::kSpaceInitialised: {
      const auto& a = md::array_of(o, 3, "space-initialised");
      return SpaceInitialised{str_at(a, 0, "space name"), md::as_u64(a.ptr[1], "space first"),
                              md::as_u64(a.ptr[2], "space last")};
    }
    case BodyType::kRangeDonated: {
      const auto& a = md::array_of(o, 4, "range-donated");
      return RangeDonated{str_at(a, 0, "donation space"), md::as_u64(a.ptr[1], "donation to"),
                          md::as_u64(a.ptr[2], "donation first"),
                          md::as_u64(a.ptr[3], "donation last")};
    }
    case BodyType::kNodeAnnounced: {
      const auto& a = md::array_of(o, 2, "node-announced");
      return NodeAnnounced{str_at(a, 0, "node name"), str_at(a, 1, "node address")};
    }
    case BodyType::kNodeLeft:
      md::array_of(o, 0, "node-left");
      return NodeLeft{};
    case BodyType::kNodeRemoved: {
      const auto& a = md::array_of(o, 2, "node-removed");
      return NodeRemoved{md::as_u64(a.ptr[0], "removed node"),
                         md::as_u64(a.ptr[1], "removed node last seq")};
    }
  }
  throw InternalError("decode_body: unhandled body type " + std::to_string(type));
}

bool known_type(uint32_t type) {
  return type >= static_cast<uint32_t>(BodyType::kNetworkCreated) &&
         type <= static_cast<uint32_t>(BodyType::kNodeRemoved);
}

}  // namespace

uint32_t body_type_code(const Body& body) {
  if (const auto* u = std::get_if<UnknownBody>(&body)) return u->type;
  return static_cast<uint32_t>(body.index()) + 1;  // variant order matches BodyType
}

std::string body_type_name(const Body& body) {
  static constexpr const char* kNames[] = {
      "network-created",  "network-removed",   "endpoint-created", "endpoint-updated",
      "endpoint-removed", "sandbox-created",   "sandbox-removed",  "endpoint-joined",
      "endpoint-left",    "space-initialised", "range-donated",    "node-announced",
      "node-left",        "node-removed"};
  if (const auto* u = std::get_if<UnknownBody>(&body)) return "unknown-" + std::to_string(u->type);
  return kNames[body.index()];
}

std::string encode_body(const Body& body) {
  if (const auto* u = std::get_if<UnknownBody>(&body)) return u->bytes;
  msgpack::sbuffer buf;
  Packer pk(buf);
  pack_body(pk, body);
  return std::string(buf.data(), buf.size());
}

Body decode_body(uint32_t type, std::string_view bytes) {
  if (!known_type(type)) {
    // Still check that it is one well-formed msgpack value, so that garbage is not kept.
    md::unpack_whole(bytes, "event body");
    return UnknownBody{type, std::string(bytes)};
  }
  auto handle = md::unpack_whole(bytes, "event body");
  try {
    return body_of(type, handle.get());
  } catch (const CorruptDataError&) {
    throw;
  } catch (const std::exception& e) {
    throw CorruptDataError(std::string("event body: ") + e.what());
  }
}

std::string encode_event(const Event& event) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pk.pack_array(8);
  pk.pack_uint32(kEventSchemaVersion);
  pk.pack_uint64(event.origin);
  pk.pack_uint64(event.seq);
  pk.pack_uint64(event.lamport);
  pk.pack_int64(event.wall_time_ms);
  pk.pack_array(static_cast<uint32_t>(event.deps.size()));
  for (const auto& d : event.deps) {
    pk.pack_array(2);
    pk.pack_uint64(d.origin);
    pk.pack_uint64(d.seq);
  }
  pk.pack_uint32(body_type_code(event.body));
  const std::string body = encode_body(event.body);
  pk.pack_bin(static_cast<uint32_t>(body.size()));
  pk.pack_bin_body(body.data(), body.size());
  return std::string(buf.data(), buf.size());
}

Event decode_event(std::string_view bytes) {
  auto handle = md::unpack_whole(bytes, "event");
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size < 1) {
    throw CorruptDataError("event: expected an array");
  }
  const uint64_t version = md::as_u64(root.via.array.ptr[0], "event schema version");
  if (version == 0) throw CorruptDataError("event: schema version 0 is invalid");
  if (version > kEventSchemaVersion) {
    throw UnsupportedSchemaError("event: schema version " + std::to_string(version) +
                                 " is newer than this build understands (" +
                                 std::to_string(kEventSchemaVersion) + "); upgrade this node");
  }
  const auto& a = md::array_of(root, 8, "event");
  Event e;
  e.origin = md::as_u64(a.ptr[1], "event origin");
  e.seq = md::as_u64(a.ptr[2], "event seq");
  e.lamport = md::as_u64(a.ptr[3], "event lamport");
  e.wall_time_ms = md::as_i64(a.ptr[4], "event wall time");
  if (e.origin == 0) throw CorruptDataError("event: origin 0 is invalid");
  if (e.seq == 0) throw CorruptDataError("event: seq 0 is invalid");
  if (e.lamport == 0) throw CorruptDataError("event: lamport 0 is invalid");
  if (a.ptr[5].type != msgpack::type::ARRAY)
    throw CorruptDataError("event deps: expected an array");
  for (uint32_t i = 0; i < a.ptr[5].via.array.size; ++i) {
    const auto& d = md::array_of(a.ptr[5].via.array.ptr[i], 2, "event dependency");
    EventId dep{md::as_u64(d.ptr[0], "dependency origin"), md::as_u64(d.ptr[1], "dependency seq")};
    if (dep.origin == 0 || dep.seq == 0) throw CorruptDataError("event: invalid dependency");
    e.deps.push_back(dep);
  }
  const uint32_t type = u32_of(a.ptr[6], "event body type");
  if (a.ptr[7].type != msgpack::type::BIN) throw CorruptDataError("event body: expected bin");
  e.body = decode_body(type, std::string_view(a.ptr[7].via.bin.ptr, a.ptr[7].via.bin.size));
  return e;
}

std::string network_space_key(std::string_view network_id, size_t pool_index) {
  return "net/" + std::string(network_id) + "/" + std::to_string(pool_index);
}

std::string format_node_id(NodeId id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

NodeId parse_node_id(std::string_view text) {
  if (text.empty() || text.size() > 16)
    throw InvalidArgumentError("parse node id: '" + std::string(text) + "' is not 1-16 hex digits");
  NodeId v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      throw InvalidArgumentError("parse node id: '" + std::string(text) + "' is not hex");
    v = (v << 4) | static_cast<NodeId>(d);
  }
  return v;
}

}  // namespace trellis::store
