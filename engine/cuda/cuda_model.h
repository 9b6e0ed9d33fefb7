// A model resident on the GPU: weights in the storage dtype, the KV cache, and fp32 activation buffers
// sized for a prefill of batch x max_seq tokens, all allocated once in create().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attention.h"
#include "cuda_backend.h"
#include "device_buffer.h"
#include "gqa/backend.h"

namespace gqa::cuda {

// Bytes a CudaModel allocates, computed before allocating anything.
struct ModelMemoryPlan {
    int64_t weight_bytes = 0;      // storage dtype; equals backendWeightBytes(cfg, false, vocab_rows)
    int64_t kv_cache_bytes = 0;    // 2 * layers * batch * max_seq * n_kv * head_dim * bytes_per_element
    int64_t activation_bytes = 0;  // working buffers + split-K scratch + token ids
    int64_t act_separate_bytes = 0;  // SwiGLU output when it cannot share the QKV/attention buffer
    std::size_t workspace_floats = 0;
    int64_t total() const { return weight_bytes + kv_cache_bytes + activation_bytes; }
};
ModelMemoryPlan planModelMemory(const ModelConfig& cfg, int64_t vocab_rows, int64_t batch, int64_t max_seq,
                                int num_sms);

class CudaModel final : public ModelInstance {
public:
    static Expected<std::unique_ptr<ModelInstance>> create(std::shared_ptr<DeviceContext> ctx, const ModelWeights& w,
                                                           int64_t batch, int64_t max_seq);

    Status prefill(const int32_t* tokens, int64_t T, const StepRequest& req, StepOutput& out) override;
    Status decode(const int32_t* tokens, const StepRequest& req, StepOutput& out) override;
    int64_t position() const override { return m_pos; }
    void reset() override { m_pos = 0; }  // positions >= m_pos are never read, so nothing to clear
    Status readKvCache(int64_t layer, std::vector<float>& k, std::vector<float>& v) const override;
    Allocation allocation() const override { return m_alloc; }

private:
    struct LayerBuffers {
        DeviceBuffer attn_norm;  // (d) storage dtype
        DeviceBuffer wqkv;       // (d, (Hq + 2 Hkv) D)
        DeviceBuffer wo;         // (Hq D, d)
        DeviceBuffer ffn_norm;   // (d)
        DeviceBuffer w_gate_up;  // (d, 2F)
        DeviceBuffer w_down;     // (F, d)
        DeviceBuffer k_cache;    // (B, Hkv, max_seq, D) storage dtype
        DeviceBuffer v_cache;    // (B, Hkv, max_seq, D)
    };

    CudaModel(std::shared_ptr<DeviceContext> ctx, const ModelConfig& cfg, int64_t vocab_rows, int64_t batch,
              int64_t max_seq);
    Status allocateAndUpload(const ModelWeights& w, const ModelMemoryPlan& plan);
    Status uploadTensor(DeviceBuffer& dst, const std::vector<float>& src, const std::string& what);
    Status step(const int32_t* tokens, int64_t T, const StepRequest& req, StepOutput& out);
    AttentionParams attentionParams(int64_t layer, int64_t T) const;

    std::shared_ptr<DeviceContext> m_ctx;
    ModelConfig m_cfg;  // n_layers = layers held
    int64_t m_vocab_rows = 0, m_batch = 0, m_max_seq = 0, m_pos = 0;
    int64_t m_qkv_width = 0;  // (Hq + 2 Hkv) D

    DeviceBuffer m_embedding;   // (vocab_rows, d) storage dtype
    DeviceBuffer m_final_norm;  // (d)
    std::vector<LayerBuffers> m_layers;

    DeviceBuffer m_x;       // x: (B, T, d) fp32 residual stream; the final norm runs in place
    DeviceBuffer m_xs;      // xs: (B, T, max(d, Hq D)) storage dtype: GEMM input (norm output, attention output)
    DeviceBuffer m_qa;      // [qkv: (B*max_seq, (Hq + 2 Hkv) D) fp32 | attn: (B*max_seq, Hq D) fp32]
    DeviceBuffer m_gu;      // gate_up: (B, T, 2F) fp32
    DeviceBuffer m_act;     // act: (B, T, F) storage dtype, only when it does not fit in m_qa
    DeviceBuffer m_tokens;  // (B, T) int32
    DeviceBuffer m_ws;      // split-K attention scratch
    std::size_t m_ws_floats = 0;
    EventSet m_events;      // 9 per layer + 2 for the final norm
    Allocation m_alloc;
};

}  // namespace gqa::cuda
