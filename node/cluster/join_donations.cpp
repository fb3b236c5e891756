#include "node/cluster/join_donations.h"

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "overlay/peer_table.h"
#include "overlay/space_planner.h"

namespace trellis::node {

namespace {

spdlog::logger& logger() { return log("cluster"); }

}  // namespace

void JoinDonations::member_appeared(store::NodeId joiner) {
  try {
    donate(joiner, live_.live_nodes());
  } catch (const std::exception& e) {
    logger().error("donating space to joining node {}: {}", store::format_node_id(joiner),
                   e.what());
  }
}

void JoinDonations::owe_all() {
  std::set<store::NodeId> live;
  try {
    live = live_.live_nodes();
  } catch (const std::exception& e) {
    logger().error("checking join donations: {}", e.what());
    return;
  }
  for (const store::NodeId member : live) {
    try {
      donate(member, live);
    } catch (const std::exception& e) {
      logger().error("donating space to joining node {}: {}", store::format_node_id(member),
                     e.what());
    }
  }
}

void JoinDonations::donate(store::NodeId joiner, const std::set<store::NodeId>& live) {
  const overlay::Membership members{store_.identity().id, live};
  std::vector<store::RangeDonated> plan =
      overlay::plan_join_donations(store_.read(), members, joiner);
  if (plan.empty()) {
    logger().trace("no join donation owed to {}", store::format_node_id(joiner));
    return;
  }
  std::vector<store::Body> bodies;
  for (const store::RangeDonated& d : plan) {
    logger().info("donating [{}, {}] of {} to joining node {}", d.first, d.last, d.space,
                  store::format_node_id(d.to));
    bodies.push_back(d);
  }
  writer_.append(std::move(bodies));
}

}  // namespace trellis::node
