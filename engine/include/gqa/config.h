// Model and run configuration, with validation that explains what is wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gqa/dtype.h"
#include "gqa/status.h"

namespace gqa {

// A LLaMA/DeepSeek-style decoder: pre-norm RMSNorm, RoPE (half-split pairs, as in the HF LLaMA code),
// SwiGLU FFN, grouped-query attention, no biases.
struct ModelConfig {
    std::string name = "custom";
    int64_t d_model = 0;
    int64_t n_layers = 0;
    int64_t n_q_heads = 0;
    int64_t n_kv_heads = 0;
    int64_t head_dim = 0;
    int64_t ffn_dim = 0;
    int64_t vocab_size = 0;
    double rope_theta = 10000.0;
    double norm_eps = 1e-5;
    int64_t max_seq = 0;             // the model's context length (max_position_embeddings)
    bool tied_embeddings = false;    // LM head shares the embedding table (memory model only)
    DType dtype = DType::BF16;       // storage dtype of weights and the KV cache
    std::string source;              // where the numbers come from (published config)

    // Readable error for the first problem found, e.g.
    // "n_q_heads (12) is not a multiple of n_kv_heads (5)".
    Status validate() const;

    int64_t groupSize() const { return n_kv_heads > 0 ? n_q_heads / n_kv_heads : 0; }
    // "MHA", "MQA" or "GQA (g = 8)".
    std::string attentionKind() const;
    // KV-head counts that divide n_q_heads, ascending: the valid groupings of this model.
    std::vector<int64_t> validKvHeadCounts() const;
    // K/V projection parameters of one layer: 2 * d_model * n_kv_heads * head_dim.
    int64_t kvParamsPerLayer() const { return 2 * d_model * n_kv_heads * head_dim; }
};

// Fields a user may override on top of a preset; empty means keep the preset's value.
struct ConfigOverrides {
    std::optional<int64_t> d_model, n_layers, n_q_heads, n_kv_heads, head_dim, ffn_dim, vocab_size, max_seq;
    std::optional<double> rope_theta, norm_eps;
    std::optional<DType> dtype;
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
