// The one memory model: what a model needs at a batch and context, computed from its config alone, and what
// fits. Backends allocate exactly what it predicts; the CLI and the GUI show its numbers.
#pragma once

#include <cstdint>
#include <string>

#include "gqa/config.h"

namespace gqa {

struct MemoryEstimate {
    // Parameters of the whole model (embedding, layers, final norm, LM head unless tied).
    int64_t param_count = 0;
    // Weights as stored (matrices in weight_dtype, embedding/LM head in embed_dtype, norms and biases in
    // norm_dtype): what the checkpoint occupies, and what a backend holds (no compute copies).
    int64_t weight_bytes = 0;
    // 2 * layers * batch * min(seq, w) * n_kv * head_dim * bytes_per_element(kv_dtype), w = sliding_window
    // (seq itself without one): with a window the cache is a rolling buffer of w positions per sequence. With
    // per-layer windows w_l: 2 * batch * n_kv * head_dim * bytes * sum over layers of min(seq, w_l).
    int64_t kv_cache_bytes = 0;
    int64_t kv_positions = 0;        // positions per sequence the largest layer cache holds: min(seq, w) or seq
    int64_t kv_layer_positions = 0;  // summed over the layers: sum of min(seq, w_l)
    // KV bytes one token adds across all layers (batch 1): 2 * layers * n_kv * head_dim * bytes.
    int64_t kv_bytes_per_token = 0;
    // fp32 working buffers of a prefill of `batch x seq` tokens, the last position's logits of every
    // sequence, and the per-thread weight tiles of the prefill GEMMs.
    int64_t activation_bytes = 0;
    int64_t total_bytes = 0;
};

// Positions per sequence layer l's KV cache holds for a context of seq tokens: min(seq, window of l) or seq.
int64_t kvCachePositions(const ModelConfig& cfg, int64_t layer, int64_t seq);

// batch and seq are the cache capacity (prompt + decode tokens).
MemoryEstimate estimateMemory(const ModelConfig& cfg, int64_t batch, int64_t seq);

struct FitReport {
    bool fits = false;
    int64_t needed_bytes = 0;
    int64_t available_bytes = 0;
    std::string message;              // why not, in words
    int64_t max_layers_that_fit = 0;  // with the same batch and seq
};

// Predicted before anything is allocated or mapped: estimateMemory(...).total_bytes against `headroom` of
// `available_bytes`.
FitReport predictFit(const ModelConfig& cfg, int64_t batch, int64_t seq, int64_t available_bytes,
                     double headroom = 0.9);

// Longest context (batch fixed) and largest batch (seq fixed) whose total fits in `available_bytes`.
int64_t maxContextThatFits(const ModelConfig& cfg, int64_t batch, int64_t available_bytes);
int64_t maxBatchThatFits(const ModelConfig& cfg, int64_t seq, int64_t available_bytes);

// Threads the CPU backend runs (its prefill tiles are per thread); set once from omp_get_max_threads().
int cpuWorkerThreads();

std::string formatBytes(int64_t bytes);  // "1.50 GiB"

}  // namespace gqa
