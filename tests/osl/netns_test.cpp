// Named namespaces, opening by path, and running code inside a namespace.

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "osl/links.h"
#include "tests/osl/osl_fixture.h"

namespace trellis::osl {
namespace {

using NetnsTest = OslTest;

TEST_F(NetnsTest, CreateNamedNetnsBindsAFileWithLoopbackUp) {
  Netns ns = make_ns("trl-a");
  EXPECT_EQ(ns.label(), dir_ + "/trl-a");
  EXPECT_TRUE(is_netns_file(dir_ + "/trl-a"));
  EXPECT_FALSE(ns.same_as(host_));

  NetlinkSocket sock(ns);
  EXPECT_EQ(sock.ns_label(), ns.label());
  const LinkInfo lo = get_link(sock, "lo");
  EXPECT_TRUE(lo.up);
  // A fresh namespace has only its loopback.
  EXPECT_EQ(list_links(sock).size(), 1u);

  Netns again = Netns::open(dir_ + "/trl-a");
  EXPECT_TRUE(again.same_as(ns));
}

TEST_F(NetnsTest, CreateWithSocketGivesASocketBoundToTheNewNamespace) {
  NetnsWithSocket created = create_named_netns_with_socket(dir_, "trl-a");
  EXPECT_EQ(created.sock.ns_label(), dir_ + "/trl-a");
  create_bridge(created.sock, "trlbr0");
  NetlinkSocket again(created.ns);
  EXPECT_TRUE(find_link(again, "trlbr0").has_value());
  NetlinkSocket host(host_);
  EXPECT_FALSE(find_link(host, "trlbr0").has_value());
  EXPECT_THROW(create_named_netns_with_socket(dir_, "trl-a"), ConflictError);
}

TEST_F(NetnsTest, CreatingAnExistingNamespaceIsAConflict) {
  Netns ns = make_ns("trl-a");
  EXPECT_THROW(make_ns("trl-a"), ConflictError);
  // The original is untouched.
  EXPECT_TRUE(is_netns_file(dir_ + "/trl-a"));
  EXPECT_TRUE(Netns::open(dir_ + "/trl-a").same_as(ns));
}

TEST_F(NetnsTest, InvalidNamesAreRejectedAndCreateNothing) {
  for (const std::string& bad : std::vector<std::string>{
           "", ".", "..", "a/b", "with space", "tab\t", std::string(65, 'x'), "semi;colon"}) {
    EXPECT_THROW(make_ns(bad), InvalidArgumentError) << "name '" << bad << "'";
    EXPECT_THROW(delete_named_netns(dir_, bad), InvalidArgumentError) << "name '" << bad << "'";
  }
  EXPECT_TRUE(list_named_netns(dir_, "").empty());
}

TEST_F(NetnsTest, OpeningAMissingPathOrANonNamespaceIsNotFound) {
  EXPECT_THROW(Netns::open(dir_ + "/trl-missing"), NotFoundError);
  const std::string plain = dir_ + "/trl-plain";
  std::ofstream(plain) << "x";
  try {
    Netns::open(plain);
    ADD_FAILURE() << "a regular file opened as a namespace";
  } catch (const NotFoundError& e) {
    EXPECT_NE(std::string(e.what()).find("not a network namespace"), std::string::npos);
  }
  // The mount namespace file of this process is a namespace, but not a network one.
  EXPECT_THROW(Netns::open("/proc/self/ns/mnt"), NotFoundError);
  EXPECT_FALSE(is_netns_file(plain));
  ::unlink(plain.c_str());
}

TEST_F(NetnsTest, DeleteRemovesTheFileAndAMissingOneIsFine) {
  { Netns ns = make_ns("trl-a"); }
  delete_named_netns(dir_, "trl-a");
  EXPECT_FALSE(is_netns_file(dir_ + "/trl-a"));
  EXPECT_EQ(::access((dir_ + "/trl-a").c_str(), F_OK), -1);
  EXPECT_NO_THROW(delete_named_netns(dir_, "trl-a"));
  EXPECT_NO_THROW(delete_named_netns(dir_ + "/no-such-dir", "trl-a"));
}

TEST_F(NetnsTest, AStaleFileBlocksCreationUntilDeleted) {
  std::ofstream(dir_ + "/trl-stale") << "";
  EXPECT_THROW(make_ns("trl-stale"), ConflictError);
  delete_named_netns(dir_, "trl-stale");
  EXPECT_NO_THROW(make_ns("trl-stale"));
}

TEST_F(NetnsTest, ListReturnsOnlyNamespacesWithThePrefixSorted) {
  Netns b = make_ns("trl-b");
  Netns a = make_ns("trl-a");
  Netns other = make_ns("other");
  std::ofstream(dir_ + "/trl-notans") << "";
  EXPECT_EQ(list_named_netns(dir_, "trl-"), (std::vector<std::string>{"trl-a", "trl-b"}));
  EXPECT_EQ(list_named_netns(dir_, ""), (std::vector<std::string>{"other", "trl-a", "trl-b"}));
  EXPECT_TRUE(list_named_netns(dir_ + "/missing", "").empty());
  ::unlink((dir_ + "/trl-notans").c_str());
  delete_named_netns(dir_, "other");
}

TEST_F(NetnsTest, RunInNetnsRunsOnAnotherThreadInsideAndLeavesTheCallerAlone) {
  Netns ns = make_ns("trl-a");
  const auto caller = std::this_thread::get_id();
  const bool inside = run_in_netns(ns, [&] {
    EXPECT_NE(std::this_thread::get_id(), caller);
    return Netns::current().same_as(ns);
  });
  EXPECT_TRUE(inside);
  EXPECT_TRUE(Netns::current().same_as(host_));

  int calls = 0;
  run_in_netns(ns, [&] { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST_F(NetnsTest, RunInNetnsRethrowsTheFunctionsException) {
  Netns ns = make_ns("trl-a");
  EXPECT_THROW(run_in_netns(ns, []() -> int { throw ConflictError("boom"); }), ConflictError);
  EXPECT_TRUE(Netns::current().same_as(host_));
}

TEST_F(NetnsTest, SocketsStayBoundToTheNamespaceTheyWereOpenedIn) {
  Netns ns = make_ns("trl-a");
  NetlinkSocket inside(ns);
  NetlinkSocket outside(host_);
  create_bridge(inside, "trlbr0");
  EXPECT_TRUE(find_link(inside, "trlbr0").has_value());
  EXPECT_FALSE(find_link(outside, "trlbr0").has_value());
  // Opened on another thread, used from this one: still the namespace it was opened in.
  NetlinkSocket moved = std::move(inside);
  EXPECT_TRUE(find_link(moved, "trlbr0").has_value());
}

TEST_F(NetnsTest, DuplicateSharesTheNamespace) {
  Netns ns = make_ns("trl-a");
  Netns copy = ns.duplicate();
  EXPECT_TRUE(copy.same_as(ns));
  EXPECT_NE(copy.fd(), ns.fd());
  EXPECT_EQ(copy.label(), ns.label());
  Netns moved = std::move(copy);
  EXPECT_EQ(copy.fd(), -1);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_TRUE(moved.same_as(ns));
}

TEST_F(NetnsTest, BindNetnsAtBindsAnOpenNamespaceIdempotently) {
  const std::string path = dir_ + "/trl-own";
  bind_netns_at(host_, path);
  bind_netns_at(host_, path);
  EXPECT_TRUE(Netns::open(path).same_as(host_));
  Netns other = make_ns("trl-other");
  EXPECT_THROW(bind_netns_at(other, path), ConflictError);
  delete_named_netns(dir_, "trl-own");
  std::ofstream(path) << "not empty";
  EXPECT_THROW(bind_netns_at(host_, path), ConflictError);
  ::unlink(path.c_str());
}

TEST_F(NetnsTest, PrepareNetnsDirMakesASharedMountPoint) {
  const std::string dir = dir_ + "/../trl-shared";
  prepare_netns_dir(dir);
  prepare_netns_dir(dir);  // idempotent
  Netns ns = create_named_netns(dir, "trl-x");
  EXPECT_TRUE(is_netns_file(dir + "/trl-x"));
  delete_named_netns(dir, "trl-x");
  EXPECT_FALSE(is_netns_file(dir + "/trl-x"));
}

}  // namespace
}  // namespace trellis::osl
