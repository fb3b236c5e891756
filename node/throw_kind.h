#pragma once
// Throws the trellis error class of a kind (NotFoundError for kNotFound, ...), so callers
// can catch the class after an error crossed a boundary as a (kind, message) pair: a
// reconciler failure, an API error body.

#include <string>

#include "common/error.h"

namespace trellis::node {

[[noreturn]] inline void throw_error(ErrorKind kind, std::string message) {
  switch (kind) {
    case ErrorKind::kNotFound:
      throw NotFoundError(std::move(message));
    case ErrorKind::kInvalidArgument:
      throw InvalidArgumentError(std::move(message));
    case ErrorKind::kConflict:
      throw ConflictError(std::move(message));
    case ErrorKind::kUnavailable:
      throw UnavailableError(std::move(message));
    case ErrorKind::kInternal:
      break;
  }
  throw InternalError(std::move(message));
}

}  // namespace trellis::node
