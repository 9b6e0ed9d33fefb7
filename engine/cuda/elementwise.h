// Host launchers of the small per-token kernels (elementwise.cu): embedding gather, RMSNorm, RoPE with the
// KV-cache append, SwiGLU, dtype conversion, random fill. Each queues work on `stream` and returns the
// launch status; none synchronizes. Storage dtypes are F32, F16 or BF16 (Q8_0 is refused).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "gqa/dtype.h"
#include "gqa/status.h"

namespace gqa::cuda {

// x: (rows, d) fp32 = table[tokens[row]]; tokens: (rows) int32 in [0, vocab); table: (vocab, d) table_dtype.
Status launchEmbedding(const int32_t* tokens, const void* table, DType table_dtype, float* x, int64_t rows, int64_t d,
                       cudaStream_t stream);

// y: (rows, d) y_dtype = x / sqrt(mean(x^2) + eps) * gamma; x: (rows, d) fp32; gamma: (d) gamma_dtype.
// y may alias x when y_dtype is F32.
Status launchRmsNorm(const float* x, const void* gamma, DType gamma_dtype, void* y, DType y_dtype, int64_t rows,
                     int64_t d, float eps, cudaStream_t stream);

struct RopeKvParams {
    float* qkv = nullptr;              // qkv: (B, T, (Hq + 2 Hkv) * D) fp32, columns [Q heads | K heads | V heads]
    const float* qkv_bias = nullptr;   // qkv_bias: ((Hq + 2 Hkv) * D) fp32 [bq | bk | bv]; null when none
    const double* inv_freq = nullptr;  // inv_freq: (D/2) fp64 on the device, ropeInverseFrequencies(cfg)
    void* k_cache = nullptr;           // k_cache: (B, Hkv, max_seq, D) kv_dtype
    void* v_cache = nullptr;           // v_cache: (B, Hkv, max_seq, D) kv_dtype
    DType kv_dtype = DType::BF16;
    int64_t batch = 1, tokens = 1, n_q_heads = 1, n_kv_heads = 1, head_dim = 64, max_seq = 1;
    int64_t pos0 = 0;  // absolute position of token 0 of this step
};
// Adds the q/k/v biases (when given), rotates Q in place (half-split pairs (i, i + D/2), angle =
// pos * inv_freq[i], computed in double), rotates K, and writes K and V of positions pos0 .. pos0+T-1 into
// the cache in kv_dtype.
Status launchRopeAppendKv(const RopeKvParams& p, cudaStream_t stream);

// y: (rows, F) y_dtype = silu(gate) * up; gate_up: (rows, 2F) fp32, columns [gate | up].
Status launchSwiGlu(const float* gate_up, void* y, DType y_dtype, int64_t rows, int64_t ffn, cudaStream_t stream);

// y: (n) y_dtype = x: (n) fp32, rounded to nearest even.
Status launchConvert(const float* x, void* y, DType y_dtype, int64_t n, cudaStream_t stream);

// y: (rows, cols) y_dtype, contiguous = rows of x: (rows, cols) fp32 with row stride ldx >= cols (e.g. the last
// position of every sequence of a (B, T, d) buffer: x + (T - 1) d, ldx = T d), rounded to nearest even.
Status launchConvertRows(const float* x, int64_t ldx, void* y, DType y_dtype, int64_t rows, int64_t cols,
                         cudaStream_t stream);

// p: (n) dtype, uniform in [lo, hi), deterministic in (seed, index).
Status launchFillUniform(void* p, DType dtype, int64_t n, uint64_t seed, float lo, float hi, cudaStream_t stream);

// Ok when this binary holds kernels the current device can run; otherwise an Unavailable error naming the
// device's architecture and the ones built (GQA_CUDA_ARCHS).
Status checkKernelImage();

}  // namespace gqa::cuda
