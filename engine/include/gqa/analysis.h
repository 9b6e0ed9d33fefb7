// What grouping does to attention, in numbers: per-head statistics of attention maps, the diversity of the
// query heads inside and between KV groups, long-range attention and a fact-recall probe, and what each GPU
// holds under tensor parallelism. Plain std results, shared by the CLI (`analyze`, `memory --tp`) and the GUI.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gqa/backend.h"
#include "gqa/config.h"
#include "gqa/convert.h"
#include "gqa/model.h"
#include "gqa/status.h"
#include "gqa/tokenizer.h"

namespace gqa {

// ---- per-head statistics (analysis/head_stats.cpp) -------------------------------------------------------
// A map row is query position i (absolute: row r of a map with q_len rows over kv_len keys is position
// kv_len - q_len + r) over keys j <= i; the distance of key j is i - j.

struct StatsOptions {
    int64_t local_window = 8;    // local_mass: share on keys with i - j < local_window (the last 8 tokens)
    int64_t long_distance = 32;  // long_range_mass: share on keys with i - j > long_distance
    // Rows at positions < first_row are left out of the averages: position 0 sees only itself and position
    // 1's previous token is the first token, so no statistic can tell a sink from a previous-token head there.
    int64_t first_row = 2;
};

// The statistics of one attention row p[0 .. n) of query position i (n = i + 1 keys visible, or fewer).
struct RowStats {
    double entropy_bits = 0.0;     // -sum_j p_j log2 p_j: 0 for one key, log2(n) for uniform over n keys
    double mean_distance = 0.0;    // sum_j p_j (i - j): expected distance of the attended key
    double sink_mass = 0.0;        // p_0: share on the first token (the attention sink)
    double prev_token_mass = 0.0;  // p_{i-1}: share on the token just before (0 at i = 0)
    double local_mass = 0.0;       // sum over i - j < local_window
    double long_range_mass = 0.0;  // sum over i - j > long_distance
};
RowStats rowStatistics(const float* p, int64_t n, int64_t i, const StatsOptions& o);

// One query head's statistics, averaged over its rows (positions >= first_row) and the batch.
struct HeadStats {
    int64_t head = 0, kv_head = 0;
    RowStats mean;
    int64_t rows = 0;                   // rows averaged
    HeadRole role = HeadRole::Content;  // what a synthetic head was built to do (Model::head_roles); Content
                                        // for a checkpoint's heads (analyzeModel fills it)
};
// Every head held in `m`; kv_head = head / group_size.
std::vector<HeadStats> headStatistics(const LayerMaps& m, int64_t group_size, const StatsOptions& o);

// Attention mass beyond distance d (share on keys with i - j > d), averaged over rows (>= first_row), batch
// and the heads held, for every d in `distances`.
std::vector<double> massBeyond(const LayerMaps& m, const std::vector<int64_t>& distances, int64_t first_row);
std::vector<int64_t> defaultDistances(int64_t context);  // 0, 1, 2, 4, 8, ... below the context

// ---- diversity inside and between KV groups (analysis/diversity.cpp) ---------------------------------------
struct GroupDiversity {
    std::vector<int64_t> heads;    // query heads, ordered by KV group (head h is in group h / g)
    std::vector<int64_t> kv_head;  // each one's KV head
    // js_bits[a * n + b]: Jensen–Shannon divergence (bits, jsDivergenceBits) of heads a and b's rows, averaged
    // over rows (>= first_row) and the batch. Symmetric, zero diagonal.
    std::vector<double> js_bits;
    std::optional<double> mean_within_bits;   // mean over pairs a < b in the same group (none when g = 1)
    std::optional<double> mean_between_bits;  // mean over pairs in different groups (none for MQA)
    int64_t n() const { return static_cast<int64_t>(heads.size()); }
    double at(int64_t a, int64_t b) const { return js_bits[static_cast<size_t>(a * n() + b)]; }
};
GroupDiversity groupDiversity(const LayerMaps& m, int64_t group_size, int64_t first_row);

// ---- one model's analysis on one prompt (analysis/analyze.cpp) ---------------------------------------------
struct AnalyzeOptions {
    std::vector<int64_t> layers;  // layers to analyze; empty = every layer of the model
    StatsOptions stats;
    std::vector<int64_t> distances;  // for mass_beyond; empty = defaultDistances(T)
    // Greedy decode steps after the prompt, each one's statistics measured on its one new row (the query at
    // position T + s over the T + s + 1 keys it sees).
    int64_t decode_steps = 0;
};
struct LayerAnalysis {
    int64_t layer = 0;
    std::vector<HeadStats> heads;
    GroupDiversity diversity;
    std::vector<double> mass_beyond;  // per AnalyzeOptions::distances (as resolved in ModelAnalysis)
};
struct DecodeStepAnalysis {
    int64_t step = 0;                   // 0 = the first token after the prompt
    int32_t token = 0;                  // the token fed at this step (greedy from the previous logits)
    std::vector<LayerAnalysis> layers;  // heads and mass_beyond of the step's one row (diversity: over that row)
};
struct ModelAnalysis {
    ModelConfig config;  // of the model analyzed (its n_kv_heads, sliding_window)
    int64_t prompt_len = 0;
    std::vector<int64_t> distances;
    std::vector<LayerAnalysis> layers;
    std::vector<DecodeStepAnalysis> decode;  // AnalyzeOptions::decode_steps of them
};
// Prefills `tokens` (one sequence) through `m` on `backend` with maps of the chosen layers, and measures them.
// The model's sliding_window applies.
Expected<ModelAnalysis> analyzeModel(Backend& backend, const Model& m, const std::vector<int32_t>& tokens,
                                     const AnalyzeOptions& o);

// ---- long-range probe (analysis/long_range_probe.cpp) -----------------------------------------------------
// A prompt that states a fact early and asks for it late.
struct ProbePrompt {
    std::string fact = "The secret code of the blue house is 7341.";
    std::string filler =
        " The weather was mild that year. People walked to the market, talked about the harvest and"
        " went home before dark. Nothing else of note happened in the village for a long time.";
    std::string question = " Question: what is the secret code of the blue house? Answer: The secret code is";
    std::string answer = " 7341";
    int64_t filler_repeats = 3;
};
struct ProbeSpec {
    std::vector<int32_t> tokens;           // the whole prompt (BOS, fact, filler, question)
    int64_t fact_begin = 0, fact_end = 0;  // token positions [begin, end) of the fact
    int32_t answer_token = 0;              // the first token of the answer, to follow the prompt
    std::string source;                    // "text" (tokenized) or "synthetic" (ids, for models without a tokenizer)
};
// With the model's tokenizer: BOS + fact + filler x repeats + question, answer = first token of the answer.
Expected<ProbeSpec> makeProbe(const Tokenizer& tok, const ProbePrompt& p);
// Without a tokenizer: ids only. Key-value pair (k, v) at positions 1-2, `filler_len` pseudo-random ids, the
// key k again at the end; the answer is v.
ProbeSpec makeSyntheticProbe(int64_t vocab, int64_t filler_len, uint64_t seed);

struct ProbePoint {
    int64_t n_kv_heads = 0;
    double answer_probability = 0.0;  // softmax of the last position's logits at answer_token
    int64_t answer_rank = 0;          // 1 = the most likely token
    // Attention of the last position on the fact tokens: per layer, the mean over query heads of the mass on
    // positions [fact_begin, fact_end); and its mean over layers.
    std::vector<double> fact_mass_per_layer;
    double fact_mass = 0.0;
};
// The probe on `m` and on its conversion (convertKvHeads, `method`) to every count in kv_counts (each must divide
// m's n_kv_heads; m's own count gives the original).
Expected<std::vector<ProbePoint>> runLongRangeProbe(Backend& backend, const Model& m, const ProbeSpec& spec,
                                                    const std::vector<int64_t>& kv_counts,
                                                    ConvertMethod method = ConvertMethod::MeanPool);

// ---- tensor parallelism (analysis/tensor_parallel.cpp) ---------------------------------------------------
// Megatron-style sharding over t GPUs: query heads, the FFN and the vocabulary (embedding, LM head) split
// t ways, norms replicated. KV heads split while t <= n_kv; past that each GPU keeps one KV head, which then
// lives on t / n_kv GPUs (replicated).
struct TensorParallelPlan {
    int64_t degree = 1;
    bool valid = false;
    std::string reason;            // why the degree is invalid, in words; empty when valid
    int64_t q_heads_per_gpu = 0;   // n_q / t
    int64_t kv_heads_per_gpu = 0;  // max(1, n_kv / t)
    int64_t kv_replication = 1;    // GPUs holding each KV head: max(1, t / n_kv)
    // Per GPU at (batch, seq): 2 * layers * batch * min(seq, w) * kv_heads_per_gpu * head_dim * bytes.
    int64_t kv_cache_bytes_per_gpu = 0;
    int64_t kv_bytes_per_token_per_gpu = 0;
    int64_t weight_bytes_per_gpu = 0;
    int64_t total_bytes_per_gpu = 0;  // weights + KV + activations (estimateMemory of one GPU's shard)
    int64_t max_context_per_gpu = 0;  // longest context (batch fixed) that fits gpu_memory_bytes; 0 = none
    ModelConfig shard;                // the per-GPU configuration the numbers come from
};
TensorParallelPlan planTensorParallel(const ModelConfig& cfg, int64_t t, int64_t batch, int64_t seq,
                                      int64_t gpu_memory_bytes);
// Every degree 1..max_degree (valid or not, with the reason).
std::vector<TensorParallelPlan> tensorParallelSweep(const ModelConfig& cfg, int64_t batch, int64_t seq,
                                                    int64_t gpu_memory_bytes, int64_t max_degree = 64);

}  // namespace gqa
