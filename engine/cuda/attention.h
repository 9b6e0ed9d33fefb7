// Host entry points of the CUDA attention kernels (plain C++: included by the backend's .cpp files).
//
// Three kernel families, one per file:
//   attention_prefill.cu  tensor-core (mma.sync m16n8k16) flash attention for fp16/bf16 K/V, head_dim 64/128
//   attention_decode.cu   split-K CUDA-core attention: decode (Tq = 1), small Tq, fp32 K/V and other head
//                         dims; partial (max, sum, out) per key chunk, combined by a second kernel
//   attention_maps.cu     exact softmax probabilities for requested heads, never on the timed path
// Every kernel is group-aware: a thread block owns one KV head and all g = Hq / Hkv query heads of its group,
// so each K/V tile is read once per group. The group size is a template parameter (g in {1,2,4,8,16},
// plus a runtime fallback) chosen in one switch (dispatchGroupSize in attention_common.cuh).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "gqa/dtype.h"
#include "gqa/status.h"

namespace gqa::cuda {

// Strided views, so the model's kernels read Q straight from the fused QKV buffer and K/V straight from the
// cache, and Backend::attention reads the contiguous (B, H, T, D) layouts. Strides are in elements.
struct AttentionParams {
    const float* q = nullptr;  // q: (B, Hq, Tq, D) fp32; element (b, h, i, e) at q[b*q_sb + h*q_sh + i*q_si + e]
    int64_t q_sb = 0, q_sh = 0, q_si = 0;
    const void* k =
        nullptr;  // k: (B, Hkv, Tk, D) kv_dtype; element (b, kvh, j, e) at k[b*kv_sb + kvh*kv_sh + j*kv_si + e]
    const void* v = nullptr;  // v: (B, Hkv, Tk, D) kv_dtype, same strides as k
    int64_t kv_sb = 0, kv_sh = 0, kv_si = 0;
    DType kv_dtype = DType::BF16;
    float* out = nullptr;  // out: (B, Hq, Tq, D) fp32; element (b, h, i, e) at out[b*o_sb + h*o_sh + i*o_si + e]
    int64_t o_sb = 0, o_sh = 0, o_si = 0;
    int64_t batch = 1, n_q_heads = 1, n_kv_heads = 1, q_len = 1, kv_len = 1, head_dim = 64;
    bool causal = false;  // bottom-right aligned: query i sees keys j <= i + kv_len - q_len
    // Sliding window (causal only): query i also sees only keys j > i + kv_len - q_len - window; 0 = none.
    // Key tiles wholly before a block's first visible key are not loaded.
    int64_t window = 0;
};

// Largest q_len that goes through the split-K kernel even when the tensor-core kernel could run it:
// a few query positions cannot fill the GPU with one block per (batch, KV head, 64 query rows).
inline constexpr int64_t kSplitMaxQueries = 4;

// Shape and alignment checks shared by all entry points: dims positive and below 2^31, Hq a multiple of
// Hkv, head_dim even and <= 256, strides and pointers aligned for the vector loads the kernels use.
Status checkAttentionParams(const AttentionParams& p);

// True when `p` runs on the tensor-core prefill kernel, false when on the split-K kernel.
bool usesTensorCorePrefill(const AttentionParams& p);

// True when K/V rows start on 16-byte boundaries (pointers and strides), so tiles load in 16-byte copies.
bool kvRowsAligned16(const AttentionParams& p);

// fp32 elements of split-K scratch (partial outputs, maxima and sums) that runAttention needs for `p` on a
// GPU with `num_sms` multiprocessors; 0 on the tensor-core path or when one chunk covers all keys.
std::size_t attentionWorkspaceFloats(const AttentionParams& p, int num_sms);

// An upper bound of attentionWorkspaceFloats over every q_len in [1, max_q_len] and kv_len in [q_len, max_kv_len]
// (the model allocates its scratch once).
std::size_t attentionWorkspaceBoundFloats(int64_t batch, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim,
                                          int64_t max_q_len, int64_t max_kv_len, int num_sms);

// out = softmax(q k^T / sqrt(D) [causal]) v, on `stream`, without synchronizing.
// workspace: at least attentionWorkspaceFloats(p, num_sms) fp32 elements of device memory.
Status runAttention(const AttentionParams& p, float* workspace, std::size_t workspace_floats, int num_sms,
                    cudaStream_t stream);

// probs: (B, n_heads, Tq, Tk) fp32 softmax probabilities of the query heads listed in `heads`
// (device int32 array of n_heads entries); rows sum to 1, masked entries are 0. Reads p.q/k/v only.
Status runAttentionProbs(const AttentionParams& p, const int32_t* heads, int64_t n_heads, float* probs,
                         cudaStream_t stream);

// Launchers behind runAttention (attention_prefill.cu, attention_decode.cu).
Status launchPrefillTensorCore(const AttentionParams& p, cudaStream_t stream);

struct SplitPlan {
    int tile_keys = 64;  // keys per shared-memory tile
    int row_blocks = 1;  // blocks of kSplitRows packed (query, head-in-group) rows per KV head
    int chunk_len = 0;   // keys per chunk (a multiple of tile_keys)
    int num_chunks = 1;  // chunks per (batch, KV head, row block)
    std::size_t workspace_floats = 0;
};
SplitPlan planSplit(const AttentionParams& p, int num_sms);
Status launchSplit(const AttentionParams& p, const SplitPlan& plan, float* workspace, cudaStream_t stream);

}  // namespace gqa::cuda
