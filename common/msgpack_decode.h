#pragma once
// Helpers for decoding msgpack buffers that may be hostile or corrupt (store records,
// events from peers, wire frames). Every failure becomes a CorruptDataError naming what was
// being decoded; nothing here aborts or allocates more than the buffer justifies.
// Include only from .cpp files: it pulls in msgpack.hpp (link msgpackc-cxx).

#include <msgpack.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace trellis::msgpack_decode {

// Unpacks exactly one object spanning the whole buffer. Container sizes are bounded by the
// buffer length, so a forged length cannot make the decoder allocate gigabytes.
inline msgpack::object_handle unpack_whole(std::string_view buffer, std::string_view what) {
  const std::size_t n = buffer.size();
  msgpack::unpack_limit limit(n, n, n, n, n, 64);
  std::size_t offset = 0;
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(buffer.data(), n, offset, nullptr, nullptr, limit);
  } catch (const std::exception& e) {
    throw CorruptDataError(std::string(what) + ": malformed msgpack: " + e.what());
  }
  if (offset != n) {
    throw CorruptDataError(std::string(what) + ": " + std::to_string(n - offset) +
                           " trailing bytes after the encoded value");
  }
  return handle;
}

// The object must be an array of `size` elements (or at least `size` when `at_least`).
inline const msgpack::object_array& array_of(const msgpack::object& obj, std::size_t size,
                                             std::string_view what, bool at_least = false) {
  if (obj.type != msgpack::type::ARRAY) {
    throw CorruptDataError(std::string(what) + ": expected an array");
  }
  const auto& arr = obj.via.array;
  if (at_least ? arr.size < size : arr.size != size) {
    throw CorruptDataError(std::string(what) + ": expected " + (at_least ? "at least " : "") +
                           std::to_string(size) + " elements, found " + std::to_string(arr.size));
  }
  return arr;
}

inline uint64_t as_u64(const msgpack::object& obj, std::string_view what) {
  if (obj.type != msgpack::type::POSITIVE_INTEGER) {
    throw CorruptDataError(std::string(what) + ": expected an unsigned integer");
  }
  return obj.via.u64;
}

inline int64_t as_i64(const msgpack::object& obj, std::string_view what) {
  if (obj.type == msgpack::type::POSITIVE_INTEGER) {
    if (obj.via.u64 > static_cast<uint64_t>(INT64_MAX)) {
      throw CorruptDataError(std::string(what) + ": integer out of range");
    }
    return static_cast<int64_t>(obj.via.u64);
  }
  if (obj.type == msgpack::type::NEGATIVE_INTEGER) return obj.via.i64;
  throw CorruptDataError(std::string(what) + ": expected an integer");
}

inline bool as_bool(const msgpack::object& obj, std::string_view what) {
  if (obj.type != msgpack::type::BOOLEAN) {
    throw CorruptDataError(std::string(what) + ": expected a boolean");
  }
  return obj.via.boolean;
}

// Accepts str or bin.
inline std::string as_string(const msgpack::object& obj, std::string_view what) {
  if (obj.type == msgpack::type::STR) return std::string(obj.via.str.ptr, obj.via.str.size);
  if (obj.type == msgpack::type::BIN) return std::string(obj.via.bin.ptr, obj.via.bin.size);
  throw CorruptDataError(std::string(what) + ": expected a string");
}

}  // namespace trellis::msgpack_decode
