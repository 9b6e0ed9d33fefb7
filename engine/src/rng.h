// Small deterministic generators (splitmix64): the same seed gives the same weights on every machine.
#pragma once

#include <cmath>
#include <cstdint>

namespace gqa {

inline uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

inline uint64_t mixSeed(uint64_t a, uint64_t b) {
    uint64_t s = a * 0x9e3779b97f4a7c15ull + b;
    return splitmix64(s);
}

class Rng {
public:
    explicit Rng(uint64_t seed) : m_state(seed) {}
    uint64_t next() { return splitmix64(m_state); }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
    double normal() {
        if (m_has_spare) {
            m_has_spare = false;
            return m_spare;
        }
        double u1 = uniform(), u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        const double r = std::sqrt(-2.0 * std::log(u1));
        m_spare = r * std::sin(2.0 * M_PI * u2);
        m_has_spare = true;
        return r * std::cos(2.0 * M_PI * u2);
    }

private:
    uint64_t m_state;
    double m_spare = 0.0;
    bool m_has_spare = false;
};

}  // namespace gqa
