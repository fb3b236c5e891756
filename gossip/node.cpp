#include "gossip/node.h"

namespace trellis::gossip {

GossipNode::GossipNode(NodeOptions options, ReplicatedLog& log, EffectHandler on_effect)
    : log_(log), on_effect_(std::move(on_effect)), epoch_(std::chrono::steady_clock::now()) {
  transport_ = std::make_unique<ZmqTransport>(options.transport);
  Config& c = options.config;
  if (c.address.empty()) {
    c.address = transport_->bound_address();
  } else if (split_host_port(c.address).second == 0) {
    c.address = split_host_port(c.address).first + ":" +
                std::to_string(split_host_port(transport_->bound_address()).second);
  }
  address_ = c.address;
  id_ = c.node_id;
  core_ = std::make_unique<Core>(std::move(c), log_, now());
  // Its first messages and effects go out from the gossip thread, like all later ones.
  thread_ = std::thread([this] { run(); });
}

GossipNode::~GossipNode() { stop(); }

Time GossipNode::now() const {
  return std::chrono::duration_cast<Time>(std::chrono::steady_clock::now() - epoch_);
}

void GossipNode::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  transport_->wake();
  if (thread_.joinable()) thread_.join();
}

void GossipNode::leave_and_stop(Time grace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    leave_grace_ = grace;
  }
  transport_->wake();
  if (thread_.joinable()) thread_.join();
}

void GossipNode::local_appended(std::vector<LogEntry> entries) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back([entries = std::move(entries)](Core& core, Time now) {
      core.local_appended(entries, now);
    });
  }
  transport_->wake();
}

void GossipNode::join(std::vector<std::string> seeds) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back(
        [seeds = std::move(seeds)](Core& core, Time now) { core.join(seeds, now); });
  }
  transport_->wake();
}

void GossipNode::request_space(NodeId to, std::string payload,
                               std::function<void(uint64_t)> on_sent) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back([this, to, payload = std::move(payload), on_sent = std::move(on_sent)](
                            Core& core, Time now) mutable {
      uint64_t id = 0;
      try {
        id = core.request_space(to, std::move(payload), now);
      } catch (const NotFoundError&) {
        if (on_sent) on_sent(0);
        if (on_effect_) on_effect_(SpaceRequestFailed{to, 0});
        return;
      }
      if (on_sent) on_sent(id);
    });
  }
  transport_->wake();
}

void GossipNode::answer_space(NodeId to, uint64_t request_id, std::string payload) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    commands_.push_back([to, request_id, payload = std::move(payload)](Core& core, Time now) {
      try {
        core.answer_space(to, request_id, payload, now);
      } catch (const NotFoundError&) {
        // The requester vanished from the member list; it will time out and retry.
      }
    });
  }
  transport_->wake();
}

std::vector<Member> GossipNode::members() const {
  std::lock_guard<std::mutex> lock(mu_);
  return members_;
}

uint64_t GossipNode::cluster_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cluster_id_;
}

NodeStats GossipNode::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

// Sends what the core queued, hands out its effects and refreshes the snapshots.
void GossipNode::flush() {
  Time t = now();
  for (Outgoing& out : core_->take_messages()) transport_->send(out.address, out.message, t);
  std::vector<Effect> effects = core_->take_effects();
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Membership changes come as effects; incarnation bumps do not, so refresh at least once
    // a second as well. Refreshed BEFORE the effects are handed out: a receiver of a
    // MemberChanged effect that reads members() must already see the change.
    if (!effects.empty() || members_.empty() || t - members_refreshed_ >= std::chrono::seconds(1)) {
      members_ = core_->members();
      members_refreshed_ = t;
    }
    cluster_id_ = core_->cluster_id();
    stats_.core = core_->stats();
    stats_.transport = transport_->stats();
  }
  if (on_effect_) {
    for (const Effect& e : effects) on_effect_(e);
  }
}

void GossipNode::run() {
  Time leave_until{-1};
  while (true) {
    std::deque<std::function<void(Core&, Time)>> commands;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      commands.swap(commands_);
      if (leave_grace_.count() >= 0 && leave_until.count() < 0) {
        leave_until = now() + leave_grace_;
        core_->leave(now());
      }
    }
    if (leave_until.count() >= 0 && now() >= leave_until) break;
    for (auto& command : commands) command(*core_, now());
    if (now() >= core_->next_deadline()) core_->tick(now());
    flush();
    Time wait = core_->next_deadline() - now();
    if (leave_until.count() >= 0) wait = std::min(wait, leave_until - now());
    for (Message& m : transport_->poll(std::max(wait, Time{0}), now())) {
      core_->receive(std::move(m), now());
    }
    flush();
  }
}

}  // namespace trellis::gossip
