#pragma once
// The processes of a "container": what `trellis run` and `trellis exec` start inside a
// sandbox. The CLI registers each process it starts (POST /sandboxes/{ref}/processes); the
// daemon records its pid and start time in the sandbox's `pids` file, so a pid reused by an
// unrelated process is never signalled. Removing a container (DELETE /sandboxes/{ref}?kill=1)
// kills the recorded processes (and their process groups) and every process whose network
// namespace is the sandbox's own.
//
// Linux only (/proc). Functions are thread-compatible.

#include <chrono>
#include <cstddef>
#include <string>

namespace trellis::node {

// Appends "<pid> <start time>" to `pids_file`. NotFoundError if the process does not exist.
void record_process(const std::string& pids_file, int pid);

// Sends SIGKILL to the live recorded processes and their groups, and to every process in
// the network namespace `netns_path` (skipped when empty, e.g. for a sandbox that shares the
// host's namespace), then waits up to `deadline` for them to be gone. Returns how many
// processes were signalled. Never signals the calling process.
size_t kill_sandbox_processes(const std::string& pids_file, const std::string& netns_path,
                              std::chrono::milliseconds deadline);

}  // namespace trellis::node
