#pragma once
// JSON renderings of the cluster service's views for the API (`GET /cluster/members`,
// `GET /cluster/log`) and `trellis cluster members|log --format json`. Kept apart from
// node/cluster/service.h so that nlohmann/json stays out of it. Pure functions.

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "node/cluster/service.h"

namespace trellis::node {

// [{"id": "<16 hex>", "name", "address", "state": "alive|suspect|dead|left", "incarnation",
//   "state_since": "<RFC 3339 UTC>", "last_seen": "<RFC 3339 UTC>", "self": bool}, ...]
nlohmann::json members_to_json(const std::vector<ClusterMember>& members);

// {"node_id", "cluster_id", "events", "pending", "published_seq",
//  "origins": [{"origin": "<16 hex>", "name", "head", "floor", "self"}, ...],
//  "version_vector": {"<16 hex>": head, ...}}
nlohmann::json log_status_to_json(const LogStatus& status);

// {"gossip": {core and transport counters}, "service": {ClusterCounters}}
nlohmann::json stats_to_json(const ClusterStats& stats);

// "2024-05-01T12:00:00.123Z"
std::string format_time_utc(std::chrono::system_clock::time_point t);

}  // namespace trellis::node
