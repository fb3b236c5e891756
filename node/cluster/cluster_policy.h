#pragma once
// trellisd's answer to what the cluster service reports (ClusterEvents), one handler per
// event, each handing the work to the component whose job it is:
//  - member changes move the live set (Membership) and may owe a join donation
//    (JoinDonations); nothing is re-programmed: the data plane does not follow liveness;
//  - a peer's space request is decided and answered (SpaceDonor), the donation first;
//  - the answer to one of our requests goes to whoever waits for it (SpaceAnswerListener);
//  - ready: announce this node, found the cluster's spaces (founder only), and owe join
//    donations to the members seen while a fresh store held its writes;
//  - remote state changes need nothing here: the controller's store listener saw them and
//    schedules their reconciliation (the one trigger, see state_changed()).
// Every event it authors goes through the local write path (LocalEventWriter), so it is
// durable, handed to gossip and reconciled like any command's.
//
// Threads: the store's writer thread (the daemon's I/O thread), like every ClusterEvents
// call and tick(). Never throws: failures are logged, and the periodic tick() retries what
// can be retried (join donations).

#include <chrono>
#include <cstdint>
#include <string>

#include "node/cluster/join_donations.h"
#include "node/cluster/membership.h"
#include "node/cluster/refused_peers.h"
#include "node/cluster/service.h"
#include "node/cluster/space_donor.h"
#include "node/model/local_log.h"
#include "store/store.h"

namespace trellis::node {

// Receives the outcome of this node's space requests (in trellisd, the commands waiting in
// PendingOperations). `gives_nothing`: the owner has nothing for us, or refused the request;
// `reason` is its explanation. A request that failed in transport is not reported (the waiter
// resends or times out).
class SpaceAnswerListener {
 public:
  virtual ~SpaceAnswerListener() = default;
  virtual void space_answered(uint64_t request_id, bool gives_nothing,
                              const std::string& reason) = 0;
};

class ClusterPolicy final : public ClusterEvents {
 public:
  // How often tick() should run: refused peers are reported and missed join donations caught
  // up at this pace.
  static constexpr std::chrono::seconds kTickInterval{2};

  struct Options {
    // The name this node announces (its address is the IP of the advertised gossip address).
    std::string node_name;
    // This node founds the cluster (started without seeds): it initialises the cluster spaces.
    bool founder = false;
  };

  // Every reference must outlive the policy. `membership` is the live set the controller
  // reads; the policy is its only writer.
  ClusterPolicy(const store::Store& store, ClusterService& cluster, Membership& membership,
                LocalEventWriter& writer, SpaceAnswerListener& answers, Options options);

  // Reports peers the transport refused since the last tick and authors join donations still
  // owed. Call every kTickInterval on the writer thread.
  void tick();

  void state_changed(const store::ChangeSet& changes) override;
  void member_changed(const MemberChange& change) override;
  void space_requested(const SpaceRequest& request) override;
  void space_answered(const SpaceAnswer& answer) override;
  void ready() override;

 private:
  const store::Store& store_;
  ClusterService& cluster_;
  Membership& membership_;
  LocalEventWriter& writer_;
  SpaceAnswerListener& answers_;
  Options options_;
  JoinDonations donations_;
  SpaceDonor donor_;
  RefusedPeersReport refused_;
};

}  // namespace trellis::node
