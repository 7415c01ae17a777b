// custos::Status and custos::Result<T>: the one error type of the project.
//
// A Status is either OK or carries a canonical code and a message. Errors
// gather context as they travel up:
//
//   CUSTOS_ASSIGN_OR_RETURN(auto bytes, ReadFile(path));
//   CUSTOS_RETURN_IF_ERROR(spool.Sync());
//   return status.WithContext("opening spool " + dir);
//
// Errors from untrusted input and the environment are Status values; broken
// invariants are bugs and abort. Status and Result are values: copy them
// freely; they are not synchronised (one owner at a time).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace custos {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's (or an untrusted peer's) input is bad
  kNotFound,            // a named thing does not exist
  kAlreadyExists,       // a named thing exists and must not
  kPermissionDenied,    // refused: unknown key, wrong identity, bad mode
  kUnavailable,         // transient: try again later
  kResourceExhausted,   // a bound (queue, spool, size) was hit
  kDataLoss,            // corruption or unrecoverable loss
  kFailedPrecondition,  // the system is not in a state to do this
  kInternal,            // an invariant broke (a bug)
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy with "context: " prefixed to the message; OK stays OK.
  Status WithContext(std::string_view context) const;

  // "INVALID_ARGUMENT: message" or "OK".
  std::string ToString() const;

  bool operator==(const Status&) const = default;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A Status built from errno of the failing call: "what: strerror(errno)".
Status ErrnoStatus(std::string_view what, int err);

// Result<T> holds a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace custos

#define CUSTOS_CONCAT_INNER(a, b) a##b
#define CUSTOS_CONCAT(a, b) CUSTOS_CONCAT_INNER(a, b)

#define CUSTOS_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::custos::Status _custos_status = (expr);     \
    if (!_custos_status.ok()) return _custos_status; \
  } while (0)

#define CUSTOS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#define CUSTOS_ASSIGN_OR_RETURN(lhs, expr) \
  CUSTOS_ASSIGN_OR_RETURN_IMPL(CUSTOS_CONCAT(_custos_result_, __LINE__), lhs, expr)
