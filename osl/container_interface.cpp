#include "osl/container_interface.h"

#include <spdlog/spdlog.h>

#include "osl/addresses.h"
#include "osl/internal.h"
#include "osl/links.h"
#include "osl/routes.h"

namespace trellis::osl {

void setup_container_interface(NetlinkSocket& outer, NetlinkSocket& inner, const Netns& container,
                               const ContainerInterfaceSpec& spec) {
  LinkOptions outer_options{.mtu = spec.mtu};
  if (!spec.outer_alias.empty()) outer_options.alias = spec.outer_alias;
  // The inner end is born inside the container with its final name, MAC and MTU: no move,
  // no rename, no extra requests.
  create_veth(outer, spec.outer_name, outer_options, spec.inner_name, &container,
              LinkOptions{.mtu = spec.mtu, .mac = spec.mac});
  try {
    for (const auto& address : spec.addresses) add_address(inner, spec.inner_name, address);
    set_link_up(inner, spec.inner_name, true);
    if (spec.gateway) set_default_gateway(inner, *spec.gateway, spec.inner_name);
    if (spec.gateway6) set_default_gateway(inner, *spec.gateway6, spec.inner_name);
    LinkChange outer_change{.up = true};
    if (!spec.bridge.empty()) outer_change.master = spec.bridge;
    change_link(outer, spec.outer_name, outer_change);
  } catch (...) {
    try {
      delete_link_if_exists(outer, spec.outer_name);
    } catch (const std::exception& e) {
      internal::log().error("rollback of container interface {}: {}", spec.outer_name, e.what());
    }
    throw;
  }
  internal::log().debug("set up container interface {} ({} in ns {})", spec.outer_name,
                        spec.inner_name, container.label());
}

bool teardown_container_interface(NetlinkSocket& outer, const std::string& outer_name) {
  return delete_link_if_exists(outer, outer_name);
}

}  // namespace trellis::osl
