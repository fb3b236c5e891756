// node_bench: trellisd end to end, with a real daemon process and the kernel.
//  - BM_AttachApi: per container, sandbox create + endpoint create + join on a bridge network
//    through the HTTP API (one keep-alive connection), 200 containers; p50/p99/min/max in ms.
//  - BM_AttachCli: the same through the trellis CLI (three invocations per container).
//  - BM_RunCli: `trellis run -d --network N -- sleep` per container (one invocation that also
//    starts the process).
//  - BM_DaemonRss: the daemon's resident memory idle and with 1,000 endpoints.
// The program moves itself into a private network and mount namespace first, so it never
// touches the caller's; scripts/bench.sh runs it inside the harness as well. Each daemon's
// run directory is a tmpfs (like /run in production), its data directory is on disk.

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "node/api/client.h"

extern char** environ;

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int spawn(std::vector<std::string> args, bool quiet = true) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (quiet) {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  pid_t pid = 0;
  if (posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0)
    throw std::runtime_error("spawn " + args[0]);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

int wait_status(int pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A trellisd process on fresh directories, with one bridge network "bench".
class Daemon {
 public:
  Daemon() {
    char tmpl[] = "/tmp/trlb-XXXXXX";
    dir_ = mkdtemp(tmpl);
    // The run directory on a tmpfs, as /run/trellis is in production; the data directory (the
    // event store, fsync per commit) stays on disk.
    std::filesystem::create_directories(dir_ + "/run");
    if (mount("tmpfs", (dir_ + "/run").c_str(), "tmpfs", 0, "size=64m,mode=0755") != 0)
      throw std::runtime_error("mount tmpfs on " + dir_ + "/run");
    pid_ = spawn({TRELLISD_BIN, "--data-dir", dir_ + "/data", "--run-dir", dir_ + "/run",
                  "--log-level", "warn"},
                 false);
    const auto until = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < until) {
      try {
        client().call("GET", "/info");
        break;
      } catch (const std::exception&) {
        client_.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    client().call("POST", "/networks",
                  R"({"name":"bench","ipam":{"config":[{"subnet":"198.51.100.0/22"}]}})");
  }
  ~Daemon() {
    try {
      for (const auto& s : json::parse(client().call("GET", "/sandboxes")))
        client().call("DELETE", "/sandboxes/" + s["id"].get<std::string>() + "?kill=1");
      for (const auto& e : json::parse(client().call("GET", "/endpoints")))
        client().call("DELETE", "/endpoints/" + e["id"].get<std::string>() + "?force=1");
    } catch (const std::exception&) {
    }
    client_.reset();
    kill(pid_, SIGTERM);
    wait_status(pid_);
    umount2((dir_ + "/run/netns").c_str(), MNT_DETACH);
    umount2((dir_ + "/run").c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  trellis::node::ApiClient& client() {
    if (!client_) client_ = std::make_unique<trellis::node::ApiClient>(socket());
    return *client_;
  }
  std::string socket() const { return dir_ + "/run/trellis.sock"; }
  long rss_kib() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
  }

 private:
  std::string dir_;
  int pid_ = -1;
  std::unique_ptr<trellis::node::ApiClient> client_;
};

// "c12": built by appending (GCC 12 at -O3 reports a false -Wrestrict for "c" + to_string()).
std::string numbered(char prefix, int i) {
  std::string s(1, prefix);
  s += std::to_string(i);
  return s;
}

void report(benchmark::State& state, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  if (ms.empty()) return;
  auto pct = [&](double p) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))];
  };
  state.counters["p50_ms"] = pct(0.50);
  state.counters["p99_ms"] = pct(0.99);
  state.counters["min_ms"] = ms.front();
  state.counters["max_ms"] = ms.back();
}

constexpr int kContainers = 200;

void BM_AttachApi(benchmark::State& state) {
  Daemon d;
  auto& c = d.client();
  std::vector<double> ms;
  int i = 0;
  for (auto _ : state) {
    const std::string name = numbered('a', i++);
    const auto t0 = Clock::now();
    const json s = json::parse(c.call("POST", "/sandboxes", json{{"name", name}}.dump()));
    const json e = json::parse(
        c.call("POST", "/endpoints", json{{"network", "bench"}, {"name", name}}.dump()));
    c.call("POST", "/endpoints/" + e["id"].get<std::string>() + "/join",
           json{{"sandbox", s["id"]}}.dump());
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    state.SetIterationTime(secs);
    ms.push_back(secs * 1e3);
  }
  report(state, ms);
}
BENCHMARK(BM_AttachApi)->Iterations(kContainers)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_AttachCli(benchmark::State& state) {
  Daemon d;
  const std::string host = "unix://" + d.socket();
  std::vector<double> ms;
  int i = 0;
  for (auto _ : state) {
    const std::string name = numbered('c', i++);
    const auto t0 = Clock::now();
    int bad = wait_status(spawn({TRELLIS_BIN, "-H", host, "sandbox", "create", name}));
    bad |= wait_status(
        spawn({TRELLIS_BIN, "-H", host, "endpoint", "create", "--network", "bench", name}));
    bad |= wait_status(spawn({TRELLIS_BIN, "-H", host, "endpoint", "join", name, name}));
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (bad) state.SkipWithError("a trellis command failed");
    state.SetIterationTime(secs);
    ms.push_back(secs * 1e3);
  }
  report(state, ms);
}
BENCHMARK(BM_AttachCli)->Iterations(kContainers)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_RunCli(benchmark::State& state) {
  Daemon d;
  const std::string host = "unix://" + d.socket();
  std::vector<double> ms;
  int i = 0;
  for (auto _ : state) {
    const std::string name = numbered('r', i++);
    const auto t0 = Clock::now();
    const int bad = wait_status(spawn({TRELLIS_BIN, "-H", host, "run", "-d", "--name", name,
                                       "--network", "bench", "--", "sleep", "1000"}));
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (bad) state.SkipWithError("trellis run failed");
    state.SetIterationTime(secs);
    ms.push_back(secs * 1e3);
  }
  report(state, ms);
}
BENCHMARK(BM_RunCli)->Iterations(kContainers)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_DaemonRss(benchmark::State& state) {
  for (auto _ : state) {
    Daemon d;
    state.counters["idle_rss_mib"] = d.rss_kib() / 1024.0;
    auto& c = d.client();
    for (int i = 0; i < 1000; ++i)
      c.call("POST", "/endpoints", json{{"network", "bench"}, {"name", numbered('e', i)}}.dump());
    state.counters["rss_1000_endpoints_mib"] = d.rss_kib() / 1024.0;
  }
}
BENCHMARK(BM_DaemonRss)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  // Never touch the caller's namespaces.
  if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
    std::perror("node_bench: unshare (needs root)");
    return 1;
  }
  mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  wait_status(spawn({"ip", "link", "set", "lo", "up"}));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
