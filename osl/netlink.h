#pragma once
// A NETLINK_ROUTE socket bound to one network namespace, and the mapping of libnl/kernel
// errors onto Trellis error kinds. Every osl (and vxlan) kernel operation takes one of these:
// the socket decides in which namespace the operation happens.

#include <string>

#include "osl/netns.h"
#include "osl/nl_ptr.h"

namespace trellis::osl {

struct NetnsWithSocket;
NetnsWithSocket create_named_netns_with_socket(const std::string& run_dir, const std::string& name);

// Owns an nl_sock connected to NETLINK_ROUTE inside a given namespace. A netlink socket stays
// bound to the namespace it was created in, whatever thread later uses it. When `ns` is not
// the calling thread's namespace, the socket is opened on a short-lived thread that enters
// `ns` (see run_in_netns): the caller's thread never switches namespace, so a failure cannot
// strand a daemon thread in a container's namespace. Cost: one thread start (~50 us) per
// socket, so callers keep a socket per namespace they work in rather than one per operation.
//
// The socket asks the kernel for extended acks; the kernel's error text of the last failed
// request (e.g. "Unknown device type") is appended by throw_netlink_error.
// Move-only. Not thread-safe: one thread at a time uses a socket.
class NetlinkSocket {
 public:
  explicit NetlinkSocket(const Netns& ns);
  NetlinkSocket(NetlinkSocket&&) noexcept = default;
  NetlinkSocket& operator=(NetlinkSocket&&) noexcept = default;

  nl_sock* get() const { return sock_.get(); }
  // The label of the namespace it is bound to ("host" or a path), for error messages.
  const std::string& ns_label() const { return ns_label_; }

 private:
  friend NetnsWithSocket create_named_netns_with_socket(const std::string&, const std::string&);
  NetlinkSocket(NlSockPtr sock, std::string ns_label)
      : sock_(std::move(sock)), ns_label_(std::move(ns_label)) {}
  NlSockPtr sock_;
  std::string ns_label_;
};

// A new named namespace (see create_named_netns) with a NETLINK_ROUTE socket bound to it,
// opened by the same short-lived thread that created the namespace: one thread start instead
// of two on the sandbox-creation path.
struct NetnsWithSocket {
  Netns ns;
  NetlinkSocket sock;
};
NetnsWithSocket create_named_netns_with_socket(const std::string& run_dir, const std::string& name);

// Throws the Trellis error for a (negative or positive) libnl error code, with the message
// "<operation>: <reason>", e.g. "add address 10.0.0.2/24 to eth0 in ns trl-ab12: File exists".
// The reason is the errno text of the kernel's answer, followed by the kernel's extended-ack
// message when it sent one. Kinds: NLE_EXIST -> ConflictError; NLE_OBJ_NOTFOUND, NLE_NODEV ->
// NotFoundError; NLE_INVAL, NLE_RANGE -> InvalidArgumentError; NLE_OPNOTSUPP ->
// UnavailableError (a feature this kernel lacks); anything else -> InternalError.
[[noreturn]] void throw_netlink_error(int nl_err, const std::string& operation);

// "in ns <label>" for messages.
inline std::string in_ns(const NetlinkSocket& sock) { return "in ns " + sock.ns_label(); }

}  // namespace trellis::osl
