// Device-side storage types: fp32 / fp16 / bf16 load-as-float and store-from-float, and the one switch
// that turns a runtime gqa::DType into a C++ type for kernel templates. CUDA sources only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "gqa/dtype.h"

namespace gqa::cuda {

template <class T>
struct TypeTag {
    using type = T;
};

// f(TypeTag<float | __half | __nv_bfloat16>{}) for the storage type `t` (F32, F16 or BF16).
template <class F>
decltype(auto) dispatchDType(DType t, F&& f) {
    switch (t) {
        case DType::F16: return std::forward<F>(f)(TypeTag<__half>{});
        case DType::BF16: return std::forward<F>(f)(TypeTag<__nv_bfloat16>{});
        case DType::F32: break;
        // Q8_0 is a weight format the CUDA backend does not read: createModel refuses it, and attention
        // refuses it as a K/V dtype (checkAttentionParams), so no kernel is ever instantiated for it.
        case DType::Q8_0: break;
    }
    return std::forward<F>(f)(TypeTag<float>{});
}

template <class T>
__device__ __forceinline__ float toFloat(T x);
template <>
__device__ __forceinline__ float toFloat<float>(float x) {
    return x;
}
template <>
__device__ __forceinline__ float toFloat<__half>(__half x) {
    return __half2float(x);
}
template <>
__device__ __forceinline__ float toFloat<__nv_bfloat16>(__nv_bfloat16 x) {
    return __bfloat162float(x);
}

// Round to nearest even, as gqa::floatToBf16 / floatToF16 do on the host.
template <class T>
__device__ __forceinline__ T fromFloat(float x);
template <>
__device__ __forceinline__ float fromFloat<float>(float x) {
    return x;
}
template <>
__device__ __forceinline__ __half fromFloat<__half>(float x) {
    return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}

// Two floats packed into one 32-bit register of a 16-bit type: `lo` in bits 0..15 (the lower column of an
// mma fragment), `hi` in bits 16..31.
template <class T>
__device__ __forceinline__ uint32_t packPair(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t packPair<__half>(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
}
template <>
__device__ __forceinline__ uint32_t packPair<__nv_bfloat16>(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
}

// N consecutive elements of T at `p` (aligned to N * sizeof(T) bytes, at most 16) as floats.
template <class T, int N>
__device__ __forceinline__ void loadAsFloat(const T* p, float* out) {
    static_assert(N * sizeof(T) <= 16 && (N & (N - 1)) == 0, "vector of at most 16 bytes");
    if constexpr (std::is_same_v<T, float>) {
        if constexpr (N == 4) {
            const float4 v = *reinterpret_cast<const float4*>(p);
            out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
        } else if constexpr (N == 2) {
            const float2 v = *reinterpret_cast<const float2*>(p);
            out[0] = v.x, out[1] = v.y;
        } else {
#pragma unroll
            for (int i = 0; i < N; ++i) out[i] = p[i];
        }
    } else {
        if constexpr (N == 8) {
            const uint4 v = *reinterpret_cast<const uint4*>(p);
            const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const T* pair = reinterpret_cast<const T*>(&w[i]);
                out[2 * i] = toFloat(pair[0]);
                out[2 * i + 1] = toFloat(pair[1]);
            }
        } else if constexpr (N == 4) {
            const uint2 v = *reinterpret_cast<const uint2*>(p);
            const uint32_t w[2] = {v.x, v.y};
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                const T* pair = reinterpret_cast<const T*>(&w[i]);
                out[2 * i] = toFloat(pair[0]);
                out[2 * i + 1] = toFloat(pair[1]);
            }
        } else if constexpr (N == 2) {
            const uint32_t w = *reinterpret_cast<const uint32_t*>(p);
            const T* pair = reinterpret_cast<const T*>(&w);
            out[0] = toFloat(pair[0]);
            out[1] = toFloat(pair[1]);
        } else {
#pragma unroll
            for (int i = 0; i < N; ++i) out[i] = toFloat(p[i]);
        }
    }
}

}  // namespace gqa::cuda
