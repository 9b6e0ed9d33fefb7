// Deterministic synthetic models: the same Model type a checkpoint loads into, with weights drawn from a
// seed and stored in config.weight_dtype.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "gqa/config.h"
#include "gqa/model.h"

namespace gqa {

// Builds `n_layers` layers (<= cfg.n_layers; 0 means all), the full embedding table of cfg.vocab_size rows and,
// unless cfg.tied_embeddings, a separate LM head. Deterministic in (cfg, seed, mode). In Structured mode every
// attention head is built to show one documented pattern (see headRoleDescription). `cancel` (optional) is
// checked between layers; layers are drawn in parallel.
Expected<Model> makeSyntheticModel(const ModelConfig& cfg, uint64_t seed, WeightsMode mode, int64_t n_layers = 0,
                                   const std::atomic<bool>* cancel = nullptr);

// Deterministic synthetic token stream: prompt b starts with token 0 (BOS), then pseudo-random ids < vocab.
std::vector<int32_t> makeTokens(int64_t batch, int64_t len, int64_t vocab, uint64_t seed, int64_t offset = 0);

}  // namespace gqa
