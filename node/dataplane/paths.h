#pragma once
// The layout of trellisd's run directory (runtime state that a reboot may wipe; the desired
// state lives in the data directory's event store):
//
//   <run>/trellis.sock                 the API socket
//   <run>/netns/                       a shared bind mount holding the namespace files
//   <run>/netns/host                   the daemon's own network namespace ("host" sandboxes)
//   <run>/netns/<sandbox id>           one network namespace per sandbox (nsfs bind mount)
//   <run>/sandboxes/<sandbox id>/      hosts, resolv.conf, hostname, pids, output.log
//
// Pure value type; safe from any thread.

#include <string>
#include <string_view>

namespace trellis::node {

class RunPaths {
 public:
  explicit RunPaths(std::string run_dir) : run_(std::move(run_dir)) {}

  const std::string& run_dir() const { return run_; }
  std::string api_socket() const { return run_ + "/trellis.sock"; }
  std::string netns_dir() const { return run_ + "/netns"; }
  std::string host_netns() const { return netns_dir() + "/host"; }
  std::string sandbox_netns(std::string_view id) const {
    return netns_dir() + "/" + std::string(id);
  }
  std::string sandboxes_dir() const { return run_ + "/sandboxes"; }
  std::string sandbox_dir(std::string_view id) const {
    return sandboxes_dir() + "/" + std::string(id);
  }
  std::string hosts_file(std::string_view id) const { return sandbox_dir(id) + "/hosts"; }
  std::string resolv_file(std::string_view id) const { return sandbox_dir(id) + "/resolv.conf"; }
  std::string hostname_file(std::string_view id) const { return sandbox_dir(id) + "/hostname"; }
  std::string pids_file(std::string_view id) const { return sandbox_dir(id) + "/pids"; }
  std::string output_file(std::string_view id) const { return sandbox_dir(id) + "/output.log"; }

 private:
  std::string run_;
};

}  // namespace trellis::node
