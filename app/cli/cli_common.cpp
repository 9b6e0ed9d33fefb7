#include "cli_common.h"

#include <iostream>

#include "gqa/presets.h"

namespace gqa::cli {

std::vector<Command>& commands() {
    static std::vector<Command> list;
    return list;
}

CommandRegistrar::CommandRegistrar(std::string name, std::function<CLI::App*(CLI::App&, int&)> add) {
    commands().push_back({std::move(name), std::move(add)});
}

void addModelOptions(CLI::App* cmd, ModelArgs& a) {
    std::string presets;
    for (const auto& n : presetNames()) presets += (presets.empty() ? "" : ", ") + n;
    cmd->add_option("--preset", a.preset, "Model preset: " + presets)->capture_default_str();
    cmd->add_option("--layers", a.layers, "Override the number of layers");
    cmd->add_option("--q-heads", a.q_heads, "Override the number of query heads");
    cmd->add_option("--kv-heads", a.kv_heads, "Override the number of KV heads (must divide --q-heads)");
    cmd->add_option("--head-dim", a.head_dim, "Override head_dim (even, for RoPE)");
    cmd->add_option("--d-model", a.d_model, "Override d_model");
    cmd->add_option("--ffn-dim", a.ffn_dim, "Override the FFN hidden size");
    cmd->add_option("--max-seq", a.max_seq, "Override the model's context length");
    cmd->add_option("--vocab", a.vocab, "Override the vocabulary size");
    cmd->add_option("--rope-theta", a.rope_theta, "Override the RoPE base");
    cmd->add_option("--norm-eps", a.norm_eps, "Override the RMSNorm epsilon");
    cmd->add_option("--dtype", a.dtype, "Storage dtype of weights and KV cache: fp32, fp16 or bf16");
}

Expected<ModelConfig> resolveModel(const ModelArgs& a) {
    auto base = findPreset(a.preset);
    if (!base) return base.error();
    ConfigOverrides o;
    o.n_layers = a.layers;
    o.n_q_heads = a.q_heads;
    o.n_kv_heads = a.kv_heads;
    o.head_dim = a.head_dim;
    o.d_model = a.d_model;
    o.ffn_dim = a.ffn_dim;
    o.max_seq = a.max_seq;
    o.vocab_size = a.vocab;
    o.rope_theta = a.rope_theta;
    o.norm_eps = a.norm_eps;
    if (a.dtype) {
        auto t = parseDType(*a.dtype);
        if (!t) return makeError(ErrorCode::InvalidArgument, "unknown dtype '" + *a.dtype + "' (fp32, fp16 or bf16)");
        o.dtype = *t;
    }
    ModelConfig c = applyOverrides(*base, o);
    GQA_TRY(c.validate());
    return c;
}

void addShapeOptions(CLI::App* cmd, ShapeArgs& s) {
    cmd->add_option("--seq", s.seq, "Prompt length in tokens (default: 64, or the model's max_seq if smaller)");
    cmd->add_option("--batch", s.batch, "Number of sequences")->capture_default_str();
    cmd->add_option("--decode", s.decode, "Tokens to decode after the prompt")->capture_default_str();
}

RunShape resolveShape(const ShapeArgs& s, const ModelConfig& cfg) {
    RunShape r;
    r.batch = s.batch;
    r.prompt_len = s.seq > 0 ? s.seq : std::min<int64_t>(64, cfg.max_seq);
    r.decode_steps = s.decode;
    if (s.seq == 0 && r.prompt_len + r.decode_steps > cfg.max_seq)
        r.prompt_len = std::max<int64_t>(1, cfg.max_seq - r.decode_steps);
    return r;
}

int reportError(const Error& e) {
    std::cerr << "gqa-lab-cli: error: " << e.message << "\n";
    switch (e.code) {
        case ErrorCode::InvalidArgument:
        case ErrorCode::Corrupt:
        case ErrorCode::IoError: return 2;
        case ErrorCode::Unavailable: return 3;
        case ErrorCode::OutOfMemory: return 4;
        default: return 1;
    }
}

Expected<std::unique_ptr<Backend>> openBackend(const std::string& name) { return createBackend(name); }

nlohmann::json toJson(const ModelConfig& c) {
    return {{"name", c.name},
            {"d_model", c.d_model},
            {"n_layers", c.n_layers},
            {"n_q_heads", c.n_q_heads},
            {"n_kv_heads", c.n_kv_heads},
            {"group_size", c.groupSize()},
            {"attention", c.attentionKind()},
            {"head_dim", c.head_dim},
            {"ffn_dim", c.ffn_dim},
            {"vocab_size", c.vocab_size},
            {"rope_theta", c.rope_theta},
            {"norm_eps", c.norm_eps},
            {"max_seq", c.max_seq},
            {"dtype", dtypeName(c.dtype)},
            {"tied_embeddings", c.tied_embeddings},
            {"source", c.source}};
}

}  // namespace gqa::cli
