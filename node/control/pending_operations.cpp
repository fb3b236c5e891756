#include "node/control/pending_operations.h"

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <optional>

#include "common/log.h"
#include "node/control/controller.h"
#include "overlay/space_planner.h"

namespace trellis::node {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

spdlog::logger& logger() { return log("controller"); }

std::string format_ms(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + " s";
  return std::to_string(ms.count()) + " ms";
}

}  // namespace

struct PendingOperations::Waiting {
  Waiting(uint64_t i, Command c, Failed f, asio::io_context& io)
      : id(i), command(std::move(c)), failed(std::move(f)), timer(io) {}
  uint64_t id;
  Command command;
  Failed failed;
  asio::steady_timer timer;
  Clock::time_point started = Clock::now();
  // What the command waits for, from its last SpaceShortage.
  std::string space;
  store::NodeId owner = 0;
  std::string payload;
  // The last request sent: when, and the id its answer will carry (0 until known).
  std::optional<Clock::time_point> sent;
  uint64_t request_id = 0;
  // The owner answered that it gives nothing: why.
  std::optional<std::string> refusal;
  bool retry_posted = false;
};

PendingOperations::PendingOperations(asio::io_context* io, SpaceRequester* requester,
                                     SpaceWaitOptions options)
    : io_(io), requester_(requester), options_(options) {}

PendingOperations::~PendingOperations() {
  *alive_ = false;
  for (const auto& [id, w] : waiting_) w->timer.cancel();
}

void PendingOperations::run(Command command, Failed failed) {
  try {
    command();
  } catch (const SpaceShortage& s) {
    if (!io_ || !requester_) {
      failed(s);
      return;
    }
    auto w = std::make_shared<Waiting>(next_id_++, std::move(command), std::move(failed), *io_);
    waiting_[w->id] = w;
    ask(w, s);
    schedule(w);
  } catch (const std::exception& e) {
    failed(e);
  }
}

void PendingOperations::ask(const std::shared_ptr<Waiting>& w, const SpaceShortage& s) {
  const auto now = Clock::now();
  if (w->sent && s.donor() == w->owner && s.payload() == w->payload &&
      now - *w->sent < options_.resend_interval)
    return;
  w->space = s.space();
  w->owner = s.donor();
  w->payload = s.payload();
  w->sent = now;
  w->request_id = 0;
  logger().debug("{}: asking node {} for {} of {}", s.operation(), store::format_node_id(w->owner),
                 s.wanted(), s.space());
  try {
    // on_sent runs on the gossip thread: the id is recorded on this one.
    requester_->request_space(w->owner, w->payload, [this, alive = alive_, w](uint64_t request_id) {
      asio::post(*io_, [alive, w, request_id] {
        if (*alive) w->request_id = request_id;
      });
    });
  } catch (const std::exception& e) {
    // Sent again after the resend interval; the command fails at the limit if nothing comes.
    logger().warn("{}: asking node {} for {}: {}", s.operation(), store::format_node_id(w->owner),
                  s.wanted(), e.what());
  }
}

void PendingOperations::schedule(const std::shared_ptr<Waiting>& w) {
  const auto deadline = w->started + options_.limit;
  w->timer.expires_at(std::min(Clock::now() + options_.resend_interval, deadline));
  w->timer.async_wait([this, alive = alive_, w](boost::system::error_code ec) {
    if (ec || !*alive || !waiting_.count(w->id)) return;
    retry(w);
  });
}

void PendingOperations::retry(const std::shared_ptr<Waiting>& w) {
  try {
    w->command();
    logger().debug(
        "a command waited {} ms for space and succeeded",
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - w->started).count());
    finish(w);
  } catch (const SpaceShortage& s) {
    if (w->refusal && s.donor() == w->owner && s.space() == w->space) {
      const overlay::NoSpaceReachableError refused(s.operation() + ": node " +
                                                   store::format_node_id(s.donor()) +
                                                   " has nothing to donate: " + *w->refusal);
      logger().warn("{}", refused.what());
      w->failed(refused);
      finish(w);
      return;
    }
    w->refusal.reset();
    if (Clock::now() - w->started >= options_.limit) {
      const overlay::NoSpaceReachableError timeout(
          s.operation() + ": space request to node " + store::format_node_id(s.donor()) +
          " timed out after " + format_ms(options_.limit) + " (asked for " + s.wanted() + ")");
      logger().warn("{}", timeout.what());
      w->failed(timeout);
      finish(w);
      return;
    }
    ask(w, s);
    schedule(w);
  } catch (const std::exception& e) {
    w->failed(e);
    finish(w);
  }
}

void PendingOperations::finish(const std::shared_ptr<Waiting>& w) {
  w->timer.cancel();
  waiting_.erase(w->id);
}

void PendingOperations::post_retry(const std::shared_ptr<Waiting>& w) {
  if (w->retry_posted) return;
  w->retry_posted = true;
  asio::post(*io_, [this, alive = alive_, w] {
    if (!*alive) return;
    w->retry_posted = false;
    if (waiting_.count(w->id)) retry(w);
  });
}

void PendingOperations::on_change(const store::ChangeSet& changes) {
  for (const auto& [id, w] : waiting_) {
    if (changes.rebuilt || changes.spaces.count(w->space)) post_retry(w);
  }
}

void PendingOperations::on_answer(uint64_t request_id, bool gives_nothing,
                                  const std::string& reason) {
  if (request_id == 0) return;
  for (const auto& [id, w] : waiting_) {
    if (w->request_id != request_id) continue;
    if (gives_nothing) {
      w->refusal = reason.empty() ? "no reason given" : reason;
      post_retry(w);
    }
    return;
  }
}

}  // namespace trellis::node
