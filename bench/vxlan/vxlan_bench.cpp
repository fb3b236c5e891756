// Time to synchronise a VXLAN device's FDB and neighbour tables with 1,000 peers through
// vxlan::sync_peers: from empty tables, an idempotent re-sync (nothing to change: two table
// dumps and the diff), and a 10% change (100 peers leave, 100 others arrive).
// Each sync of 1,000 peers from empty is 2,000 netlink requests (one FDB and one neighbour
// entry per peer).
//
// Touches the kernel: run only inside the private namespace wrapper, e.g.
//   tests/harness/in-private-netns.sh build/release/bench/vxlan/vxlan_bench
//       --benchmark_repetitions=5          (one command line; scripts/bench.sh does this)
// The Testbed refuses to run outside it.

#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "osl/netlink.h"
#include "tests/harness/testbed.h"
#include "vxlan/device.h"
#include "vxlan/tables.h"

namespace trellis::vxlan {
namespace {

constexpr int kPeers = 1000;
constexpr const char* kDevice = "trlvxb0";

Peer make_peer(int n) {
  // MAC 02:42:0a:0a:hi:lo, IP 10.10.hi.lo, spread over 50 VTEPs 192.0.2.10..59.
  const auto hi = static_cast<uint8_t>(n >> 8);
  const auto lo = static_cast<uint8_t>(n & 0xFF);
  return Peer{MacAddress{{0x02, 0x42, 0x0a, 0x0a, hi, lo}},
              Ipv4Address{0x0A0A0000u + static_cast<uint32_t>(n)},
              Ipv4Address{0xC0000200u + 10 + static_cast<uint32_t>(n % 50)}};
}

// Peers first..first+count-1.
DesiredPeers peers(int first, int count) {
  DesiredPeers want;
  for (int n = first; n < first + count; ++n) want.peers.push_back(make_peer(n));
  return want;
}

// One namespace with one VXLAN device, shared by all benchmarks of the run.
class Fixture {
 public:
  static Fixture& get() {
    static Fixture fixture;
    return fixture;
  }
  osl::NetlinkSocket& sock() { return *sock_; }

 private:
  Fixture() {
    testing::require_private_netns();
    tb_ = std::make_unique<testing::Testbed>("vxb");
    ns_ = &tb_->add_container();
    sock_ = std::make_unique<osl::NetlinkSocket>(tb_->socket(*ns_));
    VxlanConfig config;
    config.name = kDevice;
    config.vni = 4242;
    config.local = Ipv4Address::parse("192.0.2.1");
    config.proxy_arp = true;
    create_vxlan(*sock_, config);
  }
  std::unique_ptr<testing::Testbed> tb_;
  testing::Testbed::Container* ns_ = nullptr;
  std::unique_ptr<osl::NetlinkSocket> sock_;
};

void set_counters(benchmark::State& state, std::size_t changes) {
  state.counters["peers"] = kPeers;
  state.counters["changes"] = static_cast<double>(changes);
  state.counters["peers_per_s"] = benchmark::Counter(static_cast<double>(kPeers),
                                                     benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SyncFromEmpty(benchmark::State& state) {
  osl::NetlinkSocket& sock = Fixture::get().sock();
  const DesiredPeers want = peers(1, kPeers);
  const DesiredPeers none;
  std::size_t changes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    sync_peers(sock, kDevice, none);
    state.ResumeTiming();
    changes = sync_peers(sock, kDevice, want).size();
  }
  sync_peers(sock, kDevice, none);
  set_counters(state, changes);
}
BENCHMARK(BM_SyncFromEmpty)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ResyncUnchanged(benchmark::State& state) {
  osl::NetlinkSocket& sock = Fixture::get().sock();
  const DesiredPeers want = peers(1, kPeers);
  sync_peers(sock, kDevice, want);
  std::size_t changes = 0;
  for (auto _ : state) changes = sync_peers(sock, kDevice, want).size();
  if (changes != 0) state.SkipWithError("an identical re-sync changed something");
  sync_peers(sock, kDevice, DesiredPeers{});
  set_counters(state, changes);
}
BENCHMARK(BM_ResyncUnchanged)->Unit(benchmark::kMillisecond)->UseRealTime();

// Alternates between two sets that share 900 peers: each sync removes 100 peers' entries
// and adds 100 others' (400 requests).
void BM_SyncTenPercentChange(benchmark::State& state) {
  osl::NetlinkSocket& sock = Fixture::get().sock();
  const DesiredPeers a = peers(1, kPeers);
  const DesiredPeers b = peers(1 + kPeers / 10, kPeers);
  sync_peers(sock, kDevice, a);
  bool to_b = true;
  std::size_t changes = 0;
  for (auto _ : state) {
    changes = sync_peers(sock, kDevice, to_b ? b : a).size();
    to_b = !to_b;
  }
  sync_peers(sock, kDevice, DesiredPeers{});
  set_counters(state, changes);
}
BENCHMARK(BM_SyncTenPercentChange)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace trellis::vxlan

BENCHMARK_MAIN();
