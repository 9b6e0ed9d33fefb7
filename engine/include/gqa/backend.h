// The one interface every compute backend implements. The CPU backend is always built; the CUDA backend
// is a separately loaded module (libgqa_cuda.so) found at run time.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gqa/config.h"
#include "gqa/model.h"
#include "gqa/status.h"
#include "gqa/timing.h"

namespace gqa {

// q: (B, Hq, Tq, D) fp32; k, v: (B, Hkv, Tk, D) in kv_dtype; out: (B, Hq, Tq, D) fp32;
// probs (optional): (B, Hq, Tq, Tk) fp32. Scale 1/sqrt(D). Causal masks bottom-right aligned:
// query i sees keys j <= i + Tk - Tq. Query head h reads KV head h / (Hq / Hkv). A sliding window w > 0
// (causal only) also hides keys w or more positions back: query i sees i + Tk - Tq - w < j <= i + Tk - Tq.
struct AttentionShape {
    int64_t batch = 1, n_q_heads = 1, n_kv_heads = 1, q_len = 1, kv_len = 1, head_dim = 64;
    bool causal = false;
    int64_t window = 0;  // 0 = none
    Status validate() const;
    int64_t groupSize() const { return n_q_heads / n_kv_heads; }
};

// Per-op timing slots of one layer.
enum class Op { Norm = 0, Qkv, Rope, Attention, OProj, Ffn, Count };
inline constexpr int kNumOps = static_cast<int>(Op::Count);
const char* opName(Op op);                    // "norm", "qkv", "rope", "attention", "o_proj", "ffn"
using OpTimes = std::array<double, kNumOps>;  // milliseconds

struct MapRequest {
    std::vector<int64_t> layers;  // layers whose attention probabilities are materialized
    std::vector<int64_t> heads;   // query heads to keep; empty = all
    bool empty() const { return layers.empty(); }
};

// Attention probabilities of one layer for one step.
struct LayerMaps {
    int64_t layer = 0;
    std::vector<int64_t> heads;  // query heads held, in order
    int64_t batch = 0, q_len = 0, kv_len = 0;
    std::vector<float> probs;  // (batch, heads.size(), q_len, kv_len)
    float at(int64_t b, int64_t hi, int64_t i, int64_t j) const {
        return probs[static_cast<size_t>(((b * static_cast<int64_t>(heads.size()) + hi) * q_len + i) * kv_len + j)];
    }
};

// Which positions' logits (LM-head outputs) a step computes.
enum class LogitsMode { None, Last, All };

struct StepRequest {
    MapRequest maps;
    LogitsMode logits = LogitsMode::None;
    bool capture_layers = false;                  // keep per-layer attention outputs and hidden states
    const std::atomic<bool>* cancel = nullptr;    // checked between layers
    std::atomic<int64_t>* layers_done = nullptr;  // incremented after each layer
};

struct StepOutput {
    std::vector<float> hidden;  // (B, Tq, d_model) after the final norm
    // Logits: (B, vocab) of each sequence's last position (LogitsMode::Last) or (B, Tq, vocab) (All).
    std::vector<float> logits;
    double lm_head_ms = 0.0;
    std::vector<LayerMaps> maps;
    std::vector<OpTimes> layer_ms;  // per layer
    double final_norm_ms = 0.0;
    double total_ms = 0.0;
    // With capture_layers: per layer, attention output before O-proj (B, Tq, Hq*D) and residual
    // stream after the layer (B, Tq, d_model).
    std::vector<std::vector<float>> layer_attn_out;
    std::vector<std::vector<float>> layer_hidden;
};

// What a backend really allocated (bytes).
struct Allocation {
    int64_t weight_bytes = 0;  // tensors read (mapped or owned; shared with the Model, not copied)
    int64_t kv_cache_bytes = 0;
    int64_t activation_bytes = 0;
    int64_t total() const { return weight_bytes + kv_cache_bytes + activation_bytes; }
};

// A model resident on a backend, with its KV cache for `batch` sequences of up to `max_seq` tokens.
class ModelInstance {
public:
    virtual ~ModelInstance() = default;
    // tokens: (B, T) row-major. Appends T positions to the cache.
    virtual Status prefill(const int32_t* tokens, int64_t T, const StepRequest& req, StepOutput& out) = 0;
    // tokens: (B). Appends one position.
    virtual Status decode(const int32_t* tokens, const StepRequest& req, StepOutput& out) = 0;
    virtual int64_t position() const = 0;
    virtual void reset() = 0;  // empties the cache
    // K and V of one layer as fp32, (B, Hkv, n, D) each, oldest position first, for the n positions the cache
    // still holds: n = position() without a sliding window; with a window w (config.windowOf(layer)) the cache is
    // a rolling buffer of min(max_seq, w) positions, so n = min(position(), min(max_seq, w)) and the rows are
    // positions position() - n .. position() - 1 (older ones were overwritten).
    virtual Status readKvCache(int64_t layer, std::vector<float>& k, std::vector<float>& v) const = 0;
    virtual Allocation allocation() const = 0;
};

struct DeviceInfo {
    std::string backend;  // "cpu" / "cuda"
    std::string name;     // "AMD EPYC (2 threads)" / "NVIDIA H100 80GB HBM3"
    int64_t total_bytes = 0;
    int64_t available_bytes = 0;
    int threads = 1;
};

// The roofline's two ceilings, measured on the device.
struct Ceilings {
    double mem_bw_bytes_per_s = 0.0;  // streaming read bandwidth
    double gemm_flops_per_s = 0.0;    // large fp32 (CPU) / bf16 (CUDA) GEMM rate
    std::string note;                 // how they were measured
    // When: "2026-12-01 21:40 UTC"; measured_now is false when they come from the engine's cache.
    std::string measured_on;
    bool measured_now = false;
    // "measured now" or "measured on 2026-12-01 21:40 UTC": what every view says next to a roofline.
    std::string provenance() const { return measured_now ? "measured now" : "measured on " + measured_on; }
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;
    virtual DeviceInfo deviceInfo() const = 0;
    // Instantiates `m` with a KV cache for `batch` sequences of up to `max_seq` tokens. Weights are read
    // in their stored dtype (the CPU reads them in place; the CUDA backend uploads them as they are), so the
    // memory needed is the one estimateMemory() predicts. Refused before allocating when it would not fit.
    virtual Expected<std::unique_ptr<ModelInstance>> createModel(const Model& m, int64_t batch, int64_t max_seq) = 0;
    // Host pointers in, host pointers out (see AttentionShape for layouts).
    virtual Status attention(const AttentionShape& s, const float* q, const void* k, const void* v, DType kv_dtype,
                             float* out, float* probs) = 0;
    // The attention kernel alone on inputs resident on the device: median and spread of the timed repeats, run
    // after the policy's warm-up as the policy says (fixed count, or adaptive until the median is stable).
    // The CPU backend rotates through enough copies of K/V that they come from DRAM, not cache.
    virtual Expected<TimingStats> timeAttentionStats(const AttentionShape& s, DType kv_dtype,
                                                     const RepeatPolicy& policy) = 0;
    // The same over exactly `iterations` (>= 1) timed repeats after two warm-up runs.
    Expected<TimingStats> timeAttention(const AttentionShape& s, DType kv_dtype, int iterations) {
        if (iterations < 1)
            return makeError(ErrorCode::InvalidArgument,
                             "timeAttention: iterations must be at least 1 (got " + std::to_string(iterations) + ")");
        RepeatPolicy p;
        p.repeats = iterations;
        p.warmup = 2;
        return timeAttentionStats(s, kv_dtype, p);
    }
    virtual Expected<Ceilings> measureCeilings() = 0;
};

struct BackendAvailability {
    std::string name;
    bool available = false;
    std::string device;  // device name when available
    std::string reason;  // why not, when unavailable
};

std::vector<BackendAvailability> probeBackends();  // always lists "cpu" and "cuda"
// name: "cpu", "cuda" or "auto" (CUDA when available, else CPU).
Expected<std::unique_ptr<Backend>> createBackend(const std::string& name);
std::unique_ptr<Backend> createCpuBackend();

}  // namespace gqa
