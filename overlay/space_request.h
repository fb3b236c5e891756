#pragma once
// Space requests between nodes (docs/overlay.md sec. 3): the payload a node that owns nothing free
// in a space sends to an owner over gossip (ClusterService::request_space), the answer, and the
// owner's decision. The donation itself travels as a RangeDonated event in the owner's log;
// the answer only tells the requester what to wait for (or why nothing comes), so a lost
// answer costs nothing but a timeout. Encodings are documented in docs/overlay.md.
// Pure values and functions; safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "overlay/space_planner.h"
#include "store/store.h"

namespace trellis::overlay {

// Version of the request and answer encodings written by this build.
inline constexpr uint64_t kSpaceRequestVersion = 1;

// "Give me up to `wanted` integers of `space`", or "give me exactly `offset`" (a static
// address), in one space: "vni", "subnet-pool" or a network's "net/<id>/<pool>".
struct SpaceRequestBody {
  std::string space;
  uint64_t wanted = 0;             // ignored when `offset` is set
  std::optional<uint64_t> offset;  // a specific integer
  friend bool operator==(const SpaceRequestBody&, const SpaceRequestBody&) = default;
};

enum class SpaceAnswerStatus : uint64_t {
  kDonated = 0,       // [first, last] is donated: wait for the RangeDonated event
  kNothingFree = 1,   // the owner has nothing (usable) free, or not that offset
  kUnknownSpace = 2,  // the owner does not know the space (yet)
  kRefused = 3,       // a malformed request (e.g. nothing asked for)
};

struct SpaceAnswerBody {
  SpaceAnswerStatus status = SpaceAnswerStatus::kRefused;
  uint64_t first = 0;  // kDonated: the donated range
  uint64_t last = 0;
  std::string reason;  // for logs and error messages
  friend bool operator==(const SpaceAnswerBody&, const SpaceAnswerBody&) = default;
};

// msgpack: request [version, space, wanted, has_offset, offset];
// answer [version, status, first, last, reason].
std::string encode_space_request(const SpaceRequestBody& request);
// CorruptDataError for malformed bytes or a newer version.
SpaceRequestBody decode_space_request(std::string_view bytes);
std::string encode_space_answer(const SpaceAnswerBody& answer);
SpaceAnswerBody decode_space_answer(std::string_view bytes);

// "net/<id>/<pool>" -> (network id, pool index); nullopt for other keys.
std::optional<std::pair<std::string, size_t>> parse_network_space_key(std::string_view key);

// What the owner does with a request from `requester`: the donation to author first (nullopt:
// none) and the answer to send once it is committed. Network address spaces donate only
// addresses the requester can use (plan_address_donation); cluster spaces use
// plan_requested_donation. A specific offset is donated only if self owns it and it is free.
struct DonorDecision {
  std::optional<store::RangeDonated> donation;
  SpaceAnswerBody answer;
};
DonorDecision decide_space_request(const store::ReadView& view, store::NodeId self,
                                   store::NodeId requester, const SpaceRequestBody& request);

}  // namespace trellis::overlay
