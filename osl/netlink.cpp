#include "osl/netlink.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "osl/internal.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace trellis::osl {

namespace {

// The kernel's answer to the last failed request made on this thread, recorded by the error
// callback of every osl socket. Netlink requests are synchronous: throw_netlink_error runs on
// the same thread right after the failing call, so a thread-local is enough.
struct KernelError {
  int errno_value = 0;  // positive errno, 0 if none recorded
  std::string message;  // extended ack text, "" if none
};
thread_local KernelError last_kernel_error;

// Extended-ack message, if the kernel attached one (NLM_F_ACK_TLVS after the error payload).
std::string extack_message(const nlmsgerr* e) {
  const auto* nlh =
      reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(e) - NLMSG_HDRLEN);
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  size_t offset = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nlmsgerr));
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
    if (e->msg.nlmsg_len < NLMSG_HDRLEN) return {};
    offset = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nlmsgerr) + e->msg.nlmsg_len - NLMSG_HDRLEN);
  }
  const size_t end = nlh->nlmsg_len;
  const char* base = reinterpret_cast<const char*>(nlh);
  while (offset + sizeof(nlattr) <= end) {
    const auto* attr = reinterpret_cast<const nlattr*>(base + offset);
    if (attr->nla_len < sizeof(nlattr) || offset + attr->nla_len > end) break;
    if ((attr->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      const char* text = base + offset + NLA_HDRLEN;
      const size_t len = attr->nla_len - NLA_HDRLEN;
      return std::string(text, strnlen(text, len));
    }
    offset += NLA_ALIGN(attr->nla_len);
  }
  return {};
}

int record_error(sockaddr_nl*, nlmsgerr* e, void*) {
  last_kernel_error.errno_value = e->error < 0 ? -e->error : e->error;
  last_kernel_error.message = extack_message(e);
  return NL_STOP;  // libnl then returns -nl_syserr2nlerr(e->error) as usual
}

// The errno a libnl code most likely came from, for an errno-style reason text.
int errno_for(int nle) {
  switch (nle) {
    case NLE_EXIST:
      return EEXIST;
    case NLE_NODEV:
      return ENODEV;
    case NLE_OBJ_NOTFOUND:
      return ENOENT;
    case NLE_INVAL:
      return EINVAL;
    case NLE_RANGE:
      return ERANGE;
    case NLE_OPNOTSUPP:
      return EOPNOTSUPP;
    case NLE_PERM:
      return EPERM;
    case NLE_NOACCESS:
      return EACCES;
    case NLE_BUSY:
      return EBUSY;
    case NLE_NOADDR:
      return EADDRNOTAVAIL;
    case NLE_AF_NOSUPPORT:
      return EAFNOSUPPORT;
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_AGAIN:
      return EAGAIN;
    case NLE_MSGSIZE:
      return EMSGSIZE;
    default:
      return 0;
  }
}

}  // namespace

namespace internal {

NlSockPtr connect_route_socket(const std::string& ns_label) {
  NlSockPtr sock(nl_socket_alloc());
  if (!sock) throw UnavailableError("open netlink socket in ns " + ns_label + ": out of memory");
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0)
    throw_netlink_error(err, "connect netlink socket in ns " + ns_label);
  const int on = 1;
  // Best effort: older kernels lack extended acks, errors then carry only the errno text.
  ::setsockopt(nl_socket_get_fd(sock.get()), SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
  ::setsockopt(nl_socket_get_fd(sock.get()), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
  nl_socket_modify_err_cb(sock.get(), NL_CB_CUSTOM, record_error, nullptr);
  return sock;
}

}  // namespace internal

NetlinkSocket::NetlinkSocket(const Netns& ns) : ns_label_(ns.label()) {
  const Netns here = Netns::current();
  if (here.same_as(ns)) {
    sock_ = internal::connect_route_socket(ns_label_);
  } else {
    sock_ = run_in_netns(ns, [&] { return internal::connect_route_socket(ns_label_); });
  }
}

NetnsWithSocket create_named_netns_with_socket(const std::string& run_dir,
                                               const std::string& name) {
  NlSockPtr sock;
  Netns ns = internal::create_named_netns(run_dir, name, &sock);
  std::string label = ns.label();
  return NetnsWithSocket{std::move(ns), NetlinkSocket(std::move(sock), std::move(label))};
}

void throw_netlink_error(int nl_err, const std::string& operation) {
  const int code = nl_err < 0 ? -nl_err : nl_err;
  std::string reason;
  KernelError kernel = std::exchange(last_kernel_error, KernelError{});
  if (kernel.errno_value != 0 && nl_syserr2nlerr(kernel.errno_value) == code) {
    reason = std::strerror(kernel.errno_value);
    if (!kernel.message.empty()) reason += " (" + kernel.message + ")";
  } else if (const int e = errno_for(code); e != 0) {
    reason = std::strerror(e);
  } else {
    reason = nl_geterror(code);
  }
  std::string message = operation + ": " + reason;
  switch (code) {
    case NLE_EXIST:
      throw ConflictError(std::move(message));
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      throw NotFoundError(std::move(message));
    case NLE_INVAL:
    case NLE_RANGE:
      throw InvalidArgumentError(std::move(message));
    case NLE_OPNOTSUPP:
      throw UnavailableError(std::move(message));
    default:
      throw InternalError(std::move(message));
  }
}

}  // namespace trellis::osl
