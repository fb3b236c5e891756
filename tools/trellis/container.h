#pragma once
// Process-level "containers" for `trellis run` and `trellis exec`: a command started inside a
// sandbox's network namespace, in a private mount namespace where the sandbox's generated
// hosts, resolv.conf and hostname files are bind-mounted over /etc, with a fresh /sys (so
// /sys/class/net shows the sandbox's interfaces) and the sandbox's host name in a private UTS
// namespace. Nothing else is isolated: same file system, users and PID space as the caller.

#include <string>
#include <vector>

namespace trellis::cli {

struct SandboxEntry {
  std::string netns;  // namespace file to enter
  std::string hosts_file, resolv_file, hostname_file;
  std::string hostname;
  bool host_mode = false;  // shares the host's network namespace: keep the host's UTS
};

struct Launch {
  std::vector<std::string> command;
  bool detach = false;      // new session, output to `output_file`, caller does not wait
  std::string output_file;  // detached only
};

// Starts the command in the sandbox. Returns the pid of the process that runs it (for a
// detached launch, the grandchild: it survives the caller). Throws trellis::Error when the
// process cannot be started; errors of the command itself (not found: 127, not executable:
// 126) are its exit status.
int launch(const SandboxEntry& sandbox, const Launch& launch);

// Waits for a foreground process, forwarding SIGINT, SIGTERM, SIGHUP and SIGQUIT to it.
// Returns its exit status, or 128 + the signal that killed it.
int wait_for(int pid);

}  // namespace trellis::cli
