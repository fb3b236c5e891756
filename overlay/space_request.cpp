#include "overlay/space_request.h"

#include <algorithm>
#include <charconv>

#include "common/msgpack_decode.h"

namespace trellis::overlay {
namespace {

namespace md = msgpack_decode;

// A space request may ask for at most this many integers (a bound on what a peer can make an
// owner give away in one go; owners give at most half of a free run anyway).
constexpr uint64_t kMaxWanted = uint64_t{1} << 32;

void check_version(const msgpack::object& obj, std::string_view what) {
  const uint64_t v = md::as_u64(obj, what);
  if (v == 0 || v > kSpaceRequestVersion) {
    throw CorruptDataError(std::string(what) + ": unsupported version " + std::to_string(v));
  }
}

}  // namespace

std::string encode_space_request(const SpaceRequestBody& r) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(5);
  pk.pack(kSpaceRequestVersion);
  pk.pack(r.space);
  pk.pack(r.wanted);
  pk.pack(r.offset.has_value());
  pk.pack(r.offset.value_or(0));
  return std::string(buf.data(), buf.size());
}

SpaceRequestBody decode_space_request(std::string_view bytes) {
  constexpr std::string_view what = "space request";
  msgpack::object_handle h = md::unpack_whole(bytes, what);
  const auto& a = md::array_of(h.get(), 5, what);
  check_version(a.ptr[0], what);
  SpaceRequestBody r;
  r.space = md::as_string(a.ptr[1], "space request space");
  r.wanted = md::as_u64(a.ptr[2], "space request wanted");
  const bool has_offset = md::as_bool(a.ptr[3], "space request has_offset");
  const uint64_t offset = md::as_u64(a.ptr[4], "space request offset");
  if (has_offset) r.offset = offset;
  return r;
}

std::string encode_space_answer(const SpaceAnswerBody& a) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(5);
  pk.pack(kSpaceRequestVersion);
  pk.pack(static_cast<uint64_t>(a.status));
  pk.pack(a.first);
  pk.pack(a.last);
  pk.pack(a.reason);
  return std::string(buf.data(), buf.size());
}

SpaceAnswerBody decode_space_answer(std::string_view bytes) {
  constexpr std::string_view what = "space answer";
  msgpack::object_handle h = md::unpack_whole(bytes, what);
  const auto& arr = md::array_of(h.get(), 5, what);
  check_version(arr.ptr[0], what);
  SpaceAnswerBody a;
  const uint64_t status = md::as_u64(arr.ptr[1], "space answer status");
  if (status > static_cast<uint64_t>(SpaceAnswerStatus::kRefused))
    throw CorruptDataError("space answer: unknown status " + std::to_string(status));
  a.status = static_cast<SpaceAnswerStatus>(status);
  a.first = md::as_u64(arr.ptr[2], "space answer first");
  a.last = md::as_u64(arr.ptr[3], "space answer last");
  if (a.status == SpaceAnswerStatus::kDonated && a.first > a.last)
    throw CorruptDataError("space answer: empty donated range");
  a.reason = md::as_string(arr.ptr[4], "space answer reason");
  return a;
}

std::optional<std::pair<std::string, size_t>> parse_network_space_key(std::string_view key) {
  constexpr std::string_view prefix = "net/";
  if (key.substr(0, prefix.size()) != prefix) return std::nullopt;
  const size_t slash = key.rfind('/');
  if (slash <= prefix.size() || slash + 1 >= key.size()) return std::nullopt;
  size_t index = 0;
  const char* first = key.data() + slash + 1;
  const char* last = key.data() + key.size();
  auto [end, ec] = std::from_chars(first, last, index);
  if (ec != std::errc() || end != last) return std::nullopt;
  std::string id(key.substr(prefix.size(), slash - prefix.size()));
  if (store::network_space_key(id, index) != key) return std::nullopt;  // e.g. leading zeros
  return std::make_pair(std::move(id), index);
}

DonorDecision decide_space_request(const store::ReadView& view, store::NodeId self,
                                   store::NodeId requester, const SpaceRequestBody& request) {
  DonorDecision d;
  auto answer = [&](SpaceAnswerStatus status, std::string reason) {
    d.answer.status = status;
    d.answer.reason = std::move(reason);
    return d;
  };
  const std::string what = "space '" + request.space + "'";
  if (requester == 0 || requester == self)
    return answer(SpaceAnswerStatus::kRefused, what + ": a node cannot ask itself");
  if (!request.offset && request.wanted == 0)
    return answer(SpaceAnswerStatus::kRefused, what + ": nothing asked for");
  std::optional<store::SpaceInfo> info = view.space(request.space);
  if (!info) return answer(SpaceAnswerStatus::kUnknownSpace, what + ": unknown here");
  const uint64_t wanted = std::min(request.wanted, kMaxWanted);

  std::optional<store::RangeDonated> donation;
  if (request.offset) {
    donation = plan_specific_donation(info->space, request.space, self, requester, *request.offset);
  } else if (auto net = parse_network_space_key(request.space)) {
    std::optional<store::NetworkInfo> network = view.network(net->first);
    if (!network) return answer(SpaceAnswerStatus::kUnknownSpace, what + ": no such network");
    donation = plan_address_donation(*network, net->second, info->space, self, requester, wanted);
  } else {
    donation = plan_requested_donation(info->space, request.space, self, requester, wanted);
  }
  if (!donation) {
    return answer(SpaceAnswerStatus::kNothingFree,
                  what + ": node " + store::format_node_id(self) +
                      (request.offset ? " does not own " + std::to_string(*request.offset) + " free"
                                      : " has nothing free"));
  }
  d.donation = donation;
  d.answer.status = SpaceAnswerStatus::kDonated;
  d.answer.first = donation->first;
  d.answer.last = donation->last;
  return d;
}

}  // namespace trellis::overlay
