#pragma once
// Test helpers shared by every component's tests:
//  - TempDir: a fresh directory under /tmp, removed recursively when the object goes. Paths
//    stay short (an API socket may live in it and must fit sockaddr_un).
//  - run_command: runs a shell command line, returns its exit status and combined output.

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>

namespace trellis::test_support {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "trl") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + " failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }
  std::string operator/(const std::string& name) const { return sub(name); }

 private:
  std::string path_;
};

// `command` through /bin/sh with stderr joined to stdout: {exit status, output}.
inline std::pair<int, std::string> run_command(const std::string& command) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + command);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

}  // namespace trellis::test_support
