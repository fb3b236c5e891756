#include "node/drivers/null_host/null_host_driver.h"

#include "common/error.h"

namespace trellis::node {

NullHostDriver::NullHostDriver(std::string name, bool host_namespace)
    : name_(std::move(name)),
      capabilities_{
          .scope = DriverScope::kLocal, .exclusive = true, .host_namespace = host_namespace} {}

std::map<std::string, std::string> NullHostDriver::normalize_options(
    const std::map<std::string, std::string>& options) const {
  if (!options.empty()) {
    throw InvalidArgumentError("driver " + name_ + " accepts no options (got " +
                               options.begin()->first + ")");
  }
  return {};
}

std::optional<SpaceWanted> NullHostDriver::plan_network(const PlanningContext&,
                                                        store::NetworkCreated&,
                                                        store::IpamPoolConfig&,
                                                        const std::string& what) const {
  throw InternalError(what + ": a driver without addresses has no pool to plan");
}

AddressPlan NullHostDriver::plan_address(const PlanningContext&, const store::NetworkInfo&,
                                         const std::string&, const std::string& what) const {
  throw InternalError(what + ": a driver without addresses has no address to plan");
}

}  // namespace trellis::node
