// A model resident on the GPU: weight matrices in their stored dtype (F32, F16 or BF16), fp32 norm gains and
// biases, the KV cache in kv_dtype, and fp32 activation buffers sized for a prefill of batch x max_seq tokens,
// all allocated once in create().
#pragma once

#include <cstdint>
#include <initializer_list>
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
    // Matrices, embedding and (untied) LM head as stored (the fused wq|wk|wv and w_gate|w_up copies hold the
    // same bytes), plus the fp32 copies of the norm gains and q/k/v biases.
    int64_t weight_bytes = 0;
    int64_t kv_cache_bytes = 0;  // 2 * layers * batch * max_seq * n_kv * head_dim * bytes_per_element(kv_dtype)
    // Working buffers + split-K scratch + token ids + RoPE frequencies + the (B, vocab) fp32 logits of
    // LogitsMode::Last (LogitsMode::All allocates its chunk buffer per step).
    int64_t activation_bytes = 0;
    int64_t act_separate_bytes = 0;  // SwiGLU output when it cannot share the QKV/attention buffer
    std::size_t workspace_floats = 0;
    int64_t total() const { return weight_bytes + kv_cache_bytes + activation_bytes; }
};
// `m` must have passed validateModel and checkModelForCuda.
ModelMemoryPlan planModelMemory(const Model& m, int64_t batch, int64_t max_seq, int num_sms);

// Ok when the CUDA backend can run `m` as stored: matrices in one of F32/F16/BF16, shared by every layer (the
// fused QKV and gate/up GEMMs need it), embedding and LM head in F32/F16/BF16. The error names the tensor.
Status checkModelForCuda(const Model& m);

class CudaModel final : public ModelInstance {
public:
    static Expected<std::unique_ptr<ModelInstance>> create(std::shared_ptr<DeviceContext> ctx, const Model& m,
                                                           int64_t batch, int64_t max_seq);

    Status prefill(const int32_t* tokens, int64_t T, const StepRequest& req, StepOutput& out) override;
    Status decode(const int32_t* tokens, const StepRequest& req, StepOutput& out) override;
    int64_t position() const override { return m_pos; }
    void reset() override { m_pos = 0; }  // positions >= m_pos are never read, so nothing to clear
    Status readKvCache(int64_t layer, std::vector<float>& k, std::vector<float>& v) const override;
    Allocation allocation() const override { return m_alloc; }

private:
    struct LayerBuffers {
        DeviceBuffer attn_norm;  // (d) fp32
        DeviceBuffer wqkv;       // ((Hq + 2 Hkv) D, d) weight dtype: rows of wq | wk | wv
        DeviceBuffer qkv_bias;   // ((Hq + 2 Hkv) D) fp32: bq | bk | bv; empty without config.qkv_bias
        DeviceBuffer wo;         // (d, Hq D)
        DeviceBuffer ffn_norm;   // (d) fp32
        DeviceBuffer w_gate_up;  // (2F, d): rows of w_gate | w_up
        DeviceBuffer w_down;     // (d, F)
        DeviceBuffer k_cache;    // (B, Hkv, max_seq, D) kv_dtype
        DeviceBuffer v_cache;    // (B, Hkv, max_seq, D) kv_dtype
    };

    CudaModel(std::shared_ptr<DeviceContext> ctx, const Model& m, int64_t batch, int64_t max_seq);
    Status allocateAndUpload(const Model& m, const ModelMemoryPlan& plan);
    // Copies tensors' bytes, as stored, one after the other into one new device buffer (the fused matrices).
    Status uploadConcat(DeviceBuffer& dst, std::initializer_list<const Tensor*> parts, const std::string& what);
    // Widens vector tensors (norm gains, biases) to fp32 and uploads them, one after the other.
    Status uploadAsFloat(DeviceBuffer& dst, std::initializer_list<const Tensor*> parts, const std::string& what);
    Status step(const int32_t* tokens, int64_t T, const StepRequest& req, StepOutput& out);
    // Logits of `rows` final-normed rows of m_x (row r at m_x + (first + r * stride) * d) into out.logits,
    // timed into out.lm_head_ms.
    Status lmHead(int64_t first, int64_t stride, int64_t rows, StepOutput& out);
    AttentionParams attentionParams(int64_t layer, int64_t T) const;

    std::shared_ptr<DeviceContext> m_ctx;
    ModelConfig m_cfg;               // n_layers = layers held
    DType m_wdt = DType::BF16;       // the layers' matrices, and the GEMM inputs m_xs / act
    DType m_embed_dt = DType::BF16;  // embedding table
    DType m_head_dt = DType::BF16;   // LM head (the embedding's when tied)
    int64_t m_batch = 0, m_max_seq = 0, m_pos = 0;
    int64_t m_qkv_width = 0;  // (Hq + 2 Hkv) D

    DeviceBuffer m_embedding;   // (vocab, d) embed dtype
    DeviceBuffer m_lm_head;     // (vocab, d) head dtype; empty when tied (m_embedding serves)
    DeviceBuffer m_final_norm;  // (d) fp32
    DeviceBuffer m_inv_freq;    // (D/2) fp64 RoPE inverse frequencies, rope_scaling applied
    std::vector<LayerBuffers> m_layers;

    DeviceBuffer m_x;       // x: (B, T, d) fp32 residual stream; the final norm runs in place
    DeviceBuffer m_xs;      // xs: (B, T, max(d, Hq D)) weight dtype: GEMM input (norm output, attention output,
                            // LM head input in the head dtype)
    DeviceBuffer m_qa;      // [qkv: (B*max_seq, (Hq + 2 Hkv) D) fp32 | attn: (B*max_seq, Hq D) fp32]
    DeviceBuffer m_gu;      // gate_up: (B, T, 2F) fp32
    DeviceBuffer m_act;     // act: (B, T, F) weight dtype, only when it does not fit in m_qa
    DeviceBuffer m_tokens;  // (B, T) int32
    DeviceBuffer m_ws;      // split-K attention scratch
    DeviceBuffer m_logits;  // (B, vocab) fp32: LogitsMode::Last, and All in chunks of up to B rows
    std::size_t m_ws_floats = 0;
    EventSet m_events;  // 9 per layer + 2 for the final norm + 2 for the LM head
    Allocation m_alloc;
};

}  // namespace gqa::cuda
