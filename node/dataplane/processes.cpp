#include "node/dataplane/processes.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "common/error.h"

namespace trellis::node {

namespace {

// Field 22 of /proc/<pid>/stat (start time in clock ticks) and the state letter; nullopt if
// the process is gone. The command name (field 2) may hold spaces and parentheses: parse
// after the last ')'.
struct ProcStat {
  char state = '?';
  unsigned long long start = 0;
};

std::optional<ProcStat> proc_stat(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  ProcStat st;
  rest >> st.state;
  std::string skip;
  for (int field = 4; field < 22; ++field) rest >> skip;  // fields 4..21
  rest >> st.start;
  if (!rest) return std::nullopt;
  return st;
}

bool alive(int pid) {
  auto st = proc_stat(pid);
  return st && st->state != 'Z' && st->state != 'X';
}

}  // namespace

void record_process(const std::string& pids_file, int pid) {
  if (pid <= 0) throw InvalidArgumentError("record process: bad pid " + std::to_string(pid));
  auto st = proc_stat(pid);
  if (!st) throw NotFoundError("record process: no process " + std::to_string(pid));
  std::ofstream out(pids_file, std::ios::app);
  if (!out) throw InternalError("record process: cannot write " + pids_file);
  out << pid << ' ' << st->start << '\n';
}

size_t kill_sandbox_processes(const std::string& pids_file, const std::string& netns_path,
                              std::chrono::milliseconds deadline) {
  const int self = getpid();
  std::set<int> targets;
  std::set<int> groups;
  {
    std::ifstream in(pids_file);
    int pid = 0;
    unsigned long long start = 0;
    while (in >> pid >> start) {
      auto st = proc_stat(pid);
      if (!st || st->start != start || pid == self) continue;
      targets.insert(pid);
      if (getpgid(pid) == pid) groups.insert(pid);
    }
  }
  struct stat ns {};
  if (!netns_path.empty() && ::stat(netns_path.c_str(), &ns) == 0) {
    if (DIR* dir = opendir("/proc")) {
      while (dirent* entry = readdir(dir)) {
        char* end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == self) continue;
        struct stat pns {};
        const std::string link = "/proc/" + std::string(entry->d_name) + "/ns/net";
        if (::stat(link.c_str(), &pns) != 0) continue;
        if (pns.st_ino == ns.st_ino && pns.st_dev == ns.st_dev)
          targets.insert(static_cast<int>(pid));
      }
      closedir(dir);
    }
  }
  for (int pgid : groups) {
    if (pgid != getpgid(self)) ::kill(-pgid, SIGKILL);
  }
  for (int pid : targets) ::kill(pid, SIGKILL);
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (int pid : targets) {
    while (alive(pid) && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return targets.size();
}

}  // namespace trellis::node
