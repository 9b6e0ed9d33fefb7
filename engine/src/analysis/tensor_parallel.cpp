// What each GPU holds under tensor parallelism: the shard's configuration, then the one memory model on it.
#include <algorithm>

#include "gqa/analysis.h"
#include "gqa/memory_model.h"

namespace gqa {

namespace {
int64_t ceilDiv(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}
}  // namespace

TensorParallelPlan planTensorParallel(const ModelConfig& c, int64_t t, int64_t batch, int64_t seq,
                                      int64_t gpu_memory_bytes) {
    TensorParallelPlan p;
    p.degree = t;
    const std::string ts = std::to_string(t), nq = std::to_string(c.n_q_heads), nkv = std::to_string(c.n_kv_heads);
    if (t < 1 || t > 64) {
        p.reason = "the tensor-parallel degree must be between 1 and 64 (got " + ts + ")";
        return p;
    }
    if (c.n_q_heads % t != 0) {
        p.reason = "n_q_heads (" + nq + ") is not divisible by t = " + ts + ": the query heads cannot be split evenly";
        return p;
    }
    if (t <= c.n_kv_heads && c.n_kv_heads % t != 0) {
        p.reason = "n_kv_heads (" + nkv + ") is not divisible by t = " + ts + ": the KV heads cannot be split evenly";
        return p;
    }
    if (t > c.n_kv_heads && t % c.n_kv_heads != 0) {
        p.reason = "t = " + ts + " is not a multiple of n_kv_heads (" + nkv +
                   "): the KV heads cannot be replicated evenly over the GPUs";
        return p;
    }
    p.valid = true;
    p.q_heads_per_gpu = c.n_q_heads / t;
    p.kv_heads_per_gpu = std::max<int64_t>(1, c.n_kv_heads / t);
    p.kv_replication = std::max<int64_t>(1, t / c.n_kv_heads);
    // One GPU's shard as a model of its own: its heads, 1/t of the FFN and of the vocabulary (rounded up).
    ModelConfig s = c;
    s.n_q_heads = p.q_heads_per_gpu;
    s.n_kv_heads = p.kv_heads_per_gpu;
    s.ffn_dim = ceilDiv(c.ffn_dim, t);
    s.vocab_size = ceilDiv(c.vocab_size, t);
    p.shard = s;
    const MemoryEstimate e = estimateMemory(s, batch, seq);
    p.kv_cache_bytes_per_gpu = e.kv_cache_bytes;
    p.kv_bytes_per_token_per_gpu = e.kv_bytes_per_token;
    p.weight_bytes_per_gpu = e.weight_bytes;
    p.total_bytes_per_gpu = e.total_bytes;
    p.max_context_per_gpu = gpu_memory_bytes > 0 ? maxContextThatFits(s, batch, gpu_memory_bytes) : 0;
    return p;
}

std::vector<TensorParallelPlan> tensorParallelSweep(const ModelConfig& c, int64_t batch, int64_t seq,
                                                    int64_t gpu_memory_bytes, int64_t max_degree) {
    std::vector<TensorParallelPlan> out;
    for (int64_t t = 1; t <= std::min<int64_t>(64, max_degree); ++t)
        out.push_back(planTensorParallel(c, t, batch, seq, gpu_memory_bytes));
    return out;
}

}  // namespace gqa
