// gqa-lab-cli info: backends built, devices found, and why a backend is unavailable.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "gqa/presets.h"
#include "gqa/tokenizer.h"

namespace gqa::cli {
namespace {

struct InfoArgs {
    std::string model;
    bool json = false;
};

// The dtypes a checkpoint's tensors hold, per kind ("bf16", or "f32/q8_0" when a kind mixes them).
std::string kindDtypes(const std::vector<const Tensor*>& ts) {
    std::vector<std::string> names;
    for (const Tensor* t : ts)
        if (!t->empty() && std::find(names.begin(), names.end(), dtypeName(t->dtype)) == names.end())
            names.push_back(dtypeName(t->dtype));
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : "/") + n;
    return s.empty() ? "-" : s;
}

int runModelInfo(const InfoArgs& a) {
    LoadOptions opt;
    auto m = loadModel(a.model, opt);
    if (!m) return reportError(m.error());
    const ModelConfig& c = m->config;
    const MemoryEstimate est = estimateMemory(c, 1, 1);
    std::vector<const Tensor*> attn, ffn, norms, emb{&m->embedding}, head{&m->lmHead()};
    for (const auto& l : m->layers) {
        attn.insert(attn.end(), {&l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv});
        ffn.insert(ffn.end(), {&l.w_gate, &l.w_up, &l.w_down});
        norms.insert(norms.end(), {&l.attn_norm, &l.ffn_norm});
    }
    norms.push_back(&m->final_norm);
    const nlohmann::json dtypes = {{"attention", kindDtypes(attn)},
                                   {"ffn", kindDtypes(ffn)},
                                   {"embedding", kindDtypes(emb)},
                                   {"lm_head", kindDtypes(head)},
                                   {"norms", kindDtypes(norms)}};
    const std::string tok = m->tokenizer ? m->tokenizer->kind() : "none";
    if (a.json) {
        nlohmann::json j = toJson(c);
        j["path"] = a.model;
        j["format"] = m->format;
        j["group_size"] = c.groupSize();
        j["weight_dtypes"] = dtypes;
        j["param_count"] = est.param_count;
        j["weight_bytes"] = est.weight_bytes;
        j["tensor_bytes"] = m->tensorBytes();
        j["kv_bytes_per_token"] = est.kv_bytes_per_token;
        j["tokenizer"] = tok;
        j["context_length"] = c.max_seq;
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::printf("%s (%s, %s)\n", a.model.c_str(), c.architecture.c_str(), m->format.c_str());
    std::printf("  attention        %s: %lld query heads, %lld KV heads (g = %lld), head_dim %lld\n",
                c.attentionKind().c_str(), (long long)c.n_q_heads, (long long)c.n_kv_heads, (long long)c.groupSize(),
                (long long)c.head_dim);
    std::printf("  layers           %lld, d_model %lld, FFN %lld, vocab %lld%s%s\n", (long long)c.n_layers,
                (long long)c.d_model, (long long)c.ffn_dim, (long long)c.vocab_size,
                c.tied_embeddings ? ", tied LM head" : "", c.qkv_bias ? ", q/k/v biases" : "");
    std::printf("  parameters       %.6g M (%s as stored)\n", static_cast<double>(est.param_count) * 1e-6,
                formatBytes(est.weight_bytes).c_str());
    std::printf("  weight dtypes    attention %s, FFN %s, embedding %s, LM head %s, norms %s\n",
                dtypes["attention"].get<std::string>().c_str(), dtypes["ffn"].get<std::string>().c_str(),
                dtypes["embedding"].get<std::string>().c_str(), dtypes["lm_head"].get<std::string>().c_str(),
                dtypes["norms"].get<std::string>().c_str());
    std::printf("  KV cache         %s per token (%s)\n", formatBytes(est.kv_bytes_per_token).c_str(),
                dtypeName(c.kv_dtype));
    std::printf("  RoPE             theta %g, scaling %s%s\n", c.rope_theta, ropeScalingText(c.rope_scaling).c_str(),
                c.hasWindow() ? (", sliding window " + c.windowText()).c_str() : "");
    std::printf("  context length   %lld tokens\n", (long long)c.max_seq);
    std::printf("  tokenizer        %s\n", tok.c_str());
    return 0;
}

int runInfo(const InfoArgs& a) {
    if (!a.model.empty()) return runModelInfo(a);
    const auto backends = probeBackends();
    if (a.json) {
        nlohmann::json j;
        j["version"] = "0.1.0";
        for (const auto& b : backends)
            j["backends"].push_back(
                {{"name", b.name}, {"available", b.available}, {"device", b.device}, {"reason", b.reason}});
        j["presets"] = presetNames();
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << "GQA Lab 0.1.0\nBackends:\n";
    for (const auto& b : backends) {
        std::cout << "  " << b.name << ": " << (b.available ? "available — " + b.device : "unavailable — " + b.reason)
                  << "\n";
    }
    std::cout << "Presets:";
    for (const auto& n : presetNames()) std::cout << " " << n;
    std::cout << "\n";
    return 0;
}

const CommandRegistrar reg("info", [](CLI::App& app, int& exit_code) {
    auto args = std::make_shared<InfoArgs>();
    auto* cmd = app.add_subcommand("info",
                                   "Backends built, devices found, and why a backend is unavailable; with "
                                   "--model, what a checkpoint holds");
    cmd->add_option("--model", args->model, "A Hugging Face directory or .gguf file to describe");
    cmd->add_flag("--json", args->json, "Print JSON");
    cmd->callback([args, &exit_code] { exit_code = runInfo(*args); });
    return cmd;
});

}  // namespace
}  // namespace gqa::cli
