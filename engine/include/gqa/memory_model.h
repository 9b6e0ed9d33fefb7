// Analytic memory model: no allocation needed, any preset at any batch and context length.
#pragma once

#include <cstdint>
#include <string>

#include "gqa/config.h"
#include "gqa/weights.h"

namespace gqa {

struct MemoryEstimate {
    // Parameters of the whole model (embedding, layers, final norm, LM head unless tied).
    int64_t param_count = 0;
    // Weights in the storage dtype: what the published model occupies.
    int64_t weight_bytes = 0;
    // 2 * layers * batch * seq * n_kv * head_dim * bytes_per_element.
    int64_t kv_cache_bytes = 0;
    // KV bytes one token adds across all layers (batch 1): 2 * layers * n_kv * head_dim * bytes.
    int64_t kv_bytes_per_token = 0;
    // Peak fp32 working buffers of a prefill of `batch x seq` tokens (what the engine allocates).
    int64_t activation_bytes = 0;
    int64_t total_bytes = 0;
};

// batch and seq are the cache capacity (prompt + decode tokens).
MemoryEstimate estimateMemory(const ModelConfig& cfg, int64_t batch, int64_t seq);

// Bytes a backend actually needs to hold weights: the CPU backend keeps an fp32 compute copy
// (values rounded to the storage dtype); the CUDA backend stores the storage dtype.
// The backend holds a synthetic embedding of `vocab_rows` rows and no LM head.
int64_t backendWeightBytes(const ModelConfig& cfg, bool fp32_compute_copy, int64_t vocab_rows = kDefaultSyntheticVocab);

struct FitReport {
    bool fits = false;
    int64_t needed_bytes = 0;
    int64_t available_bytes = 0;
    std::string message;  // why not, in words
    int64_t max_layers_that_fit = 0;  // with the same batch and seq
};

// Predicted before anything is allocated: backend weights + KV cache + activations against
// `available_bytes` (plus one fp32 host staging copy of the weights when `count_staging_copy`). headroom: fraction of available memory we allow ourselves.
FitReport predictFit(const ModelConfig& cfg, int64_t batch, int64_t seq, int64_t available_bytes,
                     bool fp32_compute_copy, double headroom = 0.9, bool count_staging_copy = false);

// Longest context (batch fixed) and largest batch (seq fixed) whose total fits in `available_bytes`.
int64_t maxContextThatFits(const ModelConfig& cfg, int64_t batch, int64_t available_bytes, bool fp32_compute_copy);
int64_t maxBatchThatFits(const ModelConfig& cfg, int64_t seq, int64_t available_bytes, bool fp32_compute_copy);

std::string formatBytes(int64_t bytes);  // "1.50 GiB"

}  // namespace gqa
