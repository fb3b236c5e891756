// cluster_bench: event propagation and failure detection of the cluster service, several
// ClusterService nodes in one process on 127.0.0.1 ephemeral ports (loopback only) with real
// durable stores. The 5-node run is the anchor for the larger one in the same run: the ratio
// shows what cluster size costs. Each run forms a fresh cluster (not timed).
//
//   BM_Propagation/N: 100 events appended at random nodes (one every 20 ms); the time from the
//     local commit until the last other node applied the event. Reported: p50/p99/max (ms);
//     the benchmark's time is the median.
//   BM_Detection/N: one node after another is killed (no leave); the time until every other
//     node declared it dead. Reported like the above.

#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/log.h"
#include "tests/node/support/loopback_cluster.h"

namespace {

using trellis::node::testing::LoopbackCluster;
using trellis::node::testing::percentile;

void report(benchmark::State& state, const std::vector<double>& ms, size_t expected) {
  state.SetIterationTime(percentile(ms, 0.5) / 1e3);
  state.counters["p50_ms"] = percentile(ms, 0.5);
  state.counters["p99_ms"] = percentile(ms, 0.99);
  state.counters["max_ms"] = percentile(ms, 1.0);
  state.counters["missing"] = static_cast<double>(expected - ms.size());
  if (ms.size() != expected) state.SkipWithError("some measurements never completed");
}

void BM_Propagation(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  constexpr int kEvents = 100;
  for (auto _ : state) {
    LoopbackCluster cluster;
    cluster.form(n, /*durable=*/true);
    const std::vector<double> ms =
        cluster.measure_propagation(kEvents, std::chrono::milliseconds(20), 2);
    report(state, ms, kEvents);
  }
}
BENCHMARK(BM_Propagation)
    ->Arg(5)
    ->Arg(20)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_Detection(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const size_t victims = std::min<size_t>(5, n - 2);
  for (auto _ : state) {
    LoopbackCluster cluster;
    cluster.form(n, /*durable=*/true);
    std::vector<double> ms;
    for (size_t i = 0; i < victims; ++i) {
      if (auto d = cluster.measure_detection(*cluster.nodes[n - 1 - i])) ms.push_back(*d);
      // Let the survivors settle before the next crash, so crashes are measured one by one.
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    report(state, ms, victims);
  }
}
BENCHMARK(BM_Detection)
    ->Arg(5)
    ->Arg(20)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  trellis::log("cluster").set_level(spdlog::level::err);  // deaths are the point here
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
