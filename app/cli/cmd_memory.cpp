// gqa-lab-cli memory: the analytic memory model, nothing allocated.
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "gqa/memory_model.h"

namespace gqa::cli {
namespace {

struct MemoryArgs {
    ModelArgs model;
    ShapeArgs shape;
    std::string backend = "cpu";
    bool json = false;
};

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
    if (a.json) {
        nlohmann::json j = {{"model", toJson(*cfg)},
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
                            {"fit", fitj}};
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("%s — %s, %lld layers, %lld query heads, %lld KV heads, head_dim %lld, weights %s, KV cache %s\n",
                cfg->name.c_str(), cfg->attentionKind().c_str(), (long long)cfg->n_layers, (long long)cfg->n_q_heads,
                (long long)cfg->n_kv_heads, (long long)cfg->head_dim, dtypeName(cfg->weight_dtype),
                dtypeName(cfg->kv_dtype));
    std::printf("batch %lld x %lld tokens\n", (long long)batch, (long long)seq);
    std::printf("  parameters        %14.3f B\n", static_cast<double>(m.param_count) * 1e-9);
    std::printf("  weights           %14s   (as stored; read in place, no compute copy)\n", formatBytes(m.weight_bytes).c_str());
    std::printf("  KV cache          %14s   (%lld bytes; %lld bytes per token)\n", formatBytes(m.kv_cache_bytes).c_str(),
                (long long)m.kv_cache_bytes, (long long)m.kv_bytes_per_token);
    std::printf("  KV cache as MHA   %14s   (%.1fx this grouping)\n", formatBytes(kv_mha).c_str(),
                static_cast<double>(kv_mha) / static_cast<double>(m.kv_cache_bytes));
    std::printf("  KV cache as MQA   %14s\n", formatBytes(kv_mqa).c_str());
    std::printf("  activations       %14s   (fp32 prefill buffers, logits, GEMM tiles)\n", formatBytes(m.activation_bytes).c_str());
    std::printf("  total             %14s\n", formatBytes(m.total_bytes).c_str());
    std::printf("  %s\n", fit_line.c_str());
    return 0;
}

const CommandRegistrar reg("memory", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<MemoryArgs>();
    auto* cmd = app.add_subcommand("memory", "The analytic memory model (weights, KV cache, activations) and a fit "
                                             "prediction; allocates nothing. --seq defaults to the model's max_seq.");
    addModelOptions(cmd, args->model);
    addShapeOptions(cmd, args->shape);
    cmd->add_option("--backend", args->backend, "Device to predict the fit against: cpu, cuda or auto")->capture_default_str();
    cmd->add_flag("--json", args->json, "Print JSON (kv_cache_bytes, kv_bytes_per_token, weight_bytes, ...)");
    cmd->callback([args, &exit_code] { exit_code = runMemory(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
