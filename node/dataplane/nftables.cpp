#include "node/dataplane/nftables.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "node/dataplane/sandbox_files.h"

extern char** environ;

namespace trellis::node {

namespace {

constexpr std::string_view kOwnerComment = "trellis node ";

std::string quoted(std::string_view name) {
  // Built by appending: GCC 12 at -O3 reports a false -Wrestrict for "\"" + str + "\"".
  std::string q;
  q.reserve(name.size() + 2);
  q.push_back('"');
  q.append(name);
  q.push_back('"');
  return q;
}

}  // namespace

std::string render_nft_script(std::string_view table, std::string_view owner,
                              const NftRuleset& rules) {
  const std::string t(table);
  std::string s;
  s += "add table inet " + t + "\n";
  s += "delete table inet " + t + "\n";
  s += "table inet " + t + " {\n";
  s += "  comment " + quoted(std::string(kOwnerComment) + std::string(owner)) + "\n";
  if (rules.empty()) {
    // Only the owner's mark: no base chains, so no NAT hooks (and no conntrack work) on a
    // host with nothing to NAT, publish or isolate.
    s += "}\n";
    return s;
  }
  s += "  chain prerouting {\n";
  s += "    type nat hook prerouting priority dstnat; policy accept;\n";
  s += "    fib daddr type local jump published\n";
  s += "  }\n";
  s += "  chain output {\n";
  s += "    type nat hook output priority -100; policy accept;\n";
  s += "    fib daddr type local jump published\n";
  s += "  }\n";
  s += "  chain published {\n";
  for (const auto& p : rules.ports) {
    s += "    ";
    if (!p.host_ip.empty()) s += "ip daddr " + p.host_ip + " ";
    s += p.protocol + " dport " + std::to_string(p.host_port) + " dnat ip to " + p.container_ip +
         ":" + std::to_string(p.container_port) + "\n";
  }
  s += "  }\n";
  s += "  chain postrouting {\n";
  s += "    type nat hook postrouting priority srcnat; policy accept;\n";
  for (const auto& n : rules.networks) {
    const std::string br = quoted(n.bridge);
    if (!n.internal && n.masquerade)
      s += "    ip saddr " + n.subnet + " oifname != " + br + " masquerade\n";
    // Published ports reached through 127.0.0.1 (route_localnet on the bridge) and
    // containers reaching a published port of their own network through the host.
    s += "    oifname " + br + " ip saddr 127.0.0.0/8 masquerade\n";
    s += "    oifname " + br + " ip saddr " + n.subnet + " ct status dnat masquerade\n";
  }
  s += "  }\n";
  s += "  chain forward {\n";
  s += "    type filter hook forward priority filter; policy accept;\n";
  for (const auto& n : rules.networks) {
    const std::string br = quoted(n.bridge);
    if (n.internal) {
      s += "    iifname " + br + " oifname != " + br + " drop\n";
      s += "    oifname " + br + " iifname != " + br + " drop\n";
    } else {
      // Bridge networks do not route to each other (Docker's isolation chains).
      s += "    iifname " + br + " oifname \"trlb*\" oifname != " + br + " drop\n";
    }
    if (!n.icc) s += "    iifname " + br + " oifname " + br + " drop\n";
  }
  s += "  }\n";
  s += "}\n";
  return s;
}

namespace {

struct NftRun {
  int status = -1;  // exit status; -1 when it did not exit normally
  std::string out;  // stdout, when captured (up to 1 MiB)
  std::string err;  // stderr, when captured (up to 16 KiB)
};

// Reads `fd` to its end into `into`, keeping at most `limit` bytes; closes it.
void drain(int fd, std::string& into, size_t limit) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (into.size() < limit) into.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
}

// Runs `program args...` with stdin from /dev/null; the one stream it captures is stdout
// (`capture` = kStdout: a listing, whose stderr goes to /dev/null) or stderr (kStderr: an
// apply, whose stdout goes to /dev/null). One pipe only, so a chatty other stream can never
// block the child while we wait on the pipe. InternalError when it cannot be started.
enum class Capture { kStdout, kStderr };
NftRun run_nft(const std::string& program, std::vector<std::string> args, Capture capture) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw InternalError(std::string("nftables: pipe: ") + std::strerror(errno));
  const int captured = capture == Capture::kStdout ? 1 : 2;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 3 - captured, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], captured);
  args.insert(args.begin(), program);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    throw InternalError("nftables: cannot run " + program + ": " + std::strerror(rc));
  }
  NftRun r;
  if (capture == Capture::kStdout) {
    drain(pipe_fds[0], r.out, size_t{1} << 20);
  } else {
    drain(pipe_fds[0], r.err, 16384);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  return r;
}

}  // namespace

void apply_nft(const std::string& program, const std::string& script_path,
               const std::string& script) {
  write_in_place(script_path, script);
  NftRun r = run_nft(program, {"-f", script_path}, Capture::kStderr);
  if (r.status != 0) {
    std::string& err = r.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    // Keep the first line: nft repeats the offending script line below it.
    const auto nl = err.find('\n');
    throw InternalError("nftables: " + program + " -f " + script_path +
                        " failed: " + (nl == std::string::npos ? err : err.substr(0, nl)));
  }
}

std::optional<std::string> nft_table_owner(const std::string& program, std::string_view table) {
  const NftRun r =
      run_nft(program, {"list", "table", "inet", std::string(table)}, Capture::kStdout);
  if (r.status != 0) return std::nullopt;
  const std::string marker = "comment \"" + std::string(kOwnerComment);
  const auto at = r.out.find(marker);
  if (at == std::string::npos) return std::nullopt;
  const auto begin = at + marker.size();
  const auto end = r.out.find('"', begin);
  if (end == std::string::npos) return std::nullopt;
  return r.out.substr(begin, end - begin);
}

}  // namespace trellis::node
