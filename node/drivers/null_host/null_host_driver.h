#pragma once
// The null and host drivers (Docker's "none" and "host"): exclusive networks without
// addresses or options. A sandbox on a host network shares the daemon's own namespace; one on
// a null network keeps its namespace with loopback only. Neither programs anything: their
// data-plane half (NoNetworkPlane) owns no kernel object. Stateless; safe from any thread.

#include <memory>
#include <string>

#include "node/dataplane/network_plane.h"
#include "node/drivers/driver.h"

namespace trellis::node {

class NullHostDriver final : public NetworkDriver {
 public:
  // `name` as registered (for messages); `host_namespace`: the host driver (sandboxes share
  // the host's namespace), else null.
  NullHostDriver(std::string name, bool host_namespace);

  const DriverCapabilities& capabilities() const override { return capabilities_; }
  // Accepts no options.
  std::map<std::string, std::string> normalize_options(
      const std::map<std::string, std::string>& options) const override;
  // Never called (no IPAM): InternalError.
  std::optional<SpaceWanted> plan_network(const PlanningContext& context,
                                          store::NetworkCreated& spec, store::IpamPoolConfig& pool,
                                          const std::string& what) const override;
  AddressPlan plan_address(const PlanningContext& context, const store::NetworkInfo& network,
                           const std::string& preferred, const std::string& what) const override;

 private:
  std::string name_;
  DriverCapabilities capabilities_;
};

// The data-plane half of drivers that program nothing: wants no network, owns no link.
class NoNetworkPlane final : public NetworkPlane {
 public:
  void adopt(AdoptionScan&, Attachments&) override {}
  bool wants_network(const StateCache&, const store::NetworkInfo&) const override { return false; }
  bool has_network(const std::string&) const override { return false; }
  void ensure_network(const StateCache&, Attachments&, const std::string&) override {}
  void remove_network(Attachments&, const std::string&) override {}
  void ensure_join(const StateCache&, Attachments&, const std::string&) override {}
  void remove_join(const std::string&, const JoinRecord&) override {}
};

}  // namespace trellis::node
