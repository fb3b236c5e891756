#pragma once
// Network namespaces for osl: an RAII owner of a namespace file descriptor, named namespaces
// persisted by a bind mount under a run directory (each daemon has its own, so several on one
// machine never collide), and a way to run code inside a namespace on a dedicated thread.
//
// Why a dedicated thread: setns(CLONE_NEWNET) changes the namespace of the calling *thread*
// only. Doing it on a daemon thread would silently move every later socket and /proc/sys
// access of that thread into the wrong namespace if the switch back ever failed; a short-lived
// thread confines the switch to work that cannot outlive it.

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/error.h"

namespace trellis::osl {

// Owns one open network-namespace file descriptor (close-on-exec). Move-only; a moved-from
// Netns has fd() == -1. Thread-compatible: the fd may be used from any thread.
class Netns {
 public:
  // Opens the namespace file at `path` (e.g. /run/netns/x, /proc/<pid>/ns/net).
  // NotFoundError when the path does not exist or is not a network namespace.
  static Netns open(const std::string& path);
  // The namespace of the calling thread (labelled "host": it is the daemon's own).
  static Netns current();

  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

  int fd() const { return fd_; }
  // The path it was opened from, or "host"; used in error messages.
  const std::string& label() const { return label_; }
  // Whether both refer to the same kernel namespace (same nsfs inode).
  bool same_as(const Netns& other) const;
  // A second owner of the same namespace (dup of the fd, same label).
  Netns duplicate() const;

 private:
  Netns(int fd, std::string label) : fd_(fd), label_(std::move(label)) {}
  int fd_ = -1;
  std::string label_;
};

// Whether `path` is a bound network-namespace file (an nsfs mount).
bool is_netns_file(const std::string& path);

// Whether `name` may name a namespace file: 1..64 characters of [A-Za-z0-9_.-], not "." or "..".
bool is_valid_netns_name(std::string_view name);

// Creates `run_dir` (and parents) if needed, then a new network namespace bound at
// `<run_dir>/<name>` with its loopback up, and returns it open (label: the file's path).
// InvalidArgumentError for an invalid name; ConflictError if the file already exists (a stale
// non-namespace file too: delete_named_netns it first). Nothing is left behind on failure.
Netns create_named_netns(const std::string& run_dir, const std::string& name);

// Unmounts and removes `<run_dir>/<name>` (also a stale unmounted file). A missing file is fine.
// The namespace itself disappears once no process, fd or mount holds it any more.
void delete_named_netns(const std::string& run_dir, const std::string& name);

// Binds an open namespace (e.g. Netns::current(), the daemon's own) at `path`, creating the
// file. Idempotent when `path` already holds the same namespace; ConflictError when it holds
// another one or is a non-empty stale file. Its directory must exist.
void bind_netns_at(const Netns& ns, const std::string& path);

// Names of the entries of `run_dir` starting with `prefix` (sorted) that are bound namespace
// files. A missing run_dir yields an empty list.
std::vector<std::string> list_named_netns(const std::string& run_dir, std::string_view prefix);

// Makes `dir` (created if needed) a shared mount point, bind-mounting it on itself if it is not
// a mount point yet, like `ip netns` does for /run/netns: namespace files bound inside then
// propagate to mount namespaces copied from ours, and unmounting them reaches those copies (so
// the namespace can really be freed).
void prepare_netns_dir(const std::string& dir);

namespace detail {
// Moves the calling thread into `ns`. Only for the dedicated threads below.
void enter_netns_on_this_thread(const Netns& ns);
}  // namespace detail

// Runs `fn()` on a new thread that has first entered `ns`, waits for it and returns its result
// (or rethrows its exception). The caller's thread never changes namespace. Anything fn opens
// there (netlink sockets, /proc/sys/net files, /proc/thread-self/net) refers to `ns`; note that
// /proc/self/net would not (it follows the process's main thread). Failing to enter the
// namespace throws (NotFoundError/InternalError naming ns.label()).
template <class F>
auto run_in_netns(const Netns& ns, F&& fn) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  std::exception_ptr error;
  if constexpr (std::is_void_v<R>) {
    std::thread worker([&] {
      try {
        detail::enter_netns_on_this_thread(ns);
        fn();
      } catch (...) {
        error = std::current_exception();
      }
    });
    worker.join();
    if (error) std::rethrow_exception(error);
  } else {
    std::optional<R> result;
    std::thread worker([&] {
      try {
        detail::enter_netns_on_this_thread(ns);
        result.emplace(fn());
      } catch (...) {
        error = std::current_exception();
      }
    });
    worker.join();
    if (error) std::rethrow_exception(error);
    return std::move(*result);
  }
}

}  // namespace trellis::osl
