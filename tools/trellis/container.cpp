#include "tools/trellis/container.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace trellis::cli {

namespace {

// Reports a failure from the child through the pipe, then exits. Only async-signal-safe
// calls between fork and exec.
[[noreturn]] void child_fail(int fd, const char* step, int code) {
  char buf[256];
  const int err = errno;
  const int n = std::snprintf(buf, sizeof buf, "%s: %s", step, std::strerror(err));
  if (n > 0) {
    ssize_t ignored = ::write(fd, buf, static_cast<size_t>(n));
    (void)ignored;
  }
  _exit(code);
}

void bind_file(const std::string& source, const char* target) {
  struct stat st {};
  if (::stat(source.c_str(), &st) != 0 || ::stat(target, &st) != 0) return;
  ::mount(source.c_str(), target, nullptr, MS_BIND, nullptr);
}

// Runs in the child: enter the sandbox, then exec. Reports setup failures on `err_fd`
// (close-on-exec, so a successful exec closes it with nothing written).
[[noreturn]] void enter_and_exec(const SandboxEntry& sb, const Launch& l, std::vector<char*>& argv,
                                 int err_fd) {
  const int ns = ::open(sb.netns.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) child_fail(err_fd, "open network namespace", 125);
  if (::setns(ns, CLONE_NEWNET) != 0) child_fail(err_fd, "enter network namespace", 125);
  ::close(ns);
  const int flags = CLONE_NEWNS | (sb.host_mode ? 0 : CLONE_NEWUTS);
  if (::unshare(flags) != 0) child_fail(err_fd, "unshare mount namespace", 125);
  // Our mounts must not leak back to the host; the host's unmounts (a sandbox's namespace
  // file going away) still propagate to us.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
    child_fail(err_fd, "make mounts private", 125);
  bind_file(sb.hosts_file, "/etc/hosts");
  bind_file(sb.resolv_file, "/etc/resolv.conf");
  bind_file(sb.hostname_file, "/etc/hostname");
  if (!sb.host_mode) {
    // A sysfs mounted from inside the namespace shows its own interfaces.
    if (::umount2("/sys", MNT_DETACH) == 0) ::mount("sysfs", "/sys", "sysfs", 0, nullptr);
    if (!sb.hostname.empty()) ::sethostname(sb.hostname.data(), sb.hostname.size());
  }
  if (l.detach) {
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(l.output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0) child_fail(err_fd, "open output file", 125);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::close(in);
    ::close(out);
  }
  ::execvp(argv[0], argv.data());
  const int code = errno == ENOENT ? 127 : 126;
  char buf[256];
  const int n =
      std::snprintf(buf, sizeof buf, "trellis: exec %s: %s\n", argv[0], std::strerror(errno));
  if (n > 0) {
    ssize_t ignored = ::write(2, buf, static_cast<size_t>(n));
    (void)ignored;
  }
  _exit(code);
}

int g_forward_pid = 0;

void forward_signal(int signal) {
  if (g_forward_pid > 0) ::kill(g_forward_pid, signal);
}

}  // namespace

int launch(const SandboxEntry& sb, const Launch& l) {
  if (l.command.empty()) throw InvalidArgumentError("no command given");
  std::vector<std::string> args = l.command;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int err_pipe[2];
  int pid_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0 || ::pipe2(pid_pipe, O_CLOEXEC) != 0)
    throw InternalError(std::string("pipe: ") + std::strerror(errno));
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) throw InternalError(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    ::close(err_pipe[0]);
    ::close(pid_pipe[0]);
    if (!l.detach) {
      ::signal(SIGPIPE, SIG_DFL);
      enter_and_exec(sb, l, argv, err_pipe[1]);
    }
    // Detached: a new session, and a grandchild so that init adopts it.
    if (::setsid() < 0) child_fail(err_pipe[1], "setsid", 125);
    const pid_t grandchild = ::fork();
    if (grandchild < 0) child_fail(err_pipe[1], "fork", 125);
    if (grandchild == 0) {
      ::close(pid_pipe[1]);
      ::signal(SIGPIPE, SIG_DFL);
      enter_and_exec(sb, l, argv, err_pipe[1]);
    }
    const int32_t value = grandchild;
    ssize_t ignored = ::write(pid_pipe[1], &value, sizeof value);
    (void)ignored;
    _exit(0);
  }
  ::close(err_pipe[1]);
  ::close(pid_pipe[1]);
  int pid = child;
  if (l.detach) {
    int32_t value = 0;
    ssize_t n = 0;
    do {
      n = ::read(pid_pipe[0], &value, sizeof value);
    } while (n < 0 && errno == EINTR);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (n == static_cast<ssize_t>(sizeof value)) pid = value;
  }
  ::close(pid_pipe[0]);
  // Setup errors arrive here; EOF means exec happened (or the child exited without a word).
  std::string err;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(err_pipe[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    err.append(buf, static_cast<size_t>(n));
  }
  ::close(err_pipe[0]);
  if (!err.empty()) {
    if (!l.detach) {
      int status = 0;
      ::waitpid(child, &status, 0);
    }
    throw UnavailableError("start " + l.command[0] + " in sandbox: " + err);
  }
  return pid;
}

int wait_for(int pid) {
  g_forward_pid = pid;
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(s, &sa, nullptr);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 125;
  }
  g_forward_pid = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 125;
}

}  // namespace trellis::cli
