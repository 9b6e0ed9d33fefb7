// gqa-lab-cli logits / perplexity: the LM head's outputs at every prompt position, and the prompt's perplexity.
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "gqa/npy.h"
#include "gqa/sampling.h"

namespace gqa::cli {
namespace {

struct LogitsArgs {
    ModelArgs model;
    std::string text, text_file, out, backend = "cpu";
    bool json = false;
};

// One prefill of the tokenized text with the logits of every position: (T, vocab).
Expected<std::vector<float>> promptLogits(const LogitsArgs& a, std::vector<int32_t>& tokens, ModelConfig& cfg) {
    if (a.model.model_path.empty())
        return makeError(ErrorCode::InvalidArgument,
                         "--model PATH is required (a Hugging Face directory or .gguf file)");
    auto text = readTextArg(a.text, a.text_file, "prompt");
    if (!text) return text.error();
    auto resolved = openModel(a.model, a.model.layers.value_or(0));
    if (!resolved) return resolved.error();
    const Model& m = *resolved->model;
    cfg = m.config;
    auto ids = tokenizeFor(m, *text);
    if (!ids) return ids.error();
    tokens = *ids;
    const auto T = static_cast<int64_t>(tokens.size());
    if (T > cfg.max_seq)
        return makeError(ErrorCode::InvalidArgument, "the text gives " + std::to_string(T) +
                                                         " tokens, more than the model's context (" +
                                                         std::to_string(cfg.max_seq) + ")");
    auto backend = openBackend(a.backend);
    if (!backend) return backend.error();
    auto inst = (*backend)->createModel(m, 1, T);
    if (!inst) return inst.error();
    StepRequest req;
    req.logits = LogitsMode::All;
    StepOutput out;
    GQA_TRY((*inst)->prefill(tokens.data(), T, req, out));
    return std::move(out.logits);
}

int runLogits(const LogitsArgs& a) {
    std::vector<int32_t> tokens;
    ModelConfig cfg;
    auto logits = promptLogits(a, tokens, cfg);
    if (!logits) return reportError(logits.error());
    const auto T = static_cast<int64_t>(tokens.size());
    auto st = writeNpy(a.out, {T, cfg.vocab_size}, logits->data());
    if (!st) return reportError(st.error());
    if (a.json) {
        std::cout << nlohmann::json{{"tokens", tokens}}.dump() << "\n";
        return 0;
    }
    std::printf("wrote the logits of %lld positions x %lld tokens (float32) to %s\n", (long long)T,
                (long long)cfg.vocab_size, a.out.c_str());
    return 0;
}

int runPerplexity(const LogitsArgs& a) {
    std::vector<int32_t> tokens;
    ModelConfig cfg;
    auto logits = promptLogits(a, tokens, cfg);
    if (!logits) return reportError(logits.error());
    if (tokens.size() < 2)
        return reportError(makeError(ErrorCode::InvalidArgument, "perplexity needs a text of at least two tokens"));
    const PerplexityResult p = perplexityOf(*logits, tokens, cfg.vocab_size);
    if (a.json) {
        std::cout << nlohmann::json{{"perplexity", p.perplexity}, {"tokens", p.tokens}, {"mean_nll", p.mean_nll}}.dump(
                         2)
                  << "\n";
        return 0;
    }
    std::printf("perplexity %.6g over %lld predicted tokens (mean NLL %.6f nats)\n", p.perplexity, (long long)p.tokens,
                p.mean_nll);
    return 0;
}

void addCommon(CLI::App* cmd, LogitsArgs& a, const char* text_name) {
    cmd->add_option("--model", a.model.model_path, "Hugging Face directory or .gguf file")->required();
    cmd->add_option(std::string("--") + text_name, a.text,
                    "The text (tokenized with the model's tokenizer, BOS first)");
    cmd->add_option(std::string("--") + text_name + "-file", a.text_file, "The text, from a file");
    cmd->add_option("--kv-heads", a.model.kv_heads, "Merge KV heads first (mean-pool, or --method first)");
    cmd->add_option("--method", a.model.convert_method, "meanpool or first")->capture_default_str();
    cmd->add_option("--kv-dtype", a.model.kv_dtype, "KV-cache dtype: fp32, fp16 or bf16 (default: the weights')");
    cmd->add_option("--layers", a.model.layers, "Run the first N layers; the LM head reads layer N's output");
    cmd->add_option("--backend", a.backend, "cpu, cuda or auto")->capture_default_str();
}

const CommandRegistrar reg_logits("logits", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<LogitsArgs>();
    auto* cmd = app.add_subcommand("logits", "Write the logits of every prompt position, (T, vocab) float32 .npy");
    addCommon(cmd, *args, "prompt");
    cmd->add_option("--out", args->out, "Output .npy file")->required();
    cmd->add_flag("--json", args->json, "Print {\"tokens\": [...]} (the prompt's ids)");
    cmd->callback([args, &exit_code] { exit_code = runLogits(*args); });
    return cmd;
});

const CommandRegistrar reg_ppl("perplexity", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<LogitsArgs>();
    auto* cmd = app.add_subcommand("perplexity", "Perplexity of a text: exp(mean -log p(token | previous tokens))");
    addCommon(cmd, *args, "text");
    cmd->add_flag("--json", args->json, "Print {\"perplexity\": ..., \"tokens\": ..., \"mean_nll\": ...}");
    cmd->callback([args, &exit_code] { exit_code = runPerplexity(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
