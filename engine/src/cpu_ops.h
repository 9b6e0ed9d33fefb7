// Small CPU ops of the decoder layer (RMSNorm, RoPE, SwiGLU), shared by the backend and its tests.
#pragma once

#include <cmath>
#include <cstdint>

namespace gqa::cpu {

// y = x / sqrt(mean(x^2) + eps) * gamma, for `rows` rows of d values.
inline void rmsNorm(const float* x, const float* gamma, int64_t rows, int64_t d, double eps, float* y) {
#pragma omp parallel for schedule(static) if (rows * d > (1 << 18))
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * d;
        float* yr = y + r * d;
        double ss = 0.0;
        for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i]) * xr[i];
        const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
        for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * inv * gamma[i];
    }
}

// Rotates one head in place. Half-split pairs (x_i, x_{i+D/2}) by the angles whose cos/sin are given
// (D/2 values each): (a, b) -> (a cos - b sin, a sin + b cos).
inline void ropeRotate(float* x, int64_t head_dim, const float* cos_t, const float* sin_t) {
    const int64_t half = head_dim / 2;
    for (int64_t i = 0; i < half; ++i) {
        const float a = x[i], b = x[i + half];
        x[i] = a * cos_t[i] - b * sin_t[i];
        x[i + half] = a * sin_t[i] + b * cos_t[i];
    }
}

// cos/sin of pos * inv_freq[i] for the `pairs` RoPE pairs (ropeInverseFrequencies), computed in double.
inline void ropeAngles(int64_t pos, const double* inv_freq, int64_t pairs, float* cos_t, float* sin_t) {
    for (int64_t i = 0; i < pairs; ++i) {
        const double ang = static_cast<double>(pos) * inv_freq[i];
        cos_t[i] = static_cast<float>(std::cos(ang));
        sin_t[i] = static_cast<float>(std::sin(ang));
    }
}

// In place over rows of [gate | up] (2F values): gate <- silu(gate) * up.
inline void swiglu(float* gate_up, int64_t rows, int64_t ffn_dim) {
#pragma omp parallel for schedule(static) if (rows * ffn_dim > (1 << 18))
    for (int64_t n = 0; n < rows; ++n) {
        float* row = gate_up + n * 2 * ffn_dim;
        for (int64_t f = 0; f < ffn_dim; ++f) {
            const float g = row[f];
            row[f] = g / (1.0f + std::exp(-g)) * row[ffn_dim + f];
        }
    }
}

}  // namespace gqa::cpu
