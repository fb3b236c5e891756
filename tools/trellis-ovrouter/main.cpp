// trellis-ovrouter: attaches a namespace (this host's by default) to an overlay network as a
// router endpoint, stays attached until SIGINT or SIGTERM, then detaches cleanly. See
// tools/trellis-ovrouter/router.h and docs/overlay.md.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "common/error.h"
#include "node/api/client.h"
#include "tools/trellis-ovrouter/router.h"

int main(int argc, char** argv) {
  using namespace trellis;
  CLI::App app(
      "Attach a network namespace (this host's by default) to a Trellis overlay network as a\n"
      "router endpoint: an interface on the overlay with an address of the network, IPv4\n"
      "forwarding on, and no change to the namespace's default route. The host (or a gateway\n"
      "namespace routing for others) then reaches the overlay's containers on every host.\n"
      "The endpoint is a normal endpoint of the network (`trellis endpoint ls`). Stays in the\n"
      "foreground; SIGINT or SIGTERM detaches: the interface and the endpoint are removed and\n"
      "forwarding is restored. If the process is killed, `trellis endpoint rm NAME` cleans up.",
      "trellis-ovrouter");
  std::string host = "unix:///run/trellis/trellis.sock";
  ovrouter::RouterOptions o;
  app.add_option("-H,--host", host, "trellisd's API socket (unix://PATH)")->capture_default_str();
  app.add_option("--network", o.network, "Overlay network name or id")->required();
  app.add_option("--address", o.address, "IPv4 address on the overlay (default: a free one)");
  app.add_option("--netns", o.netns_path,
                 "Namespace file to attach, e.g. /run/netns/gw or /proc/PID/ns/net "
                 "(default: this process's namespace)");
  app.add_option("--name", o.name, "Endpoint name (default: ovrouter-<host name>)");
  app.add_option("--ifname", o.ifname, "Interface name in the namespace (default: ovr<VNI>)");
  app.add_option("--wait", o.wait_seconds,
                 "Seconds to wait for the daemon to build the overlay on this host")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Block the signals before anything else, then wait for them synchronously.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    o.socket_path = node::socket_path_from_host(host);
    ovrouter::OverlayRouter router(o);
    const ovrouter::Attached& a = router.attach();
    std::printf("attached %s to network %s (VNI %u) as endpoint %s: %s, MAC %s, MTU %u\n",
                a.ifname.c_str(), o.network.c_str(), a.vni, a.endpoint_name.c_str(),
                a.address.to_string().c_str(), a.mac.c_str(), a.mtu);
    std::fflush(stdout);
    int signal = 0;
    sigwait(&stop_signals, &signal);
    std::printf("signal %d: detaching\n", signal);
    router.detach();
    std::printf("detached\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trellis-ovrouter: %s\n", e.what());
    return 1;
  }
}
