#include "node/cluster/space_donor.h"

#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/log.h"
#include "overlay/space_request.h"

namespace trellis::node {

namespace {

spdlog::logger& logger() { return log("cluster"); }

}  // namespace

std::string SpaceDonor::answer(const SpaceRequest& request) {
  const std::string from = store::format_node_id(request.from);
  overlay::SpaceAnswerBody answer;
  try {
    const overlay::SpaceRequestBody body = overlay::decode_space_request(request.payload);
    overlay::DonorDecision decision =
        overlay::decide_space_request(store_.read(), store_.identity().id, request.from, body);
    if (decision.donation) {
      const store::RangeDonated d = *decision.donation;
      writer_.append({d});
      logger().info("donated [{}, {}] of {} to node {} on request", d.first, d.last, d.space, from);
    } else {
      logger().debug("space request from node {} for {}: {}", from, body.space,
                     decision.answer.reason);
    }
    answer = std::move(decision.answer);
  } catch (const CorruptDataError& e) {
    logger().warn("malformed space request from node {}: {}", from, e.what());
    answer = {overlay::SpaceAnswerStatus::kRefused, 0, 0, e.what()};
  } catch (const std::exception& e) {
    logger().warn("space request from node {} failed: {}", from, e.what());
    answer = {overlay::SpaceAnswerStatus::kNothingFree, 0, 0, e.what()};
  }
  return overlay::encode_space_answer(answer);
}

}  // namespace trellis::node
