// Helpers shared by the engine test suites (header-only, no Qt widgets).
#pragma once

#include <QtTest>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace gqa::test {

inline std::vector<float> randomVector(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// max |a - b| / (atol + rtol |b|); <= 1 means within tolerance.
template <class A, class B>
double worstRatio(const A& a, const B& b, double atol, double rtol) {
    double worst = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
        if (!std::isfinite(static_cast<double>(a[i]))) return INFINITY;
        worst = std::max(worst, d / (atol + rtol * std::fabs(static_cast<double>(b[i]))));
    }
    return worst;
}

template <class A, class B>
double maxAbsDiff(const A& a, const B& b) {
    double worst = 0.0;
    for (size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    return worst;
}

}  // namespace gqa::test
