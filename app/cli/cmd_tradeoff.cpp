// gqa-lab-cli tradeoff: convert a model to every coarser KV grouping (mean-pooling K/V heads, Ainslie et
// al. 2023) and print what each grouping saves and what it loses. The engine does the work (tradeoff.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli_common.h"
#include "gqa/jobs.h"
#include "gqa/memory_model.h"
#include "gqa/tradeoff.h"

namespace gqa::cli {
namespace {

struct TradeoffArgs {
    ModelArgs model;
    ShapeArgs shape;
    std::string backend = "cpu";
    std::string method = "meanpool";
    std::string weights = "structured";
    uint64_t seed = 1234;
    int iterations = 20;
    bool from_mha = false;
    bool json = false;
    bool csv = false;
    std::string prompt, prompt_file;
};

// Key order kept as written (kv_heads first), which reads better than sorted keys.
using Json = nlohmann::ordered_json;

Json numberOrNull(double v) {
    return std::isfinite(v) ? Json(v) : Json(nullptr);
}

Json tradeoffJson(const TradeoffResult& r) {
    using json = Json;
    json j;
    j["model"] = Json(toJson(r.config));
    j["attention_kind"] = r.config.attentionKind();
    j["layers_run"] = r.layers_run;
    j["batch"] = r.shape.batch;
    j["seq"] = r.shape.prompt_len;
    j["decode_steps"] = r.shape.decode_steps;
    j["context"] = r.shape.totalTokens();
    j["backend"] = r.backend;
    j["device"] = r.device.name;
    j["method"] = convertMethodName(r.method);
    j["weights"] = weightsModeName(r.weights);
    j["seed"] = r.seed;
    j["js_unit"] = "bits";
    j["kl_unit"] = "nats";
    j["quality_loss"] = "output_rel_error";
    j["notes"] = r.notes;
    json points = json::array();
    for (const TradeoffPoint& p : r.points) {
        json q;
        q["kv_heads"] = p.kv_heads;
        q["group_size"] = p.group_size;
        q["method"] = convertMethodName(r.method);
        q["kv_cache_bytes"] = p.kv_cache_bytes;
        q["decode_attention_ms"] = p.decode_attention_ms;
        q["decode_attention"] = spreadJson(p.decode_attention);
        q["decode_tokens_per_s"] = p.decode_tokens_per_s;
        q["output_rel_error"] = numberOrNull(p.output_rel_error);
        q["attention_js"] = numberOrNull(p.quality.mean_js_bits);
        q["prompt_perplexity"] = numberOrNull(p.prompt_perplexity);
        q["next_token_kl"] = numberOrNull(p.next_token_kl);
        json attn = json::array(), hidden = json::array(), js_layer = json::array(), js_head = json::array();
        for (double e : p.quality.attn_out_rel_error) attn.push_back(numberOrNull(e));
        for (double e : p.quality.hidden_rel_error) hidden.push_back(numberOrNull(e));
        for (const auto& heads : p.quality.head_js_bits) {
            json row = json::array();
            double sum = 0.0;
            for (double v : heads) {
                row.push_back(numberOrNull(v));
                sum += v;
            }
            js_head.push_back(row);
            js_layer.push_back(heads.empty() ? json(nullptr) : numberOrNull(sum / static_cast<double>(heads.size())));
        }
        q["attention_out_rel_error"] = attn;  // per layer
        q["hidden_rel_error"] = hidden;       // per layer
        q["attention_js_per_layer"] = js_layer;
        q["attention_js_per_head"] = js_head;  // [layer][query head]
        q["memory_gain"] = numberOrNull(p.memory_gain);
        q["latency_gain"] = numberOrNull(p.latency_gain);
        points.push_back(q);
    }
    j["points"] = points;
    return j;
}

std::string csvNumber(double v) {
    if (!std::isfinite(v)) return "";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

void printCsv(const TradeoffResult& r) {
    std::cout << "kv_heads,group_size,method,kv_cache_bytes,decode_attention_ms,decode_tokens_per_s,"
                 "output_rel_error,attention_js,prompt_perplexity,next_token_kl,memory_gain,latency_gain";
    for (int64_t l = 0; l < r.layers_run; ++l) std::cout << ",hidden_rel_error_l" << l;
    std::cout << "\n";
    for (const TradeoffPoint& p : r.points) {
        std::cout << p.kv_heads << ',' << p.group_size << ',' << convertMethodName(r.method) << ',' << p.kv_cache_bytes
                  << ',' << csvNumber(p.decode_attention_ms) << ',' << csvNumber(p.decode_tokens_per_s) << ','
                  << csvNumber(p.output_rel_error) << ',' << csvNumber(p.quality.mean_js_bits) << ','
                  << csvNumber(p.prompt_perplexity) << ',' << csvNumber(p.next_token_kl) << ','
                  << csvNumber(p.memory_gain) << ',' << csvNumber(p.latency_gain);
        for (double e : p.quality.hidden_rel_error) std::cout << ',' << csvNumber(e);
        std::cout << "\n";
    }
}

void printTable(const TradeoffResult& r) {
    const ModelConfig& c = r.config;
    std::printf("Trade-off sweep: %s, %s (%lld query heads, %lld KV heads), method %s, %s weights\n", c.name.c_str(),
                c.attentionKind().c_str(), static_cast<long long>(c.n_q_heads), static_cast<long long>(c.n_kv_heads),
                convertMethodName(r.method), weightsModeName(r.weights));
    std::printf("Ran %lld of %lld layers on %s (%s): batch %lld, prompt %lld + %lld decode tokens\n\n",
                static_cast<long long>(r.layers_run), static_cast<long long>(c.n_layers), r.backend.c_str(),
                r.device.name.c_str(), static_cast<long long>(r.shape.batch),
                static_cast<long long>(r.shape.prompt_len), static_cast<long long>(r.shape.decode_steps));
    std::printf("%8s %5s %12s %10s %10s %10s %9s %10s %10s %12s %12s\n", "KV heads", "group", "KV cache", "attn ms",
                "tokens/s", "out error", "attn JS", "perplexity", "KL nats", "mem gain", "lat gain");
    for (const TradeoffPoint& p : r.points) {
        const std::string mem_gain =
            std::isfinite(p.memory_gain)
                ? (p.memory_gain < 0 ? "-" : "") + formatBytes(static_cast<int64_t>(std::abs(p.memory_gain)))
                : std::string("n/a");
        char lat_gain[32] = "n/a";
        if (std::isfinite(p.latency_gain)) std::snprintf(lat_gain, sizeof lat_gain, "%.4g ms", p.latency_gain);
        std::printf("%8lld %5lld %12s %10.4f %10.1f %10.3e %9.4f %10.4g %10.3e %12s %12s%s\n",
                    static_cast<long long>(p.kv_heads), static_cast<long long>(p.group_size),
                    formatBytes(p.kv_cache_bytes).c_str(), p.decode_attention_ms, p.decode_tokens_per_s,
                    p.output_rel_error, p.quality.mean_js_bits, p.prompt_perplexity, p.next_token_kl, mem_gain.c_str(),
                    lat_gain, p.kv_heads == c.n_kv_heads ? "  (base)" : "");
    }
    std::printf(
        "\nKV cache: whole model at batch x context; attn ms: one layer's decode attention (median); "
        "tokens/s: decode over the layers run.\n"
        "out error: ||h - h_base|| / ||h_base|| of the final hidden state; attn JS: Jensen-Shannon divergence "
        "of the attention maps in bits (0..1), mean over layers, heads, rows.\n"
        "perplexity: of the prompt under each grouping; KL nats: mean over positions of KL(base || grouping) of the "
        "next-token distributions.\n"
        "gain = (cost at base - cost at this grouping) / out error; n/a where no quality is lost (undefined).\n");
    for (const std::string& n : r.notes) std::printf("Note: %s\n", n.c_str());
}

int runTradeoffCommand(const TradeoffArgs& a) {
    // --layers picks the layers run; the model keeps its full depth for the KV-cache bytes.
    ModelArgs model_args = a.model;
    model_args.layers.reset();
    if (a.from_mha) model_args.kv_heads.reset();
    auto cfg = resolveModel(model_args);
    if (!cfg) return reportError(cfg.error());
    if (a.from_mha) {
        cfg->n_kv_heads = cfg->n_q_heads;
        if (cfg->name.find(" (modified)") == std::string::npos) cfg->name += " (MHA)";
    }
    if (a.model.layers && (*a.model.layers < 1 || *a.model.layers > cfg->n_layers))
        return reportError(makeError(ErrorCode::InvalidArgument, "--layers (" + std::to_string(*a.model.layers) +
                                                                     ") must be between 1 and " +
                                                                     std::to_string(cfg->n_layers)));

    // One engine job for the CLI and the app: the depth rule (tradeoffLayers), the checkpoint or synthetic
    // weights, the quality text.
    TradeoffJobRequest job;
    job.config = *cfg;
    job.shape = resolveShape(a.shape, *cfg);
    if (Status s = job.shape.validate(*cfg); !s) return reportError(s.error());
    job.weights = a.weights == "random" ? WeightsMode::Random : WeightsMode::Structured;
    job.seed = a.seed;
    job.method = parseConvertMethod(a.method).value_or(ConvertMethod::MeanPool);
    job.attention_iterations = a.iterations;
    job.backend = a.backend;
    auto backend = openBackend(a.backend);
    if (!backend) return reportError(backend.error());
    job.layers =
        a.model.layers ? *a.model.layers : tradeoffLayers(*cfg, job.shape, (*backend)->deviceInfo().available_bytes);

    // A checkpoint: its first job.layers layers mapped, the quality text tokenized (BOS + synthetic ids without one).
    if (!a.model.model_path.empty()) {
        if (a.from_mha)
            return reportError(makeError(ErrorCode::InvalidArgument,
                                         "--from-mha needs a preset: a checkpoint's KV heads can only be merged"));
        auto resolved = openModel(model_args, job.layers);
        if (!resolved) return reportError(resolved.error());
        job.model = resolved->model;
        job.full_layers = cfg->n_layers;
        if (!a.prompt.empty() || !a.prompt_file.empty()) {
            auto text = readTextArg(a.prompt, a.prompt_file, "prompt");
            if (!text) return reportError(text.error());
            auto ids = tokenizeFor(*job.model, *text);
            if (!ids) return reportError(ids.error());
            job.quality_tokens = *ids;
        }
    } else if (!a.prompt.empty() || !a.prompt_file.empty()) {
        return reportError(makeError(ErrorCode::InvalidArgument, "--prompt needs --model (presets have no tokenizer)"));
    }
    auto out = tradeoffJob(**backend, job);
    if (!out) return reportError(out.error());
    TradeoffResult* res = &out->result;
    if (!a.model.layers && res->layers_run < cfg->n_layers)
        res->notes.push_back("--layers not given: a big model runs only its first " + std::to_string(res->layers_run) +
                             (res->layers_run == 1 ? " layer" : " layers") +
                             " so the sweep takes seconds; pass --layers N to run more");

    if (a.json)
        std::cout << tradeoffJson(*res).dump(2) << "\n";
    else if (a.csv)
        printCsv(*res);
    else
        printTable(*res);
    return 0;
}

CLI::App* addTradeoff(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<TradeoffArgs>();
    CLI::App* cmd = app.add_subcommand(
        "tradeoff",
        "Convert the model to every KV-head count that divides its own (MHA -> GQA -> MQA) by mean-pooling the K/V "
        "heads of each group (Ainslie et al., 2023), and print per grouping the KV-cache bytes, decode-attention "
        "time and tokens/s it saves against the output error and attention-map divergence it costs");
    addModelOptions(cmd, args->model);
    addShapeOptions(cmd, args->shape);
    // Here --layers picks the layers built and run, not the model's depth.
    cmd->get_option("--layers")
        ->description(
            "Layers to build and run (default: all, or the first few of a big preset); KV-cache bytes always count "
            "the model's full depth");
    cmd->add_option("--method", args->method, "How a group's K/V heads become one: meanpool (the paper) or first")
        ->check(CLI::IsMember({"meanpool", "first"}))
        ->capture_default_str();
    cmd->add_flag("--from-mha", args->from_mha,
                  "Start from the multi-head version of the model (n_kv_heads = n_q_heads), as the paper does; "
                  "e.g. the teaching preset then sweeps 8, 4, 2, 1 KV heads");
    cmd->add_option("--weights", args->weights, "Synthetic weights: structured or random")
        ->check(CLI::IsMember({"structured", "random"}))
        ->capture_default_str();
    cmd->add_option("--backend", args->backend, "cpu, cuda or auto")->capture_default_str();
    cmd->add_option("--seed", args->seed, "Seed of the synthetic weights and tokens")->capture_default_str();
    cmd->add_option("--prompt", args->prompt, "With --model: the quality input text, tokenized");
    cmd->add_option("--prompt-file", args->prompt_file, "With --model: the quality input text, from a file");
    cmd->add_option("--iters", args->iterations, "Timed iterations of the decode-attention kernel per grouping")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    auto* json = cmd->add_flag("--json", args->json, "Print JSON: {\"points\": [...]} with one point per grouping");
    auto* csv = cmd->add_flag("--csv", args->csv, "Print CSV, one row per grouping");
    json->excludes(csv);
    cmd->footer(
        "Big presets run only their first few layers unless --layers is given (KV-cache bytes always count the "
        "whole model). Gains: (cost at the starting grouping - cost at G) / output relative error, null where no "
        "quality is lost.");
    cmd->callback([args, &exit_code] { exit_code = runTradeoffCommand(*args); });
    return cmd;
}

const CommandRegistrar registrar("tradeoff", addTradeoff);

}  // namespace
}  // namespace gqa::cli
