#pragma once
// How a user's reference names one object, the same for every kind (networks, endpoints,
// sandboxes, nodes): a full id first, else an exact name, else a unique prefix of an id.
// Docker resolves container and network references in this order, and users type short ids
// from listings, so a prefix must never silently pick one of several objects.
//
// The caller builds the candidates (already narrowed to what the reference may name: the
// networks this node sees, the endpoints of one network, ...) and says which of several
// objects with the same name is preferred (a network that lost a name conflict is not).
// Pure; thread-compatible.

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace trellis::node {

template <typename T>
struct ReferenceCandidate {
  std::string_view id;
  std::string_view name;  // empty: the object has no name
  const T* object = nullptr;
  // Among objects sharing a name, the preferred one wins when it is the only preferred one.
  bool preferred = true;
};

// What the messages call things: kind "network" gives "network 'x' not found" and "network
// id prefix 'x' is ambiguous"; `name_hint` ends the message for a name used several times
// ("name the network too").
struct ReferenceRules {
  std::string kind;
  std::string name_hint = "use the id";
  std::string not_found_suffix = "";  // appended to "... not found" (" on network front")
};

// The object `ref` names. InvalidArgumentError for an empty reference, an ambiguous name or
// an ambiguous prefix (listing the matching ids); NotFoundError when nothing matches.
template <typename T>
const T& resolve_reference(std::string_view ref, const std::vector<ReferenceCandidate<T>>& all,
                           const ReferenceRules& rules) {
  if (ref.empty()) throw InvalidArgumentError("no " + rules.kind + " given");
  for (const auto& c : all)
    if (c.id == ref) return *c.object;

  std::vector<const ReferenceCandidate<T>*> named, preferred;
  for (const auto& c : all) {
    if (c.name.empty() || c.name != ref) continue;
    named.push_back(&c);
    if (c.preferred) preferred.push_back(&c);
  }
  if (named.size() == 1) return *named.front()->object;
  if (preferred.size() == 1) return *preferred.front()->object;
  if (!named.empty()) {
    std::string ids;
    for (const auto* c : named) ids += (ids.empty() ? "" : ", ") + std::string(c->id);
    throw InvalidArgumentError(rules.kind + " name '" + std::string(ref) +
                               "' is used by several objects (" + ids + "): " + rules.name_hint);
  }

  const ReferenceCandidate<T>* by_prefix = nullptr;
  for (const auto& c : all) {
    if (c.id.substr(0, ref.size()) != ref) continue;
    if (by_prefix) {
      throw InvalidArgumentError(rules.kind + " id prefix '" + std::string(ref) +
                                 "' is ambiguous (" + std::string(by_prefix->id) + ", " +
                                 std::string(c.id) + ", ...): give more of the id");
    }
    by_prefix = &c;
  }
  if (by_prefix) return *by_prefix->object;
  throw NotFoundError(rules.kind + " '" + std::string(ref) + "' not found" +
                      rules.not_found_suffix);
}

}  // namespace trellis::node
