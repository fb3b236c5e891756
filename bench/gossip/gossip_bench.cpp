// gossip_bench: how fast the wire codec and the protocol core are (per node, what one gossip
// thread can sustain), and how fast the simulator runs a cluster. Dissemination and
// failure-detection figures come from trellis-sim (docs/gossip.md), not from here.

#include <benchmark/benchmark.h>

#include "gossip/core.h"
#include "gossip/message.h"
#include "gossip/replicated_log.h"
#include "gossip/sim.h"

namespace trellis::gossip {
namespace {

Message sample(size_t entries, size_t entry_bytes) {
  Message m;
  m.cluster_id = 0x1234567812345678ULL;
  m.from = 0x9999888877776666ULL;
  m.body = Gossip{};
  for (size_t i = 0; i < entries; ++i) {
    m.entries.push_back({0x4242424242424242ULL + i, 1000 + i, std::string(entry_bytes, 'e')});
  }
  m.updates.push_back({MemberUpdate::Kind::kAlive, 77, 3, 77, "node-77", "192.0.2.77:7946"});
  return m;
}

void BM_EncodeGossip(benchmark::State& state) {
  Message m = sample(static_cast<size_t>(state.range(0)), 128);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string f = encode(m);
    bytes += f.size();
    benchmark::DoNotOptimize(f);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_EncodeGossip)->Arg(1)->Arg(50);

void BM_DecodeGossip(benchmark::State& state) {
  std::string f = encode(sample(static_cast<size_t>(state.range(0)), 128));
  for (auto _ : state) benchmark::DoNotOptimize(decode(f));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.size()));
}
BENCHMARK(BM_DecodeGossip)->Arg(1)->Arg(50);

void BM_DecodePing(benchmark::State& state) {
  Message m;
  m.cluster_id = 0x1234567812345678ULL;
  m.from = 0x9999888877776666ULL;
  m.from_address = "192.0.2.1:7946";
  m.body = Ping{12345, 0x5555444433332222ULL};
  std::string f = encode(m);
  for (auto _ : state) benchmark::DoNotOptimize(decode(f));
}
BENCHMARK(BM_DecodePing);

// A core receiving fresh entries (one per message, as eager pushes arrive), handing them to
// the owner and forwarding them: entries per second one node can absorb.
void BM_CoreReceiveFreshEntries(benchmark::State& state) {
  MemoryLog log;
  Config c;
  c.node_id = 1;
  c.address = "192.0.2.1:7946";
  Core core(c, log, Time{0});
  for (NodeId id = 2; id < 102; ++id) {
    Message hello;
    hello.cluster_id = core.cluster_id();
    hello.from = id;
    hello.body = Gossip{};
    hello.updates.push_back({MemberUpdate::Kind::kAlive, id, 0, id, "n", "192.0.2.2:7946"});
    core.receive(hello, Time{0});
  }
  core.take_messages();
  core.take_effects();
  uint64_t seq = 0;
  Time now{0};
  for (auto _ : state) {
    Message m;
    m.cluster_id = core.cluster_id();
    m.from = 2;
    m.body = Gossip{};
    m.entries.push_back({7, ++seq, std::string(128, 'x')});
    now += std::chrono::microseconds(10);
    core.receive(std::move(m), now);
    benchmark::DoNotOptimize(core.take_messages());
    benchmark::DoNotOptimize(core.take_effects());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CoreReceiveFreshEntries);

// Simulated seconds per wall second for a 100-node cluster with 10 events/s.
void BM_Simulate100Nodes10s(benchmark::State& state) {
  for (auto _ : state) {
    SimConfig c;
    c.nodes = 100;
    c.duration = seconds(10);
    c.events = 100;
    c.events_at = seconds(2);
    c.events_spread = seconds(8);
    benchmark::DoNotOptimize(run_simulation(c));
  }
}
BENCHMARK(BM_Simulate100Nodes10s)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace trellis::gossip

BENCHMARK_MAIN();
