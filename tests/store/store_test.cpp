#include "store/store.h"

#include <gtest/gtest.h>
#include <lmdb.h>

#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/store/test_support.h"

namespace trellis::store {
namespace {

using testing::endpoint;
using testing::network;
using testing::sandbox;
using testing::test_options;

constexpr NodeId kA = 0xa1;
constexpr NodeId kB = 0xb2;
constexpr NodeId kC = 0xc3;

// A fresh store per node; events move by copying logs.
using StoreTest = testing::StoreFixture;

TEST_F(StoreTest, AppendLocalAssignsSeqLamportAndDeps) {
  Store a = open(kA);
  Store b = open(kB);
  Event e1 = a.append_local(SandboxCreated{"s1", "c1", "h", "", {}, {}, {}, {}});
  EXPECT_EQ(e1.origin, kA);
  EXPECT_EQ(e1.seq, 1u);
  EXPECT_EQ(e1.lamport, 1u);
  EXPECT_TRUE(e1.deps.empty());
  b.apply_remote({e1});
  Event e2 = b.append_local(SandboxCreated{"s2", "c2", "h", "", {}, {}, {}, {}});
  EXPECT_EQ(e2.lamport, 2u) << "the clock witnessed the remote event";
  ASSERT_EQ(e2.deps.size(), 1u);
  EXPECT_EQ(e2.deps[0], (EventId{kA, 1}));
  Event e3 = b.append_local(SandboxRemoved{"s2"});
  EXPECT_TRUE(e3.deps.empty()) << "dependencies are the delta since the previous event";
  EXPECT_EQ(b.version_vector(), (VersionVector{{kA, 1}, {kB, 2}}));
  EXPECT_EQ(*b.event({kB, 1}), e2);
}

TEST_F(StoreTest, DuplicatesAreIgnoredAndGapsHeldUntilFilled) {
  Store a = open(kA);
  std::vector<Event> events;
  for (int i = 0; i < 5; ++i) {
    events.push_back(a.append_local(sandbox("s" + std::to_string(i))));
  }
  Store b = open(kB);
  ChangeSet c = b.apply_remote({events[2], events[4]});
  EXPECT_EQ(c.held, 2u);
  EXPECT_TRUE(c.applied.empty());
  EXPECT_EQ(b.pending().size(), 2u);
  c = b.apply_remote({events[0], events[0]});
  EXPECT_EQ(c.applied.size(), 1u);
  EXPECT_EQ(c.duplicates, 1u);
  c = b.apply_remote({events[1], events[3]});
  EXPECT_EQ(c.applied.size(), 5u - 1u) << "the held events followed their gap";
  EXPECT_TRUE(b.pending().empty());
  EXPECT_EQ(b.version_vector()[kA], 5u);
  EXPECT_EQ(b.state_digest(), a.state_digest());
}

TEST_F(StoreTest, EventIsHeldUntilItsDependenciesAreApplied) {
  Store a = open(kA);
  Store b = open(kB);
  Event net = a.append_local(network("n1", "web", "10.1.0.0/24"));
  Event don = a.append_local(RangeDonated{network_space_key("n1", 0), kB, 8, 15});
  b.apply_remote({net, don});
  Event ep = b.append_local(EndpointCreated{endpoint("e1", "n1", "10.1.0.9/24")});
  ASSERT_EQ(ep.deps, (std::vector<EventId>{{kA, 2}}));
  // C gets B's event before A's: it waits for them.
  Store c = open(kC);
  ChangeSet cs = c.apply_remote({ep});
  EXPECT_EQ(cs.held, 1u);
  cs = c.apply_remote({net, don});
  EXPECT_EQ(cs.applied.size(), 3u);
  EXPECT_TRUE(c.read().endpoint("e1"));
  EXPECT_EQ(c.state_digest(), b.state_digest());
}

TEST_F(StoreTest, ImpossibleEventsFailTheBatchAndLeaveTheStoreUnchanged) {
  Store a = open(kA);
  Store b = open(kB);
  Event good = a.append_local(sandbox("s1"));
  const std::string before = b.state_digest();
  Event forged = good;
  forged.origin = kB;  // claims to be B's, which B never wrote
  EXPECT_THROW(b.apply_remote({good, forged}), InconsistentEventError);
  Event zero = good;
  zero.seq = 0;
  EXPECT_THROW(b.apply_remote({good, zero}), InconsistentEventError);
  Event self_dep = good;
  self_dep.deps.push_back({kA, 1});
  EXPECT_THROW(b.apply_remote({good, self_dep}), InconsistentEventError);
  std::string bytes = encode_event(good);
  EXPECT_THROW(b.apply_remote_encoded({bytes, bytes.substr(0, bytes.size() - 1)}),
               CorruptDataError);
  std::string newer = bytes;
  newer[1] = 9;
  EXPECT_THROW(b.apply_remote_encoded({bytes, newer}), UnsupportedSchemaError);
  EXPECT_EQ(b.state_digest(), before);
  EXPECT_TRUE(b.version_vector().empty());
  EXPECT_EQ(b.counts().events, 0u);

  // The same (origin, seq) with different content after it was applied: equivocation.
  b.apply_remote({good});
  Event other = good;
  other.body = sandbox("s-other");
  EXPECT_THROW(b.apply_remote({other}), InconsistentEventError);
  EXPECT_EQ(b.counts().events, 1u);
}

TEST_F(StoreTest, SameNameNetworksAreBothKeptAndTheLowestLamportOriginKeepsTheName) {
  Store a = open(kA);
  Store b = open(kB);
  Event na = a.append_local(network("na", "web", "10.1.0.0/24"));
  Event nb = b.append_local(network("nb", "web", "10.2.0.0/24"));
  ASSERT_EQ(na.lamport, nb.lamport);  // concurrent: the origin breaks the tie (kA < kB)
  a.apply_remote({nb});
  b.apply_remote({na});
  EXPECT_EQ(a.state_digest(), b.state_digest());
  for (Store* s : {&a, &b}) {
    auto view = s->read();
    EXPECT_FALSE(view.network("na")->name_conflict);
    EXPECT_TRUE(view.network("nb")->name_conflict);
    EXPECT_EQ(view.network_by_name("web", kB)->spec.id, "na");
  }
  // Removing the winner hands the name to the other.
  a.append_local(NetworkRemoved{"na"});
  EXPECT_EQ(a.read().network_by_name("web", kA)->spec.id, "nb");
  EXPECT_FALSE(a.read().network("nb")->name_conflict);
}

TEST_F(StoreTest, AnAddressCanOnlyBeAllocatedByTheOwnerOfItsRange) {
  Store a = open(kA);
  Store b = open(kB);
  Event net = a.append_local(network("n1", "web", "10.1.0.0/24"));
  b.apply_remote({net});
  // Local: refused with nothing written.
  const auto vv = b.version_vector();
  EXPECT_THROW(b.append_local(EndpointCreated{endpoint("e1", "n1", "10.1.0.9/24")}),
               ipam::NotOwnerError);
  EXPECT_EQ(b.version_vector(), vv);
  // Remote (a forged or buggy peer): logged, rejected, reported; state untouched.
  const std::string before = a.state_digest();
  Event bad{kC, 1, 5, 0, {{kA, 1}}, EndpointCreated{endpoint("e9", "n1", "10.1.0.9/24", kC)}};
  ChangeSet cs = a.apply_remote({bad});
  ASSERT_EQ(cs.rejected.size(), 1u);
  EXPECT_NE(cs.rejected[0].reason.find("owned by"), std::string::npos) << cs.rejected[0].reason;
  EXPECT_EQ(a.state_digest(), before);
  EXPECT_EQ(a.version_vector()[kC], 1u) << "the event stays in C's log";
  EXPECT_EQ(a.rejections(10).size(), 1u);
  // After A donates a range to B, B can allocate from it.
  Event don = a.append_local(RangeDonated{network_space_key("n1", 0), kB, 128, 191});
  b.apply_remote({bad, don});  // don depends on everything A had seen, C's event too
  Event ok = b.append_local(EndpointCreated{endpoint("e1", "n1", "10.1.0.130/24")});
  a.apply_remote({ok});
  EXPECT_EQ(a.read().endpoint("e1")->spec.owner, kB);
  EXPECT_EQ(a.state_digest(), b.state_digest());
  // A may no longer hand out what it gave away, and cannot give it again.
  EXPECT_THROW(a.append_local(EndpointCreated{endpoint("e2", "n1", "10.1.0.140/24")}),
               ipam::NotOwnerError);
  EXPECT_THROW(a.append_local(RangeDonated{network_space_key("n1", 0), kC, 128, 130}),
               ConflictError);
}

TEST_F(StoreTest, EndpointOnANetworkRemovedConcurrentlyIsOrphanedInEveryOrder) {
  Store a = open(kA);
  Store b = open(kB);
  Event net = a.append_local(network("n1", "web", "10.1.0.0/24"));
  Event don = a.append_local(RangeDonated{network_space_key("n1", 0), kB, 100, 150});
  b.apply_remote({net, don});
  Event ep = b.append_local(EndpointCreated{endpoint("e1", "n1", "10.1.0.100/24")});
  Event rm = a.append_local(NetworkRemoved{"n1"});  // concurrent with ep
  Store x = open(kC, "x");
  Store y = open(kC, "y");
  x.apply_remote({net, don, ep, rm});
  y.apply_remote({net, don, rm, ep});
  EXPECT_EQ(x.state_digest(), y.state_digest());
  auto info = x.read().endpoint("e1");
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->orphaned);
  EXPECT_FALSE(x.read().space(network_space_key("n1", 0)));
}

TEST_F(StoreTest, RemovingANodeDropsItsEndpointsHandsOverItsRangesAndIgnoresItsLateEvents) {
  Store a = open(kA);
  Store b = open(kB);
  Event net = a.append_local(network("n1", "web", "10.1.0.0/24"));
  Event don = a.append_local(RangeDonated{network_space_key("n1", 0), kB, 100, 150});
  b.apply_remote({net, don});
  Event ep = b.append_local(EndpointCreated{endpoint("e1", "n1", "10.1.0.100/24")});
  Event sb = b.append_local(sandbox("s1"));
  a.apply_remote({ep, sb});
  Event late = b.append_local(EndpointCreated{endpoint("e2", "n1", "10.1.0.101/24")});
  Event rm = a.append_local(NodeRemoved{kB, 0});
  EXPECT_EQ(std::get<NodeRemoved>(rm.body).last_seq, 2u);
  {
    auto view = a.read();
    EXPECT_FALSE(view.endpoint("e1"));
    EXPECT_FALSE(view.sandbox("s1"));
    EXPECT_EQ(view.space(network_space_key("n1", 0))->space.ownership().owner_of(120), kA);
    EXPECT_EQ(view.node(kB)->status, NodeStatus::kRemoved);
  }
  ChangeSet cs = a.apply_remote({late});
  EXPECT_EQ(cs.applied.size(), 1u);
  EXPECT_FALSE(a.read().endpoint("e2")) << "events after the cutoff are ignored";
  // Other orders: the late event before the removal (forces a refold), and history from
  // scratch.
  Store c = open(kC, "c");
  c.apply_remote({net, don, ep, sb, late});
  EXPECT_TRUE(c.read().endpoint("e2"));
  ChangeSet rebuilt = c.apply_remote({rm});
  EXPECT_TRUE(rebuilt.rebuilt);
  EXPECT_EQ(c.state_digest(), a.state_digest());
  EXPECT_EQ(a.digest_from_scratch(), a.state_digest());
  // B itself learns it was removed: its own late event is ignored and it may not author.
  b.apply_remote({rm});
  EXPECT_EQ(b.state_digest(), a.state_digest());
  EXPECT_THROW(b.append_local(NodeLeft{}), NodeRemovedError);
}

TEST_F(StoreTest, UnknownBodiesAreLoggedAndSkipped) {
  Store a = open(kA);
  const std::string before = a.state_digest();
  Event e{kB, 1, 1, 0, {}, UnknownBody{777, std::string("\x90", 1)}};
  ChangeSet cs = a.apply_remote({e});
  EXPECT_EQ(cs.applied.size(), 1u);
  EXPECT_TRUE(cs.rejected.empty());
  EXPECT_EQ(a.state_digest(), before);
  EXPECT_EQ(*a.event({kB, 1}), e);
}

TEST_F(StoreTest, CompactionKeepsTheLatestEventPerResourceAndStateIsUnchanged) {
  Store a = open(kA);
  for (int i = 0; i < 40; ++i) {  // each sandbox created and removed twice
    const std::string id = "s" + std::to_string(i % 10);
    if (a.read().sandbox(id)) {
      a.append_local(SandboxRemoved{id});
    } else {
      a.append_local(sandbox(id));
    }
  }
  a.append_local(network("n1", "web", "10.1.0.0/24"));
  a.append_local(EndpointCreated{endpoint("e1", "n1", "10.1.0.5/24")});
  a.append_local(EndpointUpdated{endpoint("e1", "n1", "10.1.0.6/24")});
  const std::string digest = a.state_digest();
  const uint64_t before = a.counts().events;
  CompactionStats st = a.compact(a.version_vector());
  EXPECT_EQ(st.examined, before);
  EXPECT_EQ(a.counts().events, before - st.dropped);
  EXPECT_EQ(a.counts().events, 2u) << "only network n1 and the update of e1 remain";
  EXPECT_EQ(a.state_digest(), digest);
  EXPECT_EQ(a.digest_from_scratch(), digest);
  EXPECT_THROW(a.events_after(kA, 0, 10), LogCompactedError);
  EXPECT_EQ(a.events_after(kA, a.version_vector()[kA], 10).size(), 0u);

  // Snapshot: a new node built from it has the same state and heads.
  Snapshot snap = a.snapshot();
  std::vector<Event> events;
  for (auto chunk = snap.next(1); !chunk.empty(); chunk = snap.next(1)) {
    events.insert(events.end(), chunk.begin(), chunk.end());
  }
  Store b = open(kB);
  b.install_snapshot(snap.version_vector(), events);
  EXPECT_EQ(b.state_digest(), digest);
  EXPECT_EQ(b.version_vector(), a.version_vector());
  EXPECT_THROW(b.install_snapshot(snap.version_vector(), events), ConflictError);
  // And it continues normally from there.
  Event next = a.append_local(sandbox("later"));
  b.apply_remote({next});
  EXPECT_EQ(b.state_digest(), a.state_digest());
}

TEST_F(StoreTest, TombstonesAboveTheStableVectorAreKept) {
  Store a = open(kA);
  a.append_local(sandbox("s1"));
  a.append_local(SandboxRemoved{"s1"});
  a.append_local(sandbox("s2"));
  a.append_local(SandboxRemoved{"s2"});
  a.compact({{kA, 2}});
  EXPECT_EQ(a.counts().events, 2u);
  auto rest = a.events_after(kA, 2, 10);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[1].seq, 4u);
}

TEST_F(StoreTest, ReopenKeepsIdentityHeadsAndState) {
  std::string digest;
  VersionVector vv;
  {
    Store a = Store::open(dir.sub("a"), test_options(kA, /*durable=*/true));
    a.append_local(network("n1", "web", "10.1.0.0/24"));
    a.set_cluster_id(99);
    digest = a.state_digest();
    vv = a.version_vector();
  }
  Options o;  // no identity given: the stored one is used
  Store a = Store::open(dir.sub("a"), o);
  EXPECT_EQ(a.identity().id, kA);
  EXPECT_EQ(a.identity().cluster_id, 99u);
  EXPECT_EQ(a.version_vector(), vv);
  EXPECT_EQ(a.state_digest(), digest);
  EXPECT_EQ(a.append_local(NodeLeft{}).seq, 2u);
}

TEST_F(StoreTest, OpeningAStoreFromANewerSchemaFailsClearly) {
  { Store a = open(kA, "a"); }
  // Bump the schema record with raw LMDB, as a newer Trellis would have written it.
  MDB_env* env;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 32);
  ASSERT_EQ(mdb_env_open(env, dir.sub("a").c_str(), 0, 0644), 0);
  MDB_txn* txn;
  MDB_dbi dbi;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
  std::string v("\0\0\0\0\0\0\0\x02", 8);
  MDB_val k{6, const_cast<char*>("schema")}, val{8, v.data()};
  ASSERT_EQ(mdb_put(txn, dbi, &k, &val, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  try {
    open(kA, "a");
    FAIL() << "opened a newer store";
  } catch (const SchemaTooNewError& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 2"), std::string::npos) << e.what();
  }
}

TEST_F(StoreTest, TheMapGrowsWhenFullAndFailsCleanlyAtItsMaximum) {
  Options o = test_options(kA);
  o.initial_map_size = 256 << 10;
  Store a = Store::open(dir.sub("grow"), o);
  std::vector<Body> bodies;
  for (int i = 0; i < 2000; ++i) {
    bodies.push_back(
        SandboxCreated{"s" + std::to_string(i), std::string(200, 'c'), "", "", {}, {}, {}, {}});
  }
  a.append_local(bodies);
  EXPECT_GT(a.counts().map_size, uint64_t{256} << 10);
  EXPECT_EQ(a.counts().sandboxes, 2000u);

  Options small = test_options(kB);
  small.initial_map_size = 256 << 10;
  small.max_map_size = 512 << 10;
  Store b = Store::open(dir.sub("full"), small);
  EXPECT_THROW(b.append_local(bodies), MapFullError);
  EXPECT_TRUE(b.version_vector().empty());
  b.append_local(sandbox("fits"));
  EXPECT_EQ(b.counts().sandboxes, 1u);
}

// In a child with a private mount namespace, the store lives on a 2 MiB tmpfs: filling it
// must surface as DiskFullError with the last committed state intact.
TEST_F(StoreTest, DiskFullIsAnErrorAndTheStoreStaysUsable) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a private tmpfs";
  const std::string mnt = dir.sub("tmpfs");
  std::filesystem::create_directories(mnt);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0) _exit(77);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(77);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=2m") != 0) _exit(77);
    int rc = 1;
    try {
      Options o = test_options(kA, /*durable=*/true);
      o.initial_map_size = 1 << 20;
      Store s = Store::open(mnt + "/store", o);
      uint64_t committed = 0;
      try {
        for (int round = 0; round < 1000; ++round) {
          std::vector<Body> bodies;
          for (int i = 0; i < 50; ++i) {
            bodies.push_back(SandboxCreated{"s" + std::to_string(round) + "-" + std::to_string(i),
                                            std::string(300, 'x'),
                                            "",
                                            "",
                                            {},
                                            {},
                                            {},
                                            {}});
          }
          s.append_local(bodies);
          committed += 50;
        }
        rc = 2;  // never filled up
      } catch (const DiskFullError&) {
        rc = s.counts().sandboxes == committed && s.version_vector()[kA] == committed &&
                     s.digest_from_scratch() == s.state_digest()
                 ? 0
                 : 3;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "disk-full child: %s\n", e.what());
      rc = 4;
    }
    _exit(rc);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the child crashed";
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "no private mount namespace here";
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "1: no error, 2: never full, 3: state changed, 4: other error";
}

TEST_F(StoreTest, ReadsFromManyThreadsSeeConsistentSnapshots) {
  Store a = open(kA);
  a.append_local(network("n1", "web", "10.1.0.0/16"));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!stop) {
        auto view = a.read();
        // Within one view, the endpoint list and the space agree.
        const auto eps = view.endpoints_of_network("n1");
        const auto space = view.space(network_space_key("n1", 0));
        const uint64_t allocated =
            space->space.ownership().space().size() - space->space.free_count(kA);
        if (allocated != eps.size() + 1) ++bad;  // + gateway
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    a.append_local(EndpointCreated{
        endpoint("e" + std::to_string(i), "n1",
                 "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 2) + "/16")});
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad, 0);
}

TEST_F(StoreTest, ChangeListenerSeesWhatEachCommitChanged) {
  Store a = open(kA);
  std::vector<ChangeSet> seen;
  a.set_change_listener([&](const ChangeSet& c) { seen.push_back(c); });
  a.append_local(network("n1", "web", "10.1.0.0/24"));
  a.append_local(EndpointCreated{endpoint("e1", "n1", "10.1.0.5/24")});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].networks, (std::set<std::string>{"n1"}));
  EXPECT_EQ(seen[1].endpoints, (std::set<std::string>{"e1"}));
  EXPECT_EQ(seen[1].spaces, (std::set<std::string>{network_space_key("n1", 0)}));
  EXPECT_EQ(seen[1].applied, (std::vector<EventId>{{kA, 2}}));
}

}  // namespace
}  // namespace trellis::store
