#pragma once
// NetOps: the kernel operations the reconciler needs, at the granularity it thinks in
// (namespaces by file, links by name, one call per configuration step). The production
// implementation (node/dataplane/netops_osl.cpp) forwards to osl; the reconciler's unit tests use
// an in-memory fake. Keeping this seam narrow lets the reconciler's diff logic — adoption after a
// crash, interface naming, default routes — be tested without a kernel.
//
// Namespaces are named by the path of a bound namespace file; "" is the daemon's own (the
// "host") namespace. Every method throws trellis::Error (naming the object) on failure.
// Threads: called from the daemon's I/O thread only.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace trellis::node {

struct LinkInfo {
  std::string name;
  std::string kind;    // "bridge", "veth", ... ("" when the kernel reports none)
  std::string alias;   // IFLA_IFALIAS, "" if unset
  std::string master;  // name of the bridge it is enslaved to, "" if none
  std::string mac;     // lower-case aa:bb:..
  uint32_t mtu = 0;
  bool up = false;
  std::vector<std::string> addresses;  // IPv4 "a.b.c.d/len"
};

// Changes to one link; unset fields stay as they are.
struct LinkChange {
  std::optional<std::string> name = {};  // rename (the link must be down)
  std::optional<std::string> mac = {};
  std::optional<uint32_t> mtu = {};
  std::optional<std::string> alias = {};
  std::optional<std::string> master = {};  // "" releases it
  std::optional<bool> up = {};
};

class NetOps {
 public:
  virtual ~NetOps() = default;

  // A new network namespace bound at `path` (the file is created). The namespace's loopback
  // is brought up. ConflictError if `path` is already a namespace.
  virtual void create_netns(const std::string& path) = 0;
  // Binds the daemon's own namespace at `path` (idempotent).
  virtual void bind_own_netns(const std::string& path) = 0;
  // Unbinds and deletes `path`; a missing file is fine.
  virtual void remove_netns(const std::string& path) = 0;
  // Whether `path` is a bound namespace file.
  virtual bool is_netns(const std::string& path) = 0;
  // Makes `dir` a shared mount point (bind-mounting it on itself if needed), so namespace
  // files bound inside it propagate to, and their removal reaches, mount namespaces copied
  // from ours (the containers of `trellis run`).
  virtual void prepare_netns_dir(const std::string& dir) = 0;

  virtual std::vector<LinkInfo> links(const std::string& ns) = 0;
  virtual std::optional<LinkInfo> link(const std::string& ns, const std::string& name) = 0;

  // A bridge in the host namespace, down, with the alias set.
  virtual void create_bridge(const std::string& name, const std::string& alias, uint32_t mtu) = 0;
  // A veth pair: `host_name` stays in the host namespace, `peer_name` is created directly in
  // namespace `peer_ns`. Both down; alias set on the host end.
  virtual void create_veth(const std::string& host_name, const std::string& alias,
                           const std::string& peer_name, const std::string& peer_ns,
                           uint32_t mtu) = 0;
  virtual void change_link(const std::string& ns, const std::string& name,
                           const LinkChange& change) = 0;
  // Deleting one end of a veth pair deletes both. A missing link is fine.
  virtual void delete_link(const std::string& ns, const std::string& name) = 0;

  // Adds "a.b.c.d/len" to the link (an existing identical address is fine).
  virtual void add_address(const std::string& ns, const std::string& link,
                           const std::string& cidr) = 0;
  virtual void remove_address(const std::string& ns, const std::string& link,
                              const std::string& cidr) = 0;

  // The IPv4 default route of `ns`: replaced to go via `gateway` on `link`, or removed.
  virtual void set_default_route(const std::string& ns, const std::string& gateway,
                                 const std::string& link) = 0;
  virtual void clear_default_route(const std::string& ns) = 0;
  // The current IPv4 default route as (gateway, link name); nullopt if none.
  virtual std::optional<std::pair<std::string, std::string>> default_route(
      const std::string& ns) = 0;

  // The IPv4 routes of `ns` other than default routes, as (destination "a.b.c.d/len", output
  // link or "").
  virtual std::vector<std::pair<std::string, std::string>> routes(const std::string& ns) = 0;

  // Writes /proc/sys/<key> (key with '/' separators, e.g. "net/ipv4/ip_forward") in `ns`.
  // NotFoundError when the sysctl does not exist.
  virtual void set_sysctl(const std::string& ns, const std::string& key,
                          const std::string& value) = 0;
};

// The production NetOps, over osl (node/dataplane/netops_osl.cpp). Construct it on the thread that
// will use it: the namespace of that thread is the "host" namespace.
std::unique_ptr<NetOps> make_kernel_netops();

}  // namespace trellis::node
