// The HTTP API end to end over the Unix socket, with the daemon in-process and a fake
// reconciler (no kernel): routes, bodies, status codes and error kinds.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "node/api/client.h"
#include "node/api/router.h"
#include "node/daemon/daemon.h"
#include "tests/node/fakes/fake_reconciler.h"
#include "tests/node/support/temp_dir.h"

namespace trellis::node {
namespace {

using nlohmann::json;
using testing::FakeReconciler;
using testing::TempDir;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Config config;
    config.data_dir = dir_ / "data";
    config.run_dir = dir_ / "run";
    config.name = "api-test";
    config.log_level = "warn";
    daemon_ = std::make_unique<Daemon>(
        config, [](const Config&) { return std::make_unique<FakeReconciler>(); });
    daemon_->start();
    thread_ = std::thread([this] { daemon_->run(false); });
    client_ = std::make_unique<ApiClient>(dir_ / "run/trellis.sock");
  }
  void TearDown() override {
    client_.reset();
    daemon_->stop();
    thread_.join();
    daemon_.reset();
  }

  // Returns {status, parsed body or null}.
  std::pair<int, json> req(const std::string& method, const std::string& target,
                           const std::string& body = "") {
    auto r = client_->request(method, target, body);
    json j = r.body.empty() ? json() : json::parse(r.body);
    return {r.status, j};
  }
  json post(const std::string& target, const json& body, int expected = 201) {
    auto [status, j] = req("POST", target, body.dump());
    EXPECT_EQ(status, expected) << target << " " << j.dump();
    return j;
  }
  json get(const std::string& target) {
    auto [status, j] = req("GET", target);
    EXPECT_EQ(status, 200) << target << " " << j.dump();
    return j;
  }
  void expect_error(int status, const std::string& kind, const std::string& method,
                    const std::string& target, const std::string& body = "") {
    auto [s, j] = req(method, target, body);
    EXPECT_EQ(s, status) << method << " " << target << " " << j.dump();
    EXPECT_EQ(j.value("kind", ""), kind) << j.dump();
    EXPECT_FALSE(j.value("error", "").empty());
  }
  json bridge(const std::string& name, const std::string& subnet) {
    return post(
        "/networks",
        {{"name", name}, {"driver", "bridge"}, {"ipam", {{"config", {{{"subnet", subnet}}}}}}});
  }

  TempDir dir_;
  std::unique_ptr<Daemon> daemon_;
  std::thread thread_;
  std::unique_ptr<ApiClient> client_;
};

TEST_F(ApiTest, InfoReportsIdentityAndCounts) {
  const json info = get("/info");
  EXPECT_EQ(info["name"], "api-test");
  EXPECT_EQ(info["node_id"].get<std::string>().size(), 16u);
  EXPECT_EQ(info["version"], version());
  EXPECT_EQ(info["networks"], 0);
  bridge("net1", "192.0.2.0/26");
  EXPECT_EQ(get("/info")["networks"], 1);
}

TEST_F(ApiTest, NetworkLifecycle) {
  const json n = bridge("net1", "192.0.2.0/26");
  EXPECT_EQ(n["name"], "net1");
  EXPECT_EQ(n["subnets"][0]["subnet"], "192.0.2.0/26");
  EXPECT_EQ(n["subnets"][0]["gateway"], "192.0.2.1");
  EXPECT_EQ(n["scope"], "local");
  EXPECT_EQ(n["bridge"].get<std::string>().substr(0, 4), "trlb");
  EXPECT_EQ(get("/networks/net1")["id"], n["id"]);
  EXPECT_EQ(get("/networks/" + n["id"].get<std::string>())["name"], "net1");
  EXPECT_EQ(get("/networks").size(), 1u);
  auto [status, body] = req("DELETE", "/networks/net1");
  EXPECT_EQ(status, 204);
  EXPECT_TRUE(get("/networks").empty());
}

TEST_F(ApiTest, NetworkErrors) {
  expect_error(400, "invalid-argument", "POST", "/networks", "{not json");
  expect_error(400, "invalid-argument", "POST", "/networks", "[1,2]");
  expect_error(400, "invalid-argument", "POST", "/networks", R"({"driver":"bridge"})");
  expect_error(400, "invalid-argument", "POST", "/networks", R"({"name":"x","colour":"red"})");
  expect_error(400, "invalid-argument", "POST", "/networks", R"({"name":"x","internal":"yes"})");
  expect_error(400, "invalid-argument", "POST", "/networks",
               R"({"name":"x","ipam":{"config":[{"subnet":"192.0.2.0/33"}]}})");
  expect_error(404, "not-found", "GET", "/networks/nope");
  expect_error(404, "not-found", "DELETE", "/networks/nope");
  bridge("net1", "192.0.2.0/24");
  expect_error(409, "conflict", "POST", "/networks",
               R"({"name":"net1","ipam":{"config":[{"subnet":"198.51.100.0/24"}]}})");
  expect_error(409, "conflict", "POST", "/networks",
               R"({"name":"net2","ipam":{"config":[{"subnet":"192.0.2.64/26"}]}})");
  expect_error(405, "invalid-argument", "PUT", "/networks");
  expect_error(404, "not-found", "GET", "/nowhere");
}

TEST_F(ApiTest, EndpointSandboxJoinLeave) {
  bridge("net1", "192.0.2.0/26");
  const json e = post("/endpoints", {{"network", "net1"},
                                     {"name", "web"},
                                     {"aliases", {"www"}},
                                     {"ports", {{{"container_port", 80}, {"host_port", 8080}}}}});
  EXPECT_EQ(e["addresses"][0], "192.0.2.2/26");
  EXPECT_EQ(e["mac"], "02:42:c0:00:02:02");
  EXPECT_EQ(e["ports"][0]["protocol"], "tcp");
  EXPECT_EQ(e["ports"][0]["host_port"], 8080);
  const json s =
      post("/sandboxes", {{"name", "box"},
                          {"dns", {"192.0.2.53"}},
                          {"extra_hosts", {{{"name", "db"}, {"address", "192.0.2.9"}}}}});
  EXPECT_EQ(s["name"], "box");
  EXPECT_EQ(s["hostname"], "box");
  EXPECT_EQ(s["netns"], dir_ / "run/netns/" + s["id"].get<std::string>());
  const json joined = post("/endpoints/web/join", {{"sandbox", "box"}}, 200);
  EXPECT_EQ(joined["sandbox"], s["id"]);
  EXPECT_EQ(joined["sandbox_name"], "box");
  EXPECT_EQ(get("/sandboxes/box")["endpoints"][0]["name"], "web");
  EXPECT_EQ(get("/endpoints?network=net1").size(), 1u);
  expect_error(409, "conflict", "DELETE", "/endpoints/web");
  expect_error(409, "conflict", "DELETE", "/networks/net1");
  post("/endpoints/web/leave", json::object(), 200);
  EXPECT_TRUE(get("/sandboxes/box")["endpoints"].empty());
  EXPECT_EQ(req("DELETE", "/endpoints/web").first, 204);
  EXPECT_EQ(req("DELETE", "/sandboxes/box").first, 204);
  EXPECT_EQ(req("DELETE", "/networks/net1").first, 204);
}

TEST_F(ApiTest, EndpointErrors) {
  expect_error(404, "not-found", "POST", "/endpoints", R"({"network":"nope","name":"a"})");
  bridge("net1", "192.0.2.0/26");
  post("/endpoints", {{"network", "net1"}, {"name", "a"}});
  expect_error(409, "conflict", "POST", "/endpoints", R"({"network":"net1","name":"a"})");
  expect_error(400, "invalid-argument", "POST", "/endpoints",
               R"({"network":"net1","name":"b","ip":"10.9.9.9"})");
  expect_error(400, "invalid-argument", "POST", "/endpoints",
               R"({"network":"net1","name":"b","ports":[{"container_port":70000}]})");
  expect_error(400, "invalid-argument", "POST", "/endpoints",
               R"({"network":"net1","name":"b","mac":"01:00:5e:00:00:01"})");
  expect_error(400, "invalid-argument", "POST", "/endpoints/a/join", "{}");
  expect_error(404, "not-found", "POST", "/endpoints/a/join", R"({"sandbox":"nope"})");
  expect_error(404, "not-found", "GET", "/endpoints/nope");
}

TEST_F(ApiTest, SandboxRemovalTakesItsEndpoints) {
  bridge("net1", "192.0.2.0/26");
  post("/endpoints", {{"network", "net1"}, {"name", "a"}});
  post("/sandboxes", {{"name", "box"}});
  post("/endpoints/a/join", {{"sandbox", "box"}}, 200);
  EXPECT_EQ(req("DELETE", "/sandboxes/box?kill=1").first, 204);
  EXPECT_TRUE(get("/endpoints").empty());
  expect_error(400, "invalid-argument", "POST", "/sandboxes", R"({"name":"x","bogus":1})");
}

TEST_F(ApiTest, ErrorKindsMapToHttpStatuses) {
  EXPECT_EQ(http_status(ErrorKind::kNotFound), 404);
  EXPECT_EQ(http_status(ErrorKind::kInvalidArgument), 400);
  EXPECT_EQ(http_status(ErrorKind::kConflict), 409);
  EXPECT_EQ(http_status(ErrorKind::kUnavailable), 503);
  EXPECT_EQ(http_status(ErrorKind::kInternal), 500);
  // A /30 holds the gateway and one container: the next address is unavailable.
  bridge("tiny", "192.0.2.0/30");
  post("/endpoints", {{"network", "tiny"}, {"name", "a"}});
  expect_error(503, "unavailable", "POST", "/endpoints", R"({"network":"tiny","name":"b"})");
}

TEST_F(ApiTest, OversizedBodyIsRejected) {
  std::string big = R"({"name":")" + std::string(kMaxRequestBody + 10, 'a') + R"("})";
  auto r = client_->request("POST", "/networks", big);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("exceeds"), std::string::npos);
  // The daemon still answers (on a new connection).
  ApiClient fresh(dir_ / "run/trellis.sock");
  EXPECT_EQ(fresh.request("GET", "/info").status, 200);
}

TEST_F(ApiTest, ClientTurnsErrorsIntoTypedExceptions) {
  try {
    client_->call("GET", "/networks/nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
  }
  ApiClient nowhere(dir_ / "run/absent.sock");
  EXPECT_THROW(nowhere.call("GET", "/info"), UnavailableError);
}

TEST_F(ApiTest, OverlayNetworksAndNodeRoutesNeedClustering) {
  auto [status, j] = req("POST", "/networks", R"({"name":"ov","driver":"overlay"})");
  EXPECT_EQ(status, 400) << j.dump();
  EXPECT_NE(j.value("error", "").find("driver overlay needs clustering"), std::string::npos)
      << j.dump();
  expect_error(503, "unavailable", "GET", "/nodes");
  expect_error(503, "unavailable", "DELETE", "/nodes/someone");
  expect_error(400, "invalid-argument", "POST", "/networks",
               R"({"name":"ov","driver":"overlay","options":{"vni":"12"}})");
}

TEST_F(ApiTest, SecondDaemonOnSameDirectoriesIsRefused) {
  Config config;
  config.data_dir = dir_ / "data";
  config.run_dir = dir_ / "run";
  Daemon second(config, [](const Config&) { return std::make_unique<FakeReconciler>(); });
  EXPECT_THROW(second.start(), UnavailableError);
}

}  // namespace
}  // namespace trellis::node
