// Pure parts of osl: name and MAC validation, the libnl error -> Trellis error mapping.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netlink/errno.h>

#include "osl/links.h"
#include "osl/netlink.h"
#include "osl/netns.h"

namespace trellis::osl {
namespace {

TEST(OslValidation, LinkNames) {
  EXPECT_TRUE(is_valid_link_name("eth0"));
  EXPECT_TRUE(is_valid_link_name("trl-abcdef01234"));  // 15 bytes
  EXPECT_FALSE(is_valid_link_name("trl-abcdef012345"));
  EXPECT_FALSE(is_valid_link_name(""));
  EXPECT_FALSE(is_valid_link_name("."));
  EXPECT_FALSE(is_valid_link_name(".."));
  EXPECT_FALSE(is_valid_link_name("a/b"));
  EXPECT_FALSE(is_valid_link_name("a:b"));
  EXPECT_FALSE(is_valid_link_name("a b"));
}

TEST(OslValidation, NamespaceNames) {
  EXPECT_TRUE(is_valid_netns_name("trl-ab12"));
  EXPECT_TRUE(is_valid_netns_name(std::string(64, 'a')));
  EXPECT_FALSE(is_valid_netns_name(std::string(65, 'a')));
  EXPECT_FALSE(is_valid_netns_name(""));
  EXPECT_FALSE(is_valid_netns_name(".."));
  EXPECT_FALSE(is_valid_netns_name("a/b"));
}

TEST(OslValidation, Macs) {
  EXPECT_TRUE(is_valid_mac("02:42:ac:11:00:02"));
  EXPECT_TRUE(is_valid_mac("02:42:AC:11:00:02"));
  EXPECT_FALSE(is_valid_mac("02:42:ac:11:00"));
  EXPECT_FALSE(is_valid_mac("02-42-ac-11-00-02"));
  EXPECT_FALSE(is_valid_mac("02:42:ac:11:00:0g"));
}

template <class E>
void expect_kind(int nle, const std::string& message) {
  try {
    throw_netlink_error(-nle, "do thing x in ns y");
  } catch (const E& e) {
    EXPECT_EQ(std::string(e.what()), message);
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong kind for " << nle << ": " << e.what();
  }
}

TEST(OslErrors, LibnlCodesMapToKindsWithErrnoText) {
  expect_kind<ConflictError>(NLE_EXIST, "do thing x in ns y: File exists");
  expect_kind<NotFoundError>(NLE_NODEV, "do thing x in ns y: No such device");
  expect_kind<NotFoundError>(NLE_OBJ_NOTFOUND, "do thing x in ns y: No such file or directory");
  expect_kind<InvalidArgumentError>(NLE_INVAL, "do thing x in ns y: Invalid argument");
  expect_kind<InvalidArgumentError>(NLE_RANGE, "do thing x in ns y: Numerical result out of range");
  expect_kind<UnavailableError>(NLE_OPNOTSUPP, "do thing x in ns y: Operation not supported");
  expect_kind<InternalError>(NLE_PERM, "do thing x in ns y: Operation not permitted");
  expect_kind<InternalError>(NLE_SEQ_MISMATCH,
                             std::string("do thing x in ns y: ") + nl_geterror(NLE_SEQ_MISMATCH));
}

}  // namespace
}  // namespace trellis::osl
