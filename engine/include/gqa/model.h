// A model is a config plus named tensors. Loaded checkpoints (Hugging Face directories, GGUF files), the
// synthetic generator and the MHA->GQA conversion all produce this one type; every backend, view and
// command takes it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gqa/config.h"
#include "gqa/dtype.h"
#include "gqa/large_buffer.h"
#include "gqa/status.h"

namespace gqa {

class Tokenizer;

// Keeps tensor bytes alive: a read-only file mapping or an owned buffer.
class TensorStorage {
public:
    virtual ~TensorStorage() = default;
    virtual int64_t bytes() const = 0;
    virtual bool mapped() const = 0;  // true for a file mapping (pages shared with the page cache)
};

// One tensor, row-major, shape outermost first, in the dtype of its source. Linear weights are
// (out_features, in_features) as Hugging Face stores them (GGUF's rows are the same); Q8_0 rows are
// blocks of 32 along the last dimension. `data` is not owned: it points into one of Model::storage.
struct Tensor {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    const void* data = nullptr;
    int64_t bytes = 0;

    bool empty() const { return data == nullptr; }
    int64_t numel() const;
    int64_t rows() const { return shape.size() == 2 ? shape[0] : 1; }
    int64_t cols() const { return shape.empty() ? 0 : shape.back(); }
    int64_t rowBytes() const { return storageBytes(dtype, cols()); }
    const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * rowBytes(); }
};

struct LayerTensors {
    Tensor attn_norm;     // (d) f32/f16/bf16
    Tensor wq, wk, wv;    // (Hq D, d), (Hkv D, d), (Hkv D, d); Q/K rows in half-split RoPE order
    Tensor bq, bk, bv;    // (Hq D), (Hkv D), (Hkv D): q/k/v biases when config.qkv_bias, else empty
    Tensor wo;            // (d, Hq D)
    Tensor ffn_norm;      // (d)
    Tensor w_gate, w_up;  // (F, d)
    Tensor w_down;        // (d, F)
};

// What a structured synthetic query head was built to attend to.
enum class HeadRole { PreviousToken, Sink, LocalWindow, Broad, Content };
const char* headRoleName(HeadRole r);         // "previous-token", "sink", "local-window", "broad", "content"
const char* headRoleDescription(HeadRole r);  // one teaching sentence

struct Model {
    ModelConfig config;       // n_layers = layers held
    std::string format;       // "hf", "gguf" or "synthetic"
    std::string source_path;  // the directory or file it was loaded from; empty when synthetic
    Tensor embedding;         // (vocab, d)
    std::vector<LayerTensors> layers;
    Tensor final_norm;  // (d)
    Tensor lm_head;     // (vocab, d); empty when tied (the embedding serves)
    std::vector<std::shared_ptr<const TensorStorage>> storage;
    std::shared_ptr<const Tokenizer> tokenizer;  // null for synthetic models
    // Synthetic models: how they were made, and head_roles[layer][q_head] (Content for every head of a
    // loaded or random model).
    WeightsMode mode = WeightsMode::Random;
    uint64_t seed = 0;
    std::vector<std::vector<HeadRole>> head_roles;

    const Tensor& lmHead() const { return lm_head.empty() ? embedding : lm_head; }
    // Bytes of every tensor held (mapped or owned), as stored: what a backend that reads weights in place needs.
    int64_t tensorBytes() const;
    // The same model with only its first n layers (tensors shared, nothing copied).
    Model firstLayers(int64_t n) const;
    // Every tensor, for listing and checks (layer tensors in order, then embedding, final norm, head).
    std::vector<const Tensor*> allTensors() const;
};

// An owned buffer of tensor bytes (synthetic and converted models, un-permuted GGUF rows).
class OwnedStorage final : public TensorStorage {
public:
    explicit OwnedStorage(int64_t bytes);
    uint8_t* data() { return m_bytes.data(); }
    int64_t bytes() const override { return m_size; }
    bool mapped() const override { return false; }

private:
    LargeBuffer m_bytes;  // zeroed; huge pages where granted
    int64_t m_size = 0;
};

// Allocates one owned tensor in `model`'s storage (zeroed), returning a writable pointer to its bytes.
void* addOwnedTensor(Model& model, Tensor& t, std::string name, DType dtype, std::vector<int64_t> shape);

// Checks every tensor's presence, dtype and shape against model.config; the error names the tensor.
Status validateModel(const Model& m);

// ---- Loading checkpoints ------------------------------------------------------------------------
struct LoadOptions {
    int64_t max_layers = 0;       // 0 = all; else only the first max_layers are mapped and checked
    int64_t available_bytes = 0;  // > 0: refuse before mapping when the weights would not fit in this
    bool tokenizer = true;        // also load the tokenizer
    // Progress: one step per layer checked (and for GGUF, one more per layer whose Q/K rows are reordered), then
    // one for the tokenizer; cancel is checked between them (ErrorCode::Cancelled, nothing left loaded).
    std::atomic<int64_t>* progress = nullptr;
    const std::atomic<bool>* cancel = nullptr;
};
// Steps loadModel reports through LoadOptions::progress for a model of `layers` layers in `format` ("hf"/"gguf").
int64_t loadProgressSteps(int64_t layers, bool gguf);
// `path` is a Hugging Face directory (config.json + model.safetensors or model.safetensors.index.json
// shards; tokenizer.json or tokenizer.model) or a .gguf file. PyTorch .bin checkpoints and split GGUF
// files are refused with a message saying what to use instead. Nothing is left half-loaded on failure.
Expected<Model> loadModel(const std::string& path, const LoadOptions& opt = {});
// The config alone (no tensors mapped): for info, memory and fit predictions.
Expected<ModelConfig> loadModelConfig(const std::string& path);
// Bytes the tensors of a checkpoint occupy (from the file sizes), before anything is mapped.
Expected<int64_t> checkpointWeightBytes(const std::string& path);

// Writes `m` as a Hugging Face directory: config.json (with the model's num_key_value_heads), one
// model.safetensors under Hugging Face tensor names (each tensor in its dtype; Q8_0 as the exact F32 of its
// values) and, for a model loaded from a Hugging Face directory, that directory's tokenizer files. A model
// loaded from GGUF is written without tokenizer files (its vocabulary lives inside the GGUF).
Status saveHfModel(const Model& m, const std::string& dir);

}  // namespace gqa
