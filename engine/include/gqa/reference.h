// Naive double-precision references: the independent ground truth for tests and `verify`.
#pragma once

#include <cstdint>
#include <vector>

#include "gqa/backend.h"
#include "gqa/weights.h"

namespace gqa::ref {

// Same layouts as Backend::attention; inputs already in fp32 (16-bit values upcast).
void attention(const AttentionShape& s, const float* q, const float* k, const float* v, double* out, double* probs);

void rmsNorm(const double* x, const float* gamma, int64_t n, double eps, double* y);
// RoPE, half-split pairs (i, i + D/2), angle pos * theta^(-2i/D), in place.
void rope(double* x, int64_t head_dim, int64_t pos, double theta);
double silu(double x);

// Full decoder forward over a whole sequence (no cache), batch-major tokens (B, T).
// Returns final-normed hidden (B, T, d). kv_dtype rounds K/V to the cache's storage, as the engine does.
std::vector<double> forward(const ModelWeights& w, const std::vector<int32_t>& tokens, int64_t batch, int64_t T,
                            DType kv_dtype);

}  // namespace gqa::ref
