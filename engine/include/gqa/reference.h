// Naive double-precision references: the independent ground truth for tests and `verify`.
#pragma once

#include <cstdint>
#include <vector>

#include "gqa/backend.h"
#include "gqa/model.h"

namespace gqa::ref {

// Same layouts as Backend::attention; inputs already in fp32 (16-bit values upcast). s.window > 0 applies the
// sliding window: query i sees i + Tk - Tq - window < j <= i + Tk - Tq.
void attention(const AttentionShape& s, const float* q, const float* k, const float* v, double* out, double* probs);

void rmsNorm(const double* x, const float* gamma, int64_t n, double eps, double* y);
// RoPE, half-split pairs (i, i + D/2), angle pos * inv_freq[i] (ropeInverseFrequencies), in place.
void rope(double* x, int64_t head_dim, int64_t pos, const std::vector<double>& inv_freq);
double silu(double x);
// A tensor's values as fp32 (16-bit and Q8_0 values decoded exactly).
std::vector<float> dequantize(const Tensor& t);

struct Forward {
    std::vector<double> hidden;  // (B, T, d) after the final norm
    std::vector<double> logits;  // (B, T, vocab) when asked for
    // With capture, per layer: K and V after RoPE as the cache stores them, (B, Hkv, T, D), and the causal
    // attention probabilities (B, Hq, T, T), zero outside the window.
    std::vector<std::vector<float>> k, v;
    std::vector<std::vector<double>> probs;
};
// Full decoder forward over a whole sequence (no cache), batch-major tokens (B, T), in double on the
// model's stored values. kv_dtype rounds K/V to the cache's storage, as the engine does. The model's
// per-layer sliding windows (config.windowOf) mask each layer's attention (a full recompute: no rolling cache here).
Forward forward(const Model& m, const std::vector<int32_t>& tokens, int64_t batch, int64_t T, DType kv_dtype,
                bool logits = false, bool capture = false);

}  // namespace gqa::ref
