// IPAM benchmarks: draining pools (libnetwork's BenchmarkRequest, minus its store), random
// churn at 50% occupancy, and the memory a pool's state takes.
//
//   build/release/bench/ipam/ipam_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true   (one command line)

#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "ipam/allocator.h"
#include "ipam/owned_ranges.h"

namespace trellis::ipam {
namespace {

std::string pool_of_length(int length) { return "10.0.0.0/" + std::to_string(length); }

// A fresh pool per iteration, then request_address until the pool is exhausted.
void BM_DrainPool(benchmark::State& state) {
  const std::string cidr = pool_of_length(static_cast<int>(state.range(0)));
  const bool serial = state.range(1) != 0;
  uint64_t handed_out = 0;
  for (auto _ : state) {
    Allocator allocator;
    const std::string id = allocator.request_pool(kLocalSpace, cidr).id;
    uint64_t count = 0;
    try {
      while (true) {
        benchmark::DoNotOptimize(allocator.request_address(id, std::nullopt, {.serial = serial}));
        ++count;
      }
    } catch (const NoAvailableAddressError&) {
    }
    handed_out = count;
  }
  state.counters["addresses"] = static_cast<double>(handed_out);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * handed_out));
}
BENCHMARK(BM_DrainPool)
    ->ArgNames({"prefix", "serial"})
    ->Args({24, 0})
    ->Args({16, 0})
    ->Args({16, 1})
    ->Args({8, 0})
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

// A /16 with a random half of its addresses taken; each iteration releases a random taken
// address and requests one (lowest free, or serial).
void BM_Churn16HalfFull(benchmark::State& state) {
  const bool serial = state.range(0) != 0;
  Allocator allocator;
  const std::string id = allocator.request_pool(kLocalSpace, "10.0.0.0/16").id;
  std::mt19937_64 rng(42);
  std::vector<IpAddress> taken;
  try {
    while (true) taken.push_back(allocator.request_address(id));
  } catch (const NoAvailableAddressError&) {
  }
  std::shuffle(taken.begin(), taken.end(), rng);
  for (size_t i = taken.size() / 2; i < taken.size(); ++i) allocator.release_address(id, taken[i]);
  taken.resize(taken.size() / 2);
  // Lowest-free requests pack the pool back towards its start over time, so the run list
  // (and `bytes`) shrinks during the run; `bytes_start` is the random half before churning.
  state.counters["bytes_start"] = static_cast<double>(allocator.memory_bytes());

  for (auto _ : state) {
    const size_t victim = rng() % taken.size();
    allocator.release_address(id, taken[victim]);
    taken[victim] = allocator.request_address(id, std::nullopt, {.serial = serial});
  }
  state.counters["bytes"] = static_cast<double>(allocator.memory_bytes());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Churn16HalfFull)->ArgNames({"serial"})->Arg(0)->Arg(1);

// Memory of a pool's state, as counters: `bytes` is Allocator::memory_bytes() (the bit
// sequence's run-list nodes plus the pool and id tables; no allocator slack), `bytes_per_addr`
// divides it by the pool's addresses. The timed part builds the state.
void BM_Memory(benchmark::State& state) {
  const int length = static_cast<int>(state.range(0));
  const int mode = static_cast<int>(state.range(1));  // 0 full, 1 first half, 2 random half
  size_t bytes = 0;
  uint64_t addresses = 0;
  for (auto _ : state) {
    Allocator allocator;
    const PoolInfo pool = allocator.request_pool(kLocalSpace, pool_of_length(length));
    addresses = pool.pool.host_count();
    const uint64_t usable = allocator.free_count(pool.id);
    if (mode == 2) {
      // Every usable address with probability 1/2, requested by value.
      std::mt19937_64 rng(7);
      for (uint64_t offset = 1; offset <= usable; ++offset) {
        if (rng() & 1) allocator.request_address(pool.id, pool.pool.address_at(offset));
      }
    } else {
      const uint64_t count = mode == 0 ? usable : usable / 2;
      for (uint64_t i = 0; i < count; ++i) allocator.request_address(pool.id);
    }
    bytes = allocator.memory_bytes();
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["bytes_per_addr"] = static_cast<double>(bytes) / static_cast<double>(addresses);
}
BENCHMARK(BM_Memory)
    ->ArgNames({"prefix", "mode"})
    ->Args({16, 0})  // full /16
    ->Args({16, 2})  // /16, random half taken
    ->Args({8, 1})   // /8, lower half taken
    ->Args({8, 2})   // /8, random half taken
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

// An owned /16 address space (offsets 1..65534) drained by its owner, then donations
// planned on a fragmented space.
void BM_OwnedSpaceDrain16(benchmark::State& state) {
  for (auto _ : state) {
    OwnedSpace space(1, 65534, /*founder=*/1);
    for (uint64_t i = 0; i < 65534; ++i) benchmark::DoNotOptimize(space.allocate(1, false));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 65534));
}
BENCHMARK(BM_OwnedSpaceDrain16)->Unit(benchmark::kMillisecond);

void BM_OwnedSpacePlanDonationFragmented16(benchmark::State& state) {
  OwnedSpace space(1, 65534, /*founder=*/1);
  std::mt19937_64 rng(3);
  for (uint64_t i = 1; i <= 65534; ++i) {
    if (rng() & 1) space.allocate_specific(1, i);
  }
  for (auto _ : state) benchmark::DoNotOptimize(space.plan_donation(1, 2, 1024));
}
BENCHMARK(BM_OwnedSpacePlanDonationFragmented16)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace trellis::ipam

BENCHMARK_MAIN();
