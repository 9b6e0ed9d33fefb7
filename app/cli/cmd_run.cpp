// gqa-lab-cli run: prefill + decode on a backend, with per-op timings, tokens/s and memory.
#include <atomic>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "gqa/npy.h"
#include "gqa/tokenizer.h"

namespace gqa::cli {
namespace {

struct RunArgs {
    ModelArgs model;
    ShapeArgs shape;
    std::string backend = "cpu";
    std::string weights = "structured";
    uint64_t seed = 1234;
    std::optional<int64_t> maps_layer;
    std::string maps_out;
    bool json = false;
    bool no_fit = false;
    bool per_layer = false;
    std::string prompt, prompt_file;
    int repeat = 0;
    double budget_ms = 2000.0;
    double temperature = 0.0, top_p = 1.0;
    int64_t top_k = 0;
};

nlohmann::json phaseJson(const PhaseProfile& p) {
    nlohmann::json ops = nlohmann::json::object();
    for (const auto& o : p.ops)
        ops[opName(o.op)] = {{"measured_ms", o.measured_ms},
                             {"median_ms", o.measured.median_ms},
                             {"min_ms", o.measured.min_ms},
                             {"max_ms", o.measured.max_ms},
                             {"repeats", o.measured.repeats},
                             {"predicted_ms", o.predicted_ms},
                             {"flops", o.flops},
                             {"bytes", o.bytes}};
    nlohmann::json layers = nlohmann::json::array(), layer_totals = nlohmann::json::array();
    for (const auto& l : p.layer_ms) {
        nlohmann::json lj = nlohmann::json::object();
        for (int i = 0; i < kNumOps; ++i) lj[opName(static_cast<Op>(i))] = l[static_cast<size_t>(i)];
        layers.push_back(lj);
    }
    for (const TimingStats& t : p.layer_total) layer_totals.push_back(spreadJson(t));
    return {{"total_ms", p.total_ms},
            {"median_ms", p.total.median_ms},
            {"min_ms", p.total.min_ms},
            {"max_ms", p.total.max_ms},
            {"q1_ms", p.total.q1_ms},
            {"q3_ms", p.total.q3_ms},
            {"repeats", p.total.repeats},
            {"lm_head_ms", p.lm_head_ms},
            {"predicted_ms", p.predicted_ms},
            {"tokens_per_s", p.tokens_per_s},
            {"ops", ops},
            {"layers_ms", layers},
            {"layers_total", layer_totals}};
}

void printPhase(const char* name, const PhaseProfile& p, bool per_layer) {
    std::printf("\n%s: %.3f ms median (min %.3f, max %.3f, %d repeats), %.1f tokens/s (roofline prediction %.3f ms)\n",
                name, p.total_ms, p.total.min_ms, p.total.max_ms, p.total.repeats, p.tokens_per_s, p.predicted_ms);
    std::printf("  %-10s %12s %12s %14s %14s\n", "op", "measured ms", "roofline ms", "GFLOP", "MB moved");
    for (const auto& o : p.ops)
        std::printf("  %-10s %12.3f %12.3f %14.4f %14.3f\n", opName(o.op), o.measured_ms, o.predicted_ms,
                    o.flops * 1e-9, o.bytes * 1e-6);
    if (!per_layer) return;
    std::printf("  per layer (ms):  layer");
    for (int i = 0; i < kNumOps; ++i) std::printf(" %10s", opName(static_cast<Op>(i)));
    std::printf("\n");
    for (size_t l = 0; l < p.layer_ms.size(); ++l) {
        std::printf("                   %5zu", l);
        for (int i = 0; i < kNumOps; ++i) std::printf(" %10.3f", p.layer_ms[l][static_cast<size_t>(i)]);
        std::printf("\n");
    }
}

int runRun(const RunArgs& a) {
    auto resolved = openModel(a.model, a.model.layers.value_or(0));
    if (!resolved) return reportError(resolved.error());
    const ModelConfig* cfg = &resolved->config;
    RunRequest req;
    req.config = *cfg;
    req.model = resolved->model;
    if (a.model.layers && req.model) req.layers = *a.model.layers;
    req.shape = resolveShape(a.shape, *cfg);
    req.seed = a.seed;
    req.sampling.temperature = a.temperature;
    req.sampling.top_k = a.top_k;
    req.sampling.top_p = a.top_p;
    req.sampling.seed = a.seed;
    if (a.repeat < 0 || !(a.budget_ms > 0))
        return reportError(makeError(ErrorCode::InvalidArgument, "--repeat must be >= 0 and --budget-ms positive"));
    req.repeat.repeats = a.repeat;
    req.repeat.budget_ms = a.budget_ms;
    if (a.temperature < 0 || a.top_k < 0 || !(a.top_p > 0.0 && a.top_p <= 1.0))
        return reportError(
            makeError(ErrorCode::InvalidArgument, "--temperature must be >= 0, --top-k >= 0 and --top-p in (0, 1]"));
    if (!a.prompt.empty() || !a.prompt_file.empty()) {
        if (!req.model)
            return reportError(
                makeError(ErrorCode::InvalidArgument, "--prompt needs --model (presets have no tokenizer)"));
        auto text = readTextArg(a.prompt, a.prompt_file, "prompt");
        if (!text) return reportError(text.error());
        auto ids = tokenizeFor(*req.model, *text);
        if (!ids) return reportError(ids.error());
        req.prompt_tokens = *ids;
        req.shape.prompt_len = static_cast<int64_t>(ids->size());
    } else if (req.model && req.model->tokenizer && req.model->config.bos_token_id >= 0 && a.shape.seq == 0) {
        // A real model without a prompt: start from BOS alone rather than random ids.
        req.prompt_tokens = {req.model->config.bos_token_id};
        req.shape.prompt_len = 1;
    }
    req.fit_layers = !a.no_fit;
    if (a.weights == "structured")
        req.weights = WeightsMode::Structured;
    else if (a.weights == "random")
        req.weights = WeightsMode::Random;
    else
        return reportError(makeError(ErrorCode::InvalidArgument, "--weights must be structured or random"));
    if (!a.maps_out.empty() && !a.maps_layer)
        return reportError(makeError(ErrorCode::InvalidArgument, "--maps-out needs --maps-layer"));
    if (a.maps_layer) {
        if (*a.maps_layer < 0 || *a.maps_layer >= cfg->n_layers)
            return reportError(makeError(ErrorCode::InvalidArgument, "--maps-layer " + std::to_string(*a.maps_layer) +
                                                                         " is outside 0.." +
                                                                         std::to_string(cfg->n_layers - 1)));
        if (a.maps_out.empty())
            return reportError(makeError(ErrorCode::InvalidArgument, "--maps-layer needs --maps-out FILE.npy"));
        req.prompt_maps.layers = {*a.maps_layer};
    }
    auto backend = openBackend(a.backend);
    if (!backend) return reportError(backend.error());
    auto res = runModel(**backend, req);
    if (!res) return reportError(res.error());
    const RunResult& r = *res;
    if (a.maps_layer) {
        const auto& m = r.prompt_maps.at(0);
        auto st =
            writeNpy(a.maps_out, {m.batch, static_cast<int64_t>(m.heads.size()), m.q_len, m.kv_len}, m.probs.data());
        if (!st) return reportError(st.error());
    }
    const Tokenizer* tok = req.model ? req.model->tokenizer.get() : nullptr;
    const int64_t T = r.shape.prompt_len;
    std::vector<int32_t> prompt0(r.prompt_tokens.begin(), r.prompt_tokens.begin() + T);
    const std::vector<int32_t>& gen0 = r.generated.at(0);
    const std::string text = tok ? tok->decode(gen0) : std::string();
    if (a.json) {
        nlohmann::json roles = nlohmann::json::array();
        for (const auto& layer : r.head_roles) {
            nlohmann::json lr = nlohmann::json::array();
            for (auto role : layer) lr.push_back(headRoleName(role));
            roles.push_back(lr);
        }
        nlohmann::json j = {
            {"model", toJson(r.config)},
            {"layers_run", r.layers_run},
            {"batch", r.shape.batch},
            {"seq", r.shape.prompt_len},
            {"decode_steps", r.shape.decode_steps},
            {"backend", r.backend},
            {"device", r.device.name},
            {"weights", a.weights},
            {"seed", a.seed},
            {"notes", r.notes},
            {"prefill", phaseJson(r.prefill)},
            {"decode", phaseJson(r.decode)},
            {"ceilings",
             {{"mem_bw_bytes_per_s", r.ceilings.mem_bw_bytes_per_s},
              {"gemm_flops_per_s", r.ceilings.gemm_flops_per_s},
              {"note", r.ceilings.note},
              {"measured_on", r.ceilings.measured_on},
              {"measured_now", r.ceilings.measured_now}}},
            {"memory",
             {{"weight_bytes", r.memory.weight_bytes},
              {"kv_cache_bytes", r.memory.kv_cache_bytes},
              {"kv_bytes_per_token", r.memory.kv_bytes_per_token},
              {"activation_bytes", r.memory.activation_bytes},
              {"total_bytes", r.memory.total_bytes}}},
            {"memory_run",
             {{"kv_cache_bytes", r.memory_run.kv_cache_bytes}, {"activation_bytes", r.memory_run.activation_bytes}}},
            {"allocated",
             {{"weight_bytes", r.allocated.weight_bytes},
              {"kv_cache_bytes", r.allocated.kv_cache_bytes},
              {"activation_bytes", r.allocated.activation_bytes}}},
            {"head_roles", roles},
            {"repeats", r.repeats},
            {"prompt_tokens", prompt0},
            {"generated_tokens", gen0},
            {"text", text}};
        if (r.shape.batch > 1) j["generated_tokens_per_sequence"] = r.generated;
        if (tok) {
            nlohmann::json pieces = nlohmann::json::array();
            for (int32_t id : prompt0) pieces.push_back(tok->displayPiece(id));
            j["prompt_pieces"] = pieces;
        }
        if (a.maps_layer) {
            j["maps"] = {
                {"layer", *a.maps_layer}, {"file", a.maps_out}, {"shape", {r.shape.batch, r.config.n_q_heads, T, T}}};
            if (tok) j["maps"]["tokens"] = j["prompt_pieces"];
        }
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("%s (%s) on %s — %lld of %lld layers, batch %lld, prompt %lld, decode %lld, weights %s, KV cache %s\n",
                r.config.name.c_str(), r.config.attentionKind().c_str(), r.device.name.c_str(), (long long)r.layers_run,
                (long long)r.config.n_layers, (long long)r.shape.batch, (long long)r.shape.prompt_len,
                (long long)r.decode_steps_run, dtypeName(r.config.weight_dtype), dtypeName(r.config.kv_dtype));
    for (const auto& n : r.notes) std::printf("note: %s\n", n.c_str());
    if (tok) {
        std::printf("\nprompt (%lld tokens): %s\n", (long long)T, tok->decode(prompt0).c_str());
        std::printf("generated (%zu tokens%s): %s\n", gen0.size(),
                    req.sampling.temperature > 0 ? ", sampled" : ", greedy", text.c_str());
    } else if (!gen0.empty()) {
        std::printf("\ngenerated ids (greedy from the synthetic model):");
        for (size_t i = 0; i < std::min<size_t>(gen0.size(), 16); ++i) std::printf(" %d", gen0[i]);
        std::printf("%s\n", gen0.size() > 16 ? " ..." : "");
    }
    printPhase("prefill", r.prefill, a.per_layer);
    if (r.shape.decode_steps > 0) printPhase("decode", r.decode, a.per_layer);
    std::printf("\nmemory (full model, analytic): weights %s, KV cache %s (%lld bytes/token), activations %s\n",
                formatBytes(r.memory.weight_bytes).c_str(), formatBytes(r.memory.kv_cache_bytes).c_str(),
                (long long)r.memory.kv_bytes_per_token, formatBytes(r.memory.activation_bytes).c_str());
    std::printf(
        "allocated by this run: weights %s (analytic %s, read in place), KV cache %s (analytic %s), "
        "activations %s (analytic %s)\n",
        formatBytes(r.allocated.weight_bytes).c_str(), formatBytes(r.memory_run.weight_bytes).c_str(),
        formatBytes(r.allocated.kv_cache_bytes).c_str(), formatBytes(r.memory_run.kv_cache_bytes).c_str(),
        formatBytes(r.allocated.activation_bytes).c_str(), formatBytes(r.memory_run.activation_bytes).c_str());
    std::printf("ceilings: %.1f GB/s memory, %.1f GFLOP/s GEMM (%s)\n", r.ceilings.mem_bw_bytes_per_s * 1e-9,
                r.ceilings.gemm_flops_per_s * 1e-9, (r.ceilings.provenance() + "; " + r.ceilings.note).c_str());
    if (!r.head_roles.empty() && !req.model) {
        std::printf("head roles, layer 0 (KV group: roles):");
        const int64_t g = r.config.groupSize();
        for (int64_t h = 0; h < r.config.n_q_heads; ++h) {
            if (h % g == 0) std::printf("\n  kv %lld:", (long long)(h / g));
            std::printf(" q%lld=%s", (long long)h, headRoleName(r.head_roles[0][static_cast<size_t>(h)]));
        }
        std::printf("\n");
    }
    if (a.maps_layer) std::printf("wrote layer %lld prompt maps to %s\n", (long long)*a.maps_layer, a.maps_out.c_str());
    return 0;
}

const CommandRegistrar reg("run", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<RunArgs>();
    auto* cmd = app.add_subcommand("run",
                                   "Run prefill + decode (tokens fed back from the LM head) and print the "
                                   "generated text, per-op timings, tokens/s and memory");
    addModelOptions(cmd, args->model);
    addShapeOptions(cmd, args->shape);
    cmd->add_option("--backend", args->backend, "cpu, cuda or auto")->capture_default_str();
    cmd->add_option("--weights", args->weights, "structured (heads built to show known patterns) or random")
        ->capture_default_str();
    cmd->add_option("--seed", args->seed, "Seed of the synthetic weights and tokens, and of sampling")
        ->capture_default_str();
    cmd->add_option("--prompt", args->prompt, "Prompt text (with --model): tokenized with the model's tokenizer");
    cmd->add_option("--prompt-file", args->prompt_file, "Prompt text from a file (with --model)");
    cmd->add_option("--temperature", args->temperature, "Sampling temperature; 0 = greedy")->capture_default_str();
    cmd->add_option("--top-k", args->top_k, "Sample among the k most likely tokens (0 = all)")->capture_default_str();
    cmd->add_option("--top-p", args->top_p, "Nucleus sampling: smallest set reaching this probability")
        ->capture_default_str();
    cmd->add_option("--maps-layer", args->maps_layer, "Layer whose prompt attention maps are written");
    cmd->add_option("--maps-out", args->maps_out, "Output .npy: (B, Hq, T, T) float32 softmax probabilities");
    cmd->add_flag("--per-layer", args->per_layer, "Also print per-layer, per-op timings");
    cmd->add_option("--repeat", args->repeat,
                    "Timed repeats of prefill + decode after one warm-up; 0 = adaptive (until the median is stable, "
                    "within --budget-ms)")
        ->check(CLI::Range(0, 10000))
        ->capture_default_str();
    cmd->add_option("--budget-ms", args->budget_ms, "Adaptive repeats: time budget for measuring")
        ->check(CLI::Range(1.0, 3.6e6))
        ->capture_default_str();
    cmd->add_flag("--no-fit", args->no_fit, "Refuse a model that does not fit instead of running fewer layers");
    cmd->add_flag("--json", args->json, "Print JSON");
    cmd->callback([args, &exit_code] { exit_code = runRun(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
