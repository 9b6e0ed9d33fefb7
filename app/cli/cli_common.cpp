#include "cli_common.h"

#include <iostream>

#include "gqa/convert.h"
#include "gqa/presets.h"
#include "gqa/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>

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
    cmd->add_option(
        "--model", a.model_path,
        "A checkpoint: Hugging Face directory (config.json + safetensors) or .gguf file (instead of --preset)");
    cmd->add_option("--preset", a.preset, "Synthetic model preset: " + presets)->capture_default_str();
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
    cmd->add_option("--dtype", a.dtype,
                    "Presets: storage dtype of weights and KV cache: fp32, fp16, bf16 (or q8_0: "
                    "weights Q8_0, KV cache bf16)");
    cmd->add_option("--kv-dtype", a.kv_dtype, "KV-cache dtype: fp32, fp16 or bf16 (default: the weights' precision)");
    cmd->add_option("--window", a.window,
                    "Sliding-window attention: query i sees keys i - W < j <= i, the KV cache is a rolling buffer of W "
                    "positions (0 = none; default: the model's own, e.g. 4096 for mistral-7b); sets every layer");
    cmd->add_option("--layer-windows", a.layer_windows,
                    "Per-layer sliding windows, comma-separated (0 = full attention), repeated over the layers: "
                    "'4096,4096,4096,0' slides three layers of every four (default: the model's own layer_types)");
    cmd->add_option("--convert-method", a.convert_method,
                    "With --model and --kv-heads: how KV heads are merged, meanpool or first")
        ->capture_default_str();
}

namespace {

Expected<DType> dtypeArg(const std::string& s, const char* what) {
    auto t = parseDType(s);
    if (!t)
        return makeError(ErrorCode::InvalidArgument, "unknown " + std::string(what) + " '" + s + "' (fp32, fp16, bf16" +
                                                         (std::string(what) == "dtype" ? ", q8_0)" : ")"));
    return *t;
}

// Overrides that a checkpoint fixes: its shape is the checkpoint's.
Status refuseShapeOverrides(const ModelArgs& a) {
    const std::pair<const char*, bool> fixed[] = {
        {"--q-heads", a.q_heads.has_value()},   {"--head-dim", a.head_dim.has_value()},
        {"--d-model", a.d_model.has_value()},   {"--ffn-dim", a.ffn_dim.has_value()},
        {"--vocab", a.vocab.has_value()},       {"--rope-theta", a.rope_theta.has_value()},
        {"--norm-eps", a.norm_eps.has_value()}, {"--dtype", a.dtype.has_value()}};
    for (const auto& [name, set] : fixed)
        if (set)
            return makeError(ErrorCode::InvalidArgument,
                             std::string(name) +
                                 " cannot be changed on a checkpoint (--model): it is fixed by its "
                                 "weights; use --kv-heads to merge KV heads, --layers to run fewer");
    return Status::ok();
}

}  // namespace

// --window W (every layer) or --layer-windows LIST (a pattern repeated over the layers) on any model.
Status applyWindowArgs(const ModelArgs& a, ModelConfig& c) {
    if (a.window && !a.layer_windows.empty())
        return makeError(ErrorCode::InvalidArgument, "give --window or --layer-windows, not both");
    if (a.window) {
        c.sliding_window = *a.window;
        c.layer_windows.clear();
    }
    if (!a.layer_windows.empty()) {
        std::vector<int64_t> w;
        std::stringstream ss(a.layer_windows);
        std::string item;
        while (std::getline(ss, item, ',')) {
            std::size_t used = 0;
            int64_t v = -1;
            try {
                v = std::stoll(item, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used == 0 || used != item.size() || v < 0)
                return makeError(ErrorCode::InvalidArgument,
                                 "--layer-windows takes comma-separated windows >= 0 (got '" + item + "')");
            w.push_back(v);
        }
        if (w.empty()) return makeError(ErrorCode::InvalidArgument, "--layer-windows lists no window");
        c.layer_windows = std::move(w);
        c.sliding_window = *std::max_element(c.layer_windows.begin(), c.layer_windows.end());
    }
    return Status::ok();
}

Expected<ModelConfig> resolveModel(const ModelArgs& a) {
    if (!a.model_path.empty()) {
        GQA_TRY(refuseShapeOverrides(a));
        auto c = loadModelConfig(a.model_path);
        if (!c) return c.error();
        if (a.kv_heads) {
            GQA_TRY(validateKvTarget(*c, *a.kv_heads));
            c->n_kv_heads = *a.kv_heads;
        }
        if (a.layers) c->n_layers = *a.layers;
        if (a.max_seq) c->max_seq = *a.max_seq;
        GQA_TRY(applyWindowArgs(a, *c));
        if (a.kv_dtype) {
            auto t = dtypeArg(*a.kv_dtype, "kv dtype");
            if (!t) return t.error();
            c->kv_dtype = *t;
        }
        GQA_TRY(c->validate());
        return c;
    }
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
        auto t = dtypeArg(*a.dtype, "dtype");
        if (!t) return t.error();
        o.weight_dtype = *t;
        o.kv_dtype = *t == DType::Q8_0 ? DType::BF16 : *t;
    }
    if (a.kv_dtype) {
        auto t = dtypeArg(*a.kv_dtype, "kv dtype");
        if (!t) return t.error();
        o.kv_dtype = *t;
    }
    ModelConfig c = applyOverrides(*base, o);
    GQA_TRY(applyWindowArgs(a, c));
    GQA_TRY(c.validate());
    return c;
}

Expected<ResolvedModel> openModel(const ModelArgs& a, int64_t max_layers) {
    ResolvedModel r;
    if (a.model_path.empty()) {
        auto c = resolveModel(a);
        if (!c) return c.error();
        r.config = *c;
        return r;
    }
    GQA_TRY(refuseShapeOverrides(a));
    LoadOptions opt;
    opt.max_layers = max_layers;
    opt.available_bytes = createCpuBackend()->deviceInfo().available_bytes;
    auto m = loadModel(a.model_path, opt);
    if (!m) return m.error();
    const int64_t full_layers = m->config.n_layers;
    if (a.kv_heads && *a.kv_heads != m->config.n_kv_heads) {
        auto method = parseConvertMethod(a.convert_method);
        if (!method)
            return makeError(ErrorCode::InvalidArgument,
                             "--method must be meanpool or first (got '" + a.convert_method + "')");
        auto c = convertKvHeads(*m, *a.kv_heads, *method);
        if (!c) return c.error();
        *m = std::move(*c);
    }
    if (a.max_seq) m->config.max_seq = *a.max_seq;
    GQA_TRY(applyWindowArgs(a, m->config));
    if (a.kv_dtype) {
        auto t = dtypeArg(*a.kv_dtype, "kv dtype");
        if (!t) return t.error();
        m->config.kv_dtype = *t;
    }
    GQA_TRY(m->config.validate());
    r.config = m->config;
    // The checkpoint's full depth, even when only some layers were mapped (memory covers the whole model).
    if (max_layers > 0) {
        auto full = loadModelConfig(a.model_path);
        if (full) r.config.n_layers = full->n_layers;
    } else {
        r.config.n_layers = full_layers;
    }
    r.model = std::make_shared<const Model>(std::move(*m));
    return r;
}

Expected<std::string> readTextArg(const std::string& text, const std::string& file, const char* what) {
    if (!file.empty()) {
        std::ifstream f(file, std::ios::binary);
        if (!f) return makeError(ErrorCode::IoError, file + ": cannot be read");
        std::ostringstream ss;
        ss << f.rdbuf();
        if (ss.str().size() > (64u << 20)) return makeError(ErrorCode::InvalidArgument, file + ": larger than 64 MiB");
        return ss.str();
    }
    if (text.empty())
        return makeError(ErrorCode::InvalidArgument,
                         std::string("give --") + what + " TEXT or --" + what + "-file FILE");
    return text;
}

Expected<std::vector<int32_t>> tokenizeFor(const Model& m, const std::string& text, bool add_bos) {
    if (!m.tokenizer)
        return makeError(ErrorCode::InvalidArgument,
                         (m.source_path.empty() ? m.config.name : m.source_path) +
                             ": the model has no tokenizer (tokenizer.json or tokenizer.model)");
    auto ids = m.tokenizer->encode(text, add_bos && m.tokenizer->addBosByDefault());
    if (ids.empty()) return makeError(ErrorCode::InvalidArgument, "the text gives no tokens");
    return ids;
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

Expected<std::unique_ptr<Backend>> openBackend(const std::string& name) {
    return createBackend(name);
}

nlohmann::json spreadJson(const TimingStats& t) {
    return {{"median_ms", t.median_ms}, {"min_ms", t.min_ms}, {"max_ms", t.max_ms}, {"repeats", t.repeats}};
}

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
            {"architecture", c.architecture},
            {"weight_dtype", dtypeName(c.weight_dtype)},
            {"embed_dtype", dtypeName(c.embed_dtype)},
            {"norm_dtype", dtypeName(c.norm_dtype)},
            {"kv_dtype", dtypeName(c.kv_dtype)},
            {"rope_scaling", ropeScalingText(c.rope_scaling)},
            {"qkv_bias", c.qkv_bias},
            {"sliding_window", c.sliding_window},
            {"layer_windows", c.layer_windows},
            {"window", c.windowText()},
            {"bos_token_id", c.bos_token_id},
            {"eos_token_ids", c.eos_token_ids},
            {"tied_embeddings", c.tied_embeddings},
            {"source", c.source}};
}

}  // namespace gqa::cli
