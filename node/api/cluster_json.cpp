#include "node/api/cluster_json.h"

#include <ctime>

#include "store/event.h"

namespace trellis::node {

using nlohmann::json;

std::string format_time_utc(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf,
                static_cast<int>(ms % 1000));
  return out;
}

json members_to_json(const std::vector<ClusterMember>& members) {
  json out = json::array();
  for (const ClusterMember& m : members) {
    out.push_back({{"id", store::format_node_id(m.id)},
                   {"name", m.name},
                   {"address", m.address},
                   {"state", gossip::to_string(m.state)},
                   {"incarnation", m.incarnation},
                   {"state_since", format_time_utc(m.state_since)},
                   {"last_seen", format_time_utc(m.last_seen)},
                   {"self", m.self}});
  }
  return out;
}

json log_status_to_json(const LogStatus& s) {
  json origins = json::array();
  json vv = json::object();
  for (const OriginHead& o : s.origins) {
    origins.push_back({{"origin", store::format_node_id(o.origin)},
                       {"name", o.name},
                       {"head", o.head},
                       {"floor", o.floor},
                       {"self", o.self}});
    vv[store::format_node_id(o.origin)] = o.head;
  }
  return {{"node_id", store::format_node_id(s.self)},
          {"cluster_id", s.cluster_id == 0 ? "" : store::format_node_id(s.cluster_id)},
          {"events", s.events},
          {"pending", s.pending},
          {"published_seq", s.published_seq},
          {"holding_for_snapshot", s.holding_for_snapshot},
          {"origins", origins},
          {"version_vector", vv}};
}

json stats_to_json(const ClusterStats& st) {
  const gossip::CoreStats& c = st.gossip.core;
  const gossip::TransportStats& t = st.gossip.transport;
  const ClusterCounters& s = st.service;
  return {{"gossip",
           {{"messages_received", c.messages_received},
            {"dropped_cluster_mismatch", c.dropped_cluster_mismatch},
            {"dropped_not_joined", c.dropped_not_joined},
            {"probes", c.probes},
            {"probe_failures", c.probe_failures},
            {"indirect_probes", c.indirect_probes},
            {"suspicions", c.suspicions},
            {"refutations", c.refutations},
            {"deaths_declared", c.deaths_declared},
            {"entries_delivered", c.entries_delivered},
            {"entries_duplicate", c.entries_duplicate},
            {"entries_held", c.entries_held},
            {"syncs_started", c.syncs_started},
            {"snapshots_installed", c.snapshots_installed}}},
          {"transport",
           {{"frames_in", t.frames_in},
            {"bytes_in", t.bytes_in},
            {"frames_out", t.frames_out},
            {"bytes_out", t.bytes_out},
            {"dropped_send", t.dropped_send},
            {"dropped_oversized", t.dropped_oversized},
            {"dropped_malformed", t.dropped_malformed},
            {"dropped_bad_version", t.dropped_bad_version},
            {"auth_denied", t.auth_denied},
            {"handshake_failures", t.handshake_failures},
            {"disconnects", t.disconnects},
            {"peers", t.peers}}},
          {"service",
           {{"apply_batches", s.apply_batches},
            {"entries_received", s.entries_received},
            {"events_applied", s.events_applied},
            {"entries_dropped", s.entries_dropped},
            {"entries_overflow", s.entries_overflow},
            {"apply_failures", s.apply_failures},
            {"snapshots_installed", s.snapshots_installed},
            {"snapshot_failures", s.snapshot_failures},
            {"local_published", s.local_published}}}};
}

}  // namespace trellis::node
