#pragma once
// An in-memory kernel for the reconciler's unit tests: namespaces (with an empty file at
// their path, so directory scans find them), links with aliases, masters, addresses and
// veth peers, default routes and sysctls. Deleting one end of a veth deletes the other, a
// route goes with its link, and a removed namespace takes its links along, as in Linux.

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "common/error.h"
#include "node/dataplane/netops.h"

namespace trellis::node::testing {

class FakeNetOps : public NetOps {
 public:
  struct Ns {
    std::map<std::string, LinkInfo> links;
    std::optional<std::pair<std::string, std::string>> route;
    std::vector<std::pair<std::string, std::string>> routes;  // other than the default
  };

  FakeNetOps() { namespaces[""] = {}; }

  void create_netns(const std::string& path) override {
    ++calls["create_netns"];
    if (namespaces.count(path)) throw ConflictError("netns " + path + " exists");
    namespaces[path] = {};
    const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) ::close(fd);
    namespaces[path].links["lo"] = LinkInfo{"lo", "", "", "", "", 65536, true, {}};
  }
  void bind_own_netns(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) ::close(fd);
  }
  void remove_netns(const std::string& path) override {
    ++calls["remove_netns"];
    if (auto it = namespaces.find(path); it != namespaces.end()) {
      for (const auto& [name, l] : std::map<std::string, LinkInfo>(it->second.links))
        delete_link(path, name);
      namespaces.erase(path);
    }
    ::unlink(path.c_str());
  }
  bool is_netns(const std::string& path) override { return namespaces.count(path) > 0; }
  void prepare_netns_dir(const std::string& dir) override {
    std::filesystem::create_directories(dir);
  }

  std::vector<LinkInfo> links(const std::string& ns) override {
    std::vector<LinkInfo> out;
    for (const auto& [name, l] : at(ns).links) out.push_back(l);
    return out;
  }
  std::optional<LinkInfo> link(const std::string& ns, const std::string& name) override {
    auto& n = at(ns);
    auto it = n.links.find(name);
    if (it == n.links.end()) return std::nullopt;
    return it->second;
  }

  void create_bridge(const std::string& name, const std::string& alias, uint32_t mtu) override {
    ++calls["create_bridge"];
    add("", LinkInfo{name, "bridge", alias, "", "02:00:00:00:00:01", mtu, false, {}});
  }
  void create_veth(const std::string& host_name, const std::string& alias,
                   const std::string& peer_name, const std::string& peer_ns,
                   uint32_t mtu) override {
    ++calls["create_veth"];
    at(peer_ns);
    if (at("").links.count(host_name) || at(peer_ns).links.count(peer_name))
      throw ConflictError("link exists");
    add("", LinkInfo{host_name, "veth", alias, "", "02:00:00:00:00:02", mtu, false, {}});
    add(peer_ns, LinkInfo{peer_name, "veth", "", "", "02:00:00:00:00:03", mtu, false, {}});
    peers[{"", host_name}] = {peer_ns, peer_name};
    peers[{peer_ns, peer_name}] = {"", host_name};
  }
  void change_link(const std::string& ns, const std::string& name, const LinkChange& c) override {
    ++calls["change_link"];
    LinkInfo& l = get(ns, name);
    if (c.mac) l.mac = *c.mac;
    if (c.mtu) l.mtu = *c.mtu;
    if (c.alias) l.alias = *c.alias;
    if (c.master) l.master = *c.master;
    if (c.up) l.up = *c.up;
    if (c.name && *c.name != name) {
      LinkInfo copy = l;
      copy.name = *c.name;
      auto& n = at(ns);
      n.links.erase(name);
      n.links[copy.name] = copy;
      auto p = peers.find({ns, name});
      if (p != peers.end()) {
        auto other = p->second;
        peers.erase(p);
        peers[{ns, copy.name}] = other;
        peers[other] = {ns, copy.name};
      }
    }
  }
  void delete_link(const std::string& ns, const std::string& name) override {
    auto& n = at(ns);
    if (!n.links.erase(name)) return;
    ++calls["delete_link"];
    if (n.route && n.route->second == name) n.route.reset();
    auto p = peers.find({ns, name});
    if (p != peers.end()) {
      auto other = p->second;
      peers.erase(p);
      peers.erase(other);
      if (namespaces.count(other.first)) {
        auto& on = namespaces[other.first];
        on.links.erase(other.second);
        if (on.route && on.route->second == other.second) on.route.reset();
      }
    }
  }
  void add_address(const std::string& ns, const std::string& link,
                   const std::string& cidr) override {
    auto& a = get(ns, link).addresses;
    if (std::find(a.begin(), a.end(), cidr) == a.end()) a.push_back(cidr);
  }
  void remove_address(const std::string& ns, const std::string& link,
                      const std::string& cidr) override {
    auto& a = get(ns, link).addresses;
    a.erase(std::remove(a.begin(), a.end(), cidr), a.end());
  }
  void set_default_route(const std::string& ns, const std::string& gateway,
                         const std::string& link) override {
    ++calls["set_default_route"];
    get(ns, link);
    at(ns).route = std::make_pair(gateway, link);
  }
  void clear_default_route(const std::string& ns) override { at(ns).route.reset(); }
  std::optional<std::pair<std::string, std::string>> default_route(const std::string& ns) override {
    return at(ns).route;
  }
  std::vector<std::pair<std::string, std::string>> routes(const std::string& ns) override {
    return at(ns).routes;
  }
  void set_sysctl(const std::string& ns, const std::string& key,
                  const std::string& value) override {
    sysctls[ns + ":" + key] = value;
  }

  Ns& at(const std::string& ns) {
    auto it = namespaces.find(ns);
    if (it == namespaces.end()) throw NotFoundError("no namespace " + ns);
    return it->second;
  }
  LinkInfo& get(const std::string& ns, const std::string& name) {
    auto& n = at(ns);
    auto it = n.links.find(name);
    if (it == n.links.end()) throw NotFoundError("no link " + name + " in '" + ns + "'");
    return it->second;
  }
  void add(const std::string& ns, LinkInfo l) {
    auto& n = at(ns);
    if (n.links.count(l.name)) throw ConflictError("link " + l.name + " exists");
    const std::string name = l.name;
    n.links[name] = std::move(l);
  }

  std::map<std::string, Ns> namespaces;
  std::map<std::pair<std::string, std::string>, std::pair<std::string, std::string>> peers;
  std::map<std::string, std::string> sysctls;
  std::map<std::string, int> calls;
};

}  // namespace trellis::node::testing
