#include "osl/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "osl/internal.h"

namespace trellis::osl {

using internal::throw_errno;
using internal::UniqueFd;

namespace {

bool is_net_namespace_fd(int fd) {
  struct statfs st {};
  if (::fstatfs(fd, &st) != 0 || st.f_type != NSFS_MAGIC) return false;
  const int type = ::ioctl(fd, NS_GET_NSTYPE);
  return type == CLONE_NEWNET;
}

std::string join(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

void check_name(const std::string& name, const std::string& operation) {
  if (!is_valid_netns_name(name))
    throw InvalidArgumentError(operation + ": invalid namespace name '" + name +
                               "' (1-64 characters of A-Z a-z 0-9 _ . -)");
}

bool is_mount_point(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string f[5];
    for (auto& x : f) fields >> x;
    if (f[4] == path) return true;
  }
  return false;
}

}  // namespace

Netns Netns::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      throw NotFoundError("open namespace " + path + ": no such namespace file");
    throw_errno(err, "open namespace " + path);
  }
  if (!is_net_namespace_fd(fd.get()))
    throw NotFoundError("open namespace " + path + ": not a network namespace");
  return Netns(fd.release(), path);
}

Netns Netns::current() {
  UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno(errno, "open own network namespace");
  return Netns(fd.release(), "host");
}

Netns::Netns(Netns&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), label_(std::move(other.label_)) {}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    label_ = std::move(other.label_);
  }
  return *this;
}

Netns::~Netns() {
  if (fd_ >= 0) ::close(fd_);
}

bool Netns::same_as(const Netns& other) const {
  struct stat a {
  }, b{};
  if (::fstat(fd_, &a) != 0 || ::fstat(other.fd_, &b) != 0) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

Netns Netns::duplicate() const {
  const int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw_errno(errno, "duplicate namespace " + label_);
  return Netns(fd, label_);
}

bool is_netns_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  return fd.get() >= 0 && is_net_namespace_fd(fd.get());
}

bool is_valid_netns_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

Netns create_named_netns(const std::string& run_dir, const std::string& name) {
  return internal::create_named_netns(run_dir, name, nullptr);
}

namespace internal {
Netns create_named_netns(const std::string& run_dir, const std::string& name,
                         NlSockPtr* socket_out) {
  const std::string path = join(run_dir, name);
  const std::string op = "create namespace " + path;
  check_name(name, op);
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (ec) throw InternalError(op + ": create " + run_dir + ": " + ec.message());

  {
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (file.get() < 0) {
      const int err = errno;
      if (err == EEXIST) throw ConflictError(op + ": already exists");
      throw_errno(err, op);
    }
  }
  // From here on, any failure removes the file (and the mount, once made).
  bool mounted = false;
  try {
    // unshare() moves only the calling thread: do it on a throw-away thread, which also
    // brings the new namespace's loopback up while it is inside.
    UniqueFd ns_fd;
    std::exception_ptr error;
    std::thread worker([&] {
      try {
        if (::unshare(CLONE_NEWNET) != 0) throw_errno(errno, op + ": unshare");
        ns_fd = UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        if (ns_fd.get() < 0) throw_errno(errno, op + ": open new namespace");
        NlSockPtr sock = internal::connect_route_socket(path);
        internal::set_link_up_by_name(sock.get(), "lo", path);
        if (socket_out) *socket_out = std::move(sock);
      } catch (...) {
        error = std::current_exception();
      }
    });
    worker.join();
    if (error) std::rethrow_exception(error);

    const std::string source = "/proc/self/fd/" + std::to_string(ns_fd.get());
    if (::mount(source.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0)
      throw_errno(errno, op + ": bind mount");
    mounted = true;
    internal::log().debug("created namespace {}", path);
    return Netns::open(path);
  } catch (...) {
    if (mounted) ::umount2(path.c_str(), MNT_DETACH);
    ::unlink(path.c_str());
    throw;
  }
}

}  // namespace internal

void bind_netns_at(const Netns& ns, const std::string& path) {
  const std::string op = "bind namespace " + ns.label() + " at " + path;
  if (is_netns_file(path)) {
    if (Netns::open(path).same_as(ns)) return;
    throw ConflictError(op + ": another namespace is bound there");
  }
  bool created = false;
  {
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (file.get() >= 0) {
      created = true;
    } else if (errno != EEXIST) {
      throw_errno(errno, op);
    } else {
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) throw_errno(errno, op);
      if (!S_ISREG(st.st_mode) || st.st_size != 0)
        throw ConflictError(op + ": the path exists and is not an empty file");
    }
  }
  const std::string source = "/proc/self/fd/" + std::to_string(ns.fd());
  if (::mount(source.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
    const int err = errno;
    if (created) ::unlink(path.c_str());
    throw_errno(err, op + ": bind mount");
  }
}

void delete_named_netns(const std::string& run_dir, const std::string& name) {
  const std::string path = join(run_dir, name);
  const std::string op = "delete namespace " + path;
  check_name(name, op);
  // EINVAL: not a mount point (a stale file); ENOENT: already gone.
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    throw_errno(errno, op + ": unmount");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno(errno, op + ": remove");
  internal::log().debug("deleted namespace {}", path);
}

std::vector<std::string> list_named_netns(const std::string& run_dir, std::string_view prefix) {
  std::vector<std::string> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(run_dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return names;
    throw InternalError("list namespaces in " + run_dir + ": " + ec.message());
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) throw InternalError("list namespaces in " + run_dir + ": " + ec.message());
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    if (is_netns_file(it->path().string())) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

void prepare_netns_dir(const std::string& dir) {
  const std::string op = "prepare namespace directory " + dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InternalError(op + ": " + ec.message());
  const std::string real = std::filesystem::canonical(dir, ec).string();
  if (ec) throw InternalError(op + ": " + ec.message());
  if (!is_mount_point(real)) {
    if (::mount(real.c_str(), real.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0)
      throw_errno(errno, op + ": bind-mount on itself");
  }
  if (::mount("none", real.c_str(), nullptr, MS_SHARED | MS_REC, nullptr) != 0)
    throw_errno(errno, op + ": make shared");
}

namespace detail {
void enter_netns_on_this_thread(const Netns& ns) {
  if (ns.fd() < 0) throw InternalError("enter namespace " + ns.label() + ": closed handle");
  if (::setns(ns.fd(), CLONE_NEWNET) != 0) throw_errno(errno, "enter namespace " + ns.label());
}
}  // namespace detail

}  // namespace trellis::osl
