// Pieces shared by the attention kernels: the group-size / head-dim dispatch switches, cp.async, mma.sync
// and ldmatrix wrappers, warp reductions. CUDA sources only. Needs sm_80 or newer.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "dtype_cuda.cuh"

namespace gqa::cuda {

// The one switch that makes the group size g = Hq / Hkv a compile-time constant (as FlashInfer does):
// f(std::integral_constant<int, G>{}) with G in {1, 2, 4, 8, 16}, or G = 0 meaning "read it at run time".
template <class F>
decltype(auto) dispatchGroupSize(int64_t g, F&& f) {
    switch (g) {
        case 1: return std::forward<F>(f)(std::integral_constant<int, 1>{});
        case 2: return std::forward<F>(f)(std::integral_constant<int, 2>{});
        case 4: return std::forward<F>(f)(std::integral_constant<int, 4>{});
        case 8: return std::forward<F>(f)(std::integral_constant<int, 8>{});
        case 16: return std::forward<F>(f)(std::integral_constant<int, 16>{});
        default: break;
    }
    return std::forward<F>(f)(std::integral_constant<int, 0>{});
}

// Head dims with specialised kernels: 64 and 128; D = 0 means "read it at run time" (any even D <= 256).
template <class F>
decltype(auto) dispatchHeadDim(int64_t d, F&& f) {
    switch (d) {
        case 64: return std::forward<F>(f)(std::integral_constant<int, 64>{});
        case 128: return std::forward<F>(f)(std::integral_constant<int, 128>{});
        default: break;
    }
    return std::forward<F>(f)(std::integral_constant<int, 0>{});
}

inline constexpr float kLog2e = 1.4426950408889634f;

// First key query position t (0-based of Tq) sees: 0, or the start of its sliding window (t + offset - window + 1).
__device__ __forceinline__ int firstVisibleKey(int t, int offset, int64_t window) {
    return window > 0 ? max(0, t + offset - int(window) + 1) : 0;
}

// ---- asynchronous global -> shared copies (sm_80) ----------------------------------------------------------
// Copies `bytes` (4, 8 or 16) from global `src` to shared `dst`; when `pred` is false the destination is
// zero-filled and `src` is not read (it must still be a valid address).
template <int Bytes>
__device__ __forceinline__ void cpAsync(void* dst, const void* src, bool pred) {
    static_assert(Bytes == 4 || Bytes == 8 || Bytes == 16, "cp.async copies 4, 8 or 16 bytes");
    const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
    const int src_bytes = pred ? Bytes : 0;
    if constexpr (Bytes == 16) {
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(src_bytes) : "memory");
    } else {
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(s), "l"(src), "n"(Bytes), "r"(src_bytes)
                     : "memory");
    }
}
__device__ __forceinline__ void cpAsyncCommit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
__device__ __forceinline__ void cpAsyncWaitAll() {
    asm volatile("cp.async.wait_all;\n" ::: "memory");
}

// ---- tensor cores ---------------------------------------------------------------------------------------------
// d (16x8 fp32) += a (16x16, row-major) * b (16x8, column-major), 16-bit inputs, fp32 accumulation.
// Fragment ownership (lane = 4 * group + tig): a[0] = A[group][2tig..+1], a[1] = A[group+8][2tig..+1],
// a[2] = A[group][2tig+8..+9], a[3] = A[group+8][2tig+8..+9]; b[0] = B[2tig..+1][group],
// b[1] = B[2tig+8..+9][group]; d[0..1] = D[group][2tig..+1], d[2..3] = D[group+8][2tig..+1].
template <class T>
__device__ __forceinline__ void mma16816(float* d, const uint32_t* a, const uint32_t* b) {
    if constexpr (std::is_same_v<T, __half>) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    } else {
        static_assert(std::is_same_v<T, __nv_bfloat16>, "mma16816 takes __half or __nv_bfloat16");
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
}

// Four transposed 8x8 16-bit matrices from shared memory. Lane L supplies the address of row (L % 8) of
// matrix (L / 8); lane (4 * group + tig) receives, for each matrix M, the pair M[2tig][group], M[2tig+1][group].
__device__ __forceinline__ void ldmatrixX4Trans(uint32_t* r, const void* smem_row) {
    const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem_row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

// ---- reductions --------------------------------------------------------------------------------------------------
__device__ __forceinline__ float warpMax(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
__device__ __forceinline__ float warpSum(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

}  // namespace gqa::cuda
