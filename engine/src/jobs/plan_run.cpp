// The analytic picture of a live request: memory model, fit, roofline, the depth and the maps of the run.
#include <algorithm>

#include "gqa/cost_model.h"
#include "gqa/jobs.h"

namespace gqa {

namespace {

constexpr int kCurvePoints = 96;

ModelConfig withKvHeads(ModelConfig cfg, int64_t n_kv) {
    cfg.n_kv_heads = n_kv;
    return cfg;
}

}  // namespace

int64_t mapBytesPerLayer(const ModelConfig& cfg, const RunShape& shape) {
    const int64_t T = shape.prompt_len;
    int64_t cells_per_layer = T * T;
    for (int64_t s = 0; s < shape.decode_steps; ++s) cells_per_layer += T + s + 1;
    return cells_per_layer * shape.batch * cfg.n_q_heads * 4;
}

MapRequest mapLayersFor(const LiveRunRequest& req, int64_t layers_planned, std::string* note) {
    MapRequest maps;
    if (!req.want_maps || layers_planned <= 0) return maps;
    const int64_t bytes_per_layer = mapBytesPerLayer(req.config, req.shape);
    if (bytes_per_layer > req.maps_limit_bytes) {
        if (note)
            *note = "No attention maps kept: one layer's maps would take " + formatBytes(bytes_per_layer) + " (batch " +
                    std::to_string(req.shape.batch) + " × " + std::to_string(req.config.n_q_heads) + " query heads × " +
                    std::to_string(req.shape.totalTokens()) + " × " + std::to_string(req.shape.totalTokens()) +
                    " float32 weights), more than the " + formatBytes(req.maps_limit_bytes) +
                    " the app allows for them. Lower the batch or the sequence length to see maps.";
        return maps;
    }
    if (bytes_per_layer * layers_planned <= req.maps_budget_bytes) {
        for (int64_t l = 0; l < layers_planned; ++l) maps.layers.push_back(l);
    } else {
        maps.layers.push_back(std::clamp<int64_t>(req.map_layer, 0, layers_planned - 1));
    }
    return maps;
}

RunPlan planRun(const LiveRunRequest& req, const DeviceInfo& device, const Ceilings& ceilings) {
    RunPlan a;
    const ModelConfig& cfg = req.config;
    const int64_t B = req.shape.batch;
    const int64_t T = req.shape.prompt_len;
    const int64_t steps = req.shape.decode_steps;
    const int64_t S = req.shape.totalTokens();
    a.config = cfg;
    a.shape = req.shape;
    a.backend = req.backend;
    a.device = device;
    a.ceilings = ceilings;

    a.memory = estimateMemory(cfg, B, S);
    a.memory_mha = estimateMemory(withKvHeads(cfg, cfg.n_q_heads), B, S);
    a.memory_mqa = estimateMemory(withKvHeads(cfg, 1), B, S);
    a.fit = predictFit(cfg, B, S, device.available_bytes);
    a.max_context_tokens = maxContextThatFits(cfg, B, device.available_bytes);
    a.max_batch = maxBatchThatFits(cfg, S, device.available_bytes);

    const int64_t seq_max = std::max<int64_t>({cfg.max_seq, S, 2});
    const ModelConfig mha = withKvHeads(cfg, cfg.n_q_heads);
    const ModelConfig mqa = withKvHeads(cfg, 1);
    for (int i = 0; i <= kCurvePoints; ++i) {
        const int64_t seq = std::max<int64_t>(1, seq_max * i / kCurvePoints);
        a.curve_seq.push_back(static_cast<double>(seq));
        a.curve_kv_mha.push_back(static_cast<double>(estimateMemory(mha, B, seq).kv_cache_bytes));
        a.curve_kv_current.push_back(static_cast<double>(estimateMemory(cfg, B, seq).kv_cache_bytes));
        a.curve_kv_mqa.push_back(static_cast<double>(estimateMemory(mqa, B, seq).kv_cache_bytes));
    }

    // The depth runModel will use: the engine's own plan (what was asked, shrunk to what fits). Map layers
    // must lie inside it. A model of which not even one layer fits plans zero layers.
    RunRequest plan_req;
    plan_req.config = cfg;
    plan_req.shape = req.shape;
    plan_req.layers = req.run_layers > 0 ? std::min(req.run_layers, cfg.n_layers) : 0;
    plan_req.fit_layers = true;
    const auto plan = planLayers(plan_req, device);
    a.layers_planned = plan ? plan->layers : 0;

    // Backends read the weight matrices in their stored type, so the roofline streams weight_dtype bytes. One
    // pass over prefill and every decode step: the whole model per op, and the planned layers alone (their
    // windows may differ from the model's average) for run_pred_ms.
    const double weight_bpe = bytesPerValue(cfg.weight_dtype);
    const bool have_ceilings = ceilings.gemm_flops_per_s > 0 && ceilings.mem_bw_bytes_per_s > 0;
    const Ceilings none;
    const Ceilings& ceil = have_ceilings ? ceilings : none;
    auto phase = [&](int64_t q_len, int64_t kv_len, std::array<double, kNumOps>& pred_ms) {
        const auto all = modelOpCosts(cfg, cfg.n_layers, B, q_len, kv_len, weight_bpe, ceil);
        for (int k = 0; k < kNumOps; ++k) pred_ms[k] += all.roofline_ms[k];
        if (a.layers_planned == cfg.n_layers)
            for (const double ms : all.roofline_ms) a.run_pred_ms += ms;
        else if (a.layers_planned > 0)
            for (const double ms : modelOpCosts(cfg, a.layers_planned, B, q_len, kv_len, weight_bpe, ceil).roofline_ms)
                a.run_pred_ms += ms;
        return all;
    };
    a.attention_score_flops = phase(T, T, a.prefill_pred_ms).cost[static_cast<int>(Op::Attention)].flops;
    for (int64_t s = 0; s < steps; ++s) phase(1, T + s + 1, a.decode_pred_ms);
    for (int k = 0; k < kNumOps; ++k) {
        a.prefill_pred_total_ms += a.prefill_pred_ms[k];
        a.decode_pred_total_ms += a.decode_pred_ms[k];
    }

    a.progress_total = a.layers_planned * (1 + steps);
    a.prompt_maps = mapLayersFor(req, a.layers_planned, &a.maps_note);
    a.decode_maps = steps > 0 ? a.prompt_maps : MapRequest{};
    a.map_bytes = mapBytesPerLayer(cfg, req.shape) * static_cast<int64_t>(a.prompt_maps.layers.size());
    return a;
}

}  // namespace gqa
