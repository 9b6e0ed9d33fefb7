// Counted FLOPs and bytes per op, and the roofline prediction built from them.
#pragma once

#include <array>
#include <cstdint>

#include "gqa/backend.h"
#include "gqa/config.h"

namespace gqa {

struct OpCost {
    double flops = 0.0;  // floating-point operations (an FMA counts 2)
    double bytes = 0.0;  // minimum bytes moved through memory: inputs read once, outputs written once
};

// Score positions (i, j) a causal-or-not attention of q_len queries over kv_len keys evaluates; a sliding
// window (> 0, causal) keeps at most `window` keys per query.
int64_t attentionPairs(int64_t q_len, int64_t kv_len, bool causal, int64_t window = 0);
// Keys some query of the step sees (each read once per KV head): kv_len, or min(kv_len, q_len + window - 1).
int64_t attentionKeysRead(int64_t q_len, int64_t kv_len, int64_t window = 0);

// Costs of layer `layer` for one step: `batch` sequences, `q_len` new tokens each, attending over `kv_len`
// cached positions (including the new ones), within the layer's sliding window (cfg.windowOf) when it has one.
// weight_bytes_per_element: what the backend stores.
std::array<OpCost, kNumOps> layerOpCosts(const ModelConfig& cfg, int64_t layer, int64_t batch, int64_t q_len,
                                         int64_t kv_len, double weight_bytes_per_element);
// The same summed over layers 0 .. layers - 1 (each with its own window), with each op's roofline time summed
// layer by layer (a windowed layer's attention may be memory-bound where a full layer's is compute-bound).
struct ModelOpCosts {
    std::array<OpCost, kNumOps> cost{};
    std::array<double, kNumOps> roofline_ms{};  // 0 without ceilings
};
ModelOpCosts modelOpCosts(const ModelConfig& cfg, int64_t layers, int64_t batch, int64_t q_len, int64_t kv_len,
                          double weight_bytes_per_element, const Ceilings& ceilings);

// max(flops / gemm rate, bytes / bandwidth), in milliseconds.
double rooflineMs(const OpCost& c, const Ceilings& ceil);

}  // namespace gqa
