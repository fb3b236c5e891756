#include "node/dataplane/attachments.h"

#include <set>

#include "node/dataplane/network_plane.h"

namespace trellis::node {

void Attachments::clear() {
  sandboxes_.clear();
  joins_.clear();
}

JoinRecord* Attachments::join(const std::string& endpoint_id) {
  auto it = joins_.find(endpoint_id);
  return it == joins_.end() ? nullptr : &it->second;
}

const JoinRecord* Attachments::join(const std::string& endpoint_id) const {
  auto it = joins_.find(endpoint_id);
  return it == joins_.end() ? nullptr : &it->second;
}

SandboxRecord* Attachments::sandbox(const std::string& sandbox_id) {
  auto it = sandboxes_.find(sandbox_id);
  return it == sandboxes_.end() ? nullptr : &it->second;
}

std::string Attachments::next_ifname(const std::string& sandbox_id) const {
  std::set<std::string> used;
  for (const auto& [ep, j] : joins_) {
    if (j.sandbox == sandbox_id) used.insert(j.ifname);
  }
  for (int i = 0;; ++i) {
    std::string name = "eth" + std::to_string(i);
    if (!used.count(name)) return name;
  }
}

void Attachments::remove_join(const std::string& endpoint_id) {
  auto it = joins_.find(endpoint_id);
  if (it == joins_.end()) return;
  const JoinRecord j = it->second;
  if (j.plane) {
    j.plane->remove_join(endpoint_id, j);
  } else if (!j.sandbox.empty() && !j.ifname.empty()) {
    ops_.delete_link(netns(j.sandbox), j.ifname);
  }
  forget_join(endpoint_id);
}

void Attachments::forget_join(const std::string& endpoint_id) {
  auto it = joins_.find(endpoint_id);
  if (it == joins_.end()) return;
  const JoinRecord j = std::move(it->second);
  joins_.erase(it);
  if (!j.sandbox.empty()) forget_route_via(j.sandbox, j.ifname);
}

void Attachments::forget_route_via(const std::string& sandbox_id, const std::string& link) {
  auto sb = sandboxes_.find(sandbox_id);
  if (sb != sandboxes_.end() && sb->second.route && sb->second.route->second == link)
    sb->second.route.reset();
}

}  // namespace trellis::node
