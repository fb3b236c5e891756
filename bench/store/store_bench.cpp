// Event store benchmarks (issue 3):
//  1. apply throughput, durable: single-event commits and batches of 100;
//  2. open + recover time for stores of 100k and 1M events (and a full refold from the log);
//  3. compacted size vs history size after 1M random create/remove events over 10k resources;
//  4. state read latency at 100k endpoints (endpoint by id, a network's endpoints).
// Stores live under $TMPDIR and are removed at exit. Sizes are benchmark arguments.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>

#include "ipam/ip.h"
#include "store/store.h"

namespace {

using namespace trellis::store;
namespace fs = std::filesystem;

constexpr NodeId kSelf = 0x5e1f;
constexpr NodeId kRemote = 0x7e3073;

struct BenchDir {
  fs::path root;
  BenchDir() {
    std::string tmpl = (fs::temp_directory_path() / "trellis-store-bench-XXXXXX").string();
    root = ::mkdtemp(tmpl.data());
  }
  ~BenchDir() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string fresh(const std::string& name) {
    static int n = 0;
    return (root / (name + "-" + std::to_string(++n))).string();
  }
};
BenchDir& bench_dir() {
  static BenchDir d;
  return d;
}

Options options(bool durable) {
  Options o;
  o.node_id = kSelf;
  o.durable = durable;
  return o;
}

Event remote_event(uint64_t seq, Body body) {
  return Event{kRemote, seq, seq, 1700000000000, {}, std::move(body)};
}

SandboxCreated sandbox(uint64_t i) {
  return SandboxCreated{"sandbox-" + std::to_string(i),
                        "container-" + std::to_string(i),
                        "host",
                        "",
                        {"192.0.2.53"},
                        {},
                        {},
                        {}};
}

NetworkCreated network(const std::string& id, const std::string& subnet) {
  NetworkCreated n;
  n.id = id;
  n.name = id;
  n.driver = "overlay";
  n.cluster_scope = true;
  auto p = trellis::ipam::Prefix::parse(subnet);
  n.ipam_result.pools.push_back({subnet, p.address_at(1).to_string()});
  return n;
}

// 1. Apply throughput. Arg 0: events per commit; arg 1: 0 = sandbox events, 1 = endpoint
// events that claim an address in a network's owned space; arg 2: 1 = durable (fsync per
// commit, the default), 0 = no fsync (shows the CPU cost of the write path alone).
void BM_Apply(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  const bool endpoints = state.range(1) == 1;
  Store s = Store::open(bench_dir().fresh("apply"), options(state.range(2) == 1));
  uint64_t seq = 0;
  if (endpoints) s.apply_remote({remote_event(++seq, network("bench-net", "10.128.0.0/9"))});
  const auto prefix = trellis::ipam::Prefix::parse("10.128.0.0/9");
  uint64_t n = 0;
  std::vector<Event> events;
  for (auto _ : state) {
    events.clear();
    for (size_t i = 0; i < batch; ++i) {
      ++n;
      if (endpoints) {
        EndpointSpec e{"ep-" + std::to_string(n),
                       "bench-net",
                       "ep",
                       "02:42:00:00:00:01",
                       {prefix.address_at(n + 1).to_string()},
                       {},
                       {},
                       kRemote};
        events.push_back(remote_event(++seq, EndpointCreated{std::move(e)}));
      } else {
        events.push_back(remote_event(++seq, sandbox(n)));
      }
    }
    ChangeSet c = s.apply_remote(events);
    if (c.applied.size() != batch) state.SkipWithError("events were not applied");
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["events_per_commit"] = static_cast<double>(batch);
}
BENCHMARK(BM_Apply)
    ->ArgNames({"batch", "endpoints", "durable"})
    ->Args({1, 0, 1})
    ->Args({100, 0, 1})
    ->Args({1000, 0, 1})
    ->Args({100, 0, 0})
    ->Args({1, 1, 1})
    ->Args({100, 1, 1})
    ->Args({1000, 1, 1})
    ->Args({100, 1, 0})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// A store of `events` sandbox create/remove events over `resources` ids, built once.
const std::string& built_store(uint64_t events, uint64_t resources) {
  static std::map<std::pair<uint64_t, uint64_t>, std::string> built;
  auto key = std::pair(events, resources);
  auto it = built.find(key);
  if (it != built.end()) return it->second;
  const std::string dir = bench_dir().fresh("history");
  Store s = Store::open(dir, options(/*durable=*/false));
  std::mt19937_64 rng(events ^ resources);
  std::vector<bool> live(resources, false);
  std::vector<Event> batch;
  for (uint64_t seq = 1; seq <= events; ++seq) {
    const uint64_t r = rng() % resources;
    if (live[r]) {
      batch.push_back(remote_event(seq, SandboxRemoved{"sandbox-" + std::to_string(r)}));
    } else {
      batch.push_back(remote_event(seq, sandbox(r)));
    }
    live[r] = !live[r];
    if (batch.size() == 5000) {
      s.apply_remote(batch);
      batch.clear();
    }
  }
  if (!batch.empty()) s.apply_remote(batch);
  return built.emplace(key, dir).first->second;
}

// 2. Open + recover: open the environment, load heads and identity, take a first read.
void BM_OpenAndRecover(benchmark::State& state) {
  const uint64_t events = static_cast<uint64_t>(state.range(0));
  const std::string& dir = built_store(events, events / 10);
  for (auto _ : state) {
    Store s = Store::open(dir, options(true));
    benchmark::DoNotOptimize(s.version_vector());
    benchmark::DoNotOptimize(s.read().sandbox("sandbox-1"));
  }
  state.counters["events"] = static_cast<double>(events);
}
BENCHMARK(BM_OpenAndRecover)
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// 2b. Full refold of the log into fresh state tables (what a rebuild costs), not committed.
void BM_RefoldFromScratch(benchmark::State& state) {
  const uint64_t events = static_cast<uint64_t>(state.range(0));
  const std::string& dir = built_store(events, events / 10);
  Store s = Store::open(dir, options(true));
  for (auto _ : state) benchmark::DoNotOptimize(s.digest_from_scratch());
  state.SetItemsProcessed(static_cast<int64_t>(events * state.iterations()));
}
BENCHMARK(BM_RefoldFromScratch)
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

// 3. Compacted size vs history size: 1M create/remove events over 10k resources.
void BM_CompactionRatio(benchmark::State& state) {
  const uint64_t events = static_cast<uint64_t>(state.range(0));
  const uint64_t resources = static_cast<uint64_t>(state.range(1));
  const std::string& src = built_store(events, resources);
  uint64_t history_bytes = 0, compacted_bytes = 0, history_events = 0, compacted_events = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string dir = bench_dir().fresh("compact");
    fs::create_directories(dir);
    fs::copy_file(fs::path(src) / "data.mdb", fs::path(dir) / "data.mdb");
    Store s = Store::open(dir, options(false));
    history_events = s.counts().events;
    history_bytes = 0;
    for (uint64_t after = 0;;) {
      auto chunk = s.events_after(kRemote, after, 10000);
      if (chunk.empty()) break;
      for (const auto& e : chunk) history_bytes += encode_event(e).size();
      after = chunk.back().seq;
    }
    state.ResumeTiming();
    s.compact(s.version_vector());
    state.PauseTiming();
    compacted_events = s.counts().events;
    compacted_bytes = 0;
    Snapshot snap = s.snapshot();
    for (auto c = snap.next(10000); !c.empty(); c = snap.next(10000)) {
      for (const auto& e : c) compacted_bytes += encode_event(e).size();
    }
    state.ResumeTiming();
  }
  state.counters["history_events"] = static_cast<double>(history_events);
  state.counters["compacted_events"] = static_cast<double>(compacted_events);
  state.counters["history_MB"] = static_cast<double>(history_bytes) / 1e6;
  state.counters["compacted_MB"] = static_cast<double>(compacted_bytes) / 1e6;
  state.counters["ratio"] =
      static_cast<double>(compacted_bytes) / static_cast<double>(history_bytes);
}
BENCHMARK(BM_CompactionRatio)
    ->Args({1000000, 10000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

// 4. Reads at 100k endpoints: 100 networks (/16) with 1000 endpoints each.
const std::string& endpoint_store(uint64_t endpoints) {
  static std::map<uint64_t, std::string> built;
  auto it = built.find(endpoints);
  if (it != built.end()) return it->second;
  const std::string dir = bench_dir().fresh("endpoints");
  Store s = Store::open(dir, options(false));
  const uint64_t nets = std::max<uint64_t>(1, endpoints / 1000);
  uint64_t seq = 0;
  std::vector<Event> batch;
  for (uint64_t n = 0; n < nets; ++n) {
    batch.push_back(remote_event(
        ++seq, network("net-" + std::to_string(n), "10." + std::to_string(n % 256) + ".0.0/16")));
  }
  s.apply_remote(batch);
  batch.clear();
  for (uint64_t i = 0; i < endpoints; ++i) {
    const uint64_t n = i % nets;
    const auto p = trellis::ipam::Prefix::parse("10." + std::to_string(n % 256) + ".0.0/16");
    EndpointSpec e{"ep-" + std::to_string(i),
                   "net-" + std::to_string(n),
                   "ep",
                   "02:42:00:00:00:01",
                   {p.address_at(i / nets + 2).to_string() + "/16"},
                   {"alias"},
                   {{"tcp", 80, 0, ""}},
                   kRemote};
    batch.push_back(remote_event(++seq, EndpointCreated{std::move(e)}));
    if (batch.size() == 5000) {
      s.apply_remote(batch);
      batch.clear();
    }
  }
  if (!batch.empty()) s.apply_remote(batch);
  return built.emplace(endpoints, dir).first->second;
}

void BM_EndpointLookup(benchmark::State& state) {
  const uint64_t endpoints = static_cast<uint64_t>(state.range(0));
  Store s = Store::open(endpoint_store(endpoints), options(true));
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto view = s.read();  // a fresh consistent snapshot per lookup
    auto e = view.endpoint("ep-" + std::to_string(rng() % endpoints));
    if (!e) state.SkipWithError("missing endpoint");
    benchmark::DoNotOptimize(e);
  }
}
BENCHMARK(BM_EndpointLookup)->Arg(100000)->Unit(benchmark::kMicrosecond);

void BM_NetworkEndpointList(benchmark::State& state) {
  const uint64_t endpoints = static_cast<uint64_t>(state.range(0));
  Store s = Store::open(endpoint_store(endpoints), options(true));
  const uint64_t nets = std::max<uint64_t>(1, endpoints / 1000);
  std::mt19937_64 rng(2);
  size_t listed = 0;
  for (auto _ : state) {
    auto view = s.read();
    auto list = view.endpoints_of_network("net-" + std::to_string(rng() % nets));
    listed = list.size();
    benchmark::DoNotOptimize(list);
  }
  state.counters["endpoints_listed"] = static_cast<double>(listed);
}
BENCHMARK(BM_NetworkEndpointList)->Arg(100000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
