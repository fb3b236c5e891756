#pragma once
// Request parsing for the HTTP API: the target (path segments and query, percent-decoded) and
// the JSON bodies of docs/api.md, read strictly — each field has one type, unknown fields are
// refused — into the control layer's typed requests. Pure; thread-compatible. Every error is
// an InvalidArgumentError naming the body and the field.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "node/control/controller.h"

namespace trellis::node::api {

using nlohmann::json;

// Reads the fields of one JSON object, each at most once, and refuses unknown ones.
class Fields {
 public:
  Fields(const json& j, std::string what) : j_(j), what_(std::move(what)) {
    if (!j_.is_object()) throw InvalidArgumentError(what_ + ": expected a JSON object");
  }

  bool has(const std::string& key) {
    known_.insert(key);
    return j_.contains(key) && !j_.at(key).is_null();
  }
  std::string str(const std::string& key, std::string fallback = {}) {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_string()) fail(key, "a string");
    return v.get<std::string>();
  }
  bool boolean(const std::string& key, bool fallback = false) {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_boolean()) fail(key, "true or false");
    return v.get<bool>();
  }
  uint64_t number(const std::string& key, uint64_t max, uint64_t fallback = 0) {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number_unsigned() || v.get<uint64_t>() > max)
      fail(key, "a number from 0 to " + std::to_string(max));
    return v.get<uint64_t>();
  }
  std::vector<std::string> strings(const std::string& key) {
    std::vector<std::string> out;
    if (!has(key)) return out;
    const json& v = j_.at(key);
    if (!v.is_array()) fail(key, "an array of strings");
    for (const auto& item : v) {
      if (!item.is_string()) fail(key, "an array of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  std::map<std::string, std::string> string_map(const std::string& key) {
    std::map<std::string, std::string> out;
    if (!has(key)) return out;
    const json& v = j_.at(key);
    if (!v.is_object()) fail(key, "an object of strings");
    for (const auto& [k, item] : v.items()) {
      if (!item.is_string()) fail(key + "." + k, "a string");
      out[k] = item.get<std::string>();
    }
    return out;
  }
  std::vector<json> objects(const std::string& key) {
    std::vector<json> out;
    if (!has(key)) return out;
    const json& v = j_.at(key);
    if (!v.is_array()) fail(key, "an array of objects");
    for (const auto& item : v) out.push_back(item);
    return out;
  }
  json object(const std::string& key) {
    if (!has(key)) return json::object();
    const json& v = j_.at(key);
    if (!v.is_object()) fail(key, "an object");
    return v;
  }
  // Throws for fields nobody asked about.
  void done() const {
    for (const auto& [k, v] : j_.items()) {
      if (!known_.count(k)) throw InvalidArgumentError(what_ + ": unknown field '" + k + "'");
    }
  }

 private:
  [[noreturn]] void fail(const std::string& key, const std::string& expected) const {
    throw InvalidArgumentError(what_ + ": field '" + key + "' must be " + expected);
  }
  const json j_;
  std::string what_;
  std::set<std::string> known_;
};

// An empty body is an empty object; anything else must be JSON. `what` names the body.
json parse_body(const std::string& body, const std::string& what);

NetworkRequest network_request(const json& j);
EndpointRequest endpoint_request(const json& j);
SandboxRequest sandbox_request(const json& j);

// A request target: "/networks/front?all=1" -> segments {"networks", "front"}, query
// {"all": "1"}.
struct Target {
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;

  bool flag(const std::string& key) const {
    auto it = query.find(key);
    if (it == query.end()) return false;
    const std::string& v = it->second;
    if (v.empty() || v == "1" || v == "true" || v == "yes") return true;
    if (v == "0" || v == "false" || v == "no") return false;
    throw InvalidArgumentError("query parameter " + key + "=" + v + ": expected true or false");
  }
  std::string param(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  }
};

Target parse_target(const std::string& target);

}  // namespace trellis::node::api
