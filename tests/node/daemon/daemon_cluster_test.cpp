// Two daemons in one process, clustered over gossip on 127.0.0.1 ephemeral ports, with fake
// reconcilers (no kernel): how a remote event reaches the data plane of the node applying it.

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "node/api/client.h"
#include "node/daemon/daemon.h"
#include "tests/common/eventually.h"
#include "tests/node/fakes/fake_reconciler.h"
#include "tests/node/support/temp_dir.h"

namespace trellis::node {
namespace {

using nlohmann::json;
using testing::FakeReconciler;
using testing::TempDir;

// Daemon passes can take long on a loaded machine under sanitizers.
bool eventually(const std::function<bool()>& condition) {
  return test_support::eventually(condition, std::chrono::seconds(30));
}

// How many reconcile passes programmed each sandbox: passes that named it as dirty, or
// reconciled everything while it was in the state. Written on the daemon's I/O thread, read
// by the test.
class SandboxPasses {
 public:
  void record(const StateCache& state, const Dirty& dirty) {
    std::lock_guard lock(mu_);
    for (const auto& [id, sandbox] : state.sandboxes())
      if (dirty.all || dirty.sandboxes.count(id)) ++passes_[id];
  }
  int of(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = passes_.find(id);
    return it == passes_.end() ? 0 : it->second;
  }

 private:
  mutable std::mutex mu_;  // guards passes_
  std::map<std::string, int> passes_;
};

// One trellisd in this process: its own directories, a fake reconciler that counts passes,
// its I/O thread, and a client of its API.
struct InProcessNode {
  InProcessNode(const TempDir& root, const std::string& name, std::vector<std::string> join) {
    Config config;
    config.data_dir = root / (name + "/data");
    config.run_dir = root / (name + "/run");
    config.name = name;
    config.listen_addr = "127.0.0.1:0";
    config.join = std::move(join);
    daemon = std::make_unique<Daemon>(config, [this](const Config&) {
      auto fake = std::make_unique<FakeReconciler>();
      fake->fail = [this](const StateCache& state, const Dirty& dirty) {
        passes.record(state, dirty);
        return Failures{};
      };
      return fake;
    });
    daemon->start();
    thread = std::thread([this] { daemon->run(false); });
    client = std::make_unique<ApiClient>(config.run_dir + "/trellis.sock");
  }
  ~InProcessNode() {
    client.reset();
    daemon->stop();
    thread.join();
  }
  json call(const std::string& method, const std::string& target, const json& body = {}) {
    return json::parse(client->call(method, target, body.is_null() ? "" : body.dump()));
  }
  std::string gossip_address() {
    for (const json& m : call("GET", "/cluster/members"))
      if (m["self"].get<bool>()) return m["address"];
    return "";
  }

  SandboxPasses passes;
  std::unique_ptr<Daemon> daemon;
  std::thread thread;
  std::unique_ptr<ApiClient> client;
};

// Detour 1 of issue 12: a remote event used to have two triggers on the applying node (the
// cluster's state-changed callback and the controller's scheduled reconcile); one is kept
// (ClusterPolicy::state_changed explains which). Whatever the trigger, the applied event must
// be programmed once, not once per trigger.
TEST(DaemonClusterTest, ARemoteEventReachesTheDataPlaneOncePerApply) {
  TempDir root;
  InProcessNode a(root, "a", {});
  InProcessNode b(root, "b", {a.gossip_address()});

  const std::string first = a.call("POST", "/sandboxes", {{"name", "first"}})["id"];
  ASSERT_TRUE(eventually([&] { return b.passes.of(first) > 0; }))
      << "the sandbox created on a never reached b's reconciler";
  // A later event applied on b: every reconciliation the first one queued on b's I/O thread
  // has run by the time this one is programmed.
  const std::string second = a.call("POST", "/sandboxes", {{"name", "second"}})["id"];
  ASSERT_TRUE(eventually([&] { return b.passes.of(second) > 0; }));

  EXPECT_EQ(b.passes.of(first), 1);
  EXPECT_EQ(a.passes.of(first), 1) << "the author programs its own event once, too";
}

}  // namespace
}  // namespace trellis::node
