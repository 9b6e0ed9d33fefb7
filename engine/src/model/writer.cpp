// Writing a Model as a Hugging Face directory that GQA Lab and transformers load back: config.json,
// model.safetensors (Hugging Face tensor names, each tensor in its own dtype; Q8_0 written as the exact F32 of
// its dequantized values) and the tokenizer files of the source directory.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "gqa/model.h"
#include "gqa/safetensors.h"

namespace gqa {

namespace fs = std::filesystem;

namespace {

const char* torchDtype(DType t) {
    switch (t) {
        case DType::F32: return "float32";
        case DType::F16: return "float16";
        case DType::BF16: return "bfloat16";
        case DType::Q8_0: return "float32";
    }
    return "float32";
}

const char* stDtype(DType t) {
    switch (t) {
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        default: return "F32";
    }
}

// The one window size of a per-layer pattern's sliding layers (0 when none slides), -1 when sizes differ.
int64_t sharedWindow(const ModelConfig& c) {
    int64_t w = 0;
    for (const auto& [wl, count] : c.windowCounts(c.n_layers)) {
        if (wl > 0 && w > 0) return -1;  // windowCounts lists each size once
        if (wl > 0) w = wl;
    }
    return w;
}

nlohmann::json configJson(const ModelConfig& c) {
    const std::string arch = c.architecture;
    const char* model_type = arch == "MistralForCausalLM" ? "mistral" : arch == "Qwen2ForCausalLM" ? "qwen2" : "llama";
    nlohmann::json j = {{"architectures", {arch}},
                        {"model_type", model_type},
                        {"hidden_size", c.d_model},
                        {"intermediate_size", c.ffn_dim},
                        {"num_hidden_layers", c.n_layers},
                        {"num_attention_heads", c.n_q_heads},
                        {"num_key_value_heads", c.n_kv_heads},
                        {"head_dim", c.head_dim},
                        {"hidden_act", "silu"},
                        {"max_position_embeddings", c.max_seq},
                        {"rms_norm_eps", c.norm_eps},
                        {"rope_theta", c.rope_theta},
                        {"tie_word_embeddings", c.tied_embeddings},
                        {"vocab_size", c.vocab_size},
                        {"torch_dtype", torchDtype(c.weight_dtype)}};
    const auto& rs = c.rope_scaling;
    if (rs.type == RopeScaling::None) {
        j["rope_scaling"] = nullptr;
    } else if (rs.type == RopeScaling::Linear) {
        j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", rs.factor}};
    } else {
        j["rope_scaling"] = {{"rope_type", "llama3"},
                             {"factor", rs.factor},
                             {"low_freq_factor", rs.low_freq_factor},
                             {"high_freq_factor", rs.high_freq_factor},
                             {"original_max_position_embeddings", rs.original_max_position}};
    }
    if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
    if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
    if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
    if (arch == "LlamaForCausalLM") j["attention_bias"] = c.qkv_bias;
    // Per-layer windows as transformers' `layer_types` (every sliding layer shares one size: sharedWindow).
    const int64_t window = c.layer_windows.empty() ? c.sliding_window : sharedWindow(c);
    if (arch == "MistralForCausalLM") j["sliding_window"] = window > 0 ? nlohmann::json(window) : nullptr;
    if (arch == "Qwen2ForCausalLM") {
        j["use_sliding_window"] = window > 0;
        if (window > 0) j["sliding_window"] = window;
        if (window > 0 && c.layer_windows.empty()) j["max_window_layers"] = 0;  // every layer slides
    }
    if (!c.layer_windows.empty() && arch != "LlamaForCausalLM") {
        auto& types = j["layer_types"] = nlohmann::json::array();
        for (int64_t l = 0; l < c.n_layers; ++l)
            types.push_back(c.windowOf(l) > 0 ? "sliding_attention" : "full_attention");
    }
    return j;
}

}  // namespace

Status saveHfModel(const Model& m, const std::string& dir) {
    GQA_TRY(validateModel(m));
    if (m.config.architecture == "Qwen2ForCausalLM" && !m.config.qkv_bias)
        return makeError(
            ErrorCode::InvalidArgument,
            "a Qwen2 config.json implies q/k/v biases and this model has none: it cannot be saved as Qwen2");
    if (m.config.hasWindow() && m.config.architecture == "LlamaForCausalLM")
        return makeError(ErrorCode::InvalidArgument,
                         "a Llama config.json has no sliding window: the model's window (" + m.config.windowText() +
                             ") cannot be saved; save a Mistral or Qwen2 model, or remove the window");
    if (!m.config.layer_windows.empty() && sharedWindow(m.config) < 0)
        return makeError(ErrorCode::InvalidArgument,
                         "config.json holds one sliding_window for every sliding layer; "
                         "this model's layers have different windows (" +
                             m.config.windowText() + ")");
    try {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec || !fs::is_directory(dir)) return makeError(ErrorCode::IoError, dir + ": cannot create the directory");
        if (!m.source_path.empty() && fs::equivalent(dir, m.source_path, ec))
            return makeError(ErrorCode::InvalidArgument, dir + ": is the model's own directory; write to another one");

        // Tensors under their Hugging Face names; Q8_0 widened to F32 (exact: d * q is representable).
        std::vector<SafetensorsWriteTensor> out;
        std::vector<std::vector<float>> widened;
        auto add = [&](const Tensor& t, const std::string& name) {
            if (t.empty()) return;
            SafetensorsWriteTensor w{name, stDtype(t.dtype), t.shape, t.data, t.bytes};
            if (t.dtype == DType::Q8_0) {
                std::vector<float> v(static_cast<size_t>(t.numel()));
                for (int64_t r = 0; r < t.rows(); ++r)
                    loadAsFloat(t.dtype, t.row(r), v.data() + r * t.cols(), t.cols());
                w.data = v.data();
                w.bytes = static_cast<int64_t>(v.size() * 4);
                widened.push_back(std::move(v));
            }
            out.push_back(std::move(w));
        };
        add(m.embedding, "model.embed_tokens.weight");
        add(m.final_norm, "model.norm.weight");
        add(m.lm_head, "lm_head.weight");
        for (size_t i = 0; i < m.layers.size(); ++i) {
            const auto& l = m.layers[i];
            const std::string p = "model.layers." + std::to_string(i) + ".";
            add(l.attn_norm, p + "input_layernorm.weight");
            add(l.wq, p + "self_attn.q_proj.weight");
            add(l.wk, p + "self_attn.k_proj.weight");
            add(l.wv, p + "self_attn.v_proj.weight");
            add(l.bq, p + "self_attn.q_proj.bias");
            add(l.bk, p + "self_attn.k_proj.bias");
            add(l.bv, p + "self_attn.v_proj.bias");
            add(l.wo, p + "self_attn.o_proj.weight");
            add(l.ffn_norm, p + "post_attention_layernorm.weight");
            add(l.w_gate, p + "mlp.gate_proj.weight");
            add(l.w_up, p + "mlp.up_proj.weight");
            add(l.w_down, p + "mlp.down_proj.weight");
        }
        GQA_TRY(writeSafetensors(dir + "/model.safetensors", out, {{"format", "pt"}}));

        ModelConfig c = m.config;
        if (c.weight_dtype == DType::Q8_0) c.weight_dtype = DType::F32;
        {
            const std::string tmp = dir + "/config.json.tmp";
            std::ofstream f(tmp);
            f << configJson(c).dump(2) << "\n";
            f.close();
            if (!f) return makeError(ErrorCode::IoError, dir + "/config.json: cannot be written");
            fs::rename(tmp, dir + "/config.json", ec);
            if (ec) return makeError(ErrorCode::IoError, dir + "/config.json: " + ec.message());
        }
        // The tokenizer travels with the weights when the model came from a directory that has one.
        if (m.format == "hf" && !m.source_path.empty())
            for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                                     "special_tokens_map.json", "generation_config.json"}) {
                const fs::path src = fs::path(m.source_path) / name;
                if (fs::exists(src)) {
                    fs::copy_file(src, fs::path(dir) / name, fs::copy_options::overwrite_existing, ec);
                    if (ec) return makeError(ErrorCode::IoError, (fs::path(dir) / name).string() + ": " + ec.message());
                }
            }
        return Status::ok();
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::OutOfMemory, dir + ": not enough memory to write the model");
    } catch (const std::exception& e) {
        return makeError(ErrorCode::IoError, dir + ": " + e.what());
    }
}

}  // namespace gqa
