#include "node/dataplane/kernel_reconciler.h"

#include <dirent.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <vector>

#include "common/log.h"
#include "node/dataplane/host_prefixes.h"
#include "node/dataplane/names.h"
#include "node/dataplane/nftables.h"
#include "node/dataplane/sandbox_files.h"
#include "node/model/state_cache.h"

namespace trellis::node {

namespace {

spdlog::logger& logger() { return log("reconciler"); }

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Failure failure_of(const std::exception& e) {
  if (const auto* err = dynamic_cast<const Error*>(&e)) return {err->kind(), err->what()};
  return {ErrorKind::kInternal, e.what()};
}

}  // namespace

struct KernelReconciler::Pass {
  Pass(const StateCache& s, bool everything) : state(s), all(everything) {}

  const StateCache& state;
  bool all = false;
  std::set<std::string> nets, sbs, eps;
  std::set<std::string> touched;  // sandboxes whose routes and files depend on what changed
  ReconcileResult result;

  // Runs `fn` for `ref`, recording its failure; whether it succeeded.
  template <class Fn>
  bool attempt(const ObjectRef& ref, Fn&& fn) {
    result.examined.insert(ref);
    try {
      fn();
      return true;
    } catch (const std::exception& e) {
      Failure f = failure_of(e);
      logger().warn("{}: {}", ref.to_string(), f.message);
      result.failures[ref] = std::move(f);
      return false;
    }
  }
  bool failed(const ObjectRef& ref) const { return result.failures.count(ref) > 0; }
};

KernelReconciler::KernelReconciler(NetOps& ops, KernelReconcilerOptions options,
                                   NetworkPlanes planes)
    : ops_(ops),
      options_(std::move(options)),
      paths_(options_.run_dir),
      planes_(std::move(planes)),
      attachments_(ops, paths_) {
  if (!options_.apply_nft) {
    const std::string script_path = paths_.run_dir() + "/nftables.rules";
    options_.apply_nft = [script_path](const std::string& script) {
      apply_nft("nft", script_path, script);
    };
  }
}

NetworkPlane* KernelReconciler::plane_of_driver(const std::string& driver) const {
  for (const auto& p : planes_) {
    if (p.driver == driver) return p.plane.get();
  }
  return nullptr;
}

NetworkPlane* KernelReconciler::desired_plane(const StateCache& state,
                                              const std::string& network_id) const {
  const auto* n = state.network(network_id);
  if (!n) return nullptr;
  NetworkPlane* plane = plane_of_driver(n->spec.driver);
  return plane && plane->wants_network(state, *n) ? plane : nullptr;
}

bool KernelReconciler::sandbox_desired(const StateCache& state, const std::string& id) const {
  const auto* s = state.sandbox(id);
  return s && s->owner == options_.node;
}

bool KernelReconciler::join_desired(const StateCache& state, const std::string& id) const {
  const auto* e = state.endpoint(id);
  if (!e || e->spec.owner != options_.node || e->sandbox.empty()) return false;
  return sandbox_desired(state, e->sandbox) && desired_plane(state, e->spec.network);
}

// ---- start-up --------------------------------------------------------------------------------

void KernelReconciler::prepare() {
  std::error_code ec;
  std::filesystem::create_directories(paths_.sandboxes_dir(), ec);
  if (ec) throw InternalError("create " + paths_.sandboxes_dir() + ": " + ec.message());
  ops_.prepare_netns_dir(paths_.netns_dir());
  ops_.bind_own_netns(paths_.host_netns());
  prepared_ = true;
}

void KernelReconciler::discover() {
  attachments_.clear();
  stray_links_.clear();
  unlabelled_links_.clear();
  AdoptionScan scan;
  for (auto& link : ops_.links("")) {
    if (!starts_with(link.name, kLinkPrefix)) continue;
    auto alias = parse_object_alias(link.alias);
    if (!alias) {
      unlabelled_links_.insert(link.name);
    } else if (alias->node == options_.node) {  // else another daemon's
      const std::string name = link.name;
      scan.host_links[name] = LabelledLink{std::move(link), std::move(*alias)};
    }
  }
  std::vector<std::string> sandboxes;
  if (DIR* dir = opendir(paths_.netns_dir().c_str())) {
    while (dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      // Drivers' namespaces (trl*) share the directory; their planes adopt them.
      if (name != "." && name != ".." && name != "host" && !starts_with(name, kLinkPrefix))
        sandboxes.push_back(name);
    }
    closedir(dir);
  }
  for (const auto& id : sandboxes) adopt_sandbox(id, scan);
  for (auto& p : planes_) p.plane->adopt(scan, attachments_);
  for (const auto& [name, link] : scan.host_links) stray_links_.insert(name);
  logger().info("adopted {} sandbox namespaces, {} interfaces ({} stray, {} unlabelled links)",
                attachments_.sandboxes().size(), attachments_.joins().size(), stray_links_.size(),
                unlabelled_links_.size());
}

void KernelReconciler::adopt_sandbox(const std::string& id, AdoptionScan& scan) {
  const std::string path = paths_.sandbox_netns(id);
  if (!ops_.is_netns(path)) {
    ops_.remove_netns(path);  // a stale file left by a crash
    return;
  }
  SandboxRecord& sb = attachments_.sandboxes()[id];
  sb.ns = true;
  sb.route = ops_.default_route(path);
  for (auto& link : ops_.links(path)) {
    auto alias = parse_object_alias(link.alias);
    if (!alias || alias->node != options_.node) continue;
    if (alias->kind != kEndpointAliasKind) {
      scan.sandbox_links[id].push_back(LabelledLink{std::move(link), std::move(*alias)});
      continue;
    }
    // An endpoint's interface; its plane matches the outer end (or adopts it later).
    JoinRecord j;
    j.sandbox = id;
    j.ifname = link.name;
    j.mac = link.mac;
    j.up = link.up;
    if (!link.addresses.empty()) j.address = link.addresses.front();
    attachments_.joins()[alias->id] = std::move(j);
  }
}

// ---- the pass --------------------------------------------------------------------------------

ReconcileResult KernelReconciler::reconcile(const StateCache& state, const Dirty& dirty) {
  Pass pass{state, dirty.all || !prepared_};
  if (pass.all && !pass.attempt(ObjectRef::host(), [&] {
        prepare();
        discover();
      })) {
    prepared_ = false;
    return std::move(pass.result);
  }
  widen_scope(pass, dirty);
  tear_down(pass);
  if (pass.all) remove_leftover_links(pass);
  build(pass);
  return std::move(pass.result);
}

void KernelReconciler::widen_scope(Pass& pass, const Dirty& dirty) {
  const StateCache& state = pass.state;
  pass.nets = dirty.networks;
  pass.sbs = dirty.sandboxes;
  pass.eps = dirty.endpoints;
  if (pass.all) {
    for (const auto& [id, n] : state.networks()) pass.nets.insert(id);
    for (const auto& [id, s] : state.sandboxes()) pass.sbs.insert(id);
    for (const auto& [id, s] : attachments_.sandboxes()) pass.sbs.insert(id);
    for (const auto& [id, e] : state.endpoints()) pass.eps.insert(id);
    for (const auto& [id, j] : attachments_.joins()) pass.eps.insert(id);
    // Sandbox directories of a crashed run whose namespace is gone.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(paths_.sandboxes_dir(), ec))
      pass.sbs.insert(entry.path().filename().string());
  }
  PassScope scope{dirty, pass.all, attachments_, pass.nets};
  for (auto& p : planes_) p.plane->begin_pass(state, scope);
  // The joins of the sandboxes and networks looked at.
  for (const auto& [id, j] : attachments_.joins()) {
    if (pass.sbs.count(j.sandbox) || pass.nets.count(j.network)) pass.eps.insert(id);
  }
  for (const auto& sb : pass.sbs) {
    for (const auto* e : state.joined_endpoints(sb)) pass.eps.insert(e->spec.id);
  }
  if (!pass.nets.empty()) {
    for (const auto& [id, e] : state.endpoints()) {
      if (pass.nets.count(e.spec.network)) pass.eps.insert(id);
    }
  }
  pass.touched = pass.sbs;
  for (const auto& id : pass.eps) {
    if (const auto* e = state.endpoint(id); e && !e->sandbox.empty())
      pass.touched.insert(e->sandbox);
    if (const JoinRecord* j = attachments_.join(id); j && !j->sandbox.empty())
      pass.touched.insert(j->sandbox);
  }
  for (const auto& id : pass.nets) pass.result.examined.insert(ObjectRef::network(id));
  for (const auto& id : pass.sbs) pass.result.examined.insert(ObjectRef::sandbox(id));
  for (const auto& id : pass.eps) pass.result.examined.insert(ObjectRef::endpoint(id));
}

// 1. Tear down what is no longer wanted, interfaces first.
void KernelReconciler::tear_down(Pass& pass) {
  const StateCache& state = pass.state;
  for (const auto& id : pass.eps) {
    if (attachments_.join(id) && !join_desired(state, id))
      pass.attempt(ObjectRef::endpoint(id), [&] { attachments_.remove_join(id); });
  }
  for (const auto& id : pass.sbs) {
    if (sandbox_desired(state, id)) continue;
    pass.touched.erase(id);
    if (attachments_.sandbox(id)) {
      pass.attempt(ObjectRef::sandbox(id), [&] { remove_sandbox(id); });
    } else {
      // Never created here, or its namespace was already gone: the directory may remain.
      std::error_code ec;
      std::filesystem::remove_all(paths_.sandbox_dir(id), ec);
    }
  }
  for (const auto& id : pass.nets) {
    const NetworkPlane* wanted_by = desired_plane(state, id);
    for (auto& p : planes_) {
      if (p.plane.get() != wanted_by && p.plane->has_network(id))
        pass.attempt(ObjectRef::network(id), [&] { p.plane->remove_network(attachments_, id); });
    }
  }
}

// Start-up only: links of a crashed run that no object explains.
void KernelReconciler::remove_leftover_links(Pass& pass) {
  for (const auto& name : stray_links_) {
    pass.attempt(ObjectRef::link(name), [&] {
      ops_.delete_link("", name);
      logger().info("removed stray link {}", name);
    });
  }
  stray_links_.clear();
  // Unlabelled links named after this node's objects: half-made by a crashed run. What the
  // state still wants is re-created by build().
  std::set<std::string> ours;
  for (const auto& p : planes_) p.plane->unlabelled_names(pass.state, ours);
  for (const auto& name : unlabelled_links_) {
    if (!ours.count(name)) {
      logger().info("leaving unlabelled link {} alone (not named after an object of this node)",
                    name);
      continue;
    }
    pass.attempt(ObjectRef::link(name), [&] {
      ops_.delete_link("", name);
      logger().info("removed unlabelled link {} (half-made before a crash)", name);
    });
  }
  unlabelled_links_.clear();
}

// 2. Create and fix what is wanted.
void KernelReconciler::build(Pass& pass) {
  const StateCache& state = pass.state;
  for (auto& p : planes_) pass.attempt(ObjectRef::driver(p.driver), [&] { p.plane->sweep(state); });
  for (const auto& id : pass.nets) {
    if (NetworkPlane* plane = desired_plane(state, id))
      pass.attempt(ObjectRef::network(id), [&] { plane->ensure_network(state, attachments_, id); });
  }
  for (const auto& id : pass.sbs) {
    if (sandbox_desired(state, id))
      pass.attempt(ObjectRef::sandbox(id), [&] { ensure_sandbox(id); });
  }
  for (const auto& id : pass.eps) {
    if (!join_desired(state, id)) continue;
    const auto* e = state.endpoint(id);
    if (pass.failed(ObjectRef::network(e->spec.network)) ||
        pass.failed(ObjectRef::sandbox(e->sandbox))) {
      pass.result.failures[ObjectRef::endpoint(id)] = {
          ErrorKind::kUnavailable, "its network or sandbox could not be set up"};
      continue;
    }
    NetworkPlane* plane = desired_plane(state, e->spec.network);
    pass.attempt(ObjectRef::endpoint(id), [&] { plane->ensure_join(state, attachments_, id); });
  }
  for (const auto& id : pass.touched) {
    if (!sandbox_desired(state, id) || pass.failed(ObjectRef::sandbox(id))) continue;
    pass.attempt(ObjectRef::sandbox(id), [&] {
      update_route(state, id);
      update_files(state, id);
    });
  }
  bool rules_changed = false;
  for (auto& p : planes_) {
    pass.attempt(ObjectRef::driver(p.driver), [&] { p.plane->finish_pass(); });
    rules_changed = rules_changed || p.plane->rules_changed();
  }
  if (pass.all || !pass.nets.empty() || !pass.eps.empty() || rules_changed) {
    if (pass.attempt(ObjectRef::nftables(), [&] { update_nftables(state); })) {
      for (auto& p : planes_) p.plane->rules_applied();
    }
  }
}

// ---- sandboxes -------------------------------------------------------------------------------

void KernelReconciler::ensure_sandbox(const std::string& id) {
  SandboxRecord& sb = attachments_.sandboxes()[id];
  if (!sb.ns) {
    const std::string path = paths_.sandbox_netns(id);
    // A namespace of this id that discover() did not adopt, or a stale plain file left by a
    // crash between creating the file and binding the namespace on it.
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(path, ec))) ops_.remove_netns(path);
    ops_.create_netns(path);
    sb.ns = true;
    sb.route.reset();
  }
  std::error_code ec;
  std::filesystem::create_directories(paths_.sandbox_dir(id), ec);
  if (ec) throw InternalError("create " + paths_.sandbox_dir(id) + ": " + ec.message());
}

void KernelReconciler::remove_sandbox(const std::string& id) {
  for (auto& p : planes_) p.plane->remove_sandbox(attachments_, id);
  std::vector<std::string> joined;
  for (const auto& [ep, j] : attachments_.joins()) {
    if (j.sandbox == id) joined.push_back(ep);
  }
  for (const auto& ep : joined) attachments_.remove_join(ep);
  ops_.remove_netns(paths_.sandbox_netns(id));
  std::error_code ec;
  std::filesystem::remove_all(paths_.sandbox_dir(id), ec);
  attachments_.sandboxes().erase(id);
}

void KernelReconciler::update_route(const StateCache& state, const std::string& sandbox_id) {
  // The first joined non-internal network whose plane offers a route gives the default route.
  std::optional<DefaultRoute> want;
  for (const auto* e : state.joined_endpoints(sandbox_id)) {
    const auto* n = state.network(e->spec.network);
    if (!n || n->spec.internal || n->spec.ipam_result.pools.empty()) continue;
    NetworkPlane* plane = plane_of_driver(n->spec.driver);
    const JoinRecord* j = attachments_.join(e->spec.id);
    if (!plane || !j || j->sandbox != sandbox_id) continue;
    want = plane->default_route(state, attachments_, *n, *j);
    if (want) break;
  }
  for (auto& p : planes_) p.plane->settle_route(attachments_, sandbox_id, want);
  SandboxRecord& sb = attachments_.sandboxes()[sandbox_id];
  if (want == sb.route) return;
  const std::string ns = paths_.sandbox_netns(sandbox_id);
  if (want) {
    ops_.set_default_route(ns, want->first, want->second);
  } else {
    ops_.clear_default_route(ns);
  }
  sb.route = want;
}

void KernelReconciler::update_files(const StateCache& state, const std::string& sandbox_id) {
  const store::SandboxInfo& s = *state.sandbox(sandbox_id);
  SandboxRecord& sb = attachments_.sandboxes()[sandbox_id];
  std::vector<std::string> own;
  for (const auto* e : state.joined_endpoints(sandbox_id))
    own.insert(own.end(), e->spec.addresses.begin(), e->spec.addresses.end());
  const std::string hosts = render_hosts(s.spec, own);
  const std::string resolv = render_resolv_conf(s.spec, read_file(options_.resolv_conf));
  const std::string hostname = render_hostname(s.spec);
  if (hosts != sb.hosts) {
    write_in_place(paths_.hosts_file(sandbox_id), hosts);
    sb.hosts = hosts;
  }
  if (resolv != sb.resolv) {
    write_in_place(paths_.resolv_file(sandbox_id), resolv);
    sb.resolv = resolv;
  }
  if (hostname != sb.hostname) {
    write_in_place(paths_.hostname_file(sandbox_id), hostname);
    sb.hostname = hostname;
  }
}

void KernelReconciler::update_nftables(const StateCache& state) {
  NftRuleset rules;
  for (const auto& p : planes_) p.plane->add_rules(state, attachments_, rules);
  // Kept, with its owner comment, even without rules: another daemon started in this
  // namespace must find the table taken (nft_table_owner) rather than replace it.
  const std::string script =
      render_nft_script(options_.nft_table, store::format_node_id(options_.node), rules);
  if (nft_applied_ && *nft_applied_ == script) return;
  options_.apply_nft(script);
  nft_applied_ = script;
  logger().debug("nftables table {} applied ({} networks, {} published ports)", options_.nft_table,
                 rules.networks.size(), rules.ports.size());
}

std::optional<EndpointRuntime> KernelReconciler::endpoint_runtime(const std::string& id) const {
  const JoinRecord* j = attachments_.join(id);
  if (!j) return std::nullopt;
  return EndpointRuntime{j->ifname, j->host_link};
}

std::vector<HostPrefix> KernelReconciler::host_prefixes() {
  return host_prefixes_of(ops_.links(""), ops_.routes(""), options_.node);
}

namespace {

// Owns the NetOps the reconciler and its planes program through.
class OwningKernelReconciler : public Reconciler {
 public:
  OwningKernelReconciler(std::unique_ptr<NetOps> ops, KernelReconcilerOptions options,
                         NetworkPlanes planes)
      : ops_(std::move(ops)), reconciler_(*ops_, std::move(options), std::move(planes)) {}
  ReconcileResult reconcile(const StateCache& state, const Dirty& dirty) override {
    return reconciler_.reconcile(state, dirty);
  }
  std::optional<EndpointRuntime> endpoint_runtime(const std::string& id) const override {
    return reconciler_.endpoint_runtime(id);
  }
  std::vector<HostPrefix> host_prefixes() override { return reconciler_.host_prefixes(); }

 private:
  std::unique_ptr<NetOps> ops_;
  KernelReconciler reconciler_;
};

}  // namespace

std::unique_ptr<Reconciler> make_kernel_reconciler(std::unique_ptr<NetOps> ops,
                                                   KernelReconcilerOptions options,
                                                   NetworkPlanes planes) {
  return std::make_unique<OwningKernelReconciler>(std::move(ops), std::move(options),
                                                  std::move(planes));
}

}  // namespace trellis::node
