// Chooses the attention kernel for a shape and checks what all of them assume.
#include <cstdint>
#include <string>

#include "attention.h"
#include "cuda_check.h"

namespace gqa::cuda {

namespace {

bool aligned(const void* p, std::size_t bytes) {
    return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
}

Error invalid(const std::string& m) {
    return makeError(ErrorCode::InvalidArgument, "attention: " + m);
}

}  // namespace

bool kvRowsAligned16(const AttentionParams& p) {
    const int64_t e = static_cast<int64_t>(bytesPerElement(p.kv_dtype));
    return aligned(p.k, 16) && aligned(p.v, 16) && (p.kv_sb * e) % 16 == 0 && (p.kv_sh * e) % 16 == 0 &&
           (p.kv_si * e) % 16 == 0 && (p.head_dim * e) % 16 == 0;
}

Status checkAttentionParams(const AttentionParams& p) {
    if (!p.q || !p.k || !p.v || !p.out) return invalid("null tensor pointer");
    if (p.kv_dtype == DType::Q8_0) return invalid("K/V must be fp32, fp16 or bf16 (q8_0 is a weight format only)");
    if (p.batch < 1 || p.n_q_heads < 1 || p.n_kv_heads < 1 || p.q_len < 1 || p.kv_len < 1)
        return invalid("batch, heads, q_len and kv_len must all be at least 1");
    if (p.n_q_heads % p.n_kv_heads != 0)
        return invalid("n_q_heads (" + std::to_string(p.n_q_heads) + ") is not a multiple of n_kv_heads (" +
                       std::to_string(p.n_kv_heads) + ")");
    if (p.head_dim < 2 || p.head_dim > 256 || p.head_dim % 2 != 0)
        return invalid("head_dim " + std::to_string(p.head_dim) +
                       " is not supported by the CUDA kernels (even, 2..256)");
    if (p.batch > 65535 || p.n_kv_heads > 65535)
        return invalid("batch and n_kv_heads must be at most 65535 (CUDA grid limits)");
    const int64_t g = p.n_q_heads / p.n_kv_heads;
    if (p.kv_len > (int64_t{1} << 30) || p.q_len * g > (int64_t{1} << 30))
        return invalid("q_len x group size and kv_len must stay below 2^30");
    if (p.kv_si < p.head_dim) return invalid("K/V row stride is smaller than head_dim");
    if (p.window < 0 || (p.window > 0 && !p.causal))
        return invalid("a sliding window must be >= 0 and needs causal attention");
    // Vector accesses: float2 output stores; 4-byte K/V copies at least.
    if (!aligned(p.out, 8) || p.o_sb % 2 || p.o_sh % 2 || p.o_si % 2)
        return invalid("output pointer/strides must be 8-byte aligned");
    const int64_t e = static_cast<int64_t>(bytesPerElement(p.kv_dtype));
    if (!aligned(p.k, 4) || !aligned(p.v, 4) || (p.kv_sb * e) % 4 || (p.kv_sh * e) % 4 || (p.kv_si * e) % 4)
        return invalid("K/V pointers/strides must be 4-byte aligned");
    return Status::ok();
}

bool usesTensorCorePrefill(const AttentionParams& p) {
    if (p.kv_dtype == DType::F32) return false;
    if (p.head_dim != 64 && p.head_dim != 128) return false;
    if (p.q_len <= kSplitMaxQueries) return false;
    // float4 Q loads and 16-byte K/V copies.
    const bool q_ok = aligned(p.q, 16) && p.q_sb % 4 == 0 && p.q_sh % 4 == 0 && p.q_si % 4 == 0;
    return q_ok && kvRowsAligned16(p);
}

std::size_t attentionWorkspaceFloats(const AttentionParams& p, int num_sms) {
    if (usesTensorCorePrefill(p)) return 0;
    return planSplit(p, num_sms).workspace_floats;
}

Status runAttention(const AttentionParams& p, float* workspace, std::size_t workspace_floats, int num_sms,
                    cudaStream_t stream) {
    GQA_TRY(checkAttentionParams(p));
    if (usesTensorCorePrefill(p)) return launchPrefillTensorCore(p, stream);
    const SplitPlan plan = planSplit(p, num_sms);
    if (plan.workspace_floats > workspace_floats)
        return makeError(ErrorCode::Internal, "split-K attention scratch too small: needs " +
                                                  std::to_string(plan.workspace_floats) + " floats, has " +
                                                  std::to_string(workspace_floats));
    return launchSplit(p, plan, workspace, stream);
}

}  // namespace gqa::cuda
