#include "node/cluster/cluster_policy.h"

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "node/cluster/founding.h"
#include "overlay/space_request.h"

namespace trellis::node {

namespace {

spdlog::logger& logger() { return log("cluster"); }

// The host part of "IP", "IP:PORT" or "[IPv6]:PORT".
std::string host_of(const std::string& address) {
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find(']');
    return close == std::string::npos ? address : address.substr(1, close - 1);
  }
  const auto colon = address.rfind(':');
  if (colon != std::string::npos && address.find(':') == colon) return address.substr(0, colon);
  return address;
}

}  // namespace

ClusterPolicy::ClusterPolicy(const store::Store& store, ClusterService& cluster,
                             Membership& membership, LocalEventWriter& writer,
                             SpaceAnswerListener& answers, Options options)
    : store_(store),
      cluster_(cluster),
      membership_(membership),
      writer_(writer),
      answers_(answers),
      options_(std::move(options)),
      donations_(store, membership, writer),
      donor_(store, writer) {}

void ClusterPolicy::tick() {
  try {
    refused_.check(cluster_.stats().gossip.transport, kTickInterval);
  } catch (const std::exception& e) {
    logger().error("reading the transport's counters: {}", e.what());
  }
  // Join donations are planned when a member appears alive; a member whose appearance raced
  // with another donation (or whose donor's view differed) gets its share here.
  donations_.owe_all();
}

// Remote events reach the data plane through one trigger only: the controller's store
// listener, which sees every write of every writer (remote applies, snapshot installs) and
// schedules one coalesced reconciliation (ControllerOptions::schedule_reconcile). Reconciling
// here as well would be a second trigger for the same change, and one that a future writer
// other than this service would not have.
void ClusterPolicy::state_changed(const store::ChangeSet&) {}

void ClusterPolicy::member_changed(const MemberChange& change) {
  const MembershipUpdate update = membership_.apply(change);
  logger().debug("member {} is {} (was {}{}); {} other members live",
                 store::format_node_id(change.member.id), gossip::to_string(change.member.state),
                 gossip::to_string(change.previous), change.is_new ? ", new" : "",
                 membership_.live_nodes().size());
  if (update.appeared_alive) donations_.member_appeared(change.member.id);
}

void ClusterPolicy::space_requested(const SpaceRequest& request) {
  // The donor commits the donation before it returns the answer.
  std::string answer = donor_.answer(request);
  try {
    cluster_.answer_space(request.from, request.request_id, std::move(answer));
  } catch (const std::exception& e) {
    logger().warn("answering the space request of node {}: {}", store::format_node_id(request.from),
                  e.what());
  }
}

void ClusterPolicy::space_answered(const SpaceAnswer& answer) {
  const std::string from = store::format_node_id(answer.from);
  if (!answer.payload) {
    logger().debug("space request {} to node {} failed (no answer)", answer.request_id, from);
    return;
  }
  try {
    const overlay::SpaceAnswerBody body = overlay::decode_space_answer(*answer.payload);
    logger().debug("space request {} to node {}: status {}, [{}, {}] {}", answer.request_id, from,
                   static_cast<int>(body.status), body.first, body.last, body.reason);
    // The donation itself arrives as an event, which the waiting command acts on; an answer
    // that gives nothing only ends the wait early.
    const bool gives_nothing = body.status == overlay::SpaceAnswerStatus::kNothingFree ||
                               body.status == overlay::SpaceAnswerStatus::kRefused;
    answers_.space_answered(answer.request_id, gives_nothing, body.reason);
  } catch (const std::exception& e) {
    logger().warn("malformed space answer from node {}: {}", from, e.what());
  }
}

void ClusterPolicy::ready() {
  try {
    if (auto announced = node_announcement(store_, options_.node_name, host_of(cluster_.address())))
      writer_.append({std::move(*announced)});
  } catch (const std::exception& e) {
    logger().error("announcing this node: {}", e.what());
  }
  if (options_.founder) {
    try {
      found_cluster_spaces(store_, writer_);
    } catch (const std::exception& e) {
      logger().error("initialising the cluster's spaces: {}", e.what());
    }
  }
  // Members seen before this point (a fresh store's hold) may be owed join donations.
  donations_.owe_all();
}

}  // namespace trellis::node
