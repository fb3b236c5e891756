#pragma once
// Commands that wait for space another node owns (docs/overlay.md sec. 3). A command (create an
// overlay network, an overlay endpoint, ...) that throws SpaceShortage is parked here
// instead of failing: the owner named by the shortage is asked for a donation, and the
// command runs again
//  - when a committed change touches the space it waits for (the donation event arrived),
//  - at once when the owner answers that it has nothing to give (then, if the command still
//    needs that owner, it fails with the owner's reason instead of waiting for the limit),
//  - every resend interval, when the request is also sent again (gossip may lose it),
// until it succeeds, fails otherwise, or the limit passes (UnavailableError "space request to
// node X timed out after 5 s"). Only commands are retried, never a front end's request, so
// every front end (HTTP API, Docker plugin, CNI) gets the same behaviour for free.
//
// Threads: the daemon's I/O thread (the io_context given), which runs the commands and their
// completions. Change sets arrive from the store's listener on that thread; retries are
// posted, never run inside the listener (commands write to the store).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "store/store.h"

namespace boost::asio {
class io_context;
}

namespace trellis::node {

class SpaceShortage;

// Sends a space request to its owner (ClusterService::request_space in trellisd). `on_sent`
// receives the request id that the answer will carry.
class SpaceRequester {
 public:
  virtual ~SpaceRequester() = default;
  virtual void request_space(store::NodeId owner, std::string payload,
                             std::function<void(uint64_t request_id)> on_sent) = 0;
};

struct SpaceWaitOptions {
  std::chrono::milliseconds resend_interval{1000};
  std::chrono::milliseconds limit{5000};
};

class PendingOperations {
 public:
  // Runs the command; on success it has delivered its own result. Throws SpaceShortage to
  // wait, anything else to fail.
  using Command = std::function<void()>;
  // Receives the failure of a command (never a SpaceShortage while the command may wait).
  using Failed = std::function<void(const std::exception&)>;

  // Without `io` or `requester` (clustering off, tools), a shortage fails at once.
  PendingOperations(boost::asio::io_context* io, SpaceRequester* requester,
                    SpaceWaitOptions options = {});
  ~PendingOperations();
  PendingOperations(const PendingOperations&) = delete;
  PendingOperations& operator=(const PendingOperations&) = delete;

  // Runs `command` now; parks it when it throws SpaceShortage. `failed` runs at most once.
  void run(Command command, Failed failed);

  // A committed change (local or remote): commands waiting for a space it touched run again
  // soon (posted). Never throws; safe inside a store change listener.
  void on_change(const store::ChangeSet& changes);

  // The owner's answer to a request (its id from SpaceRequester's on_sent). `gives_nothing`:
  // the owner has nothing for us (nothing free, or the request was refused); `reason` is its
  // explanation. Answers to unknown ids are ignored.
  void on_answer(uint64_t request_id, bool gives_nothing, const std::string& reason);

  // Commands waiting now.
  size_t waiting() const { return waiting_.size(); }

 private:
  struct Waiting;
  void retry(const std::shared_ptr<Waiting>& w);
  void ask(const std::shared_ptr<Waiting>& w, const SpaceShortage& s);
  void schedule(const std::shared_ptr<Waiting>& w);
  void finish(const std::shared_ptr<Waiting>& w);
  void post_retry(const std::shared_ptr<Waiting>& w);

  boost::asio::io_context* io_;
  SpaceRequester* requester_;
  SpaceWaitOptions options_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::shared_ptr<Waiting>> waiting_;  // by local id
  // False once destroyed: handlers still queued on the io_context check it first.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace trellis::node
