#pragma once
// The one error type of Trellis. Every failure that crosses a component boundary is an
// exception derived from trellis::Error, carrying a kind (the API maps kinds to HTTP
// statuses in one place) and a message naming the operation and the object.
// Components derive specific conditions from the kind classes below (for example
// bitseq::NoBitAvailableError is an UnavailableError), so callers can catch either the
// precise condition or the broad kind.

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace trellis {

enum class ErrorKind {
  kNotFound,         // the named object does not exist (HTTP 404)
  kInvalidArgument,  // the request is malformed or out of range (HTTP 400)
  kConflict,         // the request clashes with current state: name taken, in use (409)
  kUnavailable,      // a resource is exhausted or a peer/owner is unreachable (503)
  kInternal,         // a bug or an unexpected system failure (500)
};

// Stable lower-case names used in API bodies and logs: "not-found", "invalid-argument",
// "conflict", "unavailable", "internal".
constexpr std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNotFound:
      return "not-found";
    case ErrorKind::kInvalidArgument:
      return "invalid-argument";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "internal";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message)
      : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

class NotFoundError : public Error {
 public:
  explicit NotFoundError(std::string message) : Error(ErrorKind::kNotFound, std::move(message)) {}
};

class InvalidArgumentError : public Error {
 public:
  explicit InvalidArgumentError(std::string message)
      : Error(ErrorKind::kInvalidArgument, std::move(message)) {}
};

class ConflictError : public Error {
 public:
  explicit ConflictError(std::string message) : Error(ErrorKind::kConflict, std::move(message)) {}
};

class UnavailableError : public Error {
 public:
  explicit UnavailableError(std::string message)
      : Error(ErrorKind::kUnavailable, std::move(message)) {}
};

class InternalError : public Error {
 public:
  explicit InternalError(std::string message) : Error(ErrorKind::kInternal, std::move(message)) {}
};

// Raised when a serialized buffer (msgpack state, an event, a wire frame) cannot be decoded.
// Untrusted input is never a crash: decoders catch everything and throw this instead.
class CorruptDataError : public InvalidArgumentError {
 public:
  explicit CorruptDataError(std::string message) : InvalidArgumentError(std::move(message)) {}
};

// Throws the error class of a kind (NotFoundError for kNotFound, ...), so a caller can catch
// the class after an error crossed a boundary as a (kind, message) pair: a reconciler
// failure, an API error body.
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

}  // namespace trellis
