#include "node/drivers/overlay/overlay_programmer.h"

#include "osl/netns.h"

namespace trellis::node {

namespace {

class HostProgrammer : public OverlayProgrammer {
 public:
  explicit HostProgrammer(const overlay::HostOptions& options)
      : host_(osl::Netns::current(), options) {}

  const overlay::HostOptions& options() const override { return host_.options(); }

  overlay::ReconcileResult reconcile(const overlay::OverlaySpec& spec,
                                     const overlay::NetworkPeers& peers) override {
    return host_.reconcile(spec, peers);
  }
  bool remove_network(uint32_t vni) override { return host_.remove_network(vni); }
  std::vector<uint32_t> remove_others(const std::set<uint32_t>& keep) override {
    return host_.remove_others(keep);
  }
  std::vector<uint32_t> networks() override { return host_.networks(); }

  bool attach(const overlay::OverlaySpec& spec, const std::string& endpoint_id,
              const std::string& netns_path, const std::string& ifname, const std::string& mac,
              const ipam::InterfaceAddress& address) override {
    const osl::Netns container = osl::Netns::open(netns_path);
    overlay::Attachment a;
    a.endpoint_id = endpoint_id;
    a.container = &container;
    a.ifname = ifname;
    a.mac = mac;
    a.address = address;
    return host_.attach(spec, a);
  }
  bool detach(uint32_t vni, const std::string& endpoint_id) override {
    return host_.detach(vni, endpoint_id);
  }
  std::vector<std::string> attached(uint32_t vni) override { return host_.attached(vni); }

 private:
  overlay::OverlayHost host_;
};

}  // namespace

std::unique_ptr<OverlayProgrammer> make_overlay_host_programmer(
    const overlay::HostOptions& options) {
  return std::make_unique<HostProgrammer>(options);
}

}  // namespace trellis::node
