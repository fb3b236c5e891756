// NetOps over osl (the production implementation). A netlink socket stays bound to the
// namespace it was opened in, and osl opens a socket for another namespace on a short-lived
// helper thread, so the daemon's I/O thread never switches namespace; sockets are cached per
// namespace file (the host's for the daemon's lifetime, sandboxes' in a small LRU) because
// opening one costs a thread start.

#include <sys/socket.h>

#include <filesystem>
#include <list>
#include <optional>
#include <utility>

#include "common/error.h"
#include "ipam/ip.h"
#include "node/dataplane/netops.h"
#include "osl/addresses.h"
#include "osl/links.h"
#include "osl/netlink.h"
#include "osl/netns.h"
#include "osl/routes.h"
#include "osl/sysctl.h"

namespace trellis::node {

namespace {

// Sandbox namespaces whose sockets stay open; the reconciler works on one or two at a time.
constexpr size_t kSocketCache = 32;

std::pair<std::string, std::string> split_path(const std::string& path) {
  const std::filesystem::path p(path);
  return {p.parent_path().string(), p.filename().string()};
}

LinkInfo to_link_info(const osl::LinkInfo& in) {
  LinkInfo out;
  out.name = in.name;
  out.kind = in.kind;
  out.alias = in.alias;
  out.master = in.master;
  out.mac = in.mac;
  out.mtu = in.mtu;
  out.up = in.up;
  for (const auto& a : in.addresses) {
    if (a.address.is_v4()) out.addresses.push_back(a.to_string());
  }
  return out;
}

osl::LinkChange to_osl(const LinkChange& c) {
  return osl::LinkChange{
      .name = c.name, .mac = c.mac, .mtu = c.mtu, .alias = c.alias, .master = c.master, .up = c.up};
}

class OslOps : public NetOps {
 public:
  OslOps() : host_ns_(osl::Netns::current()), host_sock_(host_ns_) {}

  // ---- namespaces

  void create_netns(const std::string& path) override {
    const auto [dir, name] = split_path(path);
    osl::Netns ns = osl::create_named_netns(dir, name);
    remember(path, std::move(ns));
  }

  void bind_own_netns(const std::string& path) override {
    try {
      osl::bind_netns_at(host_ns_, path);
    } catch (const ConflictError&) {
      // Another namespace (a previous daemon started elsewhere with this run directory), or
      // a stale file: the file must name this daemon's namespace.
      const auto [dir, name] = split_path(path);
      osl::delete_named_netns(dir, name);
      osl::bind_netns_at(host_ns_, path);
    }
  }

  void remove_netns(const std::string& path) override {
    forget(path);
    const auto [dir, name] = split_path(path);
    osl::delete_named_netns(dir, name);
  }

  bool is_netns(const std::string& path) override { return osl::is_netns_file(path); }

  void prepare_netns_dir(const std::string& dir) override { osl::prepare_netns_dir(dir); }

  // ---- links

  std::vector<LinkInfo> links(const std::string& ns) override {
    std::vector<LinkInfo> out;
    for (const auto& l : osl::list_links(sock(ns))) out.push_back(to_link_info(l));
    return out;
  }

  std::optional<LinkInfo> link(const std::string& ns, const std::string& name) override {
    auto l = osl::find_link(sock(ns), name);
    if (!l) return std::nullopt;
    return to_link_info(*l);
  }

  void create_bridge(const std::string& name, const std::string& alias, uint32_t mtu) override {
    osl::LinkOptions options;
    options.alias = alias;
    if (mtu) options.mtu = mtu;
    osl::create_bridge(host_sock_, name, options);
  }

  void create_veth(const std::string& host_name, const std::string& alias,
                   const std::string& peer_name, const std::string& peer_ns,
                   uint32_t mtu) override {
    osl::LinkOptions host_options, peer_options;
    host_options.alias = alias;
    if (mtu) {
      host_options.mtu = mtu;
      peer_options.mtu = mtu;
    }
    const osl::Netns& target = handle(peer_ns).ns;
    osl::create_veth(host_sock_, host_name, host_options, peer_name, &target, peer_options);
  }

  void change_link(const std::string& ns, const std::string& name,
                   const LinkChange& change) override {
    osl::change_link(sock(ns), name, to_osl(change));
  }

  void delete_link(const std::string& ns, const std::string& name) override {
    osl::delete_link_if_exists(sock(ns), name);
  }

  // ---- addresses, routes, sysctls

  void add_address(const std::string& ns, const std::string& link,
                   const std::string& cidr) override {
    osl::ensure_address(sock(ns), link, ipam::InterfaceAddress::parse(cidr));
  }

  void remove_address(const std::string& ns, const std::string& link,
                      const std::string& cidr) override {
    osl::remove_address_if_present(sock(ns), link, ipam::InterfaceAddress::parse(cidr));
  }

  void set_default_route(const std::string& ns, const std::string& gateway,
                         const std::string& link) override {
    osl::set_default_gateway(sock(ns), ipam::IpAddress::parse(gateway), link);
  }

  void clear_default_route(const std::string& ns) override {
    osl::clear_default_gateway(sock(ns), AF_INET);
  }

  std::optional<std::pair<std::string, std::string>> default_route(const std::string& ns) override {
    auto r = osl::default_route(sock(ns), AF_INET);
    if (!r || !r->gateway) return std::nullopt;
    return std::make_pair(r->gateway->to_string(), r->link);
  }

  std::vector<std::pair<std::string, std::string>> routes(const std::string& ns) override {
    std::vector<std::pair<std::string, std::string>> out;
    for (const osl::Route& r : osl::list_routes(sock(ns), AF_INET)) {
      if (r.destination.length() == 0) continue;
      out.emplace_back(r.destination.to_string(), r.link);
    }
    return out;
  }

  void set_sysctl(const std::string& ns, const std::string& key,
                  const std::string& value) override {
    osl::write_sysctl(ns.empty() ? host_ns_ : handle(ns).ns, key, value);
  }

 private:
  struct Handle {
    std::string path;
    osl::Netns ns;
    osl::NetlinkSocket sock;
  };

  osl::NetlinkSocket& sock(const std::string& ns) {
    return ns.empty() ? host_sock_ : handle(ns).sock;
  }

  // The cached namespace and socket of a namespace file, most recently used first.
  Handle& handle(const std::string& path) {
    for (auto it = cache_.begin(); it != cache_.end(); ++it) {
      if (it->path == path) {
        cache_.splice(cache_.begin(), cache_, it);
        return cache_.front();
      }
    }
    return remember(path, osl::Netns::open(path));
  }

  Handle& remember(const std::string& path, osl::Netns ns) {
    forget(path);
    osl::NetlinkSocket s(ns);
    cache_.push_front(Handle{path, std::move(ns), std::move(s)});
    while (cache_.size() > kSocketCache) cache_.pop_back();
    return cache_.front();
  }

  void forget(const std::string& path) {
    cache_.remove_if([&](const Handle& h) { return h.path == path; });
  }

  osl::Netns host_ns_;
  osl::NetlinkSocket host_sock_;
  std::list<Handle> cache_;
};

}  // namespace

std::unique_ptr<NetOps> make_kernel_netops() { return std::make_unique<OslOps>(); }

}  // namespace trellis::node
