// Loading checkpoints into a Model: a Hugging Face directory (config.json + safetensors, single file or
// shards) or a GGUF file. Files are mapped once, read-only; every tensor the config needs is looked up by
// name, its dtype and shape checked (validateModel) before anything runs. GGUF's Q/K rows, permuted by
// llama.cpp's converter for interleaved RoPE, are put back in the half-split order the engine uses.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gqa/checkpoint.h"
#include "gqa/gguf.h"
#include "gqa/memory_model.h"
#include "gqa/model.h"
#include "gqa/safetensors.h"
#include "gqa/tokenizer.h"

namespace gqa {

namespace fs = std::filesystem;

namespace {

// One step of loadModel's progress, and the place it can be cancelled.
Status loadStep(const LoadOptions& opt) {
    if (opt.cancel && opt.cancel->load()) return makeError(ErrorCode::Cancelled, "loading cancelled");
    if (opt.progress) opt.progress->fetch_add(1);
    return Status::ok();
}

// A mapping held by the Model: its pages are the tensors' bytes.
class MappedStorage final : public TensorStorage {
public:
    explicit MappedStorage(std::shared_ptr<const MappedFile> f) : m_file(std::move(f)) {}
    int64_t bytes() const override { return static_cast<int64_t>(m_file->size()); }
    bool mapped() const override { return true; }

private:
    std::shared_ptr<const MappedFile> m_file;
};

Error corrupt(const std::string& m) {
    return makeError(ErrorCode::Corrupt, m);
}
Error invalid(const std::string& m) {
    return makeError(ErrorCode::InvalidArgument, m);
}

bool isDir(const std::string& p) {
    std::error_code ec;
    return fs::is_directory(p, ec);
}

Expected<std::string> readText(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return makeError(ErrorCode::IoError, path + ": cannot be read");
    std::ostringstream ss;
    ss << f.rdbuf();
    if (ss.str().size() > (64u << 20)) return corrupt(path + ": larger than 64 MiB, not a config file");
    return ss.str();
}

std::string baseName(const std::string& path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return fs::path(p).filename().string();
}

// ---- Hugging Face directories --------------------------------------------------------------------------

// The safetensors files of a directory: model.safetensors, or the shards model.safetensors.index.json names.
Expected<std::vector<std::string>> hfShards(const std::string& dir, std::map<std::string, std::string>* weight_map) {
    const std::string single = dir + "/model.safetensors", index = dir + "/model.safetensors.index.json";
    if (fs::exists(index)) {
        auto text = readText(index);
        if (!text) return text.error();
        std::vector<std::string> files;
        try {
            const auto j = nlohmann::json::parse(*text);
            if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
                return corrupt(index + ": no \"weight_map\" object");
            std::set<std::string> seen;
            for (const auto& [name, file] : j["weight_map"].items()) {
                if (!file.is_string()) return corrupt(index + ": weight_map entry '" + name + "' is not a file name");
                const std::string f = file.get<std::string>();
                if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
                    return corrupt(index + ": shard name '" + f + "' must be a file in the same directory");
                if (weight_map) (*weight_map)[name] = f;
                if (seen.insert(f).second) files.push_back(f);
            }
        } catch (const std::exception& e) {
            return corrupt(index + ": not valid JSON (" + e.what() + ")");
        }
        if (files.empty()) return corrupt(index + ": the weight_map is empty");
        for (auto& f : files) f = dir + "/" + f;
        return files;
    }
    if (fs::exists(single)) return std::vector<std::string>{single};
    for (const char* bin : {"pytorch_model.bin", "pytorch_model.bin.index.json", "model.bin"})
        if (fs::exists(dir + "/" + bin))
            return invalid(dir + ": holds a PyTorch checkpoint (" + std::string(bin) +
                           "), which GQA Lab does not read (a pickle can run code when loaded); convert it to "
                           "safetensors first, e.g. with transformers: AutoModelForCausalLM.from_pretrained(dir)"
                           ".save_pretrained(out, safe_serialization=True)");
    return makeError(ErrorCode::IoError, dir + ": no model.safetensors or model.safetensors.index.json");
}

Expected<DType> fromSafetensorsDtype(const SafetensorsTensor& t, const std::string& file) {
    if (t.dtype == "F32") return DType::F32;
    if (t.dtype == "F16") return DType::F16;
    if (t.dtype == "BF16") return DType::BF16;
    return invalid(file + ": tensor '" + t.name + "' has dtype " + t.dtype +
                   ", which GQA Lab does not read (F32, F16, BF16)");
}

struct HfTensors {
    std::map<std::string, std::pair<const SafetensorsTensor*, std::string>> by_name;  // name -> (tensor, file)
    std::vector<SafetensorsFile> files;
};

Expected<Model> loadHf(const std::string& dir, const LoadOptions& opt) {
    auto text = readText(dir + "/config.json");
    if (!text) return text.error();
    auto cfg = configFromHfJson(*text, dir + "/config.json");
    if (!cfg) return cfg.error();
    Model m;
    m.config = *cfg;
    m.config.name = baseName(dir);
    m.config.source = dir;
    m.format = "hf";
    m.source_path = dir;
    const int64_t L = opt.max_layers > 0 ? std::min(opt.max_layers, cfg->n_layers) : cfg->n_layers;
    m.config.n_layers = L;
    if (opt.available_bytes > 0) {
        const auto fit = predictFit(m.config, 1, 1, opt.available_bytes);
        if (!fit.fits) return makeError(ErrorCode::OutOfMemory, dir + ": the weights alone " + fit.message);
    }

    std::map<std::string, std::string> weight_map;
    auto shards = hfShards(dir, &weight_map);
    if (!shards) return shards.error();
    HfTensors ts;
    ts.files.reserve(shards->size());
    for (const auto& f : *shards) {
        auto st = readSafetensors(f);
        if (!st) return st.error();
        ts.files.push_back(std::move(*st));
    }
    for (const auto& sf : ts.files) {
        m.storage.push_back(std::make_shared<MappedStorage>(sf.mapping));
        for (const auto& t : sf.tensors) {
            if (ts.by_name.count(t.name))
                return corrupt(dir + ": tensor '" + t.name + "' appears in both " + ts.by_name[t.name].second +
                               " and " + sf.path);
            if (!weight_map.empty()) {
                auto it = weight_map.find(t.name);
                if (it != weight_map.end() && dir + "/" + it->second != sf.path)
                    return corrupt(dir + ": the index puts '" + t.name + "' in " + it->second + " but it is in " +
                                   sf.path);
            }
            ts.by_name[t.name] = {&t, sf.path};
        }
    }
    for (const auto& [name, file] : weight_map)
        if (!ts.by_name.count(name))
            return corrupt(dir + ": the index lists '" + name + "' in " + file + " but it is not there");

    auto take = [&](Tensor& out, const std::string& name, bool required) -> Status {
        auto it = ts.by_name.find(name);
        if (it == ts.by_name.end()) {
            if (required) return corrupt(dir + ": tensor '" + name + "' is missing");
            return Status::ok();
        }
        const SafetensorsTensor& t = *it->second.first;
        auto dt = fromSafetensorsDtype(t, it->second.second);
        if (!dt) return dt.error();
        out.name = name;
        out.dtype = *dt;
        out.shape = t.shape;
        out.data = t.data;
        out.bytes = t.bytes;
        return Status::ok();
    };
    const bool bias = m.config.qkv_bias;
    GQA_TRY(take(m.embedding, "model.embed_tokens.weight", true));
    GQA_TRY(take(m.final_norm, "model.norm.weight", true));
    if (!m.config.tied_embeddings) GQA_TRY(take(m.lm_head, "lm_head.weight", true));
    m.layers.resize(static_cast<size_t>(L));
    for (int64_t i = 0; i < L; ++i) {
        GQA_TRY(loadStep(opt));
        auto& l = m.layers[static_cast<size_t>(i)];
        const std::string p = "model.layers." + std::to_string(i) + ".";
        GQA_TRY(take(l.attn_norm, p + "input_layernorm.weight", true));
        GQA_TRY(take(l.wq, p + "self_attn.q_proj.weight", true));
        GQA_TRY(take(l.wk, p + "self_attn.k_proj.weight", true));
        GQA_TRY(take(l.wv, p + "self_attn.v_proj.weight", true));
        if (bias) {
            GQA_TRY(take(l.bq, p + "self_attn.q_proj.bias", true));
            GQA_TRY(take(l.bk, p + "self_attn.k_proj.bias", true));
            GQA_TRY(take(l.bv, p + "self_attn.v_proj.bias", true));
        }
        GQA_TRY(take(l.wo, p + "self_attn.o_proj.weight", true));
        GQA_TRY(take(l.ffn_norm, p + "post_attention_layernorm.weight", true));
        GQA_TRY(take(l.w_gate, p + "mlp.gate_proj.weight", true));
        GQA_TRY(take(l.w_up, p + "mlp.up_proj.weight", true));
        GQA_TRY(take(l.w_down, p + "mlp.down_proj.weight", true));
    }
    if (ts.by_name.count("model.layers." + std::to_string(cfg->n_layers) + ".input_layernorm.weight"))
        return corrupt(dir + ": the checkpoint holds more layers than config.json's num_hidden_layers (" +
                       std::to_string(cfg->n_layers) + ")");
    return m;
}

// ---- GGUF files ------------------------------------------------------------------------------------------

Expected<DType> fromGgmlType(const GgufTensorInfo& t, const std::string& file) {
    switch (t.ggml_type) {
        case 0: return DType::F32;
        case 1: return DType::F16;
        case 30: return DType::BF16;
        case 8: return DType::Q8_0;
        default: break;
    }
    return invalid(file + ": tensor '" + t.name + "' has type " + ggmlTypeName(t.ggml_type) + " (" +
                   std::to_string(t.ggml_type) + "), which GQA Lab does not read (F32, F16, BF16, Q8_0)");
}

// GGUF row r of a permuted Q/K projection holds HF row perm(r): within each head of D rows, llama.cpp's
// converter interleaves the two halves (HF rows i and i + D/2 become rows 2i and 2i + 1).
void unpermuteRows(const Tensor& src, Tensor& dst, void* out, int64_t n_heads, int64_t D) {
    const int64_t rb = src.rowBytes();
    auto* o = static_cast<uint8_t*>(out);
    for (int64_t h = 0; h < n_heads; ++h)
        for (int64_t j = 0; j < D; ++j) {
            const int64_t g = j < D / 2 ? 2 * j : 2 * (j - D / 2) + 1;  // GGUF row within the head
            std::memcpy(o + (h * D + j) * rb, src.row(h * D + g), static_cast<size_t>(rb));
        }
    (void)dst;
}

bool looksSplit(const std::string& path) {
    static const std::regex split(R"(-\d{5}-of-\d{5}\.gguf$)");
    return std::regex_search(path, split);
}

Expected<Model> loadGguf(const std::string& path, const LoadOptions& opt) {
    if (looksSplit(path))
        return invalid(path +
                       ": a split GGUF file (one part of several); merge the parts into one file first "
                       "(llama.cpp's llama-gguf-split --merge FIRST-PART OUT.gguf)");
    auto f = readGguf(path);
    if (!f) return f.error();
    if (auto n = f->getInt("split.count"); n && *n > 1)
        return invalid(path + ": part of a split GGUF (" + std::to_string(*n) +
                       " parts); merge them first (llama.cpp's llama-gguf-split --merge)");
    auto cfg = configFromGguf(*f);
    if (!cfg) return cfg.error();
    Model m;
    m.config = *cfg;
    m.config.source = path;
    if (m.config.name.empty() || m.config.name == "model") m.config.name = fs::path(path).stem().string();
    m.format = "gguf";
    m.source_path = path;
    const int64_t L = opt.max_layers > 0 ? std::min(opt.max_layers, cfg->n_layers) : cfg->n_layers;
    m.config.n_layers = L;
    if (opt.available_bytes > 0) {
        const auto fit = predictFit(m.config, 1, 1, opt.available_bytes);
        if (!fit.fits) return makeError(ErrorCode::OutOfMemory, path + ": the weights alone " + fit.message);
    }
    if (f->tensors.empty()) return corrupt(path + ": holds a vocabulary but no tensors (use it with tokenize)");
    m.storage.push_back(std::make_shared<MappedStorage>(f->mapping));
    auto take = [&](Tensor& out, const std::string& name, bool required) -> Status {
        const GgufTensorInfo* t = f->findTensor(name);
        if (!t) return required ? Status(corrupt(path + ": tensor '" + name + "' is missing")) : Status::ok();
        auto dt = fromGgmlType(*t, path);
        if (!dt) return dt.error();
        out.name = name;
        out.dtype = *dt;
        out.shape.assign(t->ne.rbegin(), t->ne.rend());  // GGUF ne[0] is the row length: shape (ne1, ne0)
        out.data = t->data;
        out.bytes = t->bytes;
        return Status::ok();
    };
    const bool bias = m.config.qkv_bias;
    // llama.cpp permutes Q/K for llama models only.
    const bool permuted = m.config.architecture == "LlamaForCausalLM" || m.config.architecture == "MistralForCausalLM";
    GQA_TRY(take(m.embedding, "token_embd.weight", true));
    GQA_TRY(take(m.final_norm, "output_norm.weight", true));
    if (!m.config.tied_embeddings) GQA_TRY(take(m.lm_head, "output.weight", true));
    m.layers.resize(static_cast<size_t>(L));
    const int64_t D = m.config.head_dim;
    for (int64_t i = 0; i < L; ++i) {
        GQA_TRY(loadStep(opt));
        auto& l = m.layers[static_cast<size_t>(i)];
        const std::string p = "blk." + std::to_string(i) + ".";
        GQA_TRY(take(l.attn_norm, p + "attn_norm.weight", true));
        GQA_TRY(take(l.wq, p + "attn_q.weight", true));
        GQA_TRY(take(l.wk, p + "attn_k.weight", true));
        GQA_TRY(take(l.wv, p + "attn_v.weight", true));
        if (bias) {
            GQA_TRY(take(l.bq, p + "attn_q.bias", true));
            GQA_TRY(take(l.bk, p + "attn_k.bias", true));
            GQA_TRY(take(l.bv, p + "attn_v.bias", true));
        }
        GQA_TRY(take(l.wo, p + "attn_output.weight", true));
        GQA_TRY(take(l.ffn_norm, p + "ffn_norm.weight", true));
        GQA_TRY(take(l.w_gate, p + "ffn_gate.weight", true));
        GQA_TRY(take(l.w_up, p + "ffn_up.weight", true));
        GQA_TRY(take(l.w_down, p + "ffn_down.weight", true));
    }
    // Shapes first (so un-permuting reads only rows that exist), then the Q/K rows into owned tensors.
    GQA_TRY(validateModel(m));
    if (permuted) {
        try {
            for (auto& l : m.layers) {
                GQA_TRY(loadStep(opt));
                for (auto [t, heads] : {std::pair{&l.wq, m.config.n_q_heads}, std::pair{&l.wk, m.config.n_kv_heads}}) {
                    const Tensor src = *t;
                    void* out = addOwnedTensor(m, *t, src.name, src.dtype, src.shape);
                    unpermuteRows(src, *t, out, heads, D);
                }
            }
        } catch (const std::bad_alloc&) {
            return makeError(ErrorCode::OutOfMemory, path + ": not enough memory to reorder the Q/K rows");
        }
    } else if (opt.progress) {
        opt.progress->fetch_add(L);  // no rows to reorder: those steps are done
    }
    return m;
}

// Dtypes of the config follow the tensors the file holds (what the memory model counts).
void dtypesFromTensors(Model& m) {
    if (!m.layers.empty()) m.config.weight_dtype = m.layers[0].wq.dtype;
    m.config.embed_dtype = m.embedding.dtype;
    m.config.norm_dtype = m.final_norm.dtype;
    if (m.config.weight_dtype == DType::F32) m.config.kv_dtype = DType::F32;
}

}  // namespace

Expected<Model> loadModel(const std::string& path, const LoadOptions& opt) {
    try {
        Expected<Model> m =
            isDir(path) ? loadHf(path, opt)
            : path.size() > 5 && path.substr(path.size() - 5) == ".gguf"
                ? loadGguf(path, opt)
                : Expected<Model>(fs::exists(path)
                                      ? invalid(path + ": not a model (give a Hugging Face directory or a .gguf file)")
                                      : makeError(ErrorCode::IoError, path + ": no such file or directory"));
        if (!m) return m.error();
        dtypesFromTensors(*m);
        GQA_TRY(validateModel(*m));
        if (m->head_roles.empty())
            m->head_roles.assign(m->layers.size(),
                                 std::vector<HeadRole>(static_cast<size_t>(m->config.n_q_heads), HeadRole::Content));
        if (opt.tokenizer) {
            GQA_TRY(loadStep(opt));
            if (m->format == "gguf") {
                auto f = readGguf(path);
                if (!f) return f.error();
                auto tok = tokenizerFromGguf(*f);
                if (!tok) return tok.error();
                m->tokenizer = *tok;
            } else if (fs::exists(path + "/tokenizer.json") || fs::exists(path + "/tokenizer.model")) {
                auto tok = tokenizerFromHfDir(path);
                if (!tok) return tok.error();
                m->tokenizer = *tok;
            }
        }
        if (m->tokenizer && m->tokenizer->vocabSize() > m->config.vocab_size)
            return corrupt(path + ": the tokenizer has " + std::to_string(m->tokenizer->vocabSize()) +
                           " tokens but the model's vocabulary is " + std::to_string(m->config.vocab_size));
        return m;
    } catch (const std::bad_alloc&) {
        return makeError(ErrorCode::OutOfMemory, path + ": not enough memory to load the model");
    } catch (const std::exception& e) {
        return makeError(ErrorCode::Internal, path + ": " + e.what());
    }
}

int64_t loadProgressSteps(int64_t layers, bool gguf) {
    return (gguf ? 2 : 1) * layers + 1;
}

Expected<ModelConfig> loadModelConfig(const std::string& path) {
    if (isDir(path)) {
        auto text = readText(path + "/config.json");
        if (!text) return text.error();
        auto c = configFromHfJson(*text, path + "/config.json");
        if (!c) return c.error();
        c->name = baseName(path);
        c->source = path;
        return c;
    }
    auto m = loadModel(path, LoadOptions{0, 0, false});
    if (!m) return m.error();
    ModelConfig c = m->config;
    return c;
}

Expected<int64_t> checkpointWeightBytes(const std::string& path) {
    if (!isDir(path)) return fileSizeBytes(path);
    auto shards = hfShards(path, nullptr);
    if (!shards) return shards.error();
    int64_t n = 0;
    for (const auto& s : *shards) n += fileSizeBytes(s);
    return n;
}

}  // namespace gqa
