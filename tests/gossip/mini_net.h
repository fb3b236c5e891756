#pragma once
// A tiny deterministic network for gossip::Core unit tests: a few cores, fixed latency,
// every message encoded and decoded, a filter to drop messages, and a record of every
// effect and message. Time advances only through run_until().

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gossip/core.h"
#include "gossip/message.h"
#include "gossip/replicated_log.h"

namespace trellis::gossip::testing {

class MiniNet {
 public:
  struct Sent {
    Time at;
    size_t from;
    std::string address;
    Message message;
    size_t bytes;
  };
  // Returns false to drop a message.
  using Filter = std::function<bool(const Sent&)>;

  explicit MiniNet(Time latency = milliseconds(1)) : latency_(latency) {}

  static Config base_config(size_t index) {
    Config c;
    c.node_id = 1000 + index;
    c.name = "n" + std::to_string(index);
    c.address = "n" + std::to_string(index) + ".test:7946";
    c.random_seed = 77 + index;
    return c;
  }

  // Adds a node (index = order of addition); it starts at now().
  size_t add(Config config) {
    auto log = std::make_unique<MemoryLog>();
    auto core = std::make_unique<Core>(std::move(config), *log, now_);
    logs_.push_back(std::move(log));
    cores_.push_back(std::move(core));
    up_.push_back(true);
    effects_.emplace_back();
    addresses_[cores_.back()->config().address] = cores_.size() - 1;
    drain(cores_.size() - 1);
    return cores_.size() - 1;
  }

  Core& core(size_t i) { return *cores_[i]; }
  MemoryLog& log(size_t i) { return *logs_[i]; }
  std::vector<Effect>& effects(size_t i) { return effects_[i]; }
  const std::vector<Sent>& sent() const { return sent_; }
  Time now() const { return now_; }
  void set_filter(Filter f) { filter_ = std::move(f); }
  void set_up(size_t i, bool up) { up_[i] = up; }
  // When true, ApplyRemote / InstallSnapshot effects are applied to the node's MemoryLog.
  void set_auto_apply(bool on) { auto_apply_ = on; }

  void append(size_t i, std::string body) {
    LogEntry e = logs_[i]->append(cores_[i]->id(), std::move(body));
    cores_[i]->local_appended({e}, now_);
    drain(i);
  }

  // Injects a message as if it came from the network.
  void inject(size_t to, Message m) {
    cores_[to]->receive(decode(encode(m)), now_);
    drain(to);
  }

  void run_until(Time until) {
    while (true) {
      Time next = until;
      int kind = 0;  // 0 none, 1 delivery, 2 tick
      size_t who = 0;
      if (!queue_.empty() && queue_.begin()->first.first <= next) {
        next = queue_.begin()->first.first;
        kind = 1;
      }
      for (size_t i = 0; i < cores_.size(); ++i) {
        if (!up_[i]) continue;
        Time d = cores_[i]->next_deadline();
        if (d < next || (d == next && kind == 0)) {
          next = d;
          kind = 2;
          who = i;
        }
      }
      if (kind == 0) break;
      now_ = std::max(now_, next);
      if (kind == 1) {
        auto it = queue_.begin();
        auto [to, frame] = it->second;
        queue_.erase(it);
        if (!up_[to]) continue;
        cores_[to]->receive(decode(frame), now_);
        drain(to);
      } else {
        cores_[who]->tick(now_);
        drain(who);
      }
    }
    now_ = until;
  }

  template <typename T>
  std::vector<T> effects_of(size_t i) const {
    std::vector<T> out;
    for (const Effect& e : effects_[i]) {
      if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
    }
    return out;
  }

  // Sends what node i queued and records its effects (after calling the core directly).
  void drain(size_t i) {
    for (Outgoing& out : cores_[i]->take_messages()) {
      std::string frame = encode(out.message);
      Sent s{now_, i, out.address, out.message, frame.size()};
      sent_.push_back(s);
      if (!up_[i]) continue;
      if (filter_ && !filter_(s)) continue;
      auto it = addresses_.find(out.address);
      if (it == addresses_.end()) continue;
      queue_.emplace(std::make_pair(now_ + latency_, ++serial_),
                     std::make_pair(it->second, std::move(frame)));
    }
    for (Effect& e : cores_[i]->take_effects()) {
      if (auto_apply_) {
        if (auto* a = std::get_if<ApplyRemote>(&e)) logs_[i]->apply(a->entries);
        if (auto* s = std::get_if<InstallSnapshot>(&e)) logs_[i]->install(s->snapshot);
      }
      effects_[i].push_back(std::move(e));
    }
  }

 private:
  Time latency_;
  Time now_{0};
  uint64_t serial_ = 0;
  std::vector<std::unique_ptr<MemoryLog>> logs_;
  std::vector<std::unique_ptr<Core>> cores_;
  std::vector<bool> up_;
  std::vector<std::vector<Effect>> effects_;
  std::map<std::string, size_t> addresses_;
  std::map<std::pair<Time, uint64_t>, std::pair<size_t, std::string>> queue_;
  std::vector<Sent> sent_;
  Filter filter_;
  bool auto_apply_ = true;
};

}  // namespace trellis::gossip::testing
