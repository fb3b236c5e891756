#pragma once
// Test helpers shared by the store tests: the options of a throwaway store, a fixture that
// opens stores in a temporary directory, and builders for the bodies the tests use most.

#include <gtest/gtest.h>

#include <string>

#include "ipam/ip.h"
#include "store/store.h"
#include "tests/common/temp_dir.h"

namespace trellis::store::testing {

// A temporary directory removed on destruction.
using test_support::TempDir;

// A store with a fixed identity and wall clock; not durable unless asked (fsync only matters
// to the crash tests).
inline Options test_options(NodeId id, bool durable = false) {
  Options o;
  o.node_id = id;
  o.node_name = "node-" + std::to_string(id);
  o.durable = durable;
  o.wall_clock_ms = [] { return int64_t{1700000000000}; };
  return o;
}

// Fresh stores in one temporary directory, one per node (or per name).
struct StoreFixture : ::testing::Test {
  TempDir dir;
  Store open(NodeId id, const std::string& name = "") {
    return Store::open(dir.sub(name.empty() ? format_node_id(id) : name), test_options(id));
  }
};

// A network with one pool on `subnet` whose gateway is the subnet's first host; cluster
// scope (overlay) or local (bridge).
inline NetworkCreated network(const std::string& id, const std::string& name,
                              const std::string& subnet, bool cluster = true) {
  NetworkCreated n;
  n.id = id;
  n.name = name;
  n.driver = cluster ? "overlay" : "bridge";
  n.cluster_scope = cluster;
  auto prefix = ipam::Prefix::parse(subnet);
  n.ipam_result.pools.push_back({subnet, prefix.address_at(1).to_string()});
  return n;
}

// An endpoint with one address; owner 0 lets append_local fill in the author.
inline EndpointSpec endpoint(const std::string& id, const std::string& net, const std::string& addr,
                             NodeId owner = 0) {
  return EndpointSpec{id, net, id, "02:42:00:00:00:01", {addr}, {}, {}, owner};
}

inline SandboxCreated sandbox(const std::string& id) {
  return SandboxCreated{id, "", "", "", {}, {}, {}, {}};
}

}  // namespace trellis::store::testing
