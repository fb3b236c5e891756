// The sans-IO gossip core. Protocol rules follow SWIM (Das et al. 2002) with the Lifeguard
// refinements (Dadgar et al. 2017): local health multiplier, suspicion timeouts that shrink
// with independent confirmations, nacks from indirect probers. See docs/gossip.md.
#include "gossip/core.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace trellis::gossip {

// ---- BroadcastQueue ---------------------------------------------------------------------------

template <typename T>
void Core::BroadcastQueue<T>::push(T item, size_t size, uint64_t key, bool keyed) {
  if (keyed) {
    auto it = by_key_.find(key);
    if (it != by_key_.end()) erase(it->second);  // a newer fact about the same member wins
  }
  auto owned = std::make_unique<Item>(Item{std::move(item), size, 0, ++serial_, key, keyed});
  Item* raw = owned.get();
  items_.emplace(raw->serial, std::move(owned));
  order_.insert(raw);
  if (keyed) by_key_[key] = raw;
}

template <typename T>
void Core::BroadcastQueue<T>::erase(Item* item) {
  order_.erase(item);
  if (item->keyed) {
    auto it = by_key_.find(item->key);
    if (it != by_key_.end() && it->second == item) by_key_.erase(it);
  }
  items_.erase(item->serial);
}

template <typename T>
void Core::BroadcastQueue<T>::fill(std::vector<T>& out, size_t& budget, int limit) {
  constexpr size_t kSmallest = 16;
  std::vector<Item*> taken;
  for (Item* item : order_) {
    if (budget < kSmallest) break;
    if (item->size > budget) continue;
    budget -= item->size;
    out.push_back(item->value);
    taken.push_back(item);
  }
  for (Item* item : taken) {
    order_.erase(item);
    if (++item->transmits >= limit) {
      if (item->keyed) {
        auto it = by_key_.find(item->key);
        if (it != by_key_.end() && it->second == item) by_key_.erase(it);
      }
      items_.erase(item->serial);
    } else {
      order_.insert(item);
    }
  }
}

template <typename T>
void Core::BroadcastQueue<T>::trim(size_t max_items) {
  // Drop the most-transmitted (then oldest) items first: they have had their chance.
  while (order_.size() > max_items) erase(*std::prev(order_.end()));
}

// ---- construction -----------------------------------------------------------------------------

namespace {

constexpr size_t kMaxEventQueue = 20000;
constexpr size_t kMaxMemberQueue = 20000;
constexpr size_t kFrameOverhead = 64;  // header of a message besides body and piggyback

uint64_t nonzero_random(std::mt19937_64& rng) {
  uint64_t v = 0;
  while (v == 0) v = rng();
  return v;
}

MemberUpdate::Kind kind_of(MemberState state) {
  return static_cast<MemberUpdate::Kind>(static_cast<uint8_t>(state));
}

}  // namespace

Core::Core(Config config, ReplicatedLog& log, Time now)
    : config_(std::move(config)), log_(log), rng_(config_.random_seed) {
  if (config_.node_id == 0) throw InvalidArgumentError("gossip core: node id must not be 0");
  if (config_.address.empty()) throw InvalidArgumentError("gossip core: empty advertise address");
  if (config_.probe_interval <= Time{0} || config_.gossip_interval <= Time{0} ||
      config_.anti_entropy_interval <= Time{0}) {
    throw InvalidArgumentError("gossip core: intervals must be positive");
  }
  self_.id = config_.node_id;
  self_.name = config_.name;
  self_.address = config_.address;
  self_.incarnation = config_.initial_incarnation;
  self_.state = MemberState::kAlive;
  self_.state_since = now;
  cluster_id_ = config_.cluster_id;
  handed_ = log_.version_vector();

  // Spread the periodic timers so that nodes started together do not tick in lockstep.
  auto jitter = [&](Time interval) {
    return Time{static_cast<int64_t>(rng_() % static_cast<uint64_t>(interval.count()))};
  };
  next_probe_ = now + jitter(config_.probe_interval);
  next_gossip_ = now + jitter(config_.gossip_interval);
  next_ae_ = now + jitter(config_.anti_entropy_interval);
  next_push_pull_ = now + config_.push_pull_interval + jitter(config_.push_pull_interval);
  next_reconnect_ = now + config_.reconnect_interval + jitter(config_.reconnect_interval);

  join(config_.seeds, now);
  if (seeds_.empty() && cluster_id_ == 0) found_cluster(now);
}

void Core::found_cluster(Time) {
  cluster_id_ = nonzero_random(rng_);
  effects_.push_back(ClusterJoined{cluster_id_, true});
}

void Core::join(const std::vector<std::string>& seeds, Time now) {
  bool added = false;
  for (const std::string& s : seeds) {
    if (s.empty() || s == config_.address) continue;
    if (std::find(seeds_.begin(), seeds_.end(), s) == seeds_.end()) {
      seeds_.push_back(s);
      added = true;
    }
  }
  if (!added) return;
  joining_ = true;
  send_joins(now);
  next_join_ = now + config_.join_retry_interval;
}

void Core::send_joins(Time now) {
  for (const std::string& seed : seeds_) start_sync(0, seed, false, true, now);
}

// ---- outputs and queries ----------------------------------------------------------------------

std::vector<Outgoing> Core::take_messages() { return std::exchange(outbox_, {}); }
std::vector<Effect> Core::take_effects() { return std::exchange(effects_, {}); }

Time Core::next_deadline() const {
  Time t = std::min({next_probe_, next_gossip_, next_ae_, next_push_pull_, next_reconnect_});
  if (joining_) t = std::min(t, next_join_);
  if (probe_) t = std::min(t, probe_->indirect_sent ? probe_->end : probe_->indirect_at);
  if (!relays_.empty()) {
    for (const auto& [seq, r] : relays_) t = std::min(t, r.deadline);
  }
  if (!suspicion_timers_.empty()) t = std::min(t, suspicion_timers_.begin()->first);
  if (pull_) t = std::min(t, pull_->deadline);
  for (const auto& [id, r] : requests_) t = std::min(t, r.deadline);
  return t;
}

std::vector<Member> Core::members() const {
  std::vector<Member> out;
  out.reserve(members_.size() + 1);
  bool self_added = false;
  for (const auto& [id, rec] : members_) {
    if (!self_added && id > self_.id) {
      out.push_back(self_);
      self_added = true;
    }
    out.push_back(rec.m);
  }
  if (!self_added) out.push_back(self_);
  return out;
}

std::optional<Member> Core::member(NodeId id) const {
  if (id == self_.id) return self_;
  const Rec* rec = find(id);
  if (!rec) return std::nullopt;
  return rec->m;
}

const Core::Rec* Core::find(NodeId id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

// ---- sending ----------------------------------------------------------------------------------

bool Core::send(NodeId to, const std::string& address, Body body, bool piggyback) {
  if (address.empty()) return false;
  Outgoing out;
  out.to = to;
  out.address = address;
  Message& m = out.message;
  m.cluster_id = cluster_id_;
  m.from = self_.id;
  m.body = std::move(body);
  // The sender's address rides only on messages whose receiver may not know us yet (or must
  // answer someone it may not know); answers go to members or to addresses learned before.
  switch (message_type(m.body)) {
    case MessageType::kPing:
    case MessageType::kPingReq:
    case MessageType::kSyncDigest:
    case MessageType::kSyncVector:
    case MessageType::kSnapshotRequest:
    case MessageType::kSpaceRequest:
    case MessageType::kRefuse:
      m.from_address = self_.address;
      break;
    default:
      break;
  }
  if (piggyback) {
    size_t budget = config_.piggyback_bytes;
    // A member we suspect (or think dead) learns it from us first, so it can refute at once.
    if (const Rec* rec = find(to); rec && rec->m.state != MemberState::kAlive) {
      MemberUpdate u = update_of(rec->m, self_.id);
      budget -= std::min(budget, encoded_size(u));
      m.updates.push_back(std::move(u));
    }
    member_queue_.fill(m.updates, budget, retransmit_limit(config_.retransmit_mult));
    event_queue_.fill(m.entries, budget, retransmit_limit(config_.event_retransmit_mult));
  }
  outbox_.push_back(std::move(out));
  return true;
}

std::string Core::reply_address(const Message& m) const {
  if (!m.from_address.empty()) return m.from_address;
  const Rec* rec = find(m.from);
  return rec ? rec->m.address : std::string();
}

int Core::retransmit_limit(int mult) const {
  double n = static_cast<double>(live_count());
  return std::max(1, mult * static_cast<int>(std::ceil(std::log10(n + 1))));
}
// ---- inputs -----------------------------------------------------------------------------------

void Core::receive(Message message, Time now) {
  ++stats_.messages_received;
  if (message.from == self_.id) {
    ++stats_.dropped_from_self;
    return;
  }
  if (const auto* refuse = std::get_if<Refuse>(&message.body)) {
    handle(*refuse, message, now);
    return;
  }
  const auto* digest = std::get_if<SyncDigest>(&message.body);
  const bool join_request = digest && digest->join;
  if (cluster_id_ == 0) {
    // Still joining. Only members that received our join request know us, so the first one
    // that talks to us names the cluster (usually the seed's answer; if that was lost, a
    // probe must not go unanswered or we would be declared dead before we are in).
    if (!joining_ || message.cluster_id == 0) {
      ++stats_.dropped_not_joined;
      return;
    }
    cluster_id_ = message.cluster_id;
    effects_.push_back(ClusterJoined{cluster_id_, false});
  } else if (message.cluster_id != cluster_id_ && !(message.cluster_id == 0 && join_request)) {
    // Never merge two clusters. A joiner from elsewhere is told why.
    ++stats_.dropped_cluster_mismatch;
    if (join_request) send(0, reply_address(message), Refuse{cluster_id_}, false);
    return;
  }
  if (joining_ && std::holds_alternative<SyncVector>(message.body)) {
    joining_ = false;  // a seed (or any member) answered: we are in
  }
  for (const MemberUpdate& u : message.updates) apply_update(u, now, false, message.from);
  if (!message.entries.empty() && receive_entries(message.from, message.entries, true) &&
      now - last_gap_pull_ >= config_.gossip_interval) {
    // A gap: the sender has what came before (it had this); pull it now rather than at the
    // next anti-entropy round.
    last_gap_pull_ = now;
    start_sync(message.from, reply_address(message), false, false, now);
  }
  std::visit([&](const auto& body) { handle(body, message, now); }, message.body);
  flush_eager(now);
}

void Core::local_appended(const std::vector<LogEntry>& entries, Time now) {
  for (const LogEntry& e : entries) {
    if (e.origin != self_.id) {
      throw InvalidArgumentError("gossip local_appended: entry of origin " +
                                 std::to_string(e.origin) + " is not this node's");
    }
    uint64_t& h = handed_[e.origin];
    h = std::max(h, e.seq);
    event_queue_.push(e, encoded_size(e), 0, false);
    eager_entries_.push_back(e);
  }
  event_queue_.trim(kMaxEventQueue);
  flush_eager(now);
}

void Core::leave(Time now) {
  if (leaving_) return;
  leaving_ = true;
  self_.state = MemberState::kLeft;
  self_.state_since = now;
  MemberUpdate u{MemberUpdate::Kind::kLeft, self_.id, self_.incarnation, self_.id, {}, {}};
  member_queue_.push(u, encoded_size(u), self_.id, true);
  eager_updates_.push_back(u);
  probe_.reset();
  flush_eager(now);
}

uint64_t Core::request_space(NodeId to, std::string payload, Time now) {
  const Rec* rec = find(to);
  if (!rec || rec->m.state == MemberState::kDead || rec->m.state == MemberState::kLeft) {
    throw NotFoundError("gossip space request: no live member " + std::to_string(to));
  }
  uint64_t id = next_request_id_++;
  requests_[id] = PendingRequest{to, now + config_.space_request_timeout};
  send(to, rec->m.address, SpaceRequest{id, std::move(payload)}, false);
  return id;
}

void Core::answer_space(NodeId to, uint64_t request_id, std::string payload, Time) {
  const Rec* rec = find(to);
  if (!rec) throw NotFoundError("gossip space answer: unknown member " + std::to_string(to));
  send(to, rec->m.address, SpaceAnswer{request_id, std::move(payload)}, false);
}

// ---- timers -----------------------------------------------------------------------------------

void Core::tick(Time now) {
  if (joining_ && now >= next_join_) {
    send_joins(now);
    next_join_ = now + config_.join_retry_interval;
  }

  // Suspicions that ran out become deaths.
  while (!suspicion_timers_.empty() && suspicion_timers_.begin()->first <= now) {
    Rec& rec = members_.at(suspicion_timers_.begin()->second);
    ++stats_.deaths_declared;
    clear_suspicion(rec);
    set_state(rec, MemberState::kDead, now);
    broadcast_member(rec, MemberUpdate::Kind::kDead, self_.id, true);
  }

  // Indirect probes we relay: answer with a nack when the target stayed silent.
  for (auto it = relays_.begin(); it != relays_.end();) {
    if (now >= it->second.deadline) {
      send(it->second.requester, it->second.requester_address, Nack{it->second.orig_seq}, false);
      it = relays_.erase(it);
    } else {
      ++it;
    }
  }

  if (leaving_) {
    next_probe_ = now + config_.probe_interval;  // a leaving node probes no one
  } else {
    run_probe(now);
  }

  if (now >= next_gossip_) {
    run_gossip(now);
    next_gossip_ = now + config_.gossip_interval;
  }

  if (now >= next_ae_) {
    next_ae_ = now + config_.anti_entropy_interval;
    resync_handed();
    if (!live_.empty() && !leaving_) {
      NodeId peer = live_[rng_() % live_.size()];
      start_sync(peer, members_.at(peer).m.address, false, false, now);
    }
  }

  if (now >= next_push_pull_) {
    // memberlist's scaling: beyond 32 members, full exchanges slow down with log2(N).
    double n = static_cast<double>(live_count());
    double scale = n <= 32 ? 1.0 : std::ceil(std::log2(n) - std::log2(32.0)) + 1.0;
    next_push_pull_ =
        now +
        Time{static_cast<int64_t>(static_cast<double>(config_.push_pull_interval.count()) * scale)};
    if (!live_.empty() && !leaving_) {
      NodeId peer = live_[rng_() % live_.size()];
      start_sync(peer, members_.at(peer).m.address, true, false, now);
    }
  }

  if (now >= next_reconnect_) {
    next_reconnect_ = now + config_.reconnect_interval;
    // Dead (not left) members are retried now and then, so healed partitions merge; members
    // dead for longer than the retention are forgotten.
    std::vector<NodeId> dead;
    for (auto it = members_.begin(); it != members_.end();) {
      const Member& m = it->second.m;
      if ((m.state == MemberState::kDead || m.state == MemberState::kLeft) &&
          now - m.state_since > config_.dead_member_retention) {
        it = members_.erase(it);
        continue;
      }
      if (m.state == MemberState::kDead) dead.push_back(m.id);
      ++it;
    }
    if (!dead.empty() && !leaving_) {
      NodeId peer = dead[rng_() % dead.size()];
      start_sync(peer, members_.at(peer).m.address, true, false, now);
    }
  }

  if (pull_ && now >= pull_->deadline) pull_.reset();  // retried by a later sync
  for (auto it = served_.begin(); it != served_.end();) {
    it = now >= it->second.expires ? served_.erase(it) : std::next(it);
  }
  for (auto it = requests_.begin(); it != requests_.end();) {
    if (now >= it->second.deadline) {
      effects_.push_back(SpaceRequestFailed{it->second.to, it->first});
      it = requests_.erase(it);
    } else {
      ++it;
    }
  }
  flush_eager(now);
}

void Core::run_probe(Time now) {
  if (probe_ && !probe_->indirect_sent && now >= probe_->indirect_at) {
    // No direct ack in time: ask k others to probe, and retry directly once (the stand-in
    // for memberlist's TCP fallback ping).
    probe_->indirect_sent = true;
    std::vector<NodeId> helpers = random_live(config_.indirect_checks, probe_->target, 0);
    for (const NodeId h : helpers) {
      send(h, members_.at(h).m.address, PingReq{probe_->seq, probe_->target, probe_->address},
           true);
      ++stats_.indirect_probes;
    }
    probe_->expected_nacks = static_cast<int>(helpers.size());
    send(probe_->target, probe_->address, Ping{probe_->seq, probe_->target}, true);
  }
  if (probe_ && now >= probe_->end) {
    // Lifeguard: missing nacks mean our own links are the likely problem; raise the local
    // health multiplier rather than blame the target alone.
    int delta = probe_->expected_nacks > 0 ? probe_->expected_nacks - probe_->nacks : 1;
    adjust_awareness(delta);
    ++stats_.probe_failures;
    const Rec* rec = find(probe_->target);
    if (rec && (rec->m.state == MemberState::kAlive || rec->m.state == MemberState::kSuspect)) {
      apply_suspect(probe_->target, rec->m.incarnation, self_.id, now);
    }
    probe_.reset();
  }
  if (!probe_ && now >= next_probe_) {
    next_probe_ = now + config_.probe_interval;
    NodeId target = 0;
    while (!verify_next_.empty() && target == 0) {
      NodeId id = verify_next_.back();
      verify_next_.pop_back();
      const Rec* rec = find(id);
      if (rec && rec->m.state == MemberState::kSuspect) target = id;
    }
    if (target == 0) target = next_probe_target();
    if (target == 0) return;
    const Rec& rec = members_.at(target);
    Probe p;
    p.target = target;
    p.address = rec.m.address;
    p.seq = next_seq_++;
    p.start = now;
    p.indirect_at = now + scaled(config_.probe_timeout);
    p.end = now + scaled(2 * config_.probe_timeout);
    next_probe_ = std::max(next_probe_, p.end);
    probe_ = p;
    ++stats_.probes;
    send(target, p.address, Ping{p.seq, target}, true);
  }
}

void Core::run_gossip(Time now) {
  if (member_queue_.empty() && event_queue_.empty()) return;
  std::vector<NodeId> targets = random_live(config_.gossip_nodes, 0, 0);
  // Members that died recently still hear gossip for a while: if they were only cut off they
  // learn of their death and refute it.
  while (!recently_dead_.empty() &&
         now - recently_dead_.front().first > config_.gossip_to_dead_time) {
    recently_dead_.pop_front();
  }
  if (!recently_dead_.empty() && targets.size() < static_cast<size_t>(config_.gossip_nodes)) {
    const auto& [when, id] = recently_dead_[rng_() % recently_dead_.size()];
    const Rec* rec = find(id);
    if (rec && rec->m.state == MemberState::kDead) targets.push_back(id);
  }
  for (const NodeId t : targets) {
    if (member_queue_.empty() && event_queue_.empty()) break;
    send(t, members_.at(t).m.address, Gossip{}, true);
  }
}

void Core::flush_eager(Time) {
  if (eager_updates_.empty() && eager_entries_.empty()) return;
  std::vector<NodeId> targets = random_live(config_.eager_fanout, 0, 0);
  // Split into messages of at most sync_chunk_bytes.
  std::vector<std::pair<std::vector<MemberUpdate>, std::vector<LogEntry>>> parts(1);
  size_t used = 0;
  for (MemberUpdate& u : eager_updates_) {
    size_t sz = encoded_size(u);
    if (used + sz > config_.sync_chunk_bytes && used > 0) {
      parts.emplace_back();
      used = 0;
    }
    parts.back().first.push_back(std::move(u));
    used += sz;
  }
  for (LogEntry& e : eager_entries_) {
    size_t sz = encoded_size(e);
    if (used + sz > config_.sync_chunk_bytes && used > 0) {
      parts.emplace_back();
      used = 0;
    }
    parts.back().second.push_back(std::move(e));
    used += sz;
  }
  eager_updates_.clear();
  eager_entries_.clear();
  for (const NodeId t : targets) {
    const std::string& address = members_.at(t).m.address;
    for (const auto& [updates, entries] : parts) {
      if (!send(t, address, Gossip{}, false)) break;
      outbox_.back().message.updates = updates;
      outbox_.back().message.entries = entries;
    }
  }
}

// ---- membership -------------------------------------------------------------------------------

MemberUpdate Core::update_of(const Member& m, NodeId from) const {
  MemberUpdate u;
  u.kind = kind_of(m.state);
  u.id = m.id;
  u.incarnation = m.incarnation;
  // Only a member itself can announce its leave, so a left fact always names it as the source.
  u.from = m.state == MemberState::kLeft ? m.id : from;
  if (m.state == MemberState::kAlive) {
    u.name = m.name;
    u.address = m.address;
  }
  return u;
}

std::vector<MemberUpdate> Core::full_state(Time) const {
  std::vector<MemberUpdate> out;
  out.reserve(members_.size() + 1);
  MemberUpdate me{
      MemberUpdate::Kind::kAlive, self_.id, self_.incarnation, self_.id, self_.name, self_.address};
  if (leaving_) me = {MemberUpdate::Kind::kLeft, self_.id, self_.incarnation, self_.id, {}, {}};
  out.push_back(me);
  for (const auto& [id, rec] : members_) {
    MemberUpdate u = update_of(rec.m, self_.id);
    // Push-pull carries names and addresses for every member: a dead one may come back.
    u.name = rec.m.name;
    u.address = rec.m.address;
    out.push_back(std::move(u));
  }
  return out;
}

void Core::broadcast_member(const Rec& rec, MemberUpdate::Kind kind, NodeId from, bool eager) {
  MemberUpdate u = update_of(rec.m, from);
  u.kind = kind;
  member_queue_.push(u, encoded_size(u), u.id, true);
  member_queue_.trim(kMaxMemberQueue);
  if (eager) eager_updates_.push_back(std::move(u));
}

void Core::apply_update(const MemberUpdate& u, Time now, bool from_merge, NodeId sender) {
  switch (u.kind) {
    case MemberUpdate::Kind::kAlive:
      apply_alive(u, now);
      break;
    case MemberUpdate::Kind::kSuspect:
      apply_suspect(u.id, u.incarnation, from_merge ? sender : u.from, now);
      break;
    case MemberUpdate::Kind::kDead:
      if (from_merge) {
        // memberlist's rule: a death learned in bulk is only a suspicion here, so the member
        // gets its chance to refute (this is what lets healed partitions merge gently).
        apply_suspect(u.id, u.incarnation, sender, now);
      } else {
        apply_dead(u, now);
      }
      break;
    case MemberUpdate::Kind::kLeft:
      apply_dead(u, now);
      break;
  }
}

void Core::apply_alive(const MemberUpdate& u, Time now) {
  if (u.id == self_.id) {
    // Someone vouches for an incarnation of us we did not announce (our previous life, or
    // an address change): outbid it.
    if (!leaving_ &&
        (u.incarnation > self_.incarnation || (u.incarnation == self_.incarnation &&
                                               !u.address.empty() && u.address != self_.address))) {
      refute(u.incarnation, now);
    }
    return;
  }
  if (u.address.empty()) return;
  auto it = members_.find(u.id);
  if (it == members_.end()) {
    Rec rec;
    rec.m.id = u.id;
    rec.m.name = u.name;
    rec.m.address = u.address;
    rec.m.incarnation = u.incarnation;
    rec.m.state = MemberState::kAlive;
    rec.m.state_since = now;
    Rec& inserted = members_.emplace(u.id, std::move(rec)).first->second;
    set_state(inserted, MemberState::kAlive, now, true);
    broadcast_member(inserted, MemberUpdate::Kind::kAlive, u.id, true);
    return;
  }
  Rec& rec = it->second;
  if (u.incarnation <= rec.m.incarnation) return;
  rec.m.incarnation = u.incarnation;
  rec.m.name = u.name;
  rec.m.address = u.address;
  clear_suspicion(rec);
  const bool changed = rec.m.state != MemberState::kAlive;
  set_state(rec, MemberState::kAlive, now);
  // A refutation (or a comeback) is news for everyone; a plain incarnation bump is not urgent.
  broadcast_member(rec, MemberUpdate::Kind::kAlive, u.id, changed);
}

Time suspicion_timeout(Time min, Time max, int k, size_t confirmations) {
  if (k < 1) return min;
  if (confirmations == 0) return max;
  // Lifeguard: each independent confirmation shrinks the timeout logarithmically, reaching
  // min after k confirmations.
  double frac =
      std::log(static_cast<double>(confirmations) + 1.0) / std::log(static_cast<double>(k) + 1.0);
  double t = static_cast<double>(max.count()) - static_cast<double>((max - min).count()) * frac;
  return std::max(min, Time{static_cast<int64_t>(t)});
}

void Core::apply_suspect(NodeId id, uint64_t incarnation, NodeId from, Time now) {
  if (id == self_.id) {
    if (!leaving_) refute(incarnation, now);
    return;
  }
  auto it = members_.find(id);
  if (it == members_.end()) return;
  Rec& rec = it->second;
  if (incarnation < rec.m.incarnation) return;
  if (rec.m.state == MemberState::kDead || rec.m.state == MemberState::kLeft) return;
  if (rec.m.state == MemberState::kSuspect && rec.suspicion) {
    if (incarnation > rec.m.incarnation) rec.m.incarnation = incarnation;
    if (rec.suspicion->confirmers.insert(from).second) {
      set_suspicion_deadline(
          rec, rec.suspicion->start + suspicion_timeout(rec.suspicion->min, rec.suspicion->max,
                                                        rec.suspicion->k,
                                                        rec.suspicion->confirmers.size() - 1));
      // Pass the confirmation on: others shrink their timers too.
      broadcast_member(rec, MemberUpdate::Kind::kSuspect, from, false);
    }
    return;
  }
  rec.m.incarnation = incarnation;
  Suspicion s;
  s.start = now;
  double n = static_cast<double>(live_count());
  double base = config_.suspicion_mult * std::max(1.0, std::log10(std::max(n, 10.0)));
  s.min = Time{static_cast<int64_t>(base * static_cast<double>(config_.probe_interval.count()))};
  s.max =
      Time{static_cast<int64_t>(static_cast<double>(s.min.count()) * config_.suspicion_max_mult)};
  s.k = config_.suspicion_confirmations;
  if (n - 2 < s.k) s.k = std::max(0, static_cast<int>(n) - 2);
  s.confirmers.insert(from);
  Time deadline = now + suspicion_timeout(s.min, s.max, s.k, 0);
  rec.suspicion = std::move(s);
  set_suspicion_deadline(rec, deadline);
  if (from == self_.id) {
    ++stats_.suspicions;
  } else if (static_cast<double>(rng_() % 1000000) / 1e6 <
             static_cast<double>(config_.suspicion_verifiers) / n) {
    verify_next_.push_back(id);
  }
  set_state(rec, MemberState::kSuspect, now);
  broadcast_member(rec, MemberUpdate::Kind::kSuspect, from, true);
  // Tell the suspect directly as well: it refutes faster than the rumour would reach it.
  if (send(id, rec.m.address, Gossip{}, false)) {
    outbox_.back().message.updates.push_back(update_of(rec.m, from));
  }
}

void Core::apply_dead(const MemberUpdate& u, Time now) {
  const bool left = u.kind == MemberUpdate::Kind::kLeft;
  if (u.id == self_.id) {
    if (!leaving_) refute(u.incarnation, now);
    return;
  }
  auto it = members_.find(u.id);
  if (it == members_.end()) return;
  Rec& rec = it->second;
  if (u.incarnation < rec.m.incarnation) return;
  if (rec.m.state == MemberState::kLeft) return;
  if (rec.m.state == MemberState::kDead && !left) return;
  if (left && u.from != u.id) return;  // only a member itself can say it left
  rec.m.incarnation = u.incarnation;
  clear_suspicion(rec);
  set_state(rec, left ? MemberState::kLeft : MemberState::kDead, now);
  broadcast_member(rec, u.kind, u.from, true);
}

void Core::refute(uint64_t accused_incarnation, Time now) {
  self_.incarnation = std::max(self_.incarnation, accused_incarnation) + 1;
  self_.state_since = now;
  ++stats_.refutations;
  // Being suspected hints that our own links or scheduling are slow (Lifeguard).
  adjust_awareness(1);
  MemberUpdate u{
      MemberUpdate::Kind::kAlive, self_.id, self_.incarnation, self_.id, self_.name, self_.address};
  member_queue_.push(u, encoded_size(u), self_.id, true);
  eager_updates_.push_back(std::move(u));
}

void Core::set_state(Rec& rec, MemberState state, Time now, bool is_new) {
  MemberState previous = rec.m.state;
  if (!is_new && previous == state) return;
  rec.m.state = state;
  rec.m.state_since = now;
  const bool live = state == MemberState::kAlive || state == MemberState::kSuspect;
  if (live) {
    add_live(rec.m.id);
  } else {
    remove_live(rec.m.id);
  }
  if (state == MemberState::kDead) recently_dead_.emplace_back(now, rec.m.id);
  effects_.push_back(MemberChanged{rec.m, is_new ? state : previous, is_new});
}

void Core::clear_suspicion(Rec& rec) {
  if (!rec.suspicion) return;
  suspicion_timers_.erase({rec.suspicion->deadline, rec.m.id});
  rec.suspicion.reset();
}

void Core::set_suspicion_deadline(Rec& rec, Time deadline) {
  suspicion_timers_.erase({rec.suspicion->deadline, rec.m.id});
  rec.suspicion->deadline = deadline;
  suspicion_timers_.insert({deadline, rec.m.id});
}

void Core::add_live(NodeId id) {
  if (live_index_.count(id)) return;
  live_index_[id] = live_.size();
  live_.push_back(id);
  // New members join the current probe round at a random place (memberlist does the same).
  size_t remaining = probe_order_.size() - std::min(probe_pos_, probe_order_.size());
  size_t at = probe_pos_ + (remaining == 0 ? 0 : rng_() % (remaining + 1));
  probe_order_.insert(
      probe_order_.begin() + static_cast<ptrdiff_t>(std::min(at, probe_order_.size())), id);
}

void Core::remove_live(NodeId id) {
  auto it = live_index_.find(id);
  if (it == live_index_.end()) return;
  size_t i = it->second;
  live_index_.erase(it);
  if (i != live_.size() - 1) {
    live_[i] = live_.back();
    live_index_[live_[i]] = i;
  }
  live_.pop_back();
}

NodeId Core::next_probe_target() {
  for (int pass = 0; pass < 2; ++pass) {
    while (probe_pos_ < probe_order_.size()) {
      NodeId id = probe_order_[probe_pos_++];
      if (live_index_.count(id)) return id;
    }
    // Round finished: a fresh random order of the live members.
    probe_order_ = live_;
    std::shuffle(probe_order_.begin(), probe_order_.end(), rng_);
    probe_pos_ = 0;
  }
  return 0;
}

std::vector<NodeId> Core::random_live(size_t k, NodeId exclude_a, NodeId exclude_b) {
  std::vector<NodeId> out;
  if (k == 0 || live_.empty()) return out;
  if (live_.size() <= 4 * k) {
    std::vector<NodeId> candidates;
    for (const NodeId id : live_) {
      if (id != exclude_a && id != exclude_b) candidates.push_back(id);
    }
    for (size_t i = 0; i < candidates.size() && out.size() < k; ++i) {
      size_t j = i + rng_() % (candidates.size() - i);
      std::swap(candidates[i], candidates[j]);
      out.push_back(candidates[i]);
    }
    return out;
  }
  for (int attempts = 0; out.size() < k && attempts < 64 * static_cast<int>(k); ++attempts) {
    NodeId id = live_[rng_() % live_.size()];
    if (id == exclude_a || id == exclude_b) continue;
    if (std::find(out.begin(), out.end(), id) != out.end()) continue;
    out.push_back(id);
  }
  return out;
}

void Core::adjust_awareness(int delta) {
  awareness_ = std::clamp(awareness_ + delta, 0, std::max(0, config_.awareness_max - 1));
}

// ---- message handlers -------------------------------------------------------------------------

void Core::handle(const Ping& b, const Message& m, Time) {
  if (b.target != 0 && b.target != self_.id) {
    ++stats_.misdirected_pings;  // another node lived at this address before us
    return;
  }
  send(m.from, reply_address(m), Ack{b.seq}, true);
}

void Core::handle(const Ack& b, const Message&, Time) {
  if (probe_ && b.seq == probe_->seq) {
    if (!probe_->indirect_sent) adjust_awareness(-1);
    probe_.reset();
    return;
  }
  auto it = relays_.find(b.seq);
  if (it != relays_.end()) {
    send(it->second.requester, it->second.requester_address, Ack{it->second.orig_seq}, false);
    relays_.erase(it);
  }
}

void Core::handle(const PingReq& b, const Message& m, Time now) {
  if (b.target == self_.id) {
    send(m.from, reply_address(m), Ack{b.seq}, true);
    return;
  }
  uint64_t seq = next_seq_++;
  // The nack must reach the requester before its probe window (probe_timeout after it sent
  // the ping-req, at least) closes, or the requester reads a missing nack as its own fault.
  relays_[seq] = Relay{m.from, reply_address(m), b.seq, now + config_.probe_timeout * 4 / 5};
  send(b.target, b.target_address, Ping{seq, b.target}, true);
}

void Core::handle(const Nack& b, const Message&, Time) {
  if (probe_ && b.seq == probe_->seq) ++probe_->nacks;
}

void Core::handle(const Gossip&, const Message&, Time) {}

void Core::start_sync(NodeId peer, const std::string& address, bool push_pull, bool join, Time) {
  ++stats_.syncs_started;
  SyncDigest d;
  d.vv_hash = hash_version_vector(log_.version_vector());
  d.join = join;
  d.push_pull = push_pull;
  if (join) {
    d.members.push_back(MemberUpdate{MemberUpdate::Kind::kAlive, self_.id, self_.incarnation,
                                     self_.id, self_.name, self_.address});
  } else if (push_pull) {
    d.members = full_state(Time{0});
  }
  send(peer, address, std::move(d), false);
}

void Core::handle(const SyncDigest& b, const Message& m, Time now) {
  for (const MemberUpdate& u : b.members) apply_update(u, now, true, m.from);
  VersionVector mine = log_.version_vector();
  const bool differ = hash_version_vector(mine) != b.vv_hash;
  if (!differ && !b.push_pull && !b.join) return;
  SyncVector v;
  v.step = 2;
  v.vv = std::move(mine);
  if (b.push_pull || b.join) v.members = full_state(now);
  send(m.from, reply_address(m), std::move(v), false);
}

Core::Missing Core::collect_missing(const VersionVector& theirs, const VersionVector& mine) {
  Missing out;
  size_t budget = config_.sync_chunk_bytes;
  for (const auto& [origin, head] : mine) {
    auto t = theirs.find(origin);
    uint64_t have = t == theirs.end() ? 0 : t->second;
    if (head <= have) continue;
    if (budget == 0) {
      out.more = true;
      break;
    }
    LogRead read = log_.entries_after(origin, have, budget);
    if (read.compacted) {
      out.compacted = true;
      continue;
    }
    size_t bytes = 0;
    for (const LogEntry& e : read.entries) bytes += e.encoded.size();
    budget -= std::min(budget, bytes);
    if (read.entries.empty() || read.entries.back().seq < head) out.more = true;
    for (LogEntry& e : read.entries) out.entries.push_back(std::move(e));
  }
  stats_.sync_entries_sent += out.entries.size();
  return out;
}

void Core::handle(const SyncVector& b, const Message& m, Time now) {
  for (const MemberUpdate& u : b.members) apply_update(u, now, true, m.from);
  if (b.step == 2) {
    // We initiated: send what the peer lacks, and our vector so it can answer in kind.
    VersionVector mine = log_.version_vector();
    if (hash_version_vector(mine) == hash_version_vector(b.vv)) return;
    Missing missing = collect_missing(b.vv, mine);
    SyncVector reply;
    reply.step = 3;
    reply.vv = std::move(mine);
    reply.entries = std::move(missing.entries);
    reply.more = missing.more;
    reply.snapshot_offer = missing.compacted;
    send(m.from, reply_address(m), std::move(reply), false);
    return;
  }
  if (!b.entries.empty()) receive_entries(m.from, b.entries, false);
  if (b.snapshot_offer) on_snapshot_offer(m.from, reply_address(m), now);
  Missing missing = collect_missing(b.vv, log_.version_vector());
  if (!missing.entries.empty() || missing.compacted) {
    send(m.from, reply_address(m),
         SyncEntries{std::move(missing.entries), missing.more, missing.compacted}, false);
  }
  // The initiator had more for us than one chunk: pull the next one.
  if (b.more) start_sync(m.from, reply_address(m), false, false, now);
}

void Core::handle(const SyncEntries& b, const Message& m, Time now) {
  if (!b.entries.empty()) receive_entries(m.from, b.entries, false);
  if (b.snapshot_offer) on_snapshot_offer(m.from, reply_address(m), now);
  if (b.more) start_sync(m.from, reply_address(m), false, false, now);
}

void Core::on_snapshot_offer(NodeId from, const std::string& address, Time now) {
  if (!log_.can_install_snapshot()) {
    auto [it, inserted] = snapshot_required_reported_.try_emplace(from, now);
    if (inserted || now - it->second > std::chrono::minutes(1)) {
      it->second = now;
      effects_.push_back(SnapshotRequired{from});
    }
    return;
  }
  if (pull_) return;
  pull_ = SnapshotPull{};
  pull_->from = from;
  pull_->address = address;
  pull_->deadline = now + config_.snapshot_cache_time / 3;
  send(from, address, SnapshotRequest{0, 0}, false);
}

void Core::handle(const SnapshotRequest& b, const Message& m, Time now) {
  auto it = served_.find(b.snapshot_id);
  if (b.snapshot_id == 0 || it == served_.end()) {
    LogSnapshot snap = log_.snapshot();
    ServedSnapshot served;
    served.vv = std::move(snap.vv);
    served.expires = now + config_.snapshot_cache_time;
    served.chunks.emplace_back();
    size_t used = 0;
    for (LogEntry& e : snap.entries) {
      size_t sz = encoded_size(e);
      if (used + sz > config_.sync_chunk_bytes && used > 0) {
        served.chunks.emplace_back();
        used = 0;
      }
      served.chunks.back().push_back(std::move(e));
      used += sz;
    }
    uint64_t id = nonzero_random(rng_);
    it = served_.emplace(id, std::move(served)).first;
  }
  uint32_t index = b.snapshot_id == it->first ? b.index : 0;
  const ServedSnapshot& s = it->second;
  if (index >= s.chunks.size()) return;
  SnapshotChunk c;
  c.snapshot_id = it->first;
  c.index = index;
  c.total = static_cast<uint32_t>(s.chunks.size());
  c.vv = s.vv;
  c.entries = s.chunks[index];
  ++stats_.snapshot_chunks_sent;
  send(m.from, reply_address(m), std::move(c), false);
}

void Core::handle(const SnapshotChunk& b, const Message& m, Time now) {
  if (!pull_ || pull_->from != m.from) return;
  if (pull_->id != b.snapshot_id) {
    if (b.index != 0) return;  // a chunk of a snapshot we are not pulling
    // First chunk, or the server rebuilt the snapshot: start over.
    pull_->id = b.snapshot_id;
    pull_->next = 0;
    pull_->entries.clear();
  }
  if (b.index != pull_->next) return;
  pull_->total = b.total;
  pull_->vv = b.vv;
  for (const LogEntry& e : b.entries) pull_->entries.push_back(e);
  pull_->next = b.index + 1;
  pull_->deadline = now + config_.snapshot_cache_time / 3;
  if (pull_->next < pull_->total) {
    send(m.from, reply_address(m), SnapshotRequest{pull_->id, pull_->next}, false);
    return;
  }
  InstallSnapshot install;
  install.from = m.from;
  install.snapshot.vv = std::move(pull_->vv);
  install.snapshot.entries = std::move(pull_->entries);
  for (const auto& [origin, seq] : install.snapshot.vv) {
    uint64_t& h = handed_[origin];
    h = std::max(h, seq);
    auto p = pending_.find(origin);
    if (p != pending_.end()) {
      while (!p->second.empty() && p->second.begin()->first <= h) {
        p->second.erase(p->second.begin());
        --pending_count_;
      }
    }
  }
  ++stats_.snapshots_installed;
  pull_.reset();
  effects_.push_back(std::move(install));
}

void Core::handle(const SpaceRequest& b, const Message& m, Time) {
  effects_.push_back(SpaceRequestReceived{m.from, b.request_id, b.payload});
}

void Core::handle(const SpaceAnswer& b, const Message& m, Time) {
  auto it = requests_.find(b.request_id);
  if (it == requests_.end() || it->second.to != m.from) return;
  requests_.erase(it);
  effects_.push_back(SpaceAnswerReceived{m.from, b.request_id, b.payload});
}

void Core::handle(const Refuse& b, const Message& m, Time) {
  if (!joining_ || b.cluster_id == cluster_id_) return;
  ++stats_.dropped_cluster_mismatch;
  effects_.push_back(JoinRefused{reply_address(m), b.cluster_id});
}

// ---- log entries ------------------------------------------------------------------------------

bool Core::receive_entries(NodeId from, const std::vector<LogEntry>& entries, bool fresh) {
  std::vector<LogEntry> deliver;
  bool gap = false;
  for (const LogEntry& e : entries) {
    if (e.origin == self_.id) {
      ++stats_.entries_duplicate;  // our own log is authored here only
      continue;
    }
    uint64_t& h = handed_[e.origin];
    if (e.seq <= h) {
      ++stats_.entries_duplicate;
      continue;
    }
    auto& held = pending_[e.origin];
    if (e.seq > h + 1) {
      if (held.count(e.seq)) {
        ++stats_.entries_duplicate;
        continue;
      }
      if (pending_count_ >= config_.max_pending_entries) {
        ++stats_.entries_dropped_pending;  // anti-entropy will bring it again
        continue;
      }
      held.emplace(e.seq, e);
      gap = true;
      ++pending_count_;
      ++stats_.entries_held;
    } else {
      deliver.push_back(e);
      h = e.seq;
      // The gap before held entries may now be closed.
      while (!held.empty() && held.begin()->first <= h + 1) {
        if (held.begin()->first == h + 1) {
          deliver.push_back(std::move(held.begin()->second));
          h = held.begin()->first;
        }
        held.erase(held.begin());
        --pending_count_;
      }
    }
    if (fresh) {
      // First sight of a new entry: forward it at once and piggyback it for a while.
      event_queue_.push(e, encoded_size(e), 0, false);
      eager_entries_.push_back(e);
    }
  }
  event_queue_.trim(kMaxEventQueue);
  if (!deliver.empty()) {
    stats_.entries_delivered += deliver.size();
    effects_.push_back(ApplyRemote{from, std::move(deliver)});
  }
  return gap;
}

void Core::resync_handed() {
  // The log is the truth. Entries handed out but still missing from the log after a whole
  // anti-entropy interval (dropped by the owner, or held there for dependencies) are
  // forgotten, so that anti-entropy fetches them again.
  VersionVector logged = log_.version_vector();
  for (const auto& [origin, seq] : logged) {
    uint64_t& h = handed_[origin];
    h = std::max(h, seq);
  }
  VersionVector stale;
  for (auto& [origin, h] : handed_) {
    auto l = logged.find(origin);
    uint64_t in_log = l == logged.end() ? 0 : l->second;
    if (h <= in_log || origin == self_.id) continue;
    auto prev = stale_handed_.find(origin);
    if (prev != stale_handed_.end() && prev->second == h) {
      h = in_log;
    } else {
      stale[origin] = h;
    }
  }
  stale_handed_ = std::move(stale);
}

}  // namespace trellis::gossip
