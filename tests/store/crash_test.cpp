// Crash safety: a child applies events as fast as it can and reports each commit on a pipe;
// after a random number of commits it is killed with SIGKILL at a random moment, 200 times
// on the same store. After each kill the store reopens with contiguous heads, every event the
// child reported committed is there, and the state equals the fold of the log from scratch.
// The kill follows the child's reported progress, not a timer, so a loaded machine only
// makes the test slower.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "tests/store/sim_cluster.h"
#include "tests/store/test_support.h"

namespace trellis::store {
namespace {

using testing::SimCluster;
using testing::TempDir;
using testing::test_options;

constexpr NodeId kSelf = 0x5e1f;
constexpr int kKills = 200;
// How long a child may take to report the commits it was given (a deadline, not a pace).
constexpr auto kProgressDeadline = std::chrono::seconds(120);

void write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(3);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// One record per committed write: [count, origin, seq, origin, seq, ...] as uint64s, written
// after the commit returned, so everything reported is durable. A record cut short by the
// kill is ignored.
void report_commit(int fd, const std::vector<EventId>& ids) {
  std::vector<uint64_t> buf;
  buf.push_back(ids.size());
  for (const auto& id : ids) {
    buf.push_back(id.origin);
    buf.push_back(id.seq);
  }
  write_all(fd, buf.data(), buf.size() * sizeof(uint64_t));
}

// The parent's side of the pipe: counts the child's commit records and collects the events
// they name.
class CommitReports {
 public:
  explicit CommitReports(int fd) : fd_(fd) {}
  CommitReports(const CommitReports&) = delete;
  CommitReports& operator=(const CommitReports&) = delete;
  ~CommitReports() { ::close(fd_); }

  // Waits until `commits` commits have been reported. False when the pipe closed (the child
  // died) or the deadline passed first.
  bool wait_for(size_t commits, std::chrono::steady_clock::time_point deadline) {
    while (commits_ < commits) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) return false;
      if (!read_some()) return false;
    }
    return true;
  }

  // Reads what is left once the child is dead (records it wrote before the kill).
  void drain() {
    while (read_some()) {
    }
  }

  size_t commits() const { return commits_; }
  const std::vector<EventId>& events() const { return events_; }

 private:
  // Reads once; false at end of file.
  bool read_some() {
    char chunk[4096];
    ssize_t n;
    do {
      n = ::read(fd_, chunk, sizeof chunk);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    parse();
    return true;
  }

  void parse() {
    size_t at = 0;
    while (buf_.size() - at >= 8) {
      uint64_t count;
      std::memcpy(&count, buf_.data() + at, 8);
      if (buf_.size() - at < 8 + count * 16) break;  // the rest of this record is to come
      for (uint64_t i = 0; i < count; ++i) {
        uint64_t v[2];
        std::memcpy(v, buf_.data() + at + 8 + i * 16, 16);
        events_.push_back({v[0], v[1]});
      }
      at += 8 + count * 16;
      ++commits_;
    }
    buf_.erase(0, at);
  }

  int fd_;
  std::string buf_;
  size_t commits_ = 0;
  std::vector<EventId> events_;
};

// The next write of the child: a batch of remote events, local events, or a compaction.
// Returns the events the write applied; nullopt when there was nothing to write.
std::optional<std::vector<EventId>> write_once(Store& s,
                                               const std::map<NodeId, std::vector<Event>>& pool,
                                               std::mt19937_64& rng, uint64_t round) {
  auto pick = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
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
    if (batch.empty()) return std::nullopt;
    if (pick(3) == 0) std::shuffle(batch.begin(), batch.end(), rng);
    return s.apply_remote(batch).applied;
  }
  if (action < 97) {
    std::vector<Body> bodies;
    {
      auto view = s.read();  // released before writing
      if (!view.network("local-net")) {
        bodies.push_back(testing::sandbox("seed-" + std::to_string(round)));
        bodies.push_back(testing::network("local-net", "local", "10.200.0.0/16", false));
      } else {
        // One event per resource per batch keeps the plan valid.
        const std::string id = "l" + std::to_string(pick(40));
        const uint64_t off = 2 + std::hash<std::string>()(id) % 60000;
        if (view.endpoint(id)) {
          bodies.push_back(EndpointRemoved{id});
        } else if (!view.space(network_space_key("local-net", 0))->space.is_allocated(off)) {
          auto p = ipam::Prefix::parse("10.200.0.0/16");
          bodies.push_back(
              EndpointCreated{testing::endpoint(id, "local-net", p.address_at(off).to_string())});
        }
      }
    }
    if (bodies.empty()) return std::nullopt;
    std::vector<EventId> ids;
    for (const auto& e : s.append_local(bodies)) ids.push_back(e.id());
    return ids;
  }
  s.compact(s.version_vector());
  return std::vector<EventId>{};
}

// The child: writes until it is killed, reporting each commit. Never returns.
[[noreturn]] void run_child(const std::string& path,
                            const std::map<NodeId, std::vector<Event>>& pool, uint64_t seed,
                            int fd) {
  try {
    Store s = Store::open(path, test_options(kSelf, /*durable=*/true));
    std::mt19937_64 rng(seed);
    for (uint64_t round = 0;; ++round) {
      if (auto ids = write_once(s, pool, rng, round)) report_commit(fd, *ids);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crash child failed: %s\n", e.what());
    _exit(2);
  }
}

// The store at `path` after a crash: heads contiguous from the compacted floors, every
// event in `committed` present, state equal to the log folded from scratch.
void expect_recovered(const std::string& path,
                      const std::set<std::pair<NodeId, uint64_t>>& committed, int iteration) {
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
  size_t commits = 0;
  for (int iteration = 0; iteration < kKills; ++iteration) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      run_child(path, pool, rng(), fds[1]);
    }
    ::close(fds[1]);
    CommitReports reports(fds[0]);
    // Let the child commit a random number of writes, then kill it at a random moment of
    // the writes that follow (the delay is the fault being injected, not a wait).
    const size_t target = 1 + rng() % 8;
    const bool progressed =
        reports.wait_for(target, std::chrono::steady_clock::now() + kProgressDeadline);
    if (progressed) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    reports.drain();
    ASSERT_FALSE(WIFEXITED(status)) << "child exited by itself with " << WEXITSTATUS(status);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ASSERT_TRUE(progressed) << "iteration " << iteration << ": the child reported "
                            << reports.commits() << " of " << target << " commits in time";
    commits += reports.commits();
    for (const auto& id : reports.events()) committed.insert({id.origin, id.seq});

    expect_recovered(path, committed, iteration);
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::printf("%zu commits and %zu events reported committed over %d kills\n", commits,
              committed.size(), kKills);
  EXPECT_GT(committed.size(), 300u) << "the children committed too little to test much";
}

}  // namespace
}  // namespace trellis::store
