// Model and run configuration, with validation that explains what is wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gqa/dtype.h"
#include "gqa/status.h"

namespace gqa {

// RoPE frequency scaling (Hugging Face `rope_scaling`): none, "linear" (every frequency / factor) or
// "llama3" (Llama 3.1: low frequencies / factor, high ones kept, a smooth blend between).
enum class RopeScaling { None, Linear, Llama3 };
struct RopeScalingParams {
    RopeScaling type = RopeScaling::None;
    double factor = 1.0;
    double low_freq_factor = 1.0;          // llama3
    double high_freq_factor = 4.0;         // llama3
    int64_t original_max_position = 8192;  // llama3: original_max_position_embeddings
};

// A LLaMA/DeepSeek/Mistral/Qwen2-style decoder: pre-norm RMSNorm, RoPE (half-split pairs, as in the HF
// LLaMA code), SwiGLU FFN, grouped-query attention, optional q/k/v biases (Qwen2).
struct ModelConfig {
    std::string name = "custom";
    std::string architecture = "LlamaForCausalLM";  // HF architectures[0]; GGUF llama -> LlamaForCausalLM
    int64_t d_model = 0;
    int64_t n_layers = 0;
    int64_t n_q_heads = 0;
    int64_t n_kv_heads = 0;
    int64_t head_dim = 0;
    int64_t ffn_dim = 0;
    int64_t vocab_size = 0;
    double rope_theta = 10000.0;
    RopeScalingParams rope_scaling;
    double norm_eps = 1e-5;
    int64_t max_seq = 0;           // the model's context length (max_position_embeddings)
    bool tied_embeddings = false;  // LM head shares the embedding table
    bool qkv_bias = false;         // q/k/v projections carry biases (Qwen2)
    int64_t sliding_window = 0;    // 0 = none; w: query i sees keys i - w < j <= i, KV cache of w positions
    // Per-layer windows (0 = full attention), repeated over the layers: layer l uses entry l % size. Empty: every
    // layer uses sliding_window. From config.json `layer_types` / Qwen2's `max_window_layers`, GGUF
    // `sliding_window_pattern`, or set by the user; windowOf() is the one place that reads both fields.
    std::vector<int64_t> layer_windows;
    int32_t bos_token_id = -1;  // -1 = none
    std::vector<int32_t> eos_token_ids;
    DType weight_dtype = DType::BF16;  // storage of the layers' weight matrices (F32, F16, BF16 or Q8_0)
    DType embed_dtype = DType::BF16;   // storage of the embedding table and LM head
    DType norm_dtype = DType::F32;     // storage of the norm gains and q/k/v biases (F32, F16 or BF16)
    DType kv_dtype = DType::BF16;      // storage of the KV cache (F32, F16 or BF16)
    std::string source;                // where the numbers come from (published config or file)

    // Readable error for the first problem found, e.g.
    // "n_q_heads (12) is not a multiple of n_kv_heads (5)".
    Status validate() const;

    int64_t groupSize() const { return n_kv_heads > 0 ? n_q_heads / n_kv_heads : 0; }
    // The sliding window of layer l (0 = none).
    int64_t windowOf(int64_t layer) const {
        if (layer_windows.empty()) return sliding_window;
        return layer_windows[static_cast<size_t>(layer % static_cast<int64_t>(layer_windows.size()))];
    }
    // The distinct windows of the first `layers` layers with how many layers have each, (window, count), in
    // O(pattern length) whatever the depth.
    std::vector<std::pair<int64_t, int64_t>> windowCounts(int64_t layers) const;
    // Whether any of the first `layers` layers (all when <= 0) has a window.
    bool hasWindow(int64_t layers = 0) const;
    // "none", "4096" (every layer), or "4096 on 14 of 28 layers" / "4096 or 1024 on 20 of 28 layers".
    std::string windowText() const;
    // "MHA", "MQA" or "GQA (g = 8)".
    std::string attentionKind() const;
    // KV-head counts that divide n_q_heads, ascending: the valid groupings of this model.
    std::vector<int64_t> validKvHeadCounts() const;
    // K/V projection parameters of one layer: 2 * d_model * n_kv_heads * head_dim.
    int64_t kvParamsPerLayer() const { return 2 * d_model * n_kv_heads * head_dim; }
};

// RoPE inverse frequencies of the D/2 rotation pairs, theta^(-2i/D), with config.rope_scaling applied.
std::vector<double> ropeInverseFrequencies(const ModelConfig& cfg);
// "none", "linear x4", "llama3 x8".
std::string ropeScalingText(const RopeScalingParams& r);

// Fields a user may override on top of a preset; empty means keep the preset's value.
struct ConfigOverrides {
    std::optional<int64_t> d_model, n_layers, n_q_heads, n_kv_heads, head_dim, ffn_dim, vocab_size, max_seq;
    std::optional<double> rope_theta, norm_eps;
    std::optional<DType> weight_dtype, kv_dtype;
};

ModelConfig applyOverrides(ModelConfig base, const ConfigOverrides& o);

// Synthetic weights: "structured" builds heads with documented attention patterns, "random" is plain
// scaled Gaussian weights.
enum class WeightsMode { Structured, Random };
const char* weightsModeName(WeightsMode m);

// The shape of one run: batch of prompts, prompt length, decode steps.
struct RunShape {
    int64_t batch = 1;
    int64_t prompt_len = 0;
    int64_t decode_steps = 0;
    int64_t totalTokens() const { return prompt_len + decode_steps; }
    Status validate(const ModelConfig& cfg) const;
};

}  // namespace gqa
