#pragma once
// Network interfaces ("links") in one namespace: create veth pairs, bridges (and dummies, where
// the kernel has them), move between namespaces, rename, set MAC/MTU/alias/master/up, list with
// their attributes, delete; plus idempotent "ensure" forms for the reconciler.
//
// Every function works in the namespace of the NetlinkSocket it is given and throws
// trellis::Error naming the operation, the link and the namespace, with the kernel's reason.
// Link names: 1..15 bytes, no '/', ':', whitespace; "." and ".." are rejected too
// (InvalidArgumentError before anything is sent).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ipam/ip.h"
#include "osl/netlink.h"
#include "osl/netns.h"

namespace trellis::osl {

// What a link looks like, as read back from the kernel.
struct LinkInfo {
  int index = 0;
  std::string name = {};
  std::string kind =
      {};  // "bridge", "veth", "vxlan", ... ("" when the kernel reports none, e.g. lo)
  std::string alias = {};   // IFLA_IFALIAS, "" if unset
  std::string master = {};  // name of the bridge it is enslaved to, "" if none
  std::string mac = {};     // lower-case "aa:bb:cc:dd:ee:ff", "" for links without one
  uint32_t mtu = 0;
  bool up = false;                                     // administratively up (IFF_UP)
  std::vector<ipam::InterfaceAddress> addresses = {};  // IPv4 then IPv6, as listed by the kernel
};

// Attributes given at creation. The alias is applied by a second request right after the
// creation: the kernel ignores IFLA_IFALIAS inside an RTM_NEWLINK create request.
struct LinkOptions {
  std::optional<std::string> alias = {};
  std::optional<uint32_t> mtu = {};
  std::optional<std::string> mac = {};  // "aa:bb:cc:dd:ee:ff"
};

// Changes to one link; unset fields stay as they are. Applied in one request, except that a
// rename of an up link is refused by the kernel (bring it down first, or use set_link_name).
struct LinkChange {
  std::optional<std::string> name = {};
  std::optional<std::string> mac = {};
  std::optional<uint32_t> mtu = {};
  std::optional<std::string> alias = {};   // "" clears it
  std::optional<std::string> master = {};  // bridge name; "" releases the link
  std::optional<bool> up = {};
};

// Whether `name` is acceptable to the kernel as an interface name.
bool is_valid_link_name(std::string_view name);
// Whether `mac` is "xx:xx:xx:xx:xx:xx" (hex, either case).
bool is_valid_mac(std::string_view mac);

// ---- create (NLM_F_EXCL: ConflictError if a link of that name exists; links start down)

// A Linux bridge.
void create_bridge(NetlinkSocket& sock, const std::string& name, const LinkOptions& options = {});
// A dummy link. This project's test kernel has no dummy driver: that fails with
// UnavailableError ("... link kind dummy is not supported by this kernel").
void create_dummy(NetlinkSocket& sock, const std::string& name, const LinkOptions& options = {});
// A veth pair: `name` in sock's namespace and `peer_name` created directly in `peer_ns`
// (nullptr: the same namespace). If applying an alias fails afterwards, the pair is deleted.
void create_veth(NetlinkSocket& sock, const std::string& name, const LinkOptions& options,
                 const std::string& peer_name, const Netns* peer_ns,
                 const LinkOptions& peer_options = {});

// ---- change

void change_link(NetlinkSocket& sock, const std::string& name, const LinkChange& change);
// Convenience forms of change_link.
void set_link_up(NetlinkSocket& sock, const std::string& name, bool up);
void set_link_mtu(NetlinkSocket& sock, const std::string& name, uint32_t mtu);
void set_link_mac(NetlinkSocket& sock, const std::string& name, const std::string& mac);
void set_link_alias(NetlinkSocket& sock, const std::string& name, const std::string& alias);
// Enslaves `name` to bridge `master` ("" releases it).
void set_link_master(NetlinkSocket& sock, const std::string& name, const std::string& master);
// Renames a link; if it is up it is brought down for the rename and up again.
void set_link_name(NetlinkSocket& sock, const std::string& name, const std::string& new_name);

// Moves link `name` from sock's namespace into `target`, optionally renaming it on the way
// (one request, so the new name must be free in `target`). The link arrives down.
void move_link(NetlinkSocket& sock, const std::string& name, const Netns& target,
               const std::optional<std::string>& new_name = std::nullopt);

// ---- delete (deleting one end of a veth pair deletes both)

// NotFoundError if the link does not exist.
void delete_link(NetlinkSocket& sock, const std::string& name);
// Returns whether a link was deleted; a missing link is fine.
bool delete_link_if_exists(NetlinkSocket& sock, const std::string& name);

// ---- read

// All links whose name starts with `prefix` (all links for ""), by index, with addresses.
std::vector<LinkInfo> list_links(NetlinkSocket& sock, std::string_view prefix = "");
// The link named `name`, or nullopt.
std::optional<LinkInfo> find_link(NetlinkSocket& sock, const std::string& name);
// The link named `name`; NotFoundError if missing.
LinkInfo get_link(NetlinkSocket& sock, const std::string& name);
// The ifindex of `name`; NotFoundError if missing.
int link_index(NetlinkSocket& sock, const std::string& name);

// ---- idempotent forms for the reconciler

// Makes sure a bridge `name` exists with the given options (MTU, MAC, alias) and is up if
// `up`. A link of that name of another kind is a ConflictError (never touched).
// Returns true if it had to be created.
bool ensure_bridge(NetlinkSocket& sock, const std::string& name, const LinkOptions& options,
                   bool up = true);
// Makes the link match every set field of `change` (sending a request only for fields that
// differ). NotFoundError if it does not exist. Returns true if anything changed.
bool ensure_link(NetlinkSocket& sock, const std::string& name, const LinkChange& change);

}  // namespace trellis::osl
