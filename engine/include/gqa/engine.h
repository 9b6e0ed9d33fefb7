// One run of the decoder: validation, fit prediction, weights, prefill + decode, profile.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gqa/backend.h"
#include "gqa/config.h"
#include "gqa/cost_model.h"
#include "gqa/memory_model.h"
#include "gqa/model.h"
#include "gqa/sampling.h"
#include "gqa/timing.h"
#include "gqa/weights.h"

namespace gqa {

struct RunRequest {
    ModelConfig config;  // the model at full depth (a loaded model's own config)
    RunShape shape;
    // A loaded or converted model to run; null = a synthetic model built from config, weights and seed.
    std::shared_ptr<const Model> model;
    WeightsMode weights = WeightsMode::Structured;
    uint64_t seed = 1234;
    // The prompt: (T) ids for every sequence, or (B, T); empty = synthetic ids from seed. shape.prompt_len must
    // equal T.
    std::vector<int32_t> prompt_tokens;
    // Decode steps feed back tokens sampled from the LM head (temperature 0 = greedy).
    SamplingOptions sampling;
    bool stop_at_eos = true;  // stop decoding once every sequence produced an EOS id
    // How often prefill + decode are measured (the outputs are those of the first, identical, run).
    RepeatPolicy repeat;
    // Layers to instantiate: 0 = all of config.n_layers, or as many as fit if fit_layers is set.
    int64_t layers = 0;
    bool fit_layers = true;            // shrink depth to what fits instead of refusing
    int64_t memory_limit_bytes = 0;    // > 0: plan against this much memory instead of the device's available
    std::optional<Ceilings> ceilings;  // known ceilings of this device (else measured once, then cached)
    MapRequest prompt_maps;            // maps of the prefill (T x T per head)
    MapRequest decode_maps;            // maps of every decode step (1 x T_cur per head)
    bool capture_layers = false;
    const std::atomic<bool>* cancel = nullptr;
    std::atomic<int64_t>* layers_done = nullptr;  // progress: layers finished across prefill and decode
    // Called in the first measured run as each decode step's input tokens are known (one per sequence; step 0
    // is the token sampled after the prompt), before the step runs: a viewer can show text as it is produced.
    std::function<void(int64_t step, const std::vector<int32_t>& tokens)> on_token;
};

struct OpProfile {
    Op op = Op::Norm;
    double measured_ms = 0.0;   // summed over the layers run: the median over repeats
    TimingStats measured;       // its spread over repeats
    double predicted_ms = 0.0;  // roofline, same layers
    double flops = 0.0;
    double bytes = 0.0;
};

struct PhaseProfile {
    double total_ms = 0.0;                 // wall time of the phase (LM head included): the median over repeats
    TimingStats total;                     // its spread over repeats
    double lm_head_ms = 0.0;               // the LM head's share of total_ms
    double tokens_per_s = 0.0;             // batch * tokens / seconds
    std::vector<OpTimes> layer_ms;         // per layer (decode: summed over steps), medians over repeats
    std::vector<TimingStats> layer_total;  // per layer, all its ops together: spread over repeats
    std::array<OpProfile, kNumOps> ops;    // per op across layers
    double predicted_ms = 0.0;             // roofline total
};

struct RunResult {
    ModelConfig config;  // as requested (full depth)
    int64_t layers_run = 0;
    RunShape shape;
    std::string backend;
    DeviceInfo device;
    std::vector<std::string> notes;  // e.g. "ran 4 of 95 layers: the full model needs 1.2 TiB"
    MemoryEstimate memory;           // analytic, full model at batch x (prompt + decode)
    MemoryEstimate memory_run;       // analytic, the layers actually run
    Allocation allocated;            // what the backend really allocated
    Ceilings ceilings;
    PhaseProfile prefill;
    PhaseProfile decode;  // all decode steps together; tokens_per_s = batch * steps / s
    std::vector<LayerMaps> prompt_maps;
    std::vector<std::vector<LayerMaps>> decode_maps;  // [step][requested layer]
    std::vector<std::vector<HeadRole>> head_roles;    // [layer][q_head] for the layers run
    std::vector<float> final_hidden;                  // (B, d_model): last position after decode
    std::vector<int32_t> prompt_tokens;               // (B, T)
    std::vector<std::vector<int32_t>> generated;      // [sequence][step]: ids sampled by the decode steps
    std::vector<float> next_logits;                   // (B, vocab): logits after the final step
    // [step][rank]: (id, probability) of sequence 0's 10 most likely next tokens after the prompt (step 0) and
    // after each decode step run (step s + 1), descending.
    std::vector<std::vector<std::pair<int32_t, double>>> step_top;
    int64_t decode_steps_run = 0;  // fewer than requested when every sequence hit EOS
    int repeats = 0;               // timed repeats behind every median
};

// The one ceilings cache: measured once per device, then kept in ~/.cache/gqa-lab-ceilings.tsv with the date
// (ceilings are slow to measure); Ceilings::provenance() says "measured now" or "measured on DATE".
Expected<Ceilings> cachedCeilings(Backend& backend);

// The depth runModel will use for this request (validated), and the note it will attach when it
// runs fewer layers than the model has; computed from the prediction alone, nothing is allocated.
struct LayerPlan {
    int64_t layers = 0;
    std::string note;
};
Expected<LayerPlan> plannedLayers(Backend& backend, const RunRequest& req);
// The same from a device description alone (for callers that hold no backend, e.g. the GUI's analysis).
Expected<LayerPlan> planLayers(const RunRequest& req, const DeviceInfo& device);

Expected<RunResult> runModel(Backend& backend, const RunRequest& req);

}  // namespace gqa
