// Overflow-checked products for byte counts.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>

namespace gqa {

inline std::optional<int64_t> checkedProduct(std::initializer_list<int64_t> factors) {
    int64_t acc = 1;
    for (int64_t f : factors) {
        if (f < 0) return std::nullopt;
        if (__builtin_mul_overflow(acc, f, &acc)) return std::nullopt;
    }
    return acc;
}

inline std::optional<int64_t> checkedSum(std::initializer_list<std::optional<int64_t>> terms) {
    int64_t acc = 0;
    for (const auto& t : terms) {
        if (!t) return std::nullopt;
        if (__builtin_add_overflow(acc, *t, &acc)) return std::nullopt;
    }
    return acc;
}

// Non-negative factors / terms, saturating at INT64_MAX: sizes too large to represent stay too large.
inline int64_t saturatingProduct(std::initializer_list<int64_t> factors) {
    const auto p = checkedProduct(factors);
    return p ? *p : std::numeric_limits<int64_t>::max();
}
inline int64_t saturatingSum(std::initializer_list<int64_t> terms) {
    int64_t acc = 0;
    for (int64_t t : terms)
        if (t < 0 || __builtin_add_overflow(acc, t, &acc)) return std::numeric_limits<int64_t>::max();
    return acc;
}

}  // namespace gqa
