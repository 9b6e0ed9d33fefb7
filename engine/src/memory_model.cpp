#include "gqa/memory_model.h"

#include <algorithm>
#include <cstdio>

namespace gqa {

namespace {

int64_t layerParams(const ModelConfig& c) {
    const int64_t qkv = c.d_model * (c.n_q_heads + 2 * c.n_kv_heads) * c.head_dim;
    const int64_t o = c.n_q_heads * c.head_dim * c.d_model;
    const int64_t ffn = 3 * c.d_model * c.ffn_dim;
    return qkv + o + ffn + 2 * c.d_model;  // + the two RMSNorm gains
}

// fp32 buffers the engine allocates for a prefill of `tokens` = batch * seq positions:
// x, xn (d each), qkv ((Hq + 2 Hkv) D), attention output (Hq D), gate|up (2 F).
int64_t activationBytes(const ModelConfig& c, int64_t tokens) {
    const int64_t per_token =
        2 * c.d_model + (c.n_q_heads + 2 * c.n_kv_heads) * c.head_dim + c.n_q_heads * c.head_dim + 2 * c.ffn_dim;
    return 4 * tokens * per_token;
}

int64_t totalNeeded(const ModelConfig& cfg, int64_t batch, int64_t seq, bool fp32_copy, bool staging) {
    const MemoryEstimate m = estimateMemory(cfg, batch, seq);
    int64_t w = backendWeightBytes(cfg, fp32_copy);
    if (staging) w += backendWeightBytes(cfg, true);
    return w + m.kv_cache_bytes + m.activation_bytes;
}

// Largest n in [1, hi] with fits(n), or 0 when not even 1 fits; fits must be monotone (true then false).
template <class Fits>
int64_t largestThatFits(int64_t hi, Fits fits) {
    if (!fits(1)) return 0;
    int64_t lo = 1;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo + 1) / 2;
        if (fits(mid))
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

}  // namespace

MemoryEstimate estimateMemory(const ModelConfig& c, int64_t batch, int64_t seq) {
    MemoryEstimate m;
    const int64_t b = static_cast<int64_t>(bytesPerElement(c.dtype));
    const int64_t embed = c.vocab_size * c.d_model;
    m.param_count = embed + c.n_layers * layerParams(c) + c.d_model + (c.tied_embeddings ? 0 : embed);
    m.weight_bytes = m.param_count * b;
    m.kv_bytes_per_token = 2 * c.n_layers * c.n_kv_heads * c.head_dim * b;
    m.kv_cache_bytes = 2 * c.n_layers * batch * seq * c.n_kv_heads * c.head_dim * b;
    m.activation_bytes = activationBytes(c, batch * seq);
    m.total_bytes = m.weight_bytes + m.kv_cache_bytes + m.activation_bytes;
    return m;
}

int64_t backendWeightBytes(const ModelConfig& c, bool fp32_compute_copy, int64_t vocab_rows) {
    const int64_t b = fp32_compute_copy ? 4 : static_cast<int64_t>(bytesPerElement(c.dtype));
    const int64_t rows = std::min(vocab_rows, c.vocab_size);
    return (rows * c.d_model + c.n_layers * layerParams(c) + c.d_model) * b;
}

FitReport predictFit(const ModelConfig& cfg, int64_t batch, int64_t seq, int64_t available_bytes,
                     bool fp32_compute_copy, double headroom, bool count_staging_copy) {
    FitReport r;
    r.available_bytes = available_bytes;
    r.needed_bytes = totalNeeded(cfg, batch, seq, fp32_compute_copy, count_staging_copy);
    const auto budget = static_cast<int64_t>(static_cast<double>(available_bytes) * headroom);
    r.fits = r.needed_bytes <= budget;
    // Largest depth that fits with the same batch and sequence length.
    ModelConfig c = cfg;
    const int64_t lo = largestThatFits(cfg.n_layers, [&](int64_t layers) {
        c.n_layers = layers;
        return totalNeeded(c, batch, seq, fp32_compute_copy, count_staging_copy) <= budget;
    });
    r.max_layers_that_fit = lo;
    if (!r.fits) {
        r.message = "needs " + formatBytes(r.needed_bytes) + " (weights, KV cache and activations of " +
                    std::to_string(cfg.n_layers) + " layers, batch " + std::to_string(batch) + ", " +
                    std::to_string(seq) + " tokens) but only " + formatBytes(budget) + " of " +
                    formatBytes(available_bytes) + " may be used";
        if (lo > 0) r.message += "; " + std::to_string(lo) + " layers would fit";
    }
    return r;
}


int64_t maxContextThatFits(const ModelConfig& cfg, int64_t batch, int64_t available_bytes, bool fp32_copy) {
    const auto budget = static_cast<int64_t>(static_cast<double>(available_bytes) * 0.9);
    return largestThatFits(int64_t{1} << 31,
                           [&](int64_t seq) { return totalNeeded(cfg, batch, seq, fp32_copy, false) <= budget; });
}

int64_t maxBatchThatFits(const ModelConfig& cfg, int64_t seq, int64_t available_bytes, bool fp32_copy) {
    const auto budget = static_cast<int64_t>(static_cast<double>(available_bytes) * 0.9);
    return largestThatFits(int64_t{1} << 24,
                           [&](int64_t batch) { return totalNeeded(cfg, batch, seq, fp32_copy, false) <= budget; });
}

std::string formatBytes(int64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
    else
        std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
    return buf;
}

}  // namespace gqa
