// One reference rule for every kind: id, then exact name, then unique id prefix.

#include "node/control/references.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace trellis::node {
namespace {

struct Thing {
  std::string id, name;
  bool preferred = true;
};

const Thing& resolve(const std::vector<Thing>& things, std::string_view ref) {
  std::vector<ReferenceCandidate<Thing>> candidates;
  for (const auto& t : things) candidates.push_back({t.id, t.name, &t, t.preferred});
  return resolve_reference(ref, candidates, {"network", "use the id"});
}

std::string error_of(const std::vector<Thing>& things, std::string_view ref) {
  try {
    resolve(things, ref);
  } catch (const Error& e) {
    return std::string(to_string(e.kind())) + ": " + e.what();
  }
  return "no error";
}

TEST(ReferencesTest, IdBeatsNameBeatsPrefix) {
  // "abc" is an id, the name of another object, and a prefix of a third.
  const std::vector<Thing> things = {{"abc", "x"}, {"f00", "abc"}, {"abcdef", "y"}};
  EXPECT_EQ(resolve(things, "abc").id, "abc");
  EXPECT_EQ(resolve(things, "x").id, "abc");
  EXPECT_EQ(resolve(things, "abcd").id, "abcdef");
  const std::vector<Thing> named = {{"f00", "abc"}, {"abcdef", "y"}};
  EXPECT_EQ(resolve(named, "abc").id, "f00");  // a name beats a prefix
}

TEST(ReferencesTest, AmbiguousPrefixIsRefusedWithTheIds) {
  const std::vector<Thing> things = {{"abc1", "x"}, {"abc2", "y"}};
  EXPECT_EQ(error_of(things, "abc"),
            "invalid-argument: network id prefix 'abc' is ambiguous (abc1, abc2, ...): give more "
            "of the id");
}

TEST(ReferencesTest, SharedNamePrefersTheOnePreferredElseIsRefused) {
  std::vector<Thing> things = {{"a1", "web", false}, {"b2", "web", true}};
  EXPECT_EQ(resolve(things, "web").id, "b2");
  things[0].preferred = true;
  EXPECT_EQ(error_of(things, "web"),
            "invalid-argument: network name 'web' is used by several objects (a1, b2): use the id");
}

TEST(ReferencesTest, EmptyAndUnknownReferencesAreTypedErrors) {
  const std::vector<Thing> things = {{"a1", "web"}};
  EXPECT_EQ(error_of(things, ""), "invalid-argument: no network given");
  EXPECT_EQ(error_of(things, "zzz"), "not-found: network 'zzz' not found");
  EXPECT_EQ(error_of({}, "a"), "not-found: network 'a' not found");
}

TEST(ReferencesTest, UnnamedObjectsAnswerOnlyToIds) {
  const std::vector<Thing> things = {{"a1", ""}};
  EXPECT_EQ(error_of(things, ""), "invalid-argument: no network given");
  EXPECT_EQ(resolve(things, "a").id, "a1");
}

}  // namespace
}  // namespace trellis::node
