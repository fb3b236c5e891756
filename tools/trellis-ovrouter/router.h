#pragma once
// A router endpoint on an overlay network: lets a namespace that is not a container (the
// host's own, or a gateway namespace) reach the overlay's containers. Through the daemon's API
// it creates an endpoint on the network (so the address is allocated cluster-wide and every
// other host programs it as a peer, and this host instantiates the network), then wires a veth
// pair from the network's overlay namespace (enslaved to its bridge, named like a container's
// veth so the daemon knows whose it is) into the target namespace, with the endpoint's MAC and
// address and no default route, and turns IPv4 forwarding on there. detach() undoes it all:
// the interface, the endpoint, and forwarding if it was off before.
//
// The daemon leaves the veth of an endpoint that exists but is joined to no sandbox alone; if
// this process dies without detaching, `trellis endpoint rm NAME` removes the endpoint and the
// daemon then removes the veth. Threads: one thread.

#include <optional>
#include <string>

#include "ipam/ip.h"

namespace trellis::ovrouter {

struct RouterOptions {
  std::string socket_path;  // trellisd's API socket
  std::string network;      // name or id of an overlay network
  std::string address;      // wanted IPv4 address ("" = the daemon picks one)
  std::string netns_path;   // namespace file to attach ("" = this process's namespace)
  std::string name;         // endpoint name ("" = "ovrouter-<host name>")
  std::string ifname;       // interface name in the target ("" = "ovr<vni>")
  int wait_seconds = 10;    // how long to wait for the daemon to build the overlay namespace
};

struct Attached {
  std::string network_id;
  std::string endpoint_id;
  std::string endpoint_name;
  uint32_t vni = 0;
  std::string ifname;
  ipam::InterfaceAddress address;
  std::string mac;
  uint32_t mtu = 0;
};

class OverlayRouter {
 public:
  explicit OverlayRouter(RouterOptions options);
  ~OverlayRouter();  // detaches if still attached (errors are printed, not thrown)
  OverlayRouter(const OverlayRouter&) = delete;
  OverlayRouter& operator=(const OverlayRouter&) = delete;

  // Throws trellis::Error (InvalidArgumentError: not an overlay network; what the daemon
  // said otherwise). On failure nothing is left behind.
  const Attached& attach();
  // Idempotent.
  void detach();

 private:
  RouterOptions options_;
  std::optional<Attached> attached_;
  std::optional<std::string> forwarding_before_;  // net.ipv4.ip_forward before attach
};

}  // namespace trellis::ovrouter
