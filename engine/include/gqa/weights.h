// Deterministic synthetic weights (host, fp32, values rounded to the storage dtype).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "gqa/config.h"

namespace gqa {

// Layouts (row-major, y = x * W):
//   wqkv:    (d_model, (n_q + 2 n_kv) * head_dim)  columns: [Q head 0..n_q-1 | K head 0..n_kv-1 | V ...]
//   wo:      (n_q * head_dim, d_model)
//   w_gate_up: (d_model, 2 * ffn_dim)           columns: [gate | up]
//   w_down:  (ffn_dim, d_model)
struct LayerWeights {
    std::vector<float> attn_norm;  // (d_model)
    std::vector<float> wqkv;
    std::vector<float> wo;
    std::vector<float> ffn_norm;   // (d_model)
    std::vector<float> w_gate_up;
    std::vector<float> w_down;
};

// What a structured query head was built to attend to.
enum class HeadRole { PreviousToken, Sink, LocalWindow, Broad, Content };
const char* headRoleName(HeadRole r);         // "previous-token", "sink", "local-window", "broad", "content"
const char* headRoleDescription(HeadRole r);  // one teaching sentence

struct ModelWeights {
    ModelConfig config;            // n_layers = layers actually built
    int64_t vocab_rows = 0;        // synthetic vocabulary actually held (<= config.vocab_size)
    WeightsMode mode = WeightsMode::Structured;
    uint64_t seed = 0;
    std::vector<float> embedding;  // (vocab_rows, d_model)
    std::vector<LayerWeights> layers;
    std::vector<float> final_norm; // (d_model)
    // head_roles[layer][q_head]; Content for every head in Random mode.
    std::vector<std::vector<HeadRole>> head_roles;

    int64_t hostBytes() const;
};

// Default cap on synthetic vocabulary rows (the published vocab can be 150k x 8k floats).
inline constexpr int64_t kDefaultSyntheticVocab = 4096;

// Builds `n_layers` layers (<= cfg.n_layers; 0 means all). Deterministic in (cfg, seed, mode).
// `cancel` (optional) is checked between layers; the layers are drawn in parallel.
Expected<ModelWeights> makeWeights(const ModelConfig& cfg, uint64_t seed, WeightsMode mode, int64_t n_layers = 0,
                                   int64_t vocab_rows = kDefaultSyntheticVocab,
                                   const std::atomic<bool>* cancel = nullptr);

// Deterministic synthetic token stream: prompt b starts with token 0 (BOS), then pseudo-random ids.
std::vector<int32_t> makeTokens(int64_t batch, int64_t len, int64_t vocab_rows, uint64_t seed, int64_t offset = 0);

}  // namespace gqa
