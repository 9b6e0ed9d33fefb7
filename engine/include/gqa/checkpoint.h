// Model configurations from checkpoints: a Hugging Face config.json or GGUF metadata. Supported
// architectures: LlamaForCausalLM (Llama 2/3/3.1, TinyLlama, SmolLM2, DeepSeek LLM 7B/67B),
// MistralForCausalLM, Qwen2ForCausalLM; GGUF general.architecture "llama" or "qwen2". Anything else is
// refused with a message naming the architecture or the field.
#pragma once

#include <string>

#include "gqa/config.h"
#include "gqa/status.h"

namespace gqa {

struct GgufFile;

// `text` is the config.json contents; `what` names it in errors ("/path/config.json").
// head_dim: an explicit field wins over hidden_size / num_attention_heads. num_key_value_heads defaults to
// num_attention_heads. rope_scaling: null, {"type"|"rope_type": "linear", "factor"} or
// {"rope_type": "llama3", factor, low_freq_factor, high_freq_factor, original_max_position_embeddings};
// other types are refused. bos/eos ids (eos may be a list). Qwen2 sets qkv_bias; attention_bias: true sets it
// for Llama. sliding_window is kept when use_sliding_window is not false (Mistral's 4096; Qwen2 default off).
// weight_dtype from torch_dtype (bfloat16/float16/float32; the loader then uses the tensors' own dtype);
// kv_dtype defaults to bf16 (f32 when the weights are f32). The result is validate()d.
Expected<ModelConfig> configFromHfJson(const std::string& text, const std::string& what);
// From GGUF keys {arch}.block_count, .embedding_length, .feed_forward_length, .attention.head_count,
// .attention.head_count_kv, .attention.key_length (head_dim, else embedding/heads), .context_length,
// .rope.freq_base, .attention.layer_norm_rms_epsilon, .rope.scaling.type/.factor, vocab size from
// tokenizer.ggml.tokens (or {arch}.vocab_size), tied when no output.weight tensor, tokenizer.ggml.bos/eos ids.
Expected<ModelConfig> configFromGguf(const GgufFile& f);

}  // namespace gqa
