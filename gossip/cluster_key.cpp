#include "gossip/cluster_key.h"

#include <zmq.h>

#include <fstream>
#include <sstream>

namespace trellis::gossip {

bool ClusterKeys::admits(std::string_view client_public_z85) const {
  for (const ClusterKey& k : keys) {
    if (k.public_z85 == client_public_z85) return true;
  }
  return false;
}

bool curve_available() { return zmq_has("curve") == 1; }

std::string generate_cluster_key() {
  if (!curve_available()) {
    throw UnavailableError("generate cluster key: this libzmq has no CURVE support");
  }
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0) {
    throw InternalError(std::string("generate cluster key: ") + zmq_strerror(zmq_errno()));
  }
  return std::string(sec, 40);
}

ClusterKeys parse_cluster_keys(std::string_view text) {
  ClusterKeys out;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) continue;
    size_t e = line.find_last_not_of(" \t\r");
    line = line.substr(b, e - b + 1);
    if (line.front() == '#') continue;
    if (line.size() != 40) {
      throw InvalidArgumentError("cluster key file line " + std::to_string(line_no) +
                                 ": expected a 40-character Z85 key, found " +
                                 std::to_string(line.size()) + " characters");
    }
    ClusterKey key;
    key.secret_z85 = std::string(line);
    uint8_t raw[32];
    if (zmq_z85_decode(raw, key.secret_z85.c_str()) == nullptr) {
      throw InvalidArgumentError("cluster key file line " + std::to_string(line_no) +
                                 ": not valid Z85");
    }
    if (!curve_available()) {
      throw UnavailableError("cluster key: this libzmq has no CURVE support");
    }
    char pub[41];
    if (zmq_curve_public(pub, key.secret_z85.c_str()) != 0) {
      throw InvalidArgumentError("cluster key file line " + std::to_string(line_no) +
                                 ": cannot derive the public key");
    }
    key.public_z85 = std::string(pub, 40);
    out.keys.push_back(std::move(key));
  }
  if (out.keys.empty()) throw InvalidArgumentError("cluster key file holds no key");
  return out;
}

ClusterKeys load_cluster_keys(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw NotFoundError("cluster key file " + path + ": cannot be read");
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    return parse_cluster_keys(buf.str());
  } catch (const InvalidArgumentError& e) {
    throw InvalidArgumentError(path + ": " + e.what());
  }
}

}  // namespace trellis::gossip
