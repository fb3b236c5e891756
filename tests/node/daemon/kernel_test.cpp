// trellisd and the trellis CLI against the kernel (label netns; run inside the private
// namespace harness, and each test in a fresh network namespace of its own): the CLI's
// commands and errors, connectivity of containers, published ports, ICC, internal networks,
// restart after kill -9, and parallel runs.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "tests/node/support/trellis_host.h"

namespace trellis::node {
namespace {

using nlohmann::json;
using testing::Result;
using testing::TrellisHost;

// An HTTP GET of "/" on addr:port from this (the host) namespace; the status line, or ""
// when nothing answered before the deadline.
std::string http_get(const std::string& addr, int port, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  do {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
      const std::string req = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
      if (send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
        char buf[256];
        const ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        close(fd);
        if (n > 0) {
          std::string s(buf, static_cast<size_t>(n));
          return s.substr(0, s.find("\r\n"));
        }
      } else {
        close(fd);
      }
    } else {
      close(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < until);
  return "";
}

// Sends one UDP datagram to addr:port from this namespace until an answer arrives; the
// answer, or "" at the deadline.
std::string udp_exchange(const std::string& addr, int port, const std::string& payload,
                         std::chrono::milliseconds deadline) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
  timeval tv{0, 200 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::string answer;
  do {
    sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    char buf[256];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      answer.assign(buf, static_cast<size_t>(n));
      break;
    }
  } while (std::chrono::steady_clock::now() < until);
  close(fd);
  return answer;
}

// A UDP echo server for containers.
const char* const kUdpEcho =
    "import socket\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.bind(('0.0.0.0', 5300))\n"
    "while True:\n"
    "    d, a = s.recvfrom(256)\n"
    "    s.sendto(d, a)\n";

// A network namespace outside Trellis (a stand-in for the world beyond the host): a process
// in its own namespace, joined to the test's host namespace by a veth pair, 10.99.0.1 on the
// host side and 10.99.0.2 outside. It has no route back to container subnets, so only
// masqueraded traffic gets an answer.
class Outside {
 public:
  explicit Outside(const testing::TrellisHost& host) {
    std::vector<std::string> args = {"unshare", "--net", "sleep", "1000"};
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    if (posix_spawnp(&pid_, cargs[0], nullptr, nullptr, cargs.data(), environ) != 0)
      throw std::runtime_error("spawn unshare");
    const std::string ns = "/proc/" + std::to_string(pid_) + "/ns/net";
    const auto own = std::filesystem::read_symlink("/proc/self/ns/net");
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::error_code ec;
    while (std::filesystem::read_symlink(ns, ec) == own || ec) {
      if (std::chrono::steady_clock::now() > until) throw std::runtime_error("unshare is slow");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const std::string pid = std::to_string(pid_);
    for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
             {"ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1"},
             {"ip", "link", "set", "up1", "netns", pid},
             {"ip", "addr", "add", "10.99.0.1/24", "dev", "up0"},
             {"ip", "link", "set", "up0", "up"},
             {"nsenter", "--net=" + ns, "ip", "addr", "add", "10.99.0.2/24", "dev", "up1"},
             {"nsenter", "--net=" + ns, "ip", "link", "set", "up1", "up"},
             {"nsenter", "--net=" + ns, "ip", "link", "set", "lo", "up"}}) {
      const Result r = host.run(cmd);
      if (r.status != 0) throw std::runtime_error(cmd[0] + " " + cmd[1] + ": " + r.err);
    }
  }
  ~Outside() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  Outside(const Outside&) = delete;
  Outside& operator=(const Outside&) = delete;

 private:
  pid_t pid_ = -1;
};

class KernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::isolate();
    host_.emplace();
    host_->start();
  }
  void TearDown() override {
    if (HasFailure() && host_) std::cerr << "trellisd log:\n" << host_->log();
    host_.reset();
  }

  Result t(const std::vector<std::string>& args) { return host_->cli(args); }
  // Runs a CLI command that must succeed; returns its stdout.
  std::string ok(const std::vector<std::string>& args) {
    Result r = t(args);
    EXPECT_EQ(r.status, 0) << "trellis " << ::testing::PrintToString(args) << ": " << r.err;
    return r.out;
  }
  // Runs a CLI command that must fail with a one-line error containing `needle`.
  void fails(const std::vector<std::string>& args, const std::string& needle) {
    Result r = t(args);
    EXPECT_NE(r.status, 0) << ::testing::PrintToString(args);
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  json js(const std::vector<std::string>& args) {
    std::vector<std::string> a = args;
    a.push_back("--format");
    a.push_back("json");
    return json::parse(ok(a));
  }
  void network(const std::string& name, const std::string& subnet,
               std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"network", "create", "--subnet", subnet};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(name);
    ok(args);
  }
  // A detached container sleeping on the given networks.
  void container(const std::string& name, const std::vector<std::string>& networks,
                 std::vector<std::string> extra = {}, std::vector<std::string> cmd = {}) {
    std::vector<std::string> args = {"run", "-d", "--name", name};
    for (const auto& n : networks) {
      args.push_back("--network");
      args.push_back(n);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("--");
    if (cmd.empty()) cmd = {"sleep", "1000"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    ok(args);
  }
  std::string ip_of(const std::string& container, const std::string& network) {
    const json e = js({"endpoint", "inspect", "--network", network, container});
    const std::string a = e["addresses"][0];
    return a.substr(0, a.find('/'));
  }
  bool ping(const std::string& from, const std::string& ip, const std::string& wait = "1") {
    return t({"exec", from, "--", "ping", "-n", "-q", "-c", "1", "-W", wait, ip}).status == 0;
  }
  int count_links(const std::string& prefix) {
    Result r = host_->run({"ip", "-o", "link", "show"});
    int n = 0;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      const auto colon = line.find(": ");
      if (colon != std::string::npos && line.compare(colon + 2, prefix.size(), prefix) == 0) ++n;
    }
    return n;
  }

  std::optional<TrellisHost> host_;
};

TEST_F(KernelTest, NetworkCommandsAndTheirErrors) {
  network("front", "192.0.2.0/26",
          {"--ip-range", "192.0.2.32/27", "-o", "icc=true", "--label", "team=web"});
  const std::string listing = ok({"network", "ls"});
  EXPECT_NE(listing.find("front"), std::string::npos);
  EXPECT_NE(listing.find("192.0.2.0/26"), std::string::npos);
  const json n = js({"network", "inspect", "front"});
  EXPECT_EQ(n["labels"]["team"], "web");
  EXPECT_EQ(n["subnets"][0]["gateway"], "192.0.2.1");
  EXPECT_EQ(count_links("trlb"), 1);
  EXPECT_NE(ok({"network", "inspect", "front"}).find("driver:"), std::string::npos);

  fails({"network", "create", "--subnet", "198.51.100.0/24", "front"}, "taken");
  fails({"network", "create", "--subnet", "192.0.2.0/33", "bad"}, "192.0.2.0/33");
  fails({"network", "create", "--subnet", "192.0.2.32/27", "overlap"}, "overlaps");
  // Overlay networks need clustering (tests/node/dataplane/overlay_kernel_test.cpp covers the
  // driver).
  fails({"network", "create", "-d", "overlay", "ov"}, "needs clustering");
  fails({"network", "inspect", "nope"}, "not found");
  fails({"network", "rm", "nope"}, "not found");

  ok({"endpoint", "create", "--network", "front", "ep1"});
  fails({"network", "rm", "front"}, "endpoint");
  ok({"endpoint", "rm", "ep1"});
  ok({"network", "rm", "front"});
  EXPECT_EQ(count_links("trlb"), 0);
  EXPECT_TRUE(js({"network", "ls"}).empty());
}

// A host that runs Docker has docker0 on 172.17.0.1/16, the first default pool: a new network
// takes another one, and asking for docker0's subnet is refused with the interface named.
TEST_F(KernelTest, DefaultSubnetsSkipTheHostsAddressesAndRoutes) {
  for (const std::vector<std::string>& cmd :
       {std::vector<std::string>{"ip", "link", "add", "docker0", "type", "bridge"},
        {"ip", "addr", "add", "172.17.0.1/16", "dev", "docker0"},
        {"ip", "link", "set", "docker0", "up"},
        {"ip", "route", "add", "172.18.0.0/16", "dev", "docker0"}}) {
    const Result r = host_->run(cmd);
    ASSERT_EQ(r.status, 0) << cmd[0] << " " << cmd[1] << ": " << r.err;
  }
  ok({"network", "create", "app"});
  const std::string subnet = js({"network", "inspect", "app"})["subnets"][0]["subnet"];
  EXPECT_NE(subnet.rfind("172.17.", 0), 0u) << subnet;
  EXPECT_NE(subnet.rfind("172.18.", 0), 0u) << subnet;
  fails({"network", "create", "--subnet", "172.17.0.0/16", "same"}, "docker0");
  fails({"network", "create", "--subnet", "172.18.4.0/24", "routed"}, "route 172.18.0.0/16");
  // Loopback is the host's too.
  fails({"network", "create", "--subnet", "127.0.0.0/24", "lo"}, "on lo");
  EXPECT_EQ(count_links("trlb"), 1);
}

TEST_F(KernelTest, EndpointAndSandboxCommandsAndTheirErrors) {
  network("n1", "192.0.2.0/26");
  ok({"endpoint", "create", "--network", "n1", "--ip", "192.0.2.10", "--alias", "www", "-p",
      "8080:80", "web"});
  fails({"endpoint", "create", "--network", "n1", "web"}, "taken");
  fails({"endpoint", "create", "--network", "nope", "x"}, "not found");
  fails({"endpoint", "create", "--network", "n1", "--ip", "192.0.2.10", "x"}, "in use");
  fails({"endpoint", "create", "--network", "n1", "-p", "8080:81", "y"}, "already published");
  const json e = js({"endpoint", "inspect", "web"});
  EXPECT_EQ(e["addresses"][0], "192.0.2.10/26");
  EXPECT_EQ(e["ports"][0]["host_port"], 8080);

  ok({"sandbox", "create", "--hostname", "webhost", "--dns", "198.51.100.53", "--add-host",
      "db:192.0.2.9", "box"});
  fails({"sandbox", "create", "box"}, "taken");
  ok({"endpoint", "join", "web", "box"});
  fails({"endpoint", "join", "web", "box"}, "already joined");
  fails({"endpoint", "rm", "web"}, "joined");
  const json s = js({"sandbox", "inspect", "box"});
  EXPECT_EQ(s["endpoints"][0]["interface"], "eth0");
  const std::string netns = s["netns"];
  Result addr = host_->run({"nsenter", "--net=" + netns, "ip", "-o", "-4", "addr", "show", "eth0"});
  EXPECT_NE(addr.out.find("192.0.2.10/26"), std::string::npos) << addr.out << addr.err;
  EXPECT_NE(ok({"endpoint", "ls"}).find("eth0"), std::string::npos);
  EXPECT_NE(ok({"sandbox", "ls"}).find("box"), std::string::npos);
  const std::string hosts = testing::slurp(s["files"]["hosts"]);
  EXPECT_NE(hosts.find("192.0.2.10\twebhost"), std::string::npos) << hosts;
  EXPECT_NE(hosts.find("192.0.2.9\tdb"), std::string::npos) << hosts;

  ok({"endpoint", "leave", "web"});
  EXPECT_EQ(count_links("trlv"), 0);
  ok({"endpoint", "join", "web", "box"});
  ok({"endpoint", "rm", "-f", "web"});
  ok({"sandbox", "rm", "box"});
  EXPECT_TRUE(js({"sandbox", "ls"}).empty());
  fails({"sandbox", "rm", "box"}, "not found");
  const json info = js({"info"});
  EXPECT_EQ(info["name"], "test-host");
  // Without -H the CLI finds the daemon through TRELLIS_HOST.
  ::setenv("TRELLIS_HOST", ("unix://" + host_->socket()).c_str(), 1);
  Result via_env = host_->run({TRELLIS_BIN, "info", "--format", "json"});
  ::unsetenv("TRELLIS_HOST");
  EXPECT_EQ(via_env.status, 0) << via_env.err;
  EXPECT_NE(via_env.out.find("test-host"), std::string::npos) << via_env.out;
  EXPECT_EQ(info["sandboxes"], 0);
  // Not started for a cluster: the cluster commands say clustering is off.
  Result unclustered = t({"cluster", "members"});
  EXPECT_NE(unclustered.status, 0);
  EXPECT_NE(unclustered.err.find("clustering is off"), std::string::npos) << unclustered.err;
  Result nodes = t({"node", "ls"});
  EXPECT_NE(nodes.status, 0);
  EXPECT_NE(nodes.err.find("clustering is off"), std::string::npos) << nodes.err;
}

TEST_F(KernelTest, RunExecAndRmFollowTheCommand) {
  network("n1", "192.0.2.0/26");
  Result r = t({"run", "--rm", "--name", "once", "--network", "n1", "--hostname", "h1", "--", "sh",
                "-c", "hostname; cat /etc/hosts; ip -o -4 addr show eth0; exit 7"});
  EXPECT_EQ(r.status, 7) << r.err;
  EXPECT_NE(r.out.find("h1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("192.0.2.2\th1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("inet 192.0.2.2/26"), std::string::npos) << r.out;
  fails({"sandbox", "inspect", "once"}, "not found");  // --rm removed it

  container("c1", {"n1"}, {"--dns", "198.51.100.53"});
  Result resolv = t({"exec", "c1", "--", "cat", "/etc/resolv.conf"});
  EXPECT_NE(resolv.out.find("nameserver 198.51.100.53"), std::string::npos) << resolv.out;
  EXPECT_EQ(t({"exec", "c1", "--", "sh", "-c", "exit 3"}).status, 3);
  EXPECT_EQ(t({"exec", "c1", "--", "/no/such/program"}).status, 127);
  Result route = t({"exec", "c1", "--", "ip", "route"});
  EXPECT_NE(route.out.find("default via 192.0.2.1 dev eth0"), std::string::npos) << route.out;
  // Joining a second network: eth1 appears, /etc/hosts of the running container lists the
  // new address, the default route stays with the first network; leaving undoes it.
  network("n2", "192.0.2.64/26");
  ok({"endpoint", "create", "--network", "n2", "c1"});
  ok({"endpoint", "join", "--network", "n2", "c1", "c1"});
  Result joined = t({"exec", "c1", "--", "sh", "-c", "cat /etc/hosts; ip -o -4 addr; ip route"});
  EXPECT_NE(joined.out.find("192.0.2.66\tc1"), std::string::npos) << joined.out;
  EXPECT_NE(joined.out.find("eth1"), std::string::npos) << joined.out;
  EXPECT_NE(joined.out.find("inet 192.0.2.66/26"), std::string::npos) << joined.out;
  EXPECT_NE(joined.out.find("default via 192.0.2.1 dev eth0"), std::string::npos) << joined.out;
  ok({"endpoint", "leave", "--network", "n2", "c1"});
  Result left = t({"exec", "c1", "--", "cat", "/etc/hosts"});
  EXPECT_EQ(left.out.find("192.0.2.66"), std::string::npos) << left.out;
  EXPECT_NE(left.out.find("192.0.2.2\tc1"), std::string::npos) << left.out;
  EXPECT_EQ(t({"run", "--network", "nope", "--", "true"}).status, 125);
  ok({"rm", "c1"});
  EXPECT_EQ(count_links("trlv"), 0);
  EXPECT_TRUE(js({"sandbox", "ls"}).empty());
}

TEST_F(KernelTest, SameBridgeReachesDifferentBridgesDoNot) {
  network("a", "192.0.2.0/26");
  network("b", "192.0.2.64/26");
  container("a1", {"a"});
  container("a2", {"a"});
  container("b1", {"b"});
  EXPECT_TRUE(ping("a1", ip_of("a2", "a")));
  EXPECT_TRUE(ping("a2", ip_of("a1", "a")));
  EXPECT_FALSE(ping("a1", ip_of("b1", "b"), "0.3"));
  EXPECT_FALSE(ping("b1", ip_of("a1", "a"), "0.3"));
  // A container on both networks reaches both.
  container("ab", {"a", "b"});
  EXPECT_TRUE(ping("ab", ip_of("a1", "a")));
  EXPECT_TRUE(ping("ab", ip_of("b1", "b")));
}

TEST_F(KernelTest, IccOffBlocksContainersOnTheBridge) {
  network("quiet", "192.0.2.0/26", {"-o", "icc=false"});
  container("q1", {"quiet"});
  container("q2", {"quiet"});
  EXPECT_FALSE(ping("q1", ip_of("q2", "quiet"), "0.3"));
  EXPECT_TRUE(ping("q1", "192.0.2.1"));  // the gateway (the host) still answers
}

TEST_F(KernelTest, InternalNetworkIsClosedOthersMasqueradeOut) {
  Outside outside(*host_);
  network("int", "192.0.2.0/26", {"--internal"});
  network("ext", "192.0.2.64/26", {"--mtu", "1400"});
  container("i1", {"int"});
  container("i2", {"int"});
  container("e1", {"ext"});
  Result route = t({"exec", "i1", "--", "ip", "route"});
  EXPECT_EQ(route.out.find("default"), std::string::npos) << route.out;
  EXPECT_TRUE(ping("i1", ip_of("i2", "int")));
  EXPECT_FALSE(ping("i1", ip_of("e1", "ext"), "0.3"));
  EXPECT_FALSE(ping("e1", ip_of("i1", "int"), "0.3"));
  fails({"run", "--network", "int", "-p", "80", "--", "true"}, "internal");
  // The outside knows no route to 192.0.2.64/26: only masquerading gets e1 an answer.
  EXPECT_TRUE(ping("e1", "10.99.0.2"));
  EXPECT_FALSE(ping("i1", "10.99.0.2", "0.3"));
  // The MTU option reaches the bridge and the container's interface.
  const std::string bridge = js({"network", "inspect", "ext"})["bridge"];
  EXPECT_NE(host_->run({"ip", "-o", "link", "show", bridge}).out.find("mtu 1400"),
            std::string::npos);
  Result link = t({"exec", "e1", "--", "ip", "-o", "link", "show", "eth0"});
  EXPECT_NE(link.out.find("mtu 1400"), std::string::npos) << link.out;
}

TEST_F(KernelTest, PublishedPortReachesTheContainerFromTheHost) {
  network("web", "192.0.2.0/26");
  container("srv", {"web"}, {"-p", "8080:8000"},
            {"python3", "-m", "http.server", "--bind", "0.0.0.0", "8000"});
  EXPECT_EQ(http_get("127.0.0.1", 8080, std::chrono::seconds(15)), "HTTP/1.0 200 OK");
  EXPECT_EQ(http_get("192.0.2.1", 8080, std::chrono::seconds(5)), "HTTP/1.0 200 OK");
  // A dynamic host port from the ephemeral range.
  container("srv2", {"web"}, {"-p", "8000"},
            {"python3", "-m", "http.server", "--bind", "0.0.0.0", "8000"});
  const json e = js({"endpoint", "inspect", "--network", "web", "srv2"});
  const int port = e["ports"][0]["host_port"];
  EXPECT_GT(port, 1024);
  EXPECT_EQ(http_get("127.0.0.1", port, std::chrono::seconds(15)), "HTTP/1.0 200 OK");
  ok({"rm", "srv"});
  EXPECT_EQ(http_get("127.0.0.1", 8080, std::chrono::milliseconds(200)), "");
  // UDP, published on one host address only.
  ASSERT_EQ(host_->run({"ip", "addr", "add", "10.99.1.1/32", "dev", "lo"}).status, 0);
  ASSERT_EQ(host_->run({"ip", "addr", "add", "10.99.1.2/32", "dev", "lo"}).status, 0);
  container("echo", {"web"}, {"-p", "10.99.1.1:5300:5300/udp"}, {"python3", "-c", kUdpEcho});
  EXPECT_EQ(udp_exchange("10.99.1.1", 5300, "hello", std::chrono::seconds(15)), "hello");
  EXPECT_EQ(udp_exchange("10.99.1.2", 5300, "hello", std::chrono::milliseconds(300)), "");
  const json echo = js({"endpoint", "inspect", "--network", "web", "echo"});
  EXPECT_EQ(echo["ports"][0]["protocol"], "udp");
  EXPECT_EQ(echo["ports"][0]["host_ip"], "10.99.1.1");
}

TEST_F(KernelTest, RestartAfterKill9AdoptsTwentyContainers) {
  network("n", "192.0.2.0/26");
  std::set<std::string> addresses;
  for (int i = 0; i < 20; ++i) container("c" + std::to_string(i), {"n"});
  for (int i = 0; i < 20; ++i) addresses.insert(ip_of("c" + std::to_string(i), "n"));
  ASSERT_EQ(addresses.size(), 20u);
  const std::string before = host_->run({"ip", "-o", "link", "show"}).out;
  host_->kill9();
  host_->start();
  EXPECT_EQ(js({"sandbox", "ls"}).size(), 20u);
  EXPECT_EQ(js({"endpoint", "ls"}).size(), 20u);
  EXPECT_EQ(count_links("trlb"), 1);
  EXPECT_EQ(count_links("trlv"), 20);
  // No churn: the same links with the same interface indexes (a re-created link gets a new
  // one), and exactly one namespace file per sandbox plus the host's.
  EXPECT_EQ(host_->run({"ip", "-o", "link", "show"}).out, before);
  size_t namespaces = 0;
  for (const auto& entry : std::filesystem::directory_iterator(host_->run_dir() + "/netns")) {
    (void)entry;
    ++namespaces;
  }
  EXPECT_EQ(namespaces, 21u);
  EXPECT_TRUE(js({"info"})["failures"].empty());
  Result c5 = t({"exec", "c5", "--", "ip", "-o", "-4", "addr", "show", "eth0"});
  EXPECT_NE(c5.out.find("inet " + ip_of("c5", "n") + "/26"), std::string::npos) << c5.out;
  EXPECT_TRUE(ping("c0", ip_of("c19", "n")));
  EXPECT_TRUE(ping("c19", ip_of("c7", "n")));
  container("fresh", {"n"});
  EXPECT_FALSE(addresses.count(ip_of("fresh", "n")));
  EXPECT_TRUE(ping("fresh", ip_of("c3", "n")));
  EXPECT_EQ(js({"sandbox", "inspect", "fresh"})["endpoints"][0]["interface"], "eth0");
}

// A second daemon given the same --run-dir (but its own data) must not "adopt" the first
// one's namespaces and sandbox files: it exits before touching the directory.
TEST_F(KernelTest, ASecondDaemonOnTheSameRunDirExitsAndTouchesNothing) {
  network("n", "192.0.2.0/26");
  container("c1", {"n"});
  container("c2", {"n"});
  const std::string netns = host_->run_dir() + "/netns";
  auto entries = [](const std::string& dir) {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
      names.insert(e.path().filename());
    return names;
  };
  const std::set<std::string> namespaces = entries(netns);
  const std::set<std::string> sandboxes = entries(host_->run_dir() + "/sandboxes");
  const std::string links = host_->run({"ip", "-o", "link", "show"}).out;

  // (Under `timeout`: a daemon that wrongly starts would otherwise keep running.)
  testing::TempDir other;
  const Result second =
      host_->run({"timeout", "20", TRELLISD_BIN, "--data-dir", other / "data", "--run-dir",
                  host_->run_dir(), "--log-level", "warn", "--resolv-conf", other / "resolv.conf"});
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find("another trellisd uses run directory " + host_->run_dir()),
            std::string::npos)
      << second.err;

  EXPECT_EQ(entries(netns), namespaces);
  EXPECT_EQ(entries(host_->run_dir() + "/sandboxes"), sandboxes);
  EXPECT_EQ(host_->run({"ip", "-o", "link", "show"}).out, links);
  EXPECT_TRUE(ping("c1", ip_of("c2", "n")));
  EXPECT_EQ(js({"sandbox", "ls"}).size(), 2u);
}

// A second daemon in the same network namespace (its own data and run directories) must not
// replace the first one's nftables table: it refuses to start, naming the owner.
TEST_F(KernelTest, ASecondDaemonInTheSameNamespaceLeavesTheFirstOnesNftablesAlone) {
  network("web", "192.0.2.0/26");
  container("srv", {"web"}, {"-p", "8080:80"});
  const std::string table = host_->run({"nft", "list", "table", "inet", "trellis"}).out;
  const std::string first = js({"info"})["node_id"];
  ASSERT_NE(table.find("comment \"trellis node " + first + "\""), std::string::npos) << table;
  ASSERT_NE(table.find("dport 8080"), std::string::npos) << table;

  // (Under `timeout`: a daemon that wrongly starts would otherwise keep running.)
  testing::TempDir other;
  const Result second =
      host_->run({"timeout", "20", TRELLISD_BIN, "--data-dir", other / "data", "--run-dir",
                  other / "run", "--log-level", "warn", "--resolv-conf", other / "resolv.conf"});
  EXPECT_EQ(second.status, 1);
  EXPECT_NE(second.err.find("nftables table inet trellis in this network namespace belongs to "
                            "trellisd node " +
                            first),
            std::string::npos)
      << second.err;
  EXPECT_EQ(host_->run({"nft", "list", "table", "inet", "trellis"}).out, table);
  EXPECT_EQ(js({"sandbox", "ls"}).size(), 1u);
}

TEST_F(KernelTest, FiftyParallelRunsGetDistinctAddresses) {
  network("n", "198.51.100.0/25");
  std::vector<pid_t> pids;
  const std::string socket = "unix://" + host_->socket();
  for (int i = 0; i < 50; ++i) {
    std::vector<std::string> args = {
        TRELLIS_BIN, "-H", socket, "run",   "-d",  "--name", "p" + std::to_string(i),
        "--network", "n",  "--",   "sleep", "1000"};
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, cargs[0], &fa, nullptr, cargs.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    pids.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  EXPECT_EQ(failed, 0);
  std::set<std::string> addresses;
  for (const auto& e : js({"endpoint", "ls"})) addresses.insert(e["addresses"][0]);
  EXPECT_EQ(addresses.size(), 50u);
  EXPECT_EQ(count_links("trlv"), 50);
  EXPECT_TRUE(ping("p0", ip_of("p49", "n")));
}

TEST_F(KernelTest, HostNetworkSharesTheHostNamespaceNullHasOnlyLoopback) {
  ok({"network", "create", "-d", "host", "host"});
  ok({"network", "create", "-d", "null", "none"});
  network("n", "192.0.2.0/26");
  Result r = t({"run", "--rm", "--network", "host", "--", "ip", "-o", "link", "show"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("trlb"), std::string::npos) << r.out;  // the host's bridge is visible
  fails({"run", "--network", "host", "--network", "n", "--", "true"}, "joins nothing else");
  Result null = t({"run", "--rm", "--network", "none", "--", "ip", "-o", "link", "show"});
  EXPECT_EQ(null.status, 0) << null.err;
  EXPECT_EQ(std::count(null.out.begin(), null.out.end(), '\n'), 1) << null.out;  // lo only
  EXPECT_NE(null.out.find(": lo:"), std::string::npos) << null.out;
  fails({"network", "create", "-d", "null", "none2"}, "only one null network");
}

}  // namespace
}  // namespace trellis::node
