#pragma once
// A directory under /tmp removed (recursively) when the object goes. Short paths: the API
// socket lives in it and must fit sockaddr_un.

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace trellis::node::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/trl-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace trellis::node::testing
