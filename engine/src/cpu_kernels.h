// CPU attention kernels. One source (cpu_kernels_impl.h) is compiled per instruction set; the best one the
// CPU supports is chosen at run time (cpuKernels()).
#pragma once

#include <cstdint>

#include "gqa/dtype.h"

namespace gqa::cpu {

// Strided views so the kernels read Q straight from the fused QKV buffer and K/V straight from the cache.
struct AttnParams {
    const float* q = nullptr;  // element (b, h, i, e) at q[b*q_sb + h*q_sh + i*q_si + e], fp32
    int64_t q_sb = 0, q_sh = 0, q_si = 0;
    const void* k = nullptr;  // element (b, kvh, j, e) at k[b*kv_sb + kvh*kv_sh + j*kv_si + e], kv_dtype
    const void* v = nullptr;  // same strides as k
    int64_t kv_sb = 0, kv_sh = 0, kv_si = 0;
    DType kv_dtype = DType::F32;
    float* out = nullptr;  // element (b, h, i, e) at out[b*o_sb + h*o_sh + i*o_si + e], fp32
    int64_t o_sb = 0, o_sh = 0, o_si = 0;
    int64_t batch = 1, n_q_heads = 1, n_kv_heads = 1, q_len = 1, kv_len = 1, head_dim = 64;
    bool causal = false;  // bottom-right aligned: query i sees keys j <= i + kv_len - q_len
    // Sliding window (with causal): query i also sees only keys j > i + kv_len - q_len - window. 0 = none.
    // KV tiles wholly outside the band are skipped, so the cost grows with the window, not with kv_len.
    int64_t window = 0;
    // Rolling cache: > 0 means key j is stored at row j % kv_ring (j * kv_si otherwise). The caller guarantees
    // every visible key is among the last kv_ring positions.
    int64_t kv_ring = 0;
    // The thread count the work split is planned for (0: the current OpenMP maximum). The key split changes
    // the order of the softmax sums, so a model fixes it: its results must not depend on how many threads a
    // step happened to run on (the step policy drops threads on a loaded machine).
    int partition_threads = 0;
};

// One call of a linear layer's kernel: y[r * ldy + o] = W[o, :] . x[r * ldx + :] for o in [o0, o1), r < n.
// W: (out, in) rows of row_bytes bytes in dtype (F32, F16, BF16 or Q8_0).
struct LinearArgs {
    const void* w = nullptr;
    DType dtype = DType::F32;
    int64_t in = 0, row_bytes = 0;
    const float* x = nullptr;
    int64_t ldx = 0, n = 1;
    float* y = nullptr;
    int64_t ldy = 0, o0 = 0, o1 = 0;
    // Q8_0 weights with n <= 4: packInt8Activations' copy of x, multiplied on AMX-INT8 tiles (nullptr: x as fp32).
    const void* xq = nullptr;
};

struct Kernels {
    const char* isa;
    // Flash-style attention: each work item owns one KV head and all of its group's query heads, so every
    // K/V element is loaded (and converted) once per group and query tile. OpenMP-parallel inside.
    void (*attention)(const AttnParams& p);
    // Exact softmax probabilities for the selected query heads: probs (B, n_heads, Tq, Tk).
    void (*probabilities)(const AttnParams& p, const int64_t* heads, int64_t n_heads, float* probs);
    // Streaming read of `bytes` bytes (the memory-bandwidth ceiling); returns a checksum.
    double (*readBandwidthProbe)(const float* data, int64_t n);
    // Dot products of weight rows with a few activation rows, reading the stored dtype in place (decode).
    void (*dotRows)(const LinearArgs& a);
    // Rows [r0, r1) of a weight matrix widened to fp32 (r1 - r0, in), for prefill GEMM tiles.
    void (*widenRows)(const void* w, DType t, int64_t row_bytes, int64_t in, int64_t r0, int64_t r1, float* dst);
    // Prefill on AMX tiles (nullptr in builds without them). packActivations writes the n x in fp32 activations
    // (in % 32 == 0) as bf16 hi + lo pairs in tile layout, packedActivationWords(n, in) words; tileLinear then
    // computes y[r, o] for all n rows and o in [o0, o1) from the packing and a.w, repacked 64 rows at a time into
    // `scratch` (128 x in floats): bf16 as stored, fp16 split exactly into 2 bf16 parts, fp32 and Q8_0 into 3.
    void (*packActivations)(const float* x, int64_t n, int64_t ldx, int64_t in, uint32_t* xt);
    void (*tileLinear)(const LinearArgs& a, const uint32_t* xt, float* scratch);
    // Decode over Q8_0 weights on AMX-INT8 tiles (nullptr where the CPU or OS has none): writes n <= 4 fp32
    // activation rows (in % 32 == 0) as four int8 parts each, exact to 2^-27 of the row's largest |x|, into
    // int8ActivationBytes(n, in) bytes for LinearArgs::xq; false (nothing usable) if x holds
    // an inf or NaN, which the fp32 path then propagates.
    bool (*packInt8Activations)(const float* x, int64_t n, int64_t ldx, int64_t in, void* xq);
};

// packInt8Activations' layout: a 64-byte header (float 2^e per activation row), then per block of 32 inputs an
// 8 x (16 np) B tile, np = int8ActivationRows(n) (n rounded up to 1, 2 or 4; the padding rows are zero).
constexpr int64_t kInt8ActivationHeader = 64;
inline int int8ActivationRows(int64_t n) {
    return n <= 2 ? static_cast<int>(n) : 4;
}
inline int64_t int8ActivationBytes(int64_t n, int64_t in) {
    return kInt8ActivationHeader + in / 32 * 128 * int8ActivationRows(n);
}

// Words of packActivations' output: per group of 8 rows and 32 inputs one 16 x 16 tile.
inline int64_t packedActivationWords(int64_t n, int64_t in) {
    return (n + 7) / 8 * (in / 32) * 256;
}

const Kernels& kernels();                    // the best for this CPU
const Kernels& kernelsFor(const char* isa);  // "generic", "avx2", "avx512", "amx-bf16" (else generic)

// Implementations, one per ISA translation unit.
const Kernels& kernelsGeneric();
const Kernels& kernelsAvx2();
const Kernels& kernelsAvx512();
const Kernels& kernelsAmxBf16();  // AVX-512 + AMX-BF16 tiles: bf16 K/V multiplied in place (attention)
// AMX-BF16 and AMX-TILE in CPUID, tile state enabled by the OS, and this process allowed to use it (Linux
// asks for that once, arch_prctl ARCH_REQ_XCOMP_PERM).
bool amxUsable();
bool amxInt8Usable();  // amxUsable() and AMX-INT8 in CPUID

}  // namespace gqa::cpu
