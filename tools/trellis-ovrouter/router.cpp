#include "tools/trellis-ovrouter/router.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.h"
#include "node/api/client.h"
#include "osl/container_interface.h"
#include "osl/links.h"
#include "osl/netlink.h"
#include "osl/netns.h"
#include "osl/sysctl.h"
#include "overlay/overlay_network.h"

namespace trellis::ovrouter {

namespace {

using json = nlohmann::json;

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "host";
  return buf;
}

osl::Netns target_netns(const std::string& path) {
  return path.empty() ? osl::Netns::current() : osl::Netns::open(path);
}

}  // namespace

OverlayRouter::OverlayRouter(RouterOptions options) : options_(std::move(options)) {}

OverlayRouter::~OverlayRouter() {
  try {
    detach();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trellis-ovrouter: detaching: %s\n", e.what());
  }
}

const Attached& OverlayRouter::attach() {
  if (attached_) return *attached_;
  node::ApiClient api(options_.socket_path);

  const json info = json::parse(api.call("GET", "/info"));
  const json net = json::parse(api.call("GET", "/networks/" + node::url_escape(options_.network)));
  if (net.value("driver", "") != "overlay") {
    throw InvalidArgumentError("network " + options_.network + " is a " + net.value("driver", "?") +
                               " network, not an overlay network");
  }
  Attached a;
  a.network_id = net.at("id").get<std::string>();
  a.vni = net.value("vni", 0u);
  if (a.vni == 0)
    throw InternalError("network " + options_.network + ": the daemon reports no VNI");
  a.endpoint_name = options_.name.empty() ? "ovrouter-" + host_name() : options_.name;
  a.ifname = options_.ifname.empty() ? "ovr" + std::to_string(a.vni) : options_.ifname;
  if (!osl::is_valid_link_name(a.ifname))
    throw InvalidArgumentError("interface name '" + a.ifname + "' is not a valid link name");

  // The target must not already have the interface: it would be someone else's.
  osl::Netns target = target_netns(options_.netns_path);
  osl::NetlinkSocket target_sock(target);
  if (osl::find_link(target_sock, a.ifname)) {
    throw ConflictError("interface " + a.ifname + " exists already in " + target.label() +
                        " (another trellis-ovrouter? use --ifname)");
  }

  json body = {{"network", a.network_id}, {"name", a.endpoint_name}};
  if (!options_.address.empty()) body["ip"] = options_.address;
  const json ep = json::parse(api.call("POST", "/endpoints", body.dump()));
  a.endpoint_id = ep.at("id").get<std::string>();
  a.mac = ep.value("mac", "");
  const auto remove_endpoint = [&] {
    try {
      api.call("DELETE", "/endpoints/" + a.endpoint_id + "?force=1");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "trellis-ovrouter: removing endpoint %s: %s\n", a.endpoint_name.c_str(),
                   e.what());
    }
  };

  try {
    if (!ep.contains("addresses") || ep["addresses"].empty())
      throw InternalError("endpoint " + a.endpoint_name + " has no address");
    a.address = ipam::InterfaceAddress::parse(ep["addresses"][0].get<std::string>());

    // The daemon builds the network's overlay namespace on this host as soon as it has a
    // local endpoint there; wait for its bridge.
    const std::string ns_path =
        info.at("run_dir").get<std::string>() + "/netns/" + overlay::overlay_netns_name(a.vni);
    const std::string bridge = overlay::overlay_bridge_name(a.vni);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(options_.wait_seconds);
    std::optional<osl::Netns> overlay_ns;
    std::optional<osl::LinkInfo> bridge_link;
    while (true) {
      if (osl::is_netns_file(ns_path)) {
        if (!overlay_ns) overlay_ns = osl::Netns::open(ns_path);
        osl::NetlinkSocket sock(*overlay_ns);
        bridge_link = osl::find_link(sock, bridge);
        if (bridge_link && bridge_link->up) break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw UnavailableError("the daemon did not build overlay namespace " + ns_path +
                               " with bridge " + bridge + " within " +
                               std::to_string(options_.wait_seconds) + " s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    a.mtu = bridge_link->mtu;

    osl::NetlinkSocket outer(*overlay_ns);
    osl::ContainerInterfaceSpec spec;
    spec.outer_name = overlay::overlay_veth_name(a.endpoint_id);
    spec.outer_alias = "trellis/" + info.value("node_id", "") + "/endpoint/" + a.endpoint_id;
    spec.bridge = bridge;
    spec.inner_name = a.ifname;
    if (!a.mac.empty()) spec.mac = a.mac;
    spec.mtu = a.mtu;
    spec.addresses = {a.address};  // no gateway: the target keeps its own default route
    osl::setup_container_interface(outer, target_sock, target, spec);

    try {
      forwarding_before_ = osl::read_sysctl(target, "net/ipv4/ip_forward");
      if (*forwarding_before_ != "1") osl::set_ip_forward(target, true);
    } catch (...) {
      osl::teardown_container_interface(outer, spec.outer_name);
      forwarding_before_.reset();
      throw;
    }
  } catch (...) {
    remove_endpoint();
    throw;
  }
  attached_ = std::move(a);
  return *attached_;
}

void OverlayRouter::detach() {
  if (!attached_) return;
  const Attached a = *attached_;
  attached_.reset();
  std::string problems;
  try {
    osl::Netns target = target_netns(options_.netns_path);
    osl::NetlinkSocket sock(target);
    osl::delete_link_if_exists(sock, a.ifname);  // removes both ends of the pair
    if (forwarding_before_ && *forwarding_before_ != "1") osl::set_ip_forward(target, false);
  } catch (const std::exception& e) {
    problems += std::string("interface ") + a.ifname + ": " + e.what() + "; ";
  }
  forwarding_before_.reset();
  try {
    node::ApiClient api(options_.socket_path);
    api.call("DELETE", "/endpoints/" + a.endpoint_id + "?force=1");
  } catch (const NotFoundError&) {
    // Removed by someone else already.
  } catch (const std::exception& e) {
    problems += "endpoint " + a.endpoint_name + ": " + e.what();
  }
  if (!problems.empty()) throw UnavailableError("detaching: " + problems);
}

}  // namespace trellis::ovrouter
