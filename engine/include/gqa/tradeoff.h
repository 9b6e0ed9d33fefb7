// The MHA → GQA trade-off sweep: convert a model to every coarser KV grouping and measure, per grouping,
// what it saves (KV-cache bytes, decode-attention time, decode throughput) and what it loses (output
// error, attention-map divergence) against the starting model.
//
// Efficiency gain, defined here once:
//
//     memory_gain(G)  = (kv_cache_bytes(base) - kv_cache_bytes(G))           / output_rel_error(G)
//     latency_gain(G) = (decode_attention_ms(base) - decode_attention_ms(G)) / output_rel_error(G)
//
// "base" is the starting model (MHA when the model is multi-head: n_kv_heads = n_q_heads); G is a KV-head
// count that divides base's. The quality loss output_rel_error(G) = ||h_G - h_base|| / ||h_base|| is the
// relative L2 error of the final-normed hidden state over every prompt position and sequence, the
// converted model against the starting one on the same tokens. A gain reads "bytes (or milliseconds)
// saved per unit of relative output error": higher is a better bargain, and comparing it across G shows
// where merging more KV heads stops paying for itself. Both costs are for the whole model's KV cache
// (kv_cache_bytes: every layer of the full-depth config at batch x (prompt + decode)) and one layer's
// attention kernel for one decode step (decode_attention_ms: q_len 1, kv_len = prompt + decode).
// A measured latency saving can be negative (noise, or a kernel that prefers some group size); the gain
// is then negative too, and reported as is.
//
// When the quality loss is 0 — always at the base point itself (nothing saved, nothing lost: 0 / 0), and
// at any conversion that happens to be lossless — the ratio is undefined. It is then NaN here and null in
// JSON, never inf: the point's savings remain visible in kv_cache_bytes and decode_attention_ms.
//
// Language-model quality, from one prefill per grouping with the logits of every prompt position
// (LogitsMode::All): prompt_perplexity = exp(mean over sequences and positions t = 1 .. T-1 of
// -log p(token t | tokens < t)), the number that matters on a real checkpoint and real text; and
// next_token_kl = the mean over every sequence and position of KL(p_base || p_G) of the next-token
// softmax, in nats (0 at the base point).
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gqa/backend.h"
#include "gqa/config.h"
#include "gqa/convert.h"
#include "gqa/weights.h"

namespace gqa {

// (cost_base - cost_point) / quality_loss, or NaN when quality_loss is 0, negative or not finite.
double efficiencyGain(double cost_base, double cost_point, double quality_loss);

struct TradeoffRequest {
    ModelConfig config;  // the starting model at full depth (KV-cache bytes count all its layers)
    int64_t layers = 0;  // layers built and run for quality and decode; 0 = all of config.n_layers
    RunShape shape;      // batch; prompt_len = the quality input; decode_steps timed after it
    WeightsMode weights = WeightsMode::Structured;
    uint64_t seed = 1234;  // weights and tokens
    // The prompt (B, T) both models see, e.g. tokenized text; empty = synthetic tokens from `seed`.
    std::vector<int32_t> prompt_tokens;
    ConvertMethod method = ConvertMethod::MeanPool;
    int attention_iterations = 20;  // Backend::timeAttention iterations per point
    // Keep each point's prompt attention maps (every layer run, every query head) in TradeoffPoint::maps,
    // so a viewer needs no second prefill per grouping.
    bool keep_maps = false;
    const std::atomic<bool>* cancel = nullptr;    // checked between points
    std::atomic<int64_t>* points_done = nullptr;  // progress, incremented after each point
};

struct TradeoffPoint {
    int64_t kv_heads = 0;    // G
    int64_t group_size = 0;  // n_q_heads / G
    // ---- efficiency of this grouping
    int64_t kv_cache_bytes = 0;        // estimateMemory: full model, batch x (prompt + decode)
    double decode_attention_ms = 0.0;  // timeAttention, one layer, one decode step (median)
    TimingStats decode_attention;      // its spread over the attention_iterations repeats
    double decode_tokens_per_s = 0.0;  // batch * steps / s over the layers run, after the prompt; the first
                                       // of >= 2 decode steps is an untimed warm-up
    // ---- quality against the starting model (zero at the base point)
    ConversionQuality quality;
    double output_rel_error = 0.0;   // = quality.final_hidden_rel_error: the quality loss of the gains
    double prompt_perplexity = 0.0;  // of the prompt under this grouping's model (see the top of this file)
    double next_token_kl = 0.0;      // nats, mean over positions of KL(base || this grouping)
    std::vector<LayerMaps> maps;     // with keep_maps: per layer run (B, Hq, T, T) of the prompt
    // ---- trade-off (see the top of this file); NaN when undefined
    double memory_gain = std::numeric_limits<double>::quiet_NaN();
    double latency_gain = std::numeric_limits<double>::quiet_NaN();
};

struct TradeoffResult {
    ModelConfig config;  // the starting model, full depth
    int64_t layers_run = 0;
    RunShape shape;
    ConvertMethod method = ConvertMethod::MeanPool;
    WeightsMode weights = WeightsMode::Structured;
    uint64_t seed = 0;
    std::string backend;
    DeviceInfo device;
    std::vector<std::string> notes;     // e.g. "ran 2 of 32 layers: ..."
    std::vector<TradeoffPoint> points;  // one per divisor of config.n_kv_heads, ascending; base is last
};

// Builds the starting model's weights (makeWeights(config, seed, weights, layers)) and sweeps.
Expected<TradeoffResult> runTradeoff(Backend& backend, const TradeoffRequest& req);

// The same sweep from weights the caller built. req.config gives the full depth for KV-cache bytes and
// must match original.config in everything but n_layers; req.layers, req.weights are taken from the
// weights, req.seed still picks the tokens.
Expected<TradeoffResult> runTradeoff(Backend& backend, const Model& original, const TradeoffRequest& req);

}  // namespace gqa
