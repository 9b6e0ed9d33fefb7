// Jobs: the engine-level functions the GUI worker and the CLI both call, one per kind of work, each with
// progress and cancel. The worker only queues, supersedes and forwards their results; nothing here knows Qt.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gqa/analysis.h"
#include "gqa/backend.h"
#include "gqa/convert.h"
#include "gqa/engine.h"
#include "gqa/memory_model.h"
#include "gqa/model.h"
#include "gqa/sampling.h"
#include "gqa/status.h"
#include "gqa/tradeoff.h"

namespace gqa {

// Progress of one job: steps done of total (a polled counter), and the flag that cancels it between steps.
struct JobControl {
    std::atomic<int64_t> done{0};
    std::atomic<int64_t> total{0};
    std::atomic<bool> cancel{false};
};

// ---- Model load -----------------------------------------------------------------------------------
// Reads the config, predicts the fit of the weights against available_bytes (> 0) and refuses before
// anything is mapped when they would not fit; then maps and checks every tensor (one step each) and loads
// the tokenizer. Steps: config, fit, one per tensor, tokenizer.
Expected<std::shared_ptr<const Model>> loadModelJob(const std::string& path, int64_t available_bytes,
                                                    JobControl* control = nullptr);

// ---- Live run -------------------------------------------------------------------------------------
// One request of the live configuration: a synthetic model built from `config`, or a loaded checkpoint run at
// `config.n_kv_heads` (converted with convert_method when that differs from its own) and its first
// `run_layers` layers.
struct LiveRunRequest {
    ModelConfig config;
    std::shared_ptr<const Model> model;  // null = synthetic weights from config
    ConvertMethod convert_method = ConvertMethod::MeanPool;
    std::vector<int32_t> prompt_tokens;  // (T) of a real model's prompt; empty = synthetic ids
    SamplingOptions sampling;            // how decode steps pick tokens (temperature 0 = greedy)
    RunShape shape;
    std::string backend = "cpu";
    int64_t run_layers = 0;  // 0 = as many as fit; otherwise this depth, shrunk to what fits
    int64_t map_layer = 0;   // the layer whose attention maps the user looks at
    // Maps of every layer run are kept when they take at most this many bytes; otherwise only map_layer's.
    int64_t maps_budget_bytes = int64_t{32} << 20;
    // Maps are never kept when one layer's take more than this (they are not in the memory model's estimate).
    int64_t maps_limit_bytes = int64_t{512} << 20;
    bool want_maps = true;
    RepeatPolicy repeat;  // how often prefill + decode are timed
};

// The analytic picture of one request, computed before the run (memory model, fit, roofline of the whole
// model, the depth and maps the run will use), so that a model far too big for the machine shows at once.
struct RunPlan {
    ModelConfig config;
    RunShape shape;
    std::string backend;
    DeviceInfo device;
    Ceilings ceilings;  // ceilings.provenance(): "measured now" / "measured on DATE"

    MemoryEstimate memory;      // full model at batch x (prompt + decode)
    MemoryEstimate memory_mha;  // same model with n_kv = n_q
    MemoryEstimate memory_mqa;  // same model with n_kv = 1
    FitReport fit;
    int64_t max_context_tokens = 0;  // at the chosen batch
    int64_t max_batch = 0;           // at the chosen prompt + decode length

    // KV-cache bytes (batch as chosen) against sequence length.
    std::vector<double> curve_seq;
    std::vector<double> curve_kv_mha, curve_kv_current, curve_kv_mqa;

    // Roofline prediction of the full model (all layers), per op summed over layers, in ms.
    std::array<double, kNumOps> prefill_pred_ms{};
    std::array<double, kNumOps> decode_pred_ms{};  // all decode steps together
    double prefill_pred_total_ms = 0.0;
    double decode_pred_total_ms = 0.0;
    double attention_score_flops = 0.0;  // QK^T + PV FLOPs of the prefill, whole model

    int64_t layers_planned = 0;  // layers the run will instantiate
    double run_pred_ms = 0.0;    // roofline estimate of the planned run (prefill + decode)
    int64_t progress_total = 0;  // JobControl::done when the planned run is complete
    MapRequest prompt_maps;      // what the run asks the backend for
    MapRequest decode_maps;
    int64_t map_bytes = 0;  // float32 maps those requests keep (beside the memory model's total)
    std::string maps_note;  // why no maps are kept, when so
};

// Bytes of the float32 maps one layer keeps: batch x q_heads x (T x T + every decode row).
int64_t mapBytesPerLayer(const ModelConfig& cfg, const RunShape& shape);
// Layers whose maps are requested: all planned layers when they fit maps_budget_bytes, else map_layer's, and
// none when even one layer's maps exceed maps_limit_bytes (999 x 1008 tokens would be 32 GB of maps); `note`
// (optional) says why none are kept.
MapRequest mapLayersFor(const LiveRunRequest& req, int64_t layers_planned, std::string* note = nullptr);
RunPlan planRun(const LiveRunRequest& req, const DeviceInfo& device, const Ceilings& ceilings);

// The last live conversion (checkpoint, KV heads, method): an edit of depth or prompt reuses it.
class LiveModelCache {
public:
    // req.model itself, or its conversion to req.config.n_kv_heads by req.convert_method; with the request's
    // sliding windows (req.config.sliding_window / layer_windows: the user may set them on any model).
    // Null for a synthetic request.
    Expected<std::shared_ptr<const Model>> modelFor(const LiveRunRequest& req);

private:
    const Model* m_from = nullptr;
    int64_t m_kv = 0;
    ConvertMethod m_method = ConvertMethod::MeanPool;
    std::shared_ptr<const Model> m_converted;
    const Model* m_windowed_from = nullptr;  // m_windowed: m_windowed_from with the request's windows
    std::shared_ptr<const Model> m_windowed;
};

// What a live run reports as it goes, in this order; each is optional. Called on the caller's thread.
struct LiveRunEvents {
    std::function<void(RunPlan)> on_plan;  // before anything is allocated
    // Each decode step's input token of every sequence (step 0 = the token sampled after the prompt), as the
    // first measured run produces it: text can be shown token by token.
    std::function<void(int64_t step, const std::vector<int32_t>& tokens)> on_token;
    std::function<void(RunResult)> on_result;
    std::function<void(double perplexity)> on_prompt_perplexity;  // real models, prompts of >= 2 tokens
};

// Validates, plans (ceilings from the engine's cache), converts a checkpoint when asked (through `cache`),
// runs (runModel: prefill + decode, timed per the repeat policy) and scores a real prompt's perplexity.
// Progress: control->done counts layer passes up to RunPlan::progress_total; control->cancel stops between
// layers with ErrorCode::Cancelled.
Status runLiveJob(Backend& backend, const LiveRunRequest& req, LiveModelCache& cache, JobControl* control,
                  const LiveRunEvents& events);

// ---- KV-head sweep (the Latency tab) -----------------------------------------------------------------
// One point of the sweep of the live configuration over KV-head counts: runModel of the synthetic model at
// n_kv_heads (depth as base.run_layers, shrunk to fit), no maps. A caller runs the points one at a time, so
// that other work can go between them.
struct KvSweepPoint {
    int64_t n_kv_heads = 0;
    int64_t group_size = 0;
    int64_t layers_run = 0;
    double prefill_ms = 0.0;                // measured, layers run (median)
    TimingStats prefill;                    // its spread
    double decode_ms_per_token = 0.0;       // measured, layers run (median)
    TimingStats decode;                     // spread of the whole decode phase
    double decode_pred_ms_per_token = 0.0;  // roofline, layers run
    double decode_tokens_per_s = 0.0;
    int64_t kv_cache_bytes = 0;  // analytic, full model
};
Expected<KvSweepPoint> kvSweepPoint(Backend& backend, const LiveRunRequest& base, int64_t n_kv_heads,
                                    JobControl* control = nullptr);

// ---- Trade-off (MHA -> GQA -> MQA) -----------------------------------------------------------------
// The layers a trade-off sweep builds and runs when none are asked for: as many as fit a fixed budget of
// layer bytes (weights and KV cache as stored, beyond the model's layer-free part) and the device, capped at
// max_layers (> 0) and at least one. One rule for the CLI and the app.
int64_t tradeoffLayers(const ModelConfig& cfg, const RunShape& shape, int64_t available_bytes, int64_t max_layers = 0);

struct TradeoffJobRequest {
    ModelConfig config;                  // synthetic: the model (full depth); ignored with a checkpoint
    std::shared_ptr<const Model> model;  // a checkpoint, swept itself (its KV heads only merge); null = synthetic
    int64_t full_layers = 0;             // a checkpoint mapped only in part: its full depth (for KV-cache bytes)
    bool from_mha = false;               // synthetic: start from n_kv = n_q, as Ainslie et al. do
    RunShape shape;
    int64_t layers = 0;      // exactly this many (1..n_layers); 0 = tradeoffLayers(..., max_layers)
    int64_t max_layers = 0;  // cap of the default depth (e.g. the live run's depth); 0 = none
    int64_t max_prompt_len = 0, max_decode_steps = 0;  // caps on the shape (0 = none), said in the notes
    // Checkpoints: the text whose perplexity is measured, as ids, or as text tokenized here (quality_text wins).
    std::vector<int32_t> quality_tokens;
    std::string quality_text;
    std::string quality_source = "the prompt";  // what the text is, for the notes and views
    int64_t max_quality_tokens = 0;             // 0 = all
    ConvertMethod method = ConvertMethod::MeanPool;
    bool both_methods = false;  // checkpoints: also sweep the other method (quality only)
    WeightsMode weights = WeightsMode::Structured;
    uint64_t seed = 1234;
    int attention_iterations = 20;
    bool keep_maps = false;  // every point's prompt maps (one prefill per grouping)
    std::string backend = "cpu";
};

struct TradeoffOutcome {
    TradeoffResult result;  // result.config: the starting model (MHA or the checkpoint), full depth
    std::optional<TradeoffResult> other_method;  // both_methods
    std::vector<std::vector<LayerMaps>> maps;    // keep_maps: [point][layer] (B, Hq, T, T), aligned with result.points
    std::vector<std::string> notes;              // why fewer layers / a shorter prompt than asked
    std::shared_ptr<const Model> model;          // the checkpoint swept (null for synthetic)
    std::string quality_source;
};
// Progress: control->done counts points (both methods), of control->total.
Expected<TradeoffOutcome> tradeoffJob(Backend& backend, const TradeoffJobRequest& req, JobControl* control = nullptr);

// ---- What grouping does to attention (the Head statistics and Head diversity tabs) -------------------
// The live model (a checkpoint at the live KV-head count, or the synthetic model of the live config, seed
// 1234 as the run's) and its conversion to compare_kv_heads, analysed (analyzeModel) on the same prompt: the
// live prompt, or synthetic ids, at most max_tokens of them. Layers: every layer the live run runs while their
// maps fit maps_budget_bytes, else the map layer only.
struct GroupingAnalysisRequest {
    LiveRunRequest live;
    int64_t compare_kv_heads =
        0;  // a divisor of the live n_kv_heads; 0 = the next coarser one (n_kv / its smallest prime factor)
    ConvertMethod method = ConvertMethod::MeanPool;
    int64_t max_tokens = 256;
    int64_t maps_budget_bytes = int64_t{64} << 20;
};
struct GroupingAnalysis {
    ModelAnalysis original;   // the live grouping
    ModelAnalysis converted;  // at compare_kv_heads (== original when the live model is MQA)
    int64_t compare_kv_heads = 0;
    ConvertMethod method = ConvertMethod::MeanPool;
    std::vector<std::string> notes;
};
// The coarser grouping a comparison uses by default: n_kv / (its smallest prime factor); 1 stays 1.
int64_t nextCoarserKvHeads(int64_t n_kv_heads);
Expected<GroupingAnalysis> groupingAnalysisJob(Backend& backend, const GroupingAnalysisRequest& req,
                                               LiveModelCache& cache, JobControl* control = nullptr);

// ---- Save a converted checkpoint ---------------------------------------------------------------------
// `model` at n_kv_heads KV heads (convertKvHeads by `method` when that differs from its own), written as a
// Hugging Face directory (saveHfModel).
Status saveConvertedModel(const Model& model, int64_t n_kv_heads, ConvertMethod method, const std::string& dir);

// ---- Prompt score ---------------------------------------------------------------------------------
// The prompt's perplexity under the first `layers` layers (0 = all) of `model`, its LM head reading layer
// N's output: one prefill with LogitsMode::All. tokens: (T), T >= 2.
struct PromptScore {
    PerplexityResult perplexity;
    std::vector<float> last_logits;  // (vocab): the next-token logits after the prompt
    int64_t layers_run = 0;
};
Expected<PromptScore> scorePrompt(Backend& backend, const Model& model, const std::vector<int32_t>& tokens,
                                  int64_t layers = 0, JobControl* control = nullptr);

// Kullback-Leibler divergence KL(p || q) in nats of the softmax distributions of two logit vectors (vocab).
double klDivergence(const float* logits_p, const float* logits_q, int64_t vocab);

}  // namespace gqa
