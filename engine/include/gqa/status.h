// Errors as values: nothing in the engine throws across its public API.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace gqa {

enum class ErrorCode {
    InvalidArgument,  // a config or input that can never work
    OutOfMemory,      // predicted or actual allocation failure
    Unavailable,      // a backend or device that is not present
    IoError,          // a file that cannot be read or written
    Corrupt,          // a file whose contents are malformed
    Cancelled,        // the caller asked to stop
    Internal,         // a bug or a failed library call
};

const char* errorCodeName(ErrorCode code);

struct Error {
    ErrorCode code = ErrorCode::Internal;
    std::string message;
};

// A Status is either ok or carries one readable Error.
class [[nodiscard]] Status {
public:
    Status() = default;
    Status(Error e) : m_error(std::move(e)), m_ok(false) {}  // NOLINT: implicit by design
    static Status ok() { return {}; }
    bool isOk() const { return m_ok; }
    explicit operator bool() const { return m_ok; }
    const Error& error() const { return m_error; }
    const std::string& message() const { return m_error.message; }
    ErrorCode code() const { return m_error.code; }

private:
    Error m_error;
    bool m_ok = true;
};

inline Error makeError(ErrorCode code, std::string message) {
    return Error{code, std::move(message)};
}

// Value or Error, like std::expected (C++23) which g++ 12 does not ship in C++20 mode.
template <class T>
class [[nodiscard]] Expected {
public:
    Expected(T value) : m_v(std::move(value)) {}  // NOLINT
    Expected(Error e) : m_v(std::move(e)) {}      // NOLINT
    Expected(Status s) : m_v(s.error()) {}        // NOLINT: only for failed statuses
    bool isOk() const { return std::holds_alternative<T>(m_v); }
    explicit operator bool() const { return isOk(); }
    T& value() & { return std::get<T>(m_v); }
    const T& value() const& { return std::get<T>(m_v); }
    T&& value() && { return std::get<T>(std::move(m_v)); }
    T* operator->() { return &std::get<T>(m_v); }
    const T* operator->() const { return &std::get<T>(m_v); }
    T& operator*() & { return std::get<T>(m_v); }
    const T& operator*() const& { return std::get<T>(m_v); }
    const Error& error() const { return std::get<Error>(m_v); }
    Status status() const { return isOk() ? Status::ok() : Status(error()); }

private:
    std::variant<T, Error> m_v;
};

}  // namespace gqa

// Propagate a failed Status / Expected to the caller.
#define GQA_TRY(expr)                                                \
    do {                                                             \
        ::gqa::Status gqa_try_status_ = (expr);                      \
        if (!gqa_try_status_.isOk()) return gqa_try_status_.error(); \
    } while (0)
