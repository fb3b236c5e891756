// Time to set up one container's interface on a bridge (issue 4): create a namespace, create a
// veth pair, move one end into the namespace, rename it eth0, set MAC, MTU, address, up,
// default route, and enslave the other end to the bridge (and up) — done
//   * with `ip` commands (fork/exec of iproute2, one per step: 10 processes),
//   * through osl, one call per step (the same 10 steps),
//   * through osl's create_named_netns_with_socket + setup_container_interface (the inner end
//     is born in the namespace with its final name, MAC and MTU: no move, fewer requests).
// 200 containers per method per run, interleaved; counters report the median and p90 per
// container (ms) of each method and the speedups of the osl ones over `ip`.
// Must run inside tests/harness/in-private-netns.sh (it aborts otherwise). Teardown is untimed.

#include <benchmark/benchmark.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "osl/addresses.h"
#include "osl/container_interface.h"
#include "osl/links.h"
#include "osl/netns.h"
#include "osl/routes.h"
#include "tests/harness/testbed.h"

extern char** environ;

namespace {

using namespace trellis;
using Clock = std::chrono::steady_clock;

constexpr int kContainers = 200;
constexpr const char* kBridge = "trlbbr0";
constexpr uint32_t kMtu = 1450;

enum Method { kIp = 0, kOslSteps = 1, kOslCombined = 2 };
constexpr const char* kTag[] = {"i", "s", "c"};

std::string ns_name(Method m, int i) { return std::string("trl-b") + kTag[m] + std::to_string(i); }
std::string outer_name(Method m, int i) {
  return std::string("trlb") + kTag[m] + std::to_string(i);
}
std::string peer_name(Method m, int i) { return std::string("trlc") + kTag[m] + std::to_string(i); }
std::string mac_of(Method m, int i) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:42:0a:c8:%02x:%02x", static_cast<int>(m), i + 2);
  return buf;
}
// 10.200.<method>.<i+2>/16
ipam::InterfaceAddress address_of(Method m, int i) {
  const uint32_t host =
      0x0AC80000u + (static_cast<uint32_t>(m) << 8) + static_cast<uint32_t>(i) + 2;
  const auto ip = ipam::IpAddress::v4(host);
  return ipam::InterfaceAddress{ip, ipam::Prefix::containing(ip, 16)};
}
const ipam::IpAddress kGateway = ipam::IpAddress::parse("10.200.255.254");

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// The bench's private fixture: a bridge with the gateway address, in the test namespace.
struct Env {
  osl::Netns host = osl::Netns::current();
  osl::NetlinkSocket sock{host};
  std::string dir = trellis::testing::test_netns_dir();

  Env() {
    trellis::testing::require_private_netns();
    osl::ensure_bridge(sock, kBridge, osl::LinkOptions{.mtu = kMtu});
    osl::ensure_address(sock, kBridge, ipam::InterfaceAddress::parse("10.200.255.254/16"));
  }
  // Untimed: outer links first (synchronous), then the namespace files; then wait until the
  // kernel has finished destroying the namespaces (cleanup_net holds rtnl_lock in the
  // background and would slow down whatever is measured next): a no-op link change, which
  // takes rtnl_lock, must answer quickly several times in a row (bounded wait).
  void teardown() {
    for (const auto& link : osl::list_links(sock, "trlb")) {
      if (link.name != kBridge) osl::delete_link_if_exists(sock, link.name);
    }
    for (const auto& name : osl::list_named_netns(dir, "trl-b")) osl::delete_named_netns(dir, name);
    for (const auto& name : osl::list_named_netns("/run/netns", "trl-b"))
      osl::delete_named_netns("/run/netns", name);
    settle();
  }
  void settle() {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    int quick = 0;
    while (quick < 20 && Clock::now() < deadline) {
      const auto start = Clock::now();
      osl::set_link_up(sock, kBridge, false);  // the bridge stays down: no carrier effects
      quick = Clock::now() - start < std::chrono::microseconds(500) ? quick + 1 : 0;
      if (quick == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
};
Env& env() {
  static Env e;
  return e;
}

void run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0)
    throw InternalError("spawn " + argv[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw InternalError("command failed: " + cmd);
  }
}

void setup_with_ip(int i) {
  const Method m = kIp;
  const std::string ns = ns_name(m, i), outer = outer_name(m, i), peer = peer_name(m, i);
  run({"ip", "netns", "add", ns});
  run({"ip", "link", "add", outer, "type", "veth", "peer", "name", peer});
  run({"ip", "link", "set", peer, "netns", ns});
  run({"ip", "-n", ns, "link", "set", peer, "name", "eth0"});
  run({"ip", "-n", ns, "link", "set", "eth0", "address", mac_of(m, i)});
  run({"ip", "-n", ns, "link", "set", "eth0", "mtu", std::to_string(kMtu)});
  run({"ip", "-n", ns, "addr", "add", address_of(m, i).to_string(), "dev", "eth0"});
  run({"ip", "-n", ns, "link", "set", "eth0", "up"});
  run({"ip", "-n", ns, "route", "add", "default", "via", kGateway.to_string()});
  run({"ip", "link", "set", outer, "master", kBridge, "up"});
}

void setup_with_osl_steps(int i) {
  const Method m = kOslSteps;
  Env& e = env();
  osl::Netns ns = osl::create_named_netns(e.dir, ns_name(m, i));
  osl::create_veth(e.sock, outer_name(m, i), {}, peer_name(m, i), nullptr);
  osl::move_link(e.sock, peer_name(m, i), ns);
  osl::NetlinkSocket inner(ns);
  osl::set_link_name(inner, peer_name(m, i), "eth0");
  osl::set_link_mac(inner, "eth0", mac_of(m, i));
  osl::set_link_mtu(inner, "eth0", kMtu);
  osl::add_address(inner, "eth0", address_of(m, i));
  osl::set_link_up(inner, "eth0", true);
  osl::set_default_gateway(inner, kGateway, "eth0");
  osl::change_link(e.sock, outer_name(m, i), osl::LinkChange{.master = kBridge, .up = true});
}

void setup_with_osl_combined(int i) {
  const Method m = kOslCombined;
  Env& e = env();
  auto [ns, inner] = osl::create_named_netns_with_socket(e.dir, ns_name(m, i));
  osl::setup_container_interface(e.sock, inner, ns,
                                 osl::ContainerInterfaceSpec{
                                     .outer_name = outer_name(m, i),
                                     .bridge = kBridge,
                                     .inner_name = "eth0",
                                     .mac = mac_of(m, i),
                                     .mtu = kMtu,
                                     .addresses = {address_of(m, i)},
                                     .gateway = kGateway,
                                 });
}

// One run sets up 200 containers with each method, interleaved (container i: the three
// methods in a rotating order), so that background kernel work and the load of other
// programs on the machine hit all three alike.
void BM_ContainerSetup(benchmark::State& state) {
  Env& e = env();
  void (*const setups[])(int) = {setup_with_ip, setup_with_osl_steps, setup_with_osl_combined};
  std::vector<double> samples[3];
  e.settle();
  for (auto _ : state) {
    double total_s = 0;
    try {
      for (int i = 0; i < kContainers; ++i) {
        for (int k = 0; k < 3; ++k) {
          const int m = (i + k) % 3;
          const auto start = Clock::now();
          setups[m](i);
          const double s = std::chrono::duration<double>(Clock::now() - start).count();
          samples[m].push_back(s * 1e3);
          if (m == kOslCombined) total_s += s;
        }
      }
    } catch (const std::exception& ex) {
      e.teardown();
      state.SkipWithError(ex.what());
      return;
    }
    state.SetIterationTime(total_s);  // the reported time: 200 containers via osl (combined)
    e.teardown();
  }
  const double ip = median(samples[kIp]);
  const double steps = median(samples[kOslSteps]);
  const double combined = median(samples[kOslCombined]);
  state.counters["containers"] = static_cast<double>(samples[kIp].size());
  state.counters["ip_median_ms"] = ip;
  state.counters["ip_p90_ms"] = percentile(samples[kIp], 0.9);
  state.counters["osl_steps_median_ms"] = steps;
  state.counters["osl_steps_p90_ms"] = percentile(samples[kOslSteps], 0.9);
  state.counters["osl_median_ms"] = combined;
  state.counters["osl_p90_ms"] = percentile(samples[kOslCombined], 0.9);
  if (steps > 0) state.counters["x_steps_vs_ip"] = ip / steps;
  if (combined > 0) state.counters["x_osl_vs_ip"] = ip / combined;
}

BENCHMARK(BM_ContainerSetup)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
