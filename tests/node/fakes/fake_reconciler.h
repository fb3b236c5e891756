#pragma once
// A Reconciler that programs nothing: it records what it was asked to reconcile and fails
// the objects a test names, so controller and API tests run without a kernel. A pass examines
// exactly the dirty objects.

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "node/dataplane/reconciler.h"
#include "node/model/state_cache.h"

namespace trellis::node::testing {

class FakeReconciler : public Reconciler {
 public:
  ReconcileResult reconcile(const StateCache& state, const Dirty& dirty) override {
    calls.push_back(dirty);
    ReconcileResult out;
    for (const auto& id : dirty.networks) out.examined.insert(ObjectRef::network(id));
    for (const auto& id : dirty.endpoints) out.examined.insert(ObjectRef::endpoint(id));
    for (const auto& id : dirty.sandboxes) out.examined.insert(ObjectRef::sandbox(id));
    if (fail) out.failures = fail(state, dirty);
    return out;
  }
  std::optional<EndpointRuntime> endpoint_runtime(const std::string&) const override {
    return std::nullopt;
  }
  std::vector<HostPrefix> host_prefixes() override { return host; }

  std::vector<Dirty> calls;
  std::function<Failures(const StateCache&, const Dirty&)> fail;
  std::vector<HostPrefix> host;  // what host_prefixes() reports
};

}  // namespace trellis::node::testing
