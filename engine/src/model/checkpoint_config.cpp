// ModelConfig from a Hugging Face config.json or from GGUF metadata. Defaults follow the transformers
// configuration classes (LlamaConfig, MistralConfig, Qwen2Config) and llama.cpp's loader, so that a file
// which omits an optional field means what it means to those implementations.
#include "gqa/checkpoint.h"

#include <algorithm>
#include <new>
#include <optional>

#include <nlohmann/json.hpp>

#include "gqa/gguf.h"

namespace gqa {

namespace {

using nlohmann::json;

constexpr const char* kHfArchitectures = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM";

// Parsing an HF config: each accessor records the first problem and later calls become no-ops, so the
// field list below reads as a table.
class HfFields {
public:
    HfFields(const json& j, std::string what) : m_j(j), m_what(std::move(what)) {}

    bool ok() const { return !m_error; }
    Error error() const { return *m_error; }
    void fail(ErrorCode code, const std::string& msg) {
        if (!m_error) m_error = makeError(code, m_what + ": " + msg);
    }

    bool has(const char* key) const {
        auto it = m_j.find(key);
        return it != m_j.end() && !it->is_null();
    }
    const json* get(const char* key) const {
        auto it = m_j.find(key);
        return it == m_j.end() || it->is_null() ? nullptr : &*it;
    }

    int64_t requiredInt(const char* key) {
        if (!has(key)) {
            fail(ErrorCode::Corrupt, "required field '" + std::string(key) + "' is missing");
            return 0;
        }
        return integer(key, *get(key));
    }
    int64_t optionalInt(const char* key, int64_t fallback) { return has(key) ? integer(key, *get(key)) : fallback; }
    double optionalNumber(const char* key, double fallback) { return has(key) ? number(key, *get(key)) : fallback; }
    bool optionalBool(const char* key, bool fallback) {
        if (!has(key)) return fallback;
        if (!get(key)->is_boolean()) {
            fail(ErrorCode::Corrupt,
                 "field '" + std::string(key) + "' must be true or false (got " + get(key)->dump() + ")");
            return fallback;
        }
        return get(key)->get<bool>();
    }
    std::optional<std::string> optionalString(const char* key) {
        if (!has(key)) return std::nullopt;
        if (!get(key)->is_string()) {
            fail(ErrorCode::Corrupt,
                 "field '" + std::string(key) + "' must be a string (got " + get(key)->dump() + ")");
            return std::nullopt;
        }
        return get(key)->get<std::string>();
    }

    int64_t integer(const std::string& key, const json& v) {
        if (v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)))
            return v.get<int64_t>();
        fail(ErrorCode::Corrupt, "field '" + key + "' must be an integer (got " + v.dump() + ")");
        return 0;
    }
    double number(const std::string& key, const json& v) {
        if (v.is_number()) return v.get<double>();
        fail(ErrorCode::Corrupt, "field '" + key + "' must be a number (got " + v.dump() + ")");
        return 0.0;
    }
    int32_t tokenId(const std::string& key, const json& v) {
        const int64_t id = integer(key, v);
        if (ok() && (id < 0 || id > INT32_MAX)) fail(ErrorCode::Corrupt, "field '" + key + "' is not a token id");
        return static_cast<int32_t>(id);
    }

private:
    const json& m_j;
    std::string m_what;
    std::optional<Error> m_error;
};

void parseRopeScaling(HfFields& in, const json& rs, RopeScalingParams& out) {
    if (!rs.is_object()) return in.fail(ErrorCode::Corrupt, "rope_scaling must be an object or null");
    HfFields r(rs, "rope_scaling");
    std::optional<std::string> type = r.optionalString("rope_type");
    if (!type) type = r.optionalString("type");
    if (!r.ok()) return in.fail(ErrorCode::Corrupt, r.error().message);
    if (!type) return in.fail(ErrorCode::Corrupt, "rope_scaling has neither 'rope_type' nor 'type'");
    auto need = [&](const char* key) {
        if (!r.has(key)) r.fail(ErrorCode::Corrupt, "required field '" + std::string(key) + "' is missing");
        return r.number(key, r.has(key) ? *r.get(key) : json(0));
    };
    if (*type == "default") {
        out = RopeScalingParams{};
    } else if (*type == "linear") {
        out.type = RopeScaling::Linear;
        out.factor = need("factor");
    } else if (*type == "llama3") {
        out.type = RopeScaling::Llama3;
        out.factor = need("factor");
        out.low_freq_factor = need("low_freq_factor");
        out.high_freq_factor = need("high_freq_factor");
        if (!r.has("original_max_position_embeddings"))
            r.fail(ErrorCode::Corrupt, "required field 'original_max_position_embeddings' is missing");
        else
            out.original_max_position =
                r.integer("original_max_position_embeddings", *r.get("original_max_position_embeddings"));
        if (r.ok() && !(out.high_freq_factor > out.low_freq_factor))
            r.fail(ErrorCode::Corrupt, "high_freq_factor must exceed low_freq_factor");
        if (r.ok() && out.original_max_position <= 0)
            r.fail(ErrorCode::Corrupt, "original_max_position_embeddings must be positive");
    } else {
        return in.fail(ErrorCode::InvalidArgument,
                       "rope_scaling type '" + *type + "' is not supported (default, linear, llama3)");
    }
    if (r.ok() && out.type != RopeScaling::None && !(out.factor >= 1.0))
        r.fail(ErrorCode::Corrupt, "factor must be at least 1 (got " + std::to_string(out.factor) + ")");
    if (!r.ok()) in.fail(r.error().code, r.error().message);
}

// kv_dtype of a checkpoint: fp32 by default, so that logits are fp32 math on the stored weights (a bf16 cache
// moves the shared test model's logits by ~0.1); a user picks fp16/bf16 to see a deployment's cache.
DType kvDtypeFor(DType) {
    return DType::F32;
}

Status validated(const ModelConfig& c, const std::string& what) {
    Status s = c.validate();
    if (!s) return makeError(s.code(), what + ": " + s.message());
    return Status::ok();
}

Expected<ModelConfig> fromHf(const std::string& text, const std::string& what) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        return makeError(ErrorCode::Corrupt, what + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object()) return makeError(ErrorCode::Corrupt, what + ": not a JSON object");
    HfFields in(j, what);
    ModelConfig c;

    if (const json* a = in.get("architectures")) {
        if (!a->is_array() || a->empty() || !(*a)[0].is_string())
            return makeError(ErrorCode::Corrupt, what + ": field 'architectures' must be a non-empty list of names");
        c.architecture = (*a)[0].get<std::string>();
    } else {
        return makeError(ErrorCode::Corrupt, what + ": required field 'architectures' is missing");
    }
    const bool llama = c.architecture == "LlamaForCausalLM";
    const bool mistral = c.architecture == "MistralForCausalLM";
    const bool qwen2 = c.architecture == "Qwen2ForCausalLM";
    if (!llama && !mistral && !qwen2)
        return makeError(ErrorCode::InvalidArgument,
                         what + ": architecture '" + c.architecture + "' is not supported (" + kHfArchitectures + ")");

    if (auto act = in.optionalString("hidden_act"); act && *act != "silu")
        in.fail(ErrorCode::InvalidArgument, "hidden_act '" + *act + "' is not supported (silu)");
    if (in.optionalBool("mlp_bias", false))
        in.fail(ErrorCode::InvalidArgument, "mlp_bias true is not supported (the FFN has no biases)");

    c.d_model = in.requiredInt("hidden_size");
    c.n_layers = in.requiredInt("num_hidden_layers");
    c.n_q_heads = in.requiredInt("num_attention_heads");
    c.ffn_dim = in.requiredInt("intermediate_size");
    c.vocab_size = in.requiredInt("vocab_size");
    c.max_seq = in.requiredInt("max_position_embeddings");
    c.n_kv_heads = in.optionalInt("num_key_value_heads", c.n_q_heads);
    if (in.has("head_dim")) {
        c.head_dim = in.requiredInt("head_dim");
    } else if (in.ok() && c.n_q_heads > 0) {
        if (c.d_model % c.n_q_heads != 0)
            in.fail(ErrorCode::InvalidArgument, "hidden_size (" + std::to_string(c.d_model) +
                                                    ") is not a multiple of num_attention_heads (" +
                                                    std::to_string(c.n_q_heads) + ") and no head_dim is given");
        c.head_dim = c.d_model / c.n_q_heads;
    }
    c.rope_theta = in.optionalNumber("rope_theta", 10000.0);
    c.norm_eps = in.optionalNumber("rms_norm_eps", 1e-6);  // the transformers default for all three
    if (const json* rs = in.get("rope_scaling")) parseRopeScaling(in, *rs, c.rope_scaling);
    c.tied_embeddings = in.optionalBool("tie_word_embeddings", false);
    c.qkv_bias = qwen2 || in.optionalBool("attention_bias", false);
    if (mistral || qwen2) {
        // Qwen2Config defaults use_sliding_window to false; MistralConfig has no switch and uses the window.
        const bool use = in.optionalBool("use_sliding_window", mistral);
        const int64_t window = in.optionalInt("sliding_window", 0);
        if (use && window < 0) in.fail(ErrorCode::Corrupt, "field 'sliding_window' cannot be negative");
        c.sliding_window = use ? window : 0;
        // Qwen2: layers from max_window_layers on slide (transformers' Qwen2Config.layer_types default).
        if (qwen2 && c.sliding_window > 0 && !in.has("layer_types")) {
            const int64_t first = in.optionalInt("max_window_layers", 28);
            if (in.ok() && first > 0 && c.n_layers > 0 && c.n_layers <= (int64_t{1} << 20)) {
                c.layer_windows.assign(static_cast<size_t>(c.n_layers), 0);
                for (int64_t l = first; l < c.n_layers; ++l) c.layer_windows[static_cast<size_t>(l)] = c.sliding_window;
            }
        }
    }
    // Per-layer attention types (transformers' `layer_types`): "sliding_attention" layers use sliding_window,
    // "full_attention" layers see the whole context; any other kind of layer is refused.
    if (const json* lt = in.get("layer_types"); lt && in.ok()) {
        if (!lt->is_array() || static_cast<int64_t>(lt->size()) != c.n_layers) {
            in.fail(ErrorCode::Corrupt,
                    "field 'layer_types' must list one type per layer (" + std::to_string(c.n_layers) + ")");
        } else {
            std::vector<int64_t> windows;
            bool any = false;
            for (const json& t : *lt) {
                const std::string kind = t.is_string() ? t.get<std::string>() : t.dump();
                if (kind == "sliding_attention") {
                    windows.push_back(c.sliding_window);
                    any = true;
                } else if (kind == "full_attention") {
                    windows.push_back(0);
                } else {
                    in.fail(ErrorCode::InvalidArgument, "layer type '" + kind +
                                                            "' in 'layer_types' is not supported "
                                                            "(sliding_attention, full_attention)");
                    break;
                }
            }
            if (in.ok() && any && c.sliding_window <= 0)
                in.fail(ErrorCode::Corrupt,
                        "'layer_types' has sliding_attention layers but no positive 'sliding_window' is in use");
            if (in.ok()) c.layer_windows = std::move(windows);
        }
    }

    // transformers >= 4.56 writes "dtype"; older versions "torch_dtype".
    std::optional<std::string> dtype = in.optionalString("torch_dtype");
    if (!dtype) dtype = in.optionalString("dtype");
    if (!dtype || *dtype == "bfloat16") {
        c.weight_dtype = DType::BF16;
    } else if (*dtype == "float16") {
        c.weight_dtype = DType::F16;
    } else if (*dtype == "float32") {
        c.weight_dtype = DType::F32;
    } else {
        in.fail(ErrorCode::InvalidArgument,
                "torch_dtype '" + *dtype + "' is not supported (bfloat16, float16, float32)");
    }
    // A Hugging Face checkpoint stores every tensor in torch_dtype (the loader corrects this from the tensors).
    c.embed_dtype = c.norm_dtype = c.weight_dtype;
    c.kv_dtype = kvDtypeFor(c.weight_dtype);

    if (const json* b = in.get("bos_token_id")) c.bos_token_id = in.tokenId("bos_token_id", *b);
    if (const json* e = in.get("eos_token_id")) {
        if (e->is_array()) {
            for (const auto& id : *e) {
                if (id.is_null()) continue;
                c.eos_token_ids.push_back(in.tokenId("eos_token_id", id));
            }
        } else {
            c.eos_token_ids.push_back(in.tokenId("eos_token_id", *e));
        }
    }
    auto name = in.optionalString("_name_or_path");
    c.name = name && !name->empty() ? *name : "model";
    c.source = what;
    if (!in.ok()) return in.error();
    GQA_TRY(validated(c, what));
    return c;
}

// GGUF keys: missing and ill-typed are told apart, so the message says which.
class GgufFields {
public:
    explicit GgufFields(const GgufFile& f) : m_f(f) {}
    bool ok() const { return !m_error; }
    Error error() const { return *m_error; }
    void fail(ErrorCode code, const std::string& msg) {
        if (!m_error) m_error = makeError(code, m_f.path + ": " + msg);
    }

    int64_t requiredInt(const std::string& key) {
        if (!m_f.find(key)) {
            fail(ErrorCode::Corrupt, "key '" + key + "' is missing");
            return 0;
        }
        return optionalInt(key, 0);
    }
    int64_t optionalInt(const std::string& key, int64_t fallback) {
        const GgufValue* v = m_f.find(key);
        if (!v) return fallback;
        if (v->isInteger()) return v->i;
        // llama.cpp allows per-layer head counts as arrays; one value for every layer is the same model.
        if (v->type == GgufType::Array && !v->ints.empty() &&
            std::all_of(v->ints.begin(), v->ints.end(), [&](int64_t x) { return x == v->ints[0]; }))
            return v->ints[0];
        fail(ErrorCode::Corrupt,
             "key '" + key + "' must be an integer" +
                 (v->type == GgufType::Array ? " (per-layer values that differ are not supported)" : ""));
        return fallback;
    }
    double requiredFloat(const std::string& key) {
        if (!m_f.find(key)) {
            fail(ErrorCode::Corrupt, "key '" + key + "' is missing");
            return 0.0;
        }
        return optionalFloat(key, 0.0);
    }
    double optionalFloat(const std::string& key, double fallback) {
        if (!m_f.find(key)) return fallback;
        if (auto v = m_f.getFloat(key)) return *v;
        fail(ErrorCode::Corrupt, "key '" + key + "' must be a number");
        return fallback;
    }
    std::optional<std::string> optionalString(const std::string& key) {
        if (!m_f.find(key)) return std::nullopt;
        if (auto v = m_f.getString(key)) return v;
        fail(ErrorCode::Corrupt, "key '" + key + "' must be a string");
        return std::nullopt;
    }

private:
    const GgufFile& m_f;
    std::optional<Error> m_error;
};

Expected<ModelConfig> fromGguf(const GgufFile& f) {
    GgufFields in(f);
    ModelConfig c;
    const auto arch = in.optionalString("general.architecture");
    if (!in.ok()) return in.error();
    if (!arch) return makeError(ErrorCode::Corrupt, f.path + ": key 'general.architecture' is missing");
    if (*arch == "llama") {
        c.architecture = "LlamaForCausalLM";
    } else if (*arch == "qwen2") {
        c.architecture = "Qwen2ForCausalLM";
        c.qkv_bias = true;
    } else {
        return makeError(ErrorCode::InvalidArgument,
                         f.path + ": general.architecture '" + *arch + "' is not supported (llama, qwen2)");
    }
    const std::string p = *arch + ".";
    c.n_layers = in.requiredInt(p + "block_count");
    c.d_model = in.requiredInt(p + "embedding_length");
    c.ffn_dim = in.requiredInt(p + "feed_forward_length");
    c.n_q_heads = in.requiredInt(p + "attention.head_count");
    c.n_kv_heads = in.optionalInt(p + "attention.head_count_kv", c.n_q_heads);
    c.max_seq = in.requiredInt(p + "context_length");
    c.norm_eps = in.requiredFloat(p + "attention.layer_norm_rms_epsilon");
    c.rope_theta = in.optionalFloat(p + "rope.freq_base", 10000.0);
    c.sliding_window = in.optionalInt(p + "attention.sliding_window", 0);
    // Which layers slide (llama.cpp's sliding_window_pattern): one flag per layer, or a period n in which the
    // last layer of every n is full (n = 0: every layer slides).
    if (const GgufValue* pat = f.find(p + "attention.sliding_window_pattern"); pat && c.sliding_window > 0) {
        std::vector<int64_t> windows;
        if (pat->type == GgufType::Array && static_cast<int64_t>(pat->ints.size()) == c.n_layers &&
            pat->floats.empty() && pat->strings.empty()) {
            for (int64_t on : pat->ints) windows.push_back(on ? c.sliding_window : 0);
        } else if (pat->isInteger() && pat->i >= 0 && pat->i <= std::min<int64_t>(c.n_layers, 1 << 16)) {
            // A period is kept as the pattern of one period (ModelConfig repeats it over the layers).
            for (int64_t l = 0; l < pat->i; ++l) windows.push_back(l < pat->i - 1 ? c.sliding_window : 0);
        } else {
            in.fail(ErrorCode::Corrupt, "key '" + p + "attention.sliding_window_pattern' must be a period (0.." +
                                            std::to_string(c.n_layers) + ") or one flag per layer");
        }
        if (in.ok()) c.layer_windows = std::move(windows);
    }
    if (f.find(p + "attention.key_length")) {
        c.head_dim = in.requiredInt(p + "attention.key_length");
        const int64_t v_len = in.optionalInt(p + "attention.value_length", c.head_dim);
        if (in.ok() && v_len != c.head_dim)
            in.fail(ErrorCode::InvalidArgument, "attention.value_length (" + std::to_string(v_len) +
                                                    ") differs from attention.key_length (" +
                                                    std::to_string(c.head_dim) + "): not supported");
    } else if (in.ok() && c.n_q_heads > 0) {
        if (c.d_model % c.n_q_heads != 0)
            in.fail(ErrorCode::InvalidArgument, p + "embedding_length (" + std::to_string(c.d_model) +
                                                    ") is not a multiple of " + p + "attention.head_count (" +
                                                    std::to_string(c.n_q_heads) + ")");
        c.head_dim = c.d_model / c.n_q_heads;
    }

    if (auto type = in.optionalString(p + "rope.scaling.type")) {
        if (*type == "linear") {
            c.rope_scaling.type = RopeScaling::Linear;
            c.rope_scaling.factor = in.requiredFloat(p + "rope.scaling.factor");
            if (in.ok() && !(c.rope_scaling.factor >= 1.0))
                in.fail(ErrorCode::Corrupt, p + "rope.scaling.factor must be at least 1");
        } else if (*type != "none") {
            in.fail(ErrorCode::InvalidArgument,
                    p + "rope.scaling.type '" + *type + "' is not supported (none, linear)");
        }
    }
    // Llama 3.1 GGUFs carry their RoPE scaling as per-frequency factors in a tensor, not as keys; running
    // without them would silently change every long-range position.
    if (f.findTensor("rope_freqs.weight"))
        in.fail(ErrorCode::InvalidArgument,
                "tensor 'rope_freqs.weight' (per-frequency RoPE factors, as in Llama 3.1) "
                "is not supported");

    if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens"); tokens && tokens->type == GgufType::Array) {
        c.vocab_size = static_cast<int64_t>(tokens->strings.size());
        if (tokens->elem != GgufType::String)
            in.fail(ErrorCode::Corrupt, "tokenizer.ggml.tokens is not a string array");
    } else if (f.find(p + "vocab_size")) {
        c.vocab_size = in.requiredInt(p + "vocab_size");
    } else {
        in.fail(ErrorCode::Corrupt, "neither tokenizer.ggml.tokens nor " + p + "vocab_size gives the vocabulary size");
    }
    c.tied_embeddings = f.findTensor("output.weight") == nullptr;

    if (const GgufTensorInfo* q = f.findTensor("blk.0.attn_q.weight")) {
        switch (q->ggml_type) {
            case 0: c.weight_dtype = DType::F32; break;
            case 1: c.weight_dtype = DType::F16; break;
            case 30: c.weight_dtype = DType::BF16; break;
            case 8: c.weight_dtype = DType::Q8_0; break;
            default:
                in.fail(ErrorCode::InvalidArgument, "tensor type " + std::string(ggmlTypeName(q->ggml_type)) +
                                                        (ggmlTypeName(q->ggml_type) == std::string("unknown")
                                                             ? " (id " + std::to_string(q->ggml_type) + ")"
                                                             : "") +
                                                        " is not supported (F32, F16, BF16, Q8_0)");
        }
    } else {
        in.fail(ErrorCode::Corrupt, "tensor 'blk.0.attn_q.weight' is missing");
    }
    // llama.cpp's converter keeps norms in F32 and usually the embedding in the matrices' type (the loader
    // corrects both from the tensors).
    c.embed_dtype = c.weight_dtype;
    c.norm_dtype = DType::F32;
    c.kv_dtype = kvDtypeFor(c.weight_dtype);

    const int64_t bos = in.optionalInt("tokenizer.ggml.bos_token_id", -1);
    const int64_t eos = in.optionalInt("tokenizer.ggml.eos_token_id", -1);
    if (in.ok() && (bos < -1 || bos > INT32_MAX || eos < -1 || eos > INT32_MAX))
        in.fail(ErrorCode::Corrupt, "tokenizer.ggml.bos_token_id / eos_token_id is not a token id");
    c.bos_token_id = static_cast<int32_t>(bos);
    if (eos >= 0) c.eos_token_ids.push_back(static_cast<int32_t>(eos));
    auto name = in.optionalString("general.name");
    c.name = name && !name->empty() ? *name : "model";
    c.source = f.path;
    if (!in.ok()) return in.error();
    GQA_TRY(validated(c, f.path));
    return c;
}

}  // namespace

Expected<ModelConfig> configFromHfJson(const std::string& text, const std::string& what) {
    try {
        return fromHf(text, what);
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::OutOfMemory, what + ": out of memory");
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Corrupt, what + ": " + e.what());
    }
}

Expected<ModelConfig> configFromGguf(const GgufFile& f) {
    try {
        return fromGguf(f);
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::OutOfMemory, f.path + ": out of memory");
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, f.path + ": " + e.what());
    }
}

}  // namespace gqa
