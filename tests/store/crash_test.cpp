// Crash safety: a child applies events as fast as it can and is killed with SIGKILL at a
// random moment, 200 times on the same store. After each kill the store reopens with
// contiguous heads, every event the child reported committed is there, and the state equals
// the fold of the log from scratch.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "tests/store/sim_cluster.h"

namespace trellis::store {
namespace {

using testing::SimCluster;
using testing::TempDir;
using testing::test_options;

constexpr NodeId kSelf = 0x5e1f;

void write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) _exit(3);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void report(int fd, const std::vector<EventId>& ids) {
  std::vector<uint64_t> buf;
  for (const auto& id : ids) {
    buf.push_back(id.origin);
    buf.push_back(id.seq);
  }
  if (!buf.empty()) write_all(fd, buf.data(), buf.size() * sizeof(uint64_t));
}

// The child: never returns.
[[noreturn]] void run_child(const std::string& path,
                            const std::map<NodeId, std::vector<Event>>& pool, uint64_t seed,
                            int fd) {
  try {
    Store s = Store::open(path, test_options(kSelf, /*durable=*/true));
    std::mt19937_64 rng(seed);
    auto pick = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
    for (uint64_t round = 0;; ++round) {
      const int action = static_cast<int>(pick(100));
      if (action < 55) {
        // Remote events: the next few of random origins, sometimes out of order.
        VersionVector vv = s.version_vector();
        std::vector<Event> batch;
        const size_t n = 1 + pick(30);
        for (size_t tries = 0; tries < 4 * n && batch.size() < n; ++tries) {
          auto it = pool.begin();
          std::advance(it, static_cast<std::ptrdiff_t>(pick(pool.size())));
          const uint64_t next = vv[it->first] + pick(2);  // sometimes skip one: a gap
          if (next < it->second.size()) {
            batch.push_back(it->second[next]);
            vv[it->first] = std::max(vv[it->first], next + 1);
          }
        }
        if (batch.empty()) continue;
        if (pick(3) == 0) std::shuffle(batch.begin(), batch.end(), rng);
        report(fd, s.apply_remote(batch).applied);
      } else if (action < 97) {
        std::vector<Body> bodies;
        const size_t n = 1 + pick(10);
        {
          auto view = s.read();  // released before writing
          std::optional<NetworkInfo> net = view.network("local-net");
          for (size_t i = 0; i < n; ++i) {
            std::string id = "l";
            id += std::to_string(pick(40));
            if (!net) {
              bodies.push_back(
                  SandboxCreated{"seed-" + std::to_string(round), "", "", "", {}, {}, {}, {}});
              NetworkCreated nc;
              nc.id = "local-net";
              nc.name = "local";
              nc.driver = "bridge";
              nc.ipam_result.pools.push_back({"10.200.0.0/16", "10.200.0.1"});
              bodies.push_back(nc);
              break;
            }
            if (view.endpoint(id)) {
              bodies.push_back(EndpointRemoved{id});
            } else {
              auto space = view.space(network_space_key("local-net", 0));
              const uint64_t off = 2 + std::hash<std::string>()(id) % 60000;
              if (space->space.is_allocated(off)) continue;
              auto p = ipam::Prefix::parse("10.200.0.0/16");
              bodies.push_back(EndpointCreated{EndpointSpec{id,
                                                            "local-net",
                                                            id,
                                                            "02:00:00:00:00:01",
                                                            {p.address_at(off).to_string()},
                                                            {},
                                                            {},
                                                            0}});
            }
            break;  // one per resource per batch keeps the plan valid
          }
        }
        if (bodies.empty()) continue;
        std::vector<EventId> ids;
        for (const auto& e : s.append_local(bodies)) ids.push_back(e.id());
        report(fd, ids);
      } else {
        s.compact(s.version_vector());
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crash child failed: %s\n", e.what());
    _exit(2);
  }
}

TEST(CrashTest, StoreSurvivesTwoHundredKillsWithContiguousHeadsAndAFaithfulState) {
  TempDir dir;
  std::map<NodeId, std::vector<Event>> pool;
  {
    SimCluster cluster(dir, 3, 42);
    for (int i = 0; i < 300; ++i) cluster.step();
    cluster.full_sync();
    pool = cluster.logs();
  }
  const std::string path = dir.sub("crash");
  { Store init = Store::open(path, test_options(kSelf, true)); }
  std::set<std::pair<NodeId, uint64_t>> committed;
  std::mt19937_64 rng(1234);
  int kills_mid_run = 0;
  for (int iteration = 0; iteration < 200; ++iteration) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      run_child(path, pool, rng(), fds[1]);
    }
    ::close(fds[1]);
    // The random moment of the kill (this is the fault being injected, not a wait).
    std::this_thread::sleep_for(std::chrono::microseconds(2000 + rng() % 48000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ++kills_mid_run;
    ASSERT_FALSE(WIFEXITED(status)) << "child exited by itself with " << WEXITSTATUS(status);
    std::string data;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
      data.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    for (size_t at = 0; at + 16 <= data.size(); at += 16) {
      uint64_t v[2];
      std::memcpy(v, data.data() + at, 16);
      committed.insert({v[0], v[1]});
    }

    Store s = Store::open(path, test_options(kSelf, true));
    const VersionVector vv = s.version_vector();
    const VersionVector floors = s.compacted_floors();
    for (const auto& [origin, head] : vv) {
      const uint64_t floor = floors.count(origin) ? floors.at(origin) : 0;
      auto events = s.events_after(origin, floor, 1u << 30);
      ASSERT_EQ(events.size(), head - floor) << "iteration " << iteration;
      for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i].seq, floor + 1 + i);
    }
    for (const auto& [origin, seq] : committed) {
      ASSERT_LE(seq, vv.count(origin) ? vv.at(origin) : 0) << "lost a committed event";
      const uint64_t floor = floors.count(origin) ? floors.at(origin) : 0;
      if (seq > floor) {
        ASSERT_TRUE(s.event({origin, seq})) << "lost a committed event";
      }
    }
    if (s.digest_from_scratch() != s.state_digest() && std::getenv("TRELLIS_KEEP")) {
      std::filesystem::copy(path, std::getenv("TRELLIS_KEEP"));
    }
    ASSERT_EQ(s.digest_from_scratch(), s.state_digest()) << "iteration " << iteration;
  }
  EXPECT_GT(committed.size(), 500u) << "the children committed too little to test much";
  std::printf("%zu events reported committed over 200 kills\n", committed.size());
  EXPECT_EQ(kills_mid_run, 200);
}

}  // namespace
}  // namespace trellis::store
