#pragma once
// A real trellisd process with its own data and run directories, and helpers to run the
// `trellis` CLI (and other programs) against it, for the kernel tests (label netns). The
// binaries' paths come from the build (TRELLISD_BIN, TRELLIS_BIN).
//
// Each test calls isolate() first: it moves the test process into a fresh network and mount
// namespace, so every test starts from an empty "host" (no links but lo, no nftables) and the
// daemon and its containers inherit it. The ctest wrapper already runs the binary inside a
// private namespace; isolate() adds one per test.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/common/eventually.h"
#include "tests/node/support/temp_dir.h"

extern char** environ;

namespace trellis::node::testing {

struct Result {
  int status = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

// A TCP port on 127.0.0.1 free right now (the namespace is private to the test).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error("bind 127.0.0.1:0 failed");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Polls `cond` every 20 ms until it holds or `limit` passes; returns the time it took, or
// nullopt.
inline std::optional<std::chrono::milliseconds> wait_for(const std::function<bool()>& cond,
                                                         std::chrono::milliseconds limit) {
  return test_support::time_until(cond, limit, std::chrono::milliseconds(20));
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs argv to completion with stdout and stderr captured (through files, no deadlock).
inline Result run_program(const std::vector<std::string>& argv, const std::string& scratch) {
  static int counter = 0;
  const std::string out =
      scratch + "/out." + std::to_string(getpid()) + "." + std::to_string(++counter);
  const std::string err = out + ".err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> args = argv;
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, cargs[0], &fa, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("spawn " + argv[0] + " failed");
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  Result r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  ::unlink(out.c_str());
  ::unlink(err.c_str());
  return r;
}

// A fresh network and mount namespace for the calling (single-threaded) test process, with
// loopback up.
inline void isolate() {
  if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) throw std::runtime_error("unshare failed");
  mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  Result r = run_program({"ip", "link", "set", "lo", "up"}, "/tmp");
  if (r.status != 0) throw std::runtime_error("lo up: " + r.err);
}

class TrellisHost {
 public:
  TrellisHost() { std::filesystem::create_directories(dir_ / "scratch"); }
  ~TrellisHost() {
    if (pid_ > 0) {
      // Tear the containers down (their processes outlive the daemon otherwise).
      Result ls = cli({"sandbox", "ls", "-q"});
      std::istringstream ids(ls.out);
      for (std::string id; ids >> id;) cli({"rm", id});
      stop();
    }
    // The daemon leaves its namespace mounts for a restart to adopt; the test is over.
    // (In a loop: a crashed daemon and its successor may have stacked two binds there.)
    for (int i = 0; i < 8 && umount2((dir_ / "run/netns").c_str(), MNT_DETACH) == 0; ++i) {
    }
  }

  std::string data_dir() const { return dir_ / "data"; }
  std::string run_dir() const { return dir_ / "run"; }
  std::string socket() const { return run_dir() + "/trellis.sock"; }
  int pid() const { return pid_; }

  // Daemon flags beyond the directories (set before start()).
  std::string name = "test-host";
  std::string log_level = "warn";
  std::vector<std::string> extra_args;

  void start() {
    spawn();
    wait_ready();
  }
  // Starts trellisd without waiting for its API (several daemons can start at once).
  void spawn() {
    std::vector<std::string> args = {
        TRELLISD_BIN, "--data-dir",  data_dir(), "--run-dir",     run_dir(),           "--name",
        name,         "--log-level", log_level,  "--resolv-conf", dir_ / "resolv.conf"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    {
      std::ofstream r(dir_ / "resolv.conf");
      r << "nameserver 192.0.2.53\n";
    }
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string log = dir_ / "trellisd.log";
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (posix_spawn(&pid_, cargs[0], &fa, nullptr, cargs.data(), environ) != 0)
      throw std::runtime_error("cannot start trellisd");
    posix_spawn_file_actions_destroy(&fa);
  }
  // Waits until the spawned daemon answers on its API (20 s), or throws with its log.
  void wait_ready() {
    const std::string log = dir_ / "trellisd.log";
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      if (cli({"info"}).status == 0) return;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("trellisd exited: " + slurp(log));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    throw std::runtime_error("trellisd did not answer: " + slurp(log));
  }
  // Waits up to `limit` for the spawned daemon to exit by itself; its exit status (128 +
  // signal for a signal), or nullopt if it still runs.
  std::optional<int> wait_exit(std::chrono::milliseconds limit) {
    std::optional<int> code;
    test_support::eventually(
        [&] {
          int status = 0;
          if (pid_ <= 0 || waitpid(pid_, &status, WNOHANG) != pid_) return false;
          pid_ = -1;
          code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          return true;
        },
        limit, std::chrono::milliseconds(20));
    return code;
  }
  void kill9() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::string log() const { return slurp(dir_ / "trellisd.log"); }

  Result cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {TRELLIS_BIN, "-H", "unix://" + socket()});
    return run_program(args, dir_ / "scratch");
  }
  Result run(const std::vector<std::string>& argv) const {
    return run_program(argv, dir_ / "scratch");
  }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
};

// `h`'s CLI with --format json appended, parsed; null when the command or the parse fails.
inline nlohmann::json cli_json(const TrellisHost& h, std::vector<std::string> args) {
  args.push_back("--format");
  args.push_back("json");
  const Result r = h.cli(args);
  if (r.status != 0) return nlohmann::json();
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception&) {
    return nlohmann::json();
  }
}

// The state `h` holds of member `name` ("" when unknown).
inline std::string member_state(const TrellisHost& h, const std::string& name) {
  const nlohmann::json list = cli_json(h, {"cluster", "members"});
  if (!list.is_array()) return "";
  for (const auto& m : list)
    if (m.value("name", "") == name) return m.value("state", "");
  return "";
}

// How many members `h` sees alive (itself included).
inline size_t alive_members(const TrellisHost& h) {
  const nlohmann::json list = cli_json(h, {"cluster", "members"});
  size_t alive = 0;
  if (list.is_array())
    for (const auto& m : list) alive += m.value("state", "") == "alive";
  return alive;
}

}  // namespace trellis::node::testing
