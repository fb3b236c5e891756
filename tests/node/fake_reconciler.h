#pragma once
// A Reconciler that programs nothing: it records what it was asked to reconcile and fails
// the objects a test names, so controller and API tests run without a kernel.

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "node/reconciler.h"
#include "node/state_cache.h"

namespace trellis::node::testing {

class FakeReconciler : public Reconciler {
 public:
  Failures reconcile(const StateCache& state, const Dirty& dirty) override {
    calls.push_back(dirty);
    Failures out;
    if (fail) out = fail(state, dirty);
    return out;
  }
  std::optional<EndpointRuntime> endpoint_runtime(const std::string&) const override {
    return std::nullopt;
  }

  void set_live_nodes(std::set<store::NodeId> nodes) override { live = std::move(nodes); }

  std::vector<Dirty> calls;
  std::set<store::NodeId> live;  // the last set_live_nodes()
  std::function<Failures(const StateCache&, const Dirty&)> fail;
};

}  // namespace trellis::node::testing
