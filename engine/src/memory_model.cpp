#include "gqa/memory_model.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>

#include "checked_math.h"

namespace gqa {

namespace {

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

// Rows of W the CPU backend widens to fp32 per thread during a prefill GEMM (cpu_backend.cpp).
constexpr int64_t kPrefillTileRows = 128;

}  // namespace

int cpuWorkerThreads() {
    static const int n = std::max(1, omp_get_max_threads());
    return n;
}

int64_t kvCachePositions(const ModelConfig& c, int64_t layer, int64_t seq) {
    const int64_t w = c.windowOf(layer);
    return w > 0 ? std::min(seq, w) : seq;
}

MemoryEstimate estimateMemory(const ModelConfig& c, int64_t batch, int64_t seq) {
    // batch and seq come straight from the user (a context of 2^63 tokens is typeable): the counts that scale
    // with them saturate at INT64_MAX, so a request too large to represent reads as too large to fit instead
    // of wrapping to a small or negative number of bytes.
    MemoryEstimate m;
    const int64_t q = c.n_q_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
    const int64_t matrices = c.d_model * (q + 2 * kv) + q * c.d_model + 3 * c.d_model * c.ffn_dim;  // per layer
    const int64_t vectors = 2 * c.d_model + (c.qkv_bias ? q + 2 * kv : 0);                          // per layer
    const int64_t tables = (c.tied_embeddings ? 1 : 2) * c.vocab_size * c.d_model;
    m.param_count = c.n_layers * (matrices + vectors) + tables + c.d_model;
    m.weight_bytes = c.n_layers * (storageBytes(c.weight_dtype, matrices) + storageBytes(c.norm_dtype, vectors)) +
                     storageBytes(c.embed_dtype, tables) + storageBytes(c.norm_dtype, c.d_model);
    const int64_t kvb = static_cast<int64_t>(bytesPerElement(c.kv_dtype));
    m.kv_bytes_per_token = 2 * c.n_layers * kv * kvb;
    // A sliding window w makes a layer's cache a rolling buffer of min(seq, w) positions per sequence.
    bool rolling = false;
    for (const auto& [w, count] : c.windowCounts(c.n_layers)) {
        const int64_t n = w > 0 ? std::min(seq, w) : seq;
        m.kv_positions = std::max(m.kv_positions, n);
        m.kv_layer_positions = saturatingSum({m.kv_layer_positions, saturatingProduct({n, count})});
        rolling = rolling || n < seq;
    }
    m.kv_cache_bytes = saturatingProduct({2 * kv * kvb, batch, m.kv_layer_positions});
    // fp32 per prefill token: x, xn (d each), qkv ((Hq + 2 Hkv) D), attention output (Hq D), gate|up (2F);
    // one fp32 tile of kPrefillTileRows widest-input rows per worker thread, and one for packed activations.
    const int64_t per_token = 2 * c.d_model + (q + 2 * kv) + q + 2 * c.ffn_dim;
    const int64_t widest_in = std::max({c.d_model, q, c.ffn_dim});
    m.activation_bytes =
        saturatingSum({saturatingProduct({4 * per_token, batch, seq}), saturatingProduct({4 * c.vocab_size, batch}),
                       4 * kPrefillTileRows * widest_in * (cpuWorkerThreads() + 1)});
    // With a rolling buffer, a prefill chunk that wraps it attends over a linear copy of one layer's K and V.
    if (rolling)
        m.activation_bytes = saturatingSum({m.activation_bytes, saturatingProduct({2 * kv * kvb, batch, seq})});
    m.total_bytes = saturatingSum({m.weight_bytes, m.kv_cache_bytes, m.activation_bytes});
    return m;
}

FitReport predictFit(const ModelConfig& cfg, int64_t batch, int64_t seq, int64_t available_bytes, double headroom) {
    FitReport r;
    r.available_bytes = available_bytes;
    r.needed_bytes = estimateMemory(cfg, batch, seq).total_bytes;
    const auto budget = static_cast<int64_t>(static_cast<double>(available_bytes) * headroom);
    r.fits = r.needed_bytes <= budget;
    // Largest depth that fits with the same batch and sequence length.
    ModelConfig c = cfg;
    const int64_t lo = largestThatFits(cfg.n_layers, [&](int64_t layers) {
        c.n_layers = layers;
        return estimateMemory(c, batch, seq).total_bytes <= budget;
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

int64_t maxContextThatFits(const ModelConfig& cfg, int64_t batch, int64_t available_bytes) {
    const auto budget = static_cast<int64_t>(static_cast<double>(available_bytes) * 0.9);
    return largestThatFits(int64_t{1} << 31,
                           [&](int64_t seq) { return estimateMemory(cfg, batch, seq).total_bytes <= budget; });
}

int64_t maxBatchThatFits(const ModelConfig& cfg, int64_t seq, int64_t available_bytes) {
    const auto budget = static_cast<int64_t>(static_cast<double>(available_bytes) * 0.9);
    return largestThatFits(int64_t{1} << 24,
                           [&](int64_t batch) { return estimateMemory(cfg, batch, seq).total_bytes <= budget; });
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
