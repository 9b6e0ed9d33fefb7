// gqa-lab-cli memory: the analytic memory model, nothing allocated.
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "gqa/analysis.h"
#include "gqa/memory_model.h"

namespace gqa::cli {
namespace {

struct MemoryArgs {
    ModelArgs model;
    ShapeArgs shape;
    std::string backend = "cpu";
    bool json = false;
    std::optional<int64_t> tp;     // --tp T: one tensor-parallel degree
    bool tp_sweep = false;         // --tp-sweep: every degree 1..64
    double gpu_memory_gib = 80.0;  // per GPU, for the largest context that fits
};

nlohmann::json tpJson(const TensorParallelPlan& p) {
    if (!p.valid) return {{"tp", p.degree}, {"valid", false}, {"reason", p.reason}};
    return {{"tp", p.degree},
            {"valid", true},
            {"q_heads_per_gpu", p.q_heads_per_gpu},
            {"kv_heads_per_gpu", p.kv_heads_per_gpu},
            {"kv_replication", p.kv_replication},
            {"per_gpu_kv_cache_bytes", p.kv_cache_bytes_per_gpu},
            {"per_gpu_kv_bytes_per_token", p.kv_bytes_per_token_per_gpu},
            {"per_gpu_weight_bytes", p.weight_bytes_per_gpu},
            {"per_gpu_total_bytes", p.total_bytes_per_gpu},
            {"per_gpu_max_context", p.max_context_per_gpu}};
}

void printTp(const TensorParallelPlan& p) {
    if (!p.valid) {
        std::printf("  t = %2lld  invalid: %s\n", (long long)p.degree, p.reason.c_str());
        return;
    }
    std::printf(
        "  t = %2lld  %3lld query heads, %3lld KV heads per GPU (each KV head on %lld GPU%s); KV cache %s, weights "
        "%s, total %s per GPU; longest context that fits: %lld\n",
        (long long)p.degree, (long long)p.q_heads_per_gpu, (long long)p.kv_heads_per_gpu, (long long)p.kv_replication,
        p.kv_replication > 1 ? "s" : "", formatBytes(p.kv_cache_bytes_per_gpu).c_str(),
        formatBytes(p.weight_bytes_per_gpu).c_str(), formatBytes(p.total_bytes_per_gpu).c_str(),
        (long long)p.max_context_per_gpu);
}

int runMemory(const MemoryArgs& a) {
    auto cfg = resolveModel(a.model);
    if (!cfg) return reportError(cfg.error());
    ShapeArgs sa = a.shape;
    if (sa.seq == 0) sa.seq = cfg->max_seq;  // by default: the model's full context
    if (sa.batch <= 0 || sa.seq <= 0)
        return reportError(makeError(ErrorCode::InvalidArgument, "--seq and --batch must be positive"));
    const int64_t seq = sa.seq, batch = sa.batch;
    const MemoryEstimate m = estimateMemory(*cfg, batch, seq);
    ModelConfig mha = *cfg, mqa = *cfg;
    mha.n_kv_heads = cfg->n_q_heads;
    mqa.n_kv_heads = 1;
    const int64_t kv_mha = estimateMemory(mha, batch, seq).kv_cache_bytes;
    const int64_t kv_mqa = estimateMemory(mqa, batch, seq).kv_cache_bytes;

    // Fit against the chosen device, predicted from its reported memory.
    auto backend = openBackend(a.backend);
    nlohmann::json fitj = nullptr;
    std::string fit_line;
    if (backend) {
        const auto dev = (*backend)->deviceInfo();
        const auto fit = predictFit(*cfg, batch, seq, dev.available_bytes);
        fitj = {{"device", dev.name},
                {"backend", dev.backend},
                {"available_bytes", dev.available_bytes},
                {"needed_bytes", fit.needed_bytes},
                {"fits", fit.fits},
                {"max_layers_that_fit", fit.max_layers_that_fit},
                {"max_context_that_fits", maxContextThatFits(*cfg, batch, dev.available_bytes)},
                {"max_batch_that_fits", maxBatchThatFits(*cfg, seq, dev.available_bytes)},
                {"message", fit.message}};
        fit_line = fit.fits ? "fits on " + dev.name + " (" + formatBytes(fit.needed_bytes) + " of " +
                                  formatBytes(dev.available_bytes) + " available)"
                            : "does NOT fit on " + dev.name + ": " + fit.message;
    } else {
        fit_line = backend.error().message;
    }
    const auto gpu_bytes = static_cast<int64_t>(a.gpu_memory_gib * 1073741824.0);
    std::vector<TensorParallelPlan> tps;
    if (a.tp) {
        if (*a.tp < 1 || *a.tp > 64)
            return reportError(makeError(ErrorCode::InvalidArgument, "--tp must be between 1 and 64"));
        tps.push_back(planTensorParallel(*cfg, *a.tp, batch, seq, gpu_bytes));
    }
    if (a.tp_sweep) tps = tensorParallelSweep(*cfg, batch, seq, gpu_bytes);
    if (a.json) {
        nlohmann::json j = {
            {"model", toJson(*cfg)},
            {"batch", batch},
            {"seq", seq},
            {"param_count", m.param_count},
            {"weight_bytes", m.weight_bytes},
            {"kv_cache_bytes", m.kv_cache_bytes},
            {"kv_bytes_per_token", m.kv_bytes_per_token},
            {"activation_bytes", m.activation_bytes},
            {"total_bytes", m.total_bytes},
            {"kv_cache_bytes_mha", kv_mha},
            {"kv_cache_bytes_mqa", kv_mqa},
            {"kv_reduction_vs_mha", static_cast<double>(kv_mha) / static_cast<double>(m.kv_cache_bytes)},
            {"kv_positions", m.kv_positions},
            {"kv_layer_positions", m.kv_layer_positions},
            {"sliding_window", cfg->sliding_window},
            {"layer_windows", cfg->layer_windows},
            {"window", cfg->windowText()},
            {"fit", fitj}};
        if (a.tp) {
            // The chosen degree's numbers at the top level, as `memory --tp T --json` promises.
            const auto& p = tps.front();
            j["tensor_parallel"] = tpJson(p);
            j["gpu_memory_bytes"] = gpu_bytes;
            if (p.valid) {
                j["per_gpu_kv_cache_bytes"] = p.kv_cache_bytes_per_gpu;
                j["kv_replication"] = p.kv_replication;
            }
        }
        if (a.tp_sweep) {
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& p : tps) arr.push_back(tpJson(p));
            j["tensor_parallel_sweep"] = arr;
            j["gpu_memory_bytes"] = gpu_bytes;
        }
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("%s — %s, %lld layers, %lld query heads, %lld KV heads, head_dim %lld, weights %s, KV cache %s\n",
                cfg->name.c_str(), cfg->attentionKind().c_str(), (long long)cfg->n_layers, (long long)cfg->n_q_heads,
                (long long)cfg->n_kv_heads, (long long)cfg->head_dim, dtypeName(cfg->weight_dtype),
                dtypeName(cfg->kv_dtype));
    std::printf("batch %lld x %lld tokens\n", (long long)batch, (long long)seq);
    std::printf("  parameters        %14.3f B\n", static_cast<double>(m.param_count) * 1e-9);
    std::printf("  weights           %14s   (as stored; read in place, no compute copy)\n",
                formatBytes(m.weight_bytes).c_str());
    std::printf("  KV cache          %14s   (%lld bytes; %lld bytes per token)\n",
                formatBytes(m.kv_cache_bytes).c_str(), (long long)m.kv_cache_bytes, (long long)m.kv_bytes_per_token);
    std::printf("  KV cache as MHA   %14s   (%.1fx this grouping)\n", formatBytes(kv_mha).c_str(),
                static_cast<double>(kv_mha) / static_cast<double>(m.kv_cache_bytes));
    std::printf("  KV cache as MQA   %14s\n", formatBytes(kv_mqa).c_str());
    std::printf("  activations       %14s   (fp32 prefill buffers, logits, GEMM tiles)\n",
                formatBytes(m.activation_bytes).c_str());
    std::printf("  total             %14s\n", formatBytes(m.total_bytes).c_str());
    if (cfg->hasWindow())
        std::printf(
            "  sliding window %s: each layer's cache holds min(seq, its window) positions per sequence, "
            "%lld over the %lld layers (%lld without the window)\n",
            cfg->windowText().c_str(), (long long)m.kv_layer_positions, (long long)cfg->n_layers,
            (long long)(cfg->n_layers * seq));
    std::printf("  %s\n", fit_line.c_str());
    if (!tps.empty()) {
        std::printf("tensor parallelism (per GPU of %s; KV heads replicated when t > n_kv):\n",
                    formatBytes(gpu_bytes).c_str());
        for (const auto& p : tps) printTp(p);
        if (a.tp && !tps.front().valid) return reportError(makeError(ErrorCode::InvalidArgument, tps.front().reason));
    }
    return 0;
}

const CommandRegistrar reg("memory", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<MemoryArgs>();
    auto* cmd = app.add_subcommand("memory",
                                   "The analytic memory model (weights, KV cache, activations) and a fit "
                                   "prediction; allocates nothing. --seq defaults to the model's max_seq.");
    addModelOptions(cmd, args->model);
    addShapeOptions(cmd, args->shape);
    cmd->add_option("--backend", args->backend, "Device to predict the fit against: cpu, cuda or auto")
        ->capture_default_str();
    cmd->add_flag("--json", args->json, "Print JSON (kv_cache_bytes, kv_bytes_per_token, weight_bytes, ...)");
    cmd->add_option("--tp", args->tp,
                    "Tensor-parallel degree T (1-64): per-GPU query/KV heads, kv_replication, per_gpu_kv_cache_bytes, "
                    "weights and the longest context per GPU");
    cmd->add_flag("--tp-sweep", args->tp_sweep, "Every tensor-parallel degree 1..64, invalid ones explained");
    cmd->add_option("--gpu-memory-gib", args->gpu_memory_gib, "Memory of one GPU for --tp (GiB)")
        ->capture_default_str();
    cmd->callback([args, &exit_code] { exit_code = runMemory(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
