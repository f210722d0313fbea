// Result<T>: the value of an operation that can fail in an expected way (a bad file, a peer gone,
// a timeout). Bugs are not results: they are SG_CHECKs. See STYLE.md, "Errors".
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace sg {

/// What kind of failure an Error is, for callers that branch on it.
enum class ErrorCode {
  kInvalidArgument,     // the caller's input is wrong
  kNotFound,            // a named thing does not exist
  kIo,                  // the operating system refused (open, bind, read)
  kConfig,              // the configuration is invalid
  kTimeout,             // a deadline passed
  kUnavailable,         // a peer or service cannot be reached
  kFailedPrecondition,  // the state does not allow it (plugin already running)
  kNoSpace,             // a disk, a file size limit or a quota is full
  kPermissionDenied,    // the operating system or a peer refused our credentials or rights
  kInternal,            // something that should not happen; the message says what
};

/// The stable wire name of a code, such as "not_found".
const char* ErrorCodeName(ErrorCode code);

/// An expected failure: a code to branch on and a message with context, most specific first.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  /// Returns a copy whose message is prefixed with `context: `.
  Error Wrap(const std::string& context) const { return {code, context + ": " + message}; }
};

#define SG_CHECK(cond)                                                              \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (false)

/// Either a T or an Error. Access to the wrong alternative is a bug (SG_CHECK).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    SG_CHECK(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    SG_CHECK(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    SG_CHECK(has_value());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    SG_CHECK(!has_value());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

/// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    SG_CHECK(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

/// Shorthand for returning a failure: `return Fail(ErrorCode::kIo, "open " + path);`.
inline Error Fail(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace sg
