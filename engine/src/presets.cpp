// Published model shapes. Every number below was checked against the config.json the model's authors
// published on the Hugging Face Hub (cited per preset). Biases (Qwen2's QKV bias) and RoPE scaling are not
// set in the presets; Mistral's sliding window is.
#include "gqa/presets.h"

#include <algorithm>

namespace gqa {

namespace {

ModelConfig make(const char* name, int64_t layers, int64_t d, int64_t nq, int64_t nkv, int64_t hd, int64_t ffn,
                 int64_t vocab, double theta, double eps, int64_t max_seq, bool tied, const char* source) {
    ModelConfig c;
    c.name = name;
    c.n_layers = layers;
    c.d_model = d;
    c.n_q_heads = nq;
    c.n_kv_heads = nkv;
    c.head_dim = hd;
    c.ffn_dim = ffn;
    c.vocab_size = vocab;
    c.rope_theta = theta;
    c.norm_eps = eps;
    c.max_seq = max_seq;
    c.tied_embeddings = tied;
    c.weight_dtype = DType::BF16;
    c.embed_dtype = DType::BF16;
    c.kv_dtype = DType::BF16;
    c.bos_token_id = 0;  // synthetic prompts start with token 0
    c.source = source;
    return c;
}

const std::vector<ModelConfig>& all() {
    static const std::vector<ModelConfig> presets = {
        // Not a published model: 8 query heads in 2 KV groups (g = 4), small enough that prefill + decode
        // of 64 + 16 tokens takes a few milliseconds on 2 CPU cores.
        make("teaching", 4, 256, 8, 2, 32, 768, 4096, 10000.0, 1e-5, 1024, false,
             "GQA Lab teaching model (not a published model)"),
        // deepseek-ai/deepseek-llm-7b-base config.json: 30 layers, hidden 4096, 32 heads, 32 KV heads (MHA),
        // intermediate 11008, vocab 102400, rope_theta 10000, rms_norm_eps 1e-6, max_position_embeddings 4096.
        make("deepseek-llm-7b", 30, 4096, 32, 32, 128, 11008, 102400, 10000.0, 1e-6, 4096, false,
             "deepseek-ai/deepseek-llm-7b-base config.json"),
        // deepseek-ai/deepseek-llm-67b-base config.json: 95 layers, hidden 8192, 64 heads, 8 KV heads,
        // intermediate 22016, vocab 102400, rope_theta 10000, rms_norm_eps 1e-6, max_position_embeddings 4096.
        make("deepseek-llm-67b", 95, 8192, 64, 8, 128, 22016, 102400, 10000.0, 1e-6, 4096, false,
             "deepseek-ai/deepseek-llm-67b-base config.json"),
        // meta-llama/Llama-2-7b-hf config.json: 32 layers, hidden 4096, 32 heads (MHA), intermediate 11008,
        // vocab 32000, rope_theta 10000, rms_norm_eps 1e-5, max_position_embeddings 4096.
        make("llama-2-7b", 32, 4096, 32, 32, 128, 11008, 32000, 10000.0, 1e-5, 4096, false,
             "meta-llama/Llama-2-7b-hf config.json"),
        // meta-llama/Llama-2-70b-hf config.json: 80 layers, hidden 8192, 64 heads, 8 KV heads, intermediate
        // 28672, vocab 32000, rope_theta 10000, rms_norm_eps 1e-5, max_position_embeddings 4096.
        make("llama-2-70b", 80, 8192, 64, 8, 128, 28672, 32000, 10000.0, 1e-5, 4096, false,
             "meta-llama/Llama-2-70b-hf config.json"),
        // meta-llama/Meta-Llama-3-8B config.json: 32 layers, hidden 4096, 32 heads, 8 KV heads, intermediate
        // 14336, vocab 128256, rope_theta 500000, rms_norm_eps 1e-5, max_position_embeddings 8192.
        make("llama-3-8b", 32, 4096, 32, 8, 128, 14336, 128256, 500000.0, 1e-5, 8192, false,
             "meta-llama/Meta-Llama-3-8B config.json"),
        // meta-llama/Meta-Llama-3-70B config.json: 80 layers, hidden 8192, 64 heads, 8 KV heads, intermediate
        // 28672, vocab 128256, rope_theta 500000, rms_norm_eps 1e-5, max_position_embeddings 8192.
        make("llama-3-70b", 80, 8192, 64, 8, 128, 28672, 128256, 500000.0, 1e-5, 8192, false,
             "meta-llama/Meta-Llama-3-70B config.json"),
        // mistralai/Mistral-7B-v0.1 config.json: 32 layers, hidden 4096, 32 heads, 8 KV heads, intermediate
        // 14336, vocab 32000, rope_theta 10000, rms_norm_eps 1e-5, max_position_embeddings 32768
        // and sliding_window 4096: each query sees the last 4096 positions, the KV cache is a rolling buffer.
        [] {
            auto c = make("mistral-7b", 32, 4096, 32, 8, 128, 14336, 32000, 10000.0, 1e-5, 32768, false,
                          "mistralai/Mistral-7B-v0.1 config.json");
            c.sliding_window = 4096;
            return c;
        }(),
        // Qwen/Qwen2.5-7B config.json: 28 layers, hidden 3584, 28 heads, 4 KV heads (head_dim 128),
        // intermediate 18944, vocab 152064, rope_theta 1e6, rms_norm_eps 1e-6, max_position_embeddings 131072.
        make("qwen2.5-7b", 28, 3584, 28, 4, 128, 18944, 152064, 1000000.0, 1e-6, 131072, false,
             "Qwen/Qwen2.5-7B config.json"),
        // HuggingFaceTB/SmolLM2-135M config.json: 30 layers, hidden 576, 9 heads, 3 KV heads, head_dim 64,
        // intermediate 1536, vocab 49152, rope_theta 100000, rms_norm_eps 1e-5, max_position_embeddings 8192,
        // tie_word_embeddings true.
        make("smollm2-135m", 30, 576, 9, 3, 64, 1536, 49152, 100000.0, 1e-5, 8192, true,
             "HuggingFaceTB/SmolLM2-135M config.json"),
        // TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T config.json: 22 layers, hidden 2048, 32 heads,
        // 4 KV heads (head_dim 64), intermediate 5632, vocab 32000, rope_theta 10000, rms_norm_eps 1e-5,
        // max_position_embeddings 2048.
        make("tinyllama-1.1b", 22, 2048, 32, 4, 64, 5632, 32000, 10000.0, 1e-5, 2048, false,
             "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T config.json"),
    };
    return presets;
}

}  // namespace

std::vector<std::string> presetNames() {
    std::vector<std::string> names;
    for (const auto& p : all()) names.push_back(p.name);
    return names;
}

Expected<ModelConfig> findPreset(const std::string& name) {
    for (const auto& p : all())
        if (p.name == name) return p;
    std::string known;
    for (const auto& p : all()) known += (known.empty() ? "" : ", ") + p.name;
    return makeError(ErrorCode::InvalidArgument, "unknown preset '" + name + "' (known: " + known + ")");
}

}  // namespace gqa
