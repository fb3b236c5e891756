#include "vxlan/netlink_util.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <exception>
#include <memory>
#include <utility>

#include "common/error.h"
#include "common/log.h"

namespace trellis::vxlan::internal {

// The shared component logger (common/log.h): one format and level for the process.
spdlog::logger& log() { return trellis::log("vxlan"); }

osl::NlAddrPtr to_nl_addr(Ipv4Address ip) {
  const uint32_t net = htonl(ip.value);
  osl::NlAddrPtr addr(nl_addr_build(AF_INET, &net, sizeof net));
  if (!addr) throw UnavailableError("build IPv4 address " + ip.to_string() + ": out of memory");
  return addr;
}

osl::NlAddrPtr to_nl_addr(const MacAddress& mac) {
  osl::NlAddrPtr addr(nl_addr_build(AF_LLC, mac.bytes.data(), mac.bytes.size()));
  if (!addr) throw UnavailableError("build MAC address " + mac.to_string() + ": out of memory");
  return addr;
}

std::string where(const osl::NetlinkSocket& sock, const std::string& device) {
  return device + " " + osl::in_ns(sock);
}

namespace {

osl::RtnlLinkPtr get_link(osl::NetlinkSocket& sock, const std::string& device,
                          const std::string& operation) {
  rtnl_link* raw = nullptr;
  const int err = rtnl_link_get_kernel(sock.get(), 0, device.c_str(), &raw);
  osl::RtnlLinkPtr link(raw);
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) {
    throw NotFoundError(operation + ": no device " + where(sock, device));
  }
  if (err < 0) osl::throw_netlink_error(err, operation + ": look up device " + device);
  return link;
}

}  // namespace

int device_index(osl::NetlinkSocket& sock, const std::string& device,
                 const std::string& operation) {
  return rtnl_link_get_ifindex(get_link(sock, device, operation).get());
}

int vxlan_index(osl::NetlinkSocket& sock, const std::string& device, const std::string& operation) {
  osl::RtnlLinkPtr link = get_link(sock, device, operation);
  if (!rtnl_link_is_vxlan(link.get())) {
    throw InvalidArgumentError(operation + ": " + device + " is not a VXLAN device");
  }
  return rtnl_link_get_ifindex(link.get());
}

namespace {

struct DumpContext {
  int ifindex = 0;
  std::vector<NeighRow> rows;
  std::exception_ptr error;
};

int on_neigh_message(nl_msg* msg, void* arg) {
  auto* ctx = static_cast<DumpContext*>(arg);
  nlmsghdr* hdr = nlmsg_hdr(msg);
  if (hdr->nlmsg_type != RTM_NEWNEIGH || !nlmsg_valid_hdr(hdr, sizeof(ndmsg))) return NL_SKIP;
  const auto* ndm = static_cast<const ndmsg*>(nlmsg_data(hdr));
  if (ndm->ndm_ifindex != ctx->ifindex || ctx->error) return NL_SKIP;
  nlattr* tb[NDA_MAX + 1] = {};
  if (nlmsg_parse(hdr, sizeof(ndmsg), tb, NDA_MAX, nullptr) < 0) return NL_SKIP;

  NeighRow row;
  row.family = ndm->ndm_family;
  row.ifindex = ndm->ndm_ifindex;
  row.state = ndm->ndm_state;
  row.flags = ndm->ndm_flags;
  if (tb[NDA_DST] && nla_len(tb[NDA_DST]) == 4) {
    uint32_t net = 0;
    nla_memcpy(&net, tb[NDA_DST], sizeof net);
    row.has_dst = true;
    row.dst = Ipv4Address{ntohl(net)};
  }
  if (tb[NDA_LLADDR] && nla_len(tb[NDA_LLADDR]) == ETH_ALEN) {
    nla_memcpy(row.lladdr.bytes.data(), tb[NDA_LLADDR], ETH_ALEN);
    row.has_lladdr = true;
  }
  // Never let an exception unwind through libnl; and never stop the dump early, or its
  // remaining parts would be read as the answer to the socket's next request.
  try {
    ctx->rows.push_back(row);
  } catch (...) {
    ctx->error = std::current_exception();
  }
  return NL_OK;
}

struct NlCbDeleter {
  void operator()(nl_cb* cb) const { nl_cb_put(cb); }
};

}  // namespace

std::vector<NeighRow> dump_neighbors(osl::NetlinkSocket& sock, int family, int ifindex,
                                     const std::string& operation) {
  // The kernel marks a dump that raced with a table change (NLM_F_DUMP_INTR); rows may then
  // be missing or repeated, so start over. Sync tables only change under our own hand, so a
  // couple of attempts are plenty.
  constexpr int kAttempts = 5;
  for (int attempt = 1;; ++attempt) {
    // nl_socket_get_cb hands out a reference of its own; the clone keeps the socket's error
    // callback (which records the kernel's extended ack) and gets our row handler.
    const std::unique_ptr<nl_cb, NlCbDeleter> socket_cb(nl_socket_get_cb(sock.get()));
    std::unique_ptr<nl_cb, NlCbDeleter> cb(socket_cb ? nl_cb_clone(socket_cb.get()) : nullptr);
    if (!cb) throw UnavailableError(operation + ": out of memory");
    DumpContext ctx;
    ctx.ifindex = ifindex;
    nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_neigh_message, &ctx);

    ndmsg request{};
    request.ndm_family = static_cast<uint8_t>(family);
    int err = nl_send_simple(sock.get(), RTM_GETNEIGH, NLM_F_DUMP, &request, sizeof request);
    if (err >= 0) err = nl_recvmsgs(sock.get(), cb.get());
    if (err == -NLE_DUMP_INTR && attempt < kAttempts) continue;
    if (err < 0) osl::throw_netlink_error(err, operation);
    if (ctx.error) std::rethrow_exception(ctx.error);
    return std::move(ctx.rows);
  }
}

}  // namespace trellis::vxlan::internal
