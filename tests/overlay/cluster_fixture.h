#pragma once
// Test helper: a few real Stores in a temporary directory acting as cluster nodes in one
// process. Node 0 founds the cluster (initialises the "vni" and "subnet-pool" spaces); every
// node announces itself with an underlay address 192.0.2.(11 + i). Logs are exchanged
// explicitly (sync / sync_all), so a test decides what each node has seen.

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ipam/ip.h"
#include "store/store.h"
#include "tests/common/temp_dir.h"

namespace trellis::overlay::testing {

using test_support::TempDir;

// Copies every event `to` lacks from `from` (all origins). Returns what `to` applied.
inline store::ChangeSet sync(const store::Store& from, store::Store& to) {
  store::ChangeSet all;
  const store::VersionVector have = to.version_vector();
  for (const auto& [origin, head] : from.version_vector()) {
    auto it = have.find(origin);
    const uint64_t after = it == have.end() ? 0 : it->second;
    if (after >= head) continue;
    store::ChangeSet c = to.apply_remote(from.events_after(origin, after, 1u << 30));
    all.applied.insert(all.applied.end(), c.applied.begin(), c.applied.end());
    all.rejected.insert(all.rejected.end(), c.rejected.begin(), c.rejected.end());
    all.held += c.held;
  }
  return all;
}

class Cluster {
 public:
  // `nodes` stores; node i has id 0x100 * (i + 1) and address 192.0.2.(11 + i).
  explicit Cluster(int nodes) {
    for (int i = 0; i < nodes; ++i) {
      store::Options o;
      o.node_id = id_of(i);
      o.node_name = "n" + std::to_string(i + 1);
      o.durable = false;
      o.wall_clock_ms = [] { return int64_t{1700000000000}; };
      stores_.push_back(std::make_unique<store::Store>(
          store::Store::open(dir_.sub("node" + std::to_string(i)), o)));
    }
    for (int i = 0; i < nodes; ++i)
      node(i).append_local(store::NodeAnnounced{node(i).identity().name, address_of(i)});
  }

  static store::NodeId id_of(int i) { return 0x100 * static_cast<store::NodeId>(i + 1); }
  static std::string address_of(int i) { return "192.0.2." + std::to_string(11 + i); }

  int size() const { return static_cast<int>(stores_.size()); }
  store::Store& node(int i) { return *stores_.at(static_cast<size_t>(i)); }

  // Node `i` founds the cluster: it initialises the cluster-wide spaces.
  void found(int i) {
    node(i).append_local(
        store::SpaceInitialised{std::string(store::kVniSpace), store::kVniFirst, store::kVniLast});
    node(i).append_local(store::SpaceInitialised{std::string(store::kSubnetPoolSpace),
                                                 store::kSubnetPoolFirst, store::kSubnetPoolLast});
  }

  // Every node learns everything (two rounds through node 0 suffice for any pattern).
  std::vector<store::Rejection> sync_all() {
    std::vector<store::Rejection> rejected;
    for (int round = 0; round < 2; ++round) {
      for (int i = 1; i < size(); ++i) {
        auto a = sync(node(i), node(0));
        rejected.insert(rejected.end(), a.rejected.begin(), a.rejected.end());
      }
      for (int i = 1; i < size(); ++i) {
        auto b = sync(node(0), node(i));
        rejected.insert(rejected.end(), b.rejected.begin(), b.rejected.end());
      }
    }
    return rejected;
  }

 private:
  TempDir dir_;
  std::vector<std::unique_ptr<store::Store>> stores_;
};

// An overlay network body with one pool (gateway: first host) and a VNI.
inline store::NetworkCreated overlay_network(const std::string& id, const std::string& subnet,
                                             uint32_t vni,
                                             std::optional<uint64_t> pool_index = {}) {
  store::NetworkCreated n;
  n.id = id;
  n.name = "net-" + id;
  n.driver = "overlay";
  n.cluster_scope = true;
  const ipam::Prefix p = ipam::Prefix::parse(subnet);
  store::IpamPoolConfig config;
  config.subnet = subnet;
  config.gateway = p.address_at(p.first_host_offset()).to_string();
  n.ipam.pools = {config};
  n.ipam_result.pools = {{subnet, config.gateway}};
  n.ipam_result.vni = vni;
  if (pool_index) {
    n.ipam_result.has_pool_index = true;
    n.ipam_result.pool_index = *pool_index;
  }
  return n;
}

// The MAC the daemon derives for an address (02:42 + the four IPv4 bytes, Docker's rule).
inline std::string mac_for(const ipam::IpAddress& ip) {
  const uint32_t v = ip.to_v4_uint();
  char mac[18];
  std::snprintf(mac, sizeof mac, "02:42:%02x:%02x:%02x:%02x", v >> 24, (v >> 16) & 0xff,
                (v >> 8) & 0xff, v & 0xff);
  return mac;
}

// An endpoint body (owner filled in by append_local).
inline store::EndpointCreated endpoint(const std::string& id, const std::string& network,
                                       const std::string& mac, const std::string& address) {
  store::EndpointCreated e;
  e.endpoint.id = id;
  e.endpoint.network = network;
  e.endpoint.name = "ep-" + id;
  e.endpoint.mac = mac;
  e.endpoint.addresses = {address};
  return e;
}

}  // namespace trellis::overlay::testing
