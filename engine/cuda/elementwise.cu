// Per-token kernels around the GEMMs: embedding gather, RMSNorm, RoPE + KV-cache append, SwiGLU,
// conversions and random fill. Math in fp32 (RoPE angles in double); storage in fp32/fp16/bf16.
#include <cmath>
#include <string>

#include "cuda_check.h"
#include "dtype_cuda.cuh"
#include "elementwise.h"

#ifndef GQA_CUDA_ARCHS
#define GQA_CUDA_ARCHS "unknown"
#endif

namespace gqa::cuda {

namespace {

constexpr int kThreads = 256;

unsigned gridFor(int64_t n, int threads, int64_t max_blocks = 65535LL * 16) {
    const int64_t b = (n + threads - 1) / threads;
    return static_cast<unsigned>(b < 1 ? 1 : (b > max_blocks ? max_blocks : b));
}

template <class T>
__global__ void embeddingKernel(const int32_t* tokens, const T* table, float* x, int64_t rows, int64_t d) {
    // tokens: (rows); table: (vocab, d); x: (rows, d)
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* src = table + int64_t(tokens[row]) * d;
        float* dst = x + row * d;
        for (int64_t e = threadIdx.x; e < d; e += blockDim.x) dst[e] = toFloat(src[e]);
    }
}

__device__ float blockSum(float v, float* scratch) {
    // scratch: (32) floats
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float w = lane < int(blockDim.x >> 5) ? scratch[lane] : 0.f;
        for (int o = 16; o > 0; o >>= 1) w += __shfl_xor_sync(0xffffffffu, w, o);
        if (lane == 0) scratch[0] = w;
    }
    __syncthreads();
    return scratch[0];
}

template <class G, class Y>
__global__ void rmsNormKernel(const float* x, const G* gamma, Y* y, int64_t d, float eps) {
    // x: (rows, d) fp32; gamma: (d); y: (rows, d) — one block per row; y may alias x (each thread reads its
    // elements in both passes before writing them).
    __shared__ float scratch[32];
    const float* xr = x + int64_t(blockIdx.x) * d;
    Y* yr = y + int64_t(blockIdx.x) * d;
    float ss = 0.f;
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) ss = fmaf(xr[e], xr[e], ss);
    ss = blockSum(ss, scratch);
    const float inv = 1.f / sqrtf(ss / float(d) + eps);
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) yr[e] = fromFloat<Y>(xr[e] * inv * toFloat(gamma[e]));
}

template <class T>
__global__ void ropeAppendKvKernel(const RopeKvParams p) {
    // One block per token row (b, t). Angles once per pair index into shared memory, then every Q and K head.
    extern __shared__ float rope_smem[];  // cos: (D/2), sin: (D/2)
    const int64_t row = blockIdx.x;
    const int64_t b = row / p.tokens, t = row % p.tokens;
    const int64_t pos = p.pos0 + t;
    const int D = int(p.head_dim), half = D / 2;
    const int Hq = int(p.n_q_heads), Hkv = int(p.n_kv_heads);
    float* cs = rope_smem;
    float* sn = rope_smem + half;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        // Double precision: pos * inv_freq reaches 1e5 rad at long context, where an fp32 angle is off by
        // ~1e-2 rad. inv_freq carries the model's rope_scaling (computed once on the host).
        double s, c;
        sincos(double(pos) * p.inv_freq[i], &s, &c);
        cs[i] = float(c);
        sn[i] = float(s);
    }
    __syncthreads();
    const int64_t width = int64_t(Hq + 2 * Hkv) * D;
    float* base = p.qkv + row * width;
    const float* bias = p.qkv_bias;  // ((Hq + 2 Hkv) D) or null; added before the rotation, as the projection's bias
    auto biasAt = [bias](int64_t col) { return bias ? bias[col] : 0.f; };
    // Q heads: rotated in place (each thread owns both elements of its pairs, so each bias is added once).
    for (int idx = threadIdx.x; idx < Hq * half; idx += blockDim.x) {
        const int h = idx / half, i = idx % half;
        float* qh = base + int64_t(h) * D;
        const float x0 = qh[i] + biasAt(int64_t(h) * D + i), x1 = qh[i + half] + biasAt(int64_t(h) * D + i + half);
        qh[i] = x0 * cs[i] - x1 * sn[i];
        qh[i + half] = x0 * sn[i] + x1 * cs[i];
    }
    // K heads: rotated into the cache at position pos.
    T* kc = static_cast<T*>(p.k_cache);
    T* vc = static_cast<T*>(p.v_cache);
    for (int idx = threadIdx.x; idx < Hkv * half; idx += blockDim.x) {
        const int h = idx / half, i = idx % half;
        const int64_t col = int64_t(Hq + h) * D;
        const float* kh = base + col;
        const float x0 = kh[i] + biasAt(col + i), x1 = kh[i + half] + biasAt(col + i + half);
        T* dst = kc + ((b * Hkv + h) * p.max_seq + pos) * D;
        dst[i] = fromFloat<T>(x0 * cs[i] - x1 * sn[i]);
        dst[i + half] = fromFloat<T>(x0 * sn[i] + x1 * cs[i]);
    }
    // V heads: copied.
    for (int idx = threadIdx.x; idx < Hkv * D; idx += blockDim.x) {
        const int h = idx / D, e = idx % D;
        const int64_t col = int64_t(Hq + Hkv + h) * D + e;
        vc[((b * Hkv + h) * p.max_seq + pos) * D + e] = fromFloat<T>(base[col] + biasAt(col));
    }
}

template <class Y>
__global__ void swigluKernel(const float* gu, Y* y, int64_t rows, int64_t f) {
    // gu: (rows, 2F) [gate | up]; y: (rows, F)
    const int64_t n = rows * f;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / f, c = i % f;
        const float g = gu[r * 2 * f + c], u = gu[r * 2 * f + f + c];
        y[i] = fromFloat<Y>(g / (1.f + expf(-g)) * u);  // silu(g) = g * sigmoid(g); expf overflow gives -0, fine
    }
}

template <class Y>
__global__ void convertKernel(const float* x, Y* y, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        y[i] = fromFloat<Y>(x[i]);
}

template <class Y>
__global__ void convertRowsKernel(const float* x, int64_t ldx, Y* y, int64_t rows, int64_t cols) {
    // x: (rows, cols) with row stride ldx; y: (rows, cols) contiguous
    const int64_t n = rows * cols;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / cols, c = i % cols;
        y[i] = fromFloat<Y>(x[r * ldx + c]);
    }
}

__device__ __forceinline__ uint64_t splitmix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

template <class T>
__global__ void fillUniformKernel(T* p, int64_t n, uint64_t seed, float lo, float hi) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        const float u = float(splitmix64(seed ^ (uint64_t(i) * 0x2545f4914f6cdd1dull)) >> 40) * (1.f / 16777216.f);
        p[i] = fromFloat<T>(lo + (hi - lo) * u);
    }
}

// The kernels are instantiated for fp32, fp16 and bf16 storage only.
Status checkStorage(DType t, const char* what) {
    if (t == DType::Q8_0)
        return makeError(ErrorCode::InvalidArgument,
                         std::string(what) + ": q8_0 is not a CUDA storage type (fp32, fp16 or bf16)");
    return Status::ok();
}

}  // namespace

Status launchEmbedding(const int32_t* tokens, const void* table, DType table_dtype, float* x, int64_t rows, int64_t d,
                       cudaStream_t stream) {
    GQA_TRY(checkStorage(table_dtype, "embedding"));
    return dispatchDType(table_dtype, [&](auto tt) -> Status {
        using T = typename decltype(tt)::type;
        embeddingKernel<T><<<gridFor(rows, 1), kThreads, 0, stream>>>(tokens, static_cast<const T*>(table), x, rows, d);
        GQA_CUDA_CHECK(cudaGetLastError());
        return Status::ok();
    });
}

Status launchRmsNorm(const float* x, const void* gamma, DType gamma_dtype, void* y, DType y_dtype, int64_t rows,
                     int64_t d, float eps, cudaStream_t stream) {
    if (rows > 2147483647LL) return makeError(ErrorCode::InvalidArgument, "RMSNorm: too many rows");
    GQA_TRY(checkStorage(gamma_dtype, "RMSNorm gain"));
    GQA_TRY(checkStorage(y_dtype, "RMSNorm output"));
    return dispatchDType(gamma_dtype, [&](auto gt) -> Status {
        using G = typename decltype(gt)::type;
        return dispatchDType(y_dtype, [&](auto yt) -> Status {
            using Y = typename decltype(yt)::type;
            rmsNormKernel<G, Y><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, static_cast<const G*>(gamma),
                                                                                      static_cast<Y*>(y), d, eps);
            GQA_CUDA_CHECK(cudaGetLastError());
            return Status::ok();
        });
    });
}

Status launchRopeAppendKv(const RopeKvParams& p, cudaStream_t stream) {
    const int64_t rows = p.batch * p.tokens;
    if (rows > 2147483647LL) return makeError(ErrorCode::InvalidArgument, "RoPE: too many rows");
    if (p.head_dim % 2 != 0) return makeError(ErrorCode::InvalidArgument, "RoPE needs an even head_dim");
    if (!p.inv_freq) return makeError(ErrorCode::InvalidArgument, "RoPE: no inverse frequencies given");
    GQA_TRY(checkStorage(p.kv_dtype, "KV cache"));
    const std::size_t smem = static_cast<std::size_t>(p.head_dim) * sizeof(float);
    return dispatchDType(p.kv_dtype, [&](auto tt) -> Status {
        using T = typename decltype(tt)::type;
        ropeAppendKvKernel<T><<<static_cast<unsigned>(rows), 128, smem, stream>>>(p);
        GQA_CUDA_CHECK(cudaGetLastError());
        return Status::ok();
    });
}

Status launchSwiGlu(const float* gate_up, void* y, DType y_dtype, int64_t rows, int64_t ffn, cudaStream_t stream) {
    GQA_TRY(checkStorage(y_dtype, "SwiGLU output"));
    return dispatchDType(y_dtype, [&](auto yt) -> Status {
        using Y = typename decltype(yt)::type;
        swigluKernel<Y><<<gridFor(rows * ffn, kThreads), kThreads, 0, stream>>>(gate_up, static_cast<Y*>(y), rows, ffn);
        GQA_CUDA_CHECK(cudaGetLastError());
        return Status::ok();
    });
}

Status launchConvert(const float* x, void* y, DType y_dtype, int64_t n, cudaStream_t stream) {
    GQA_TRY(checkStorage(y_dtype, "conversion"));
    return dispatchDType(y_dtype, [&](auto yt) -> Status {
        using Y = typename decltype(yt)::type;
        convertKernel<Y><<<gridFor(n, kThreads), kThreads, 0, stream>>>(x, static_cast<Y*>(y), n);
        GQA_CUDA_CHECK(cudaGetLastError());
        return Status::ok();
    });
}

Status launchConvertRows(const float* x, int64_t ldx, void* y, DType y_dtype, int64_t rows, int64_t cols,
                         cudaStream_t stream) {
    if (rows < 1 || cols < 1 || ldx < cols)
        return makeError(ErrorCode::InvalidArgument, "row conversion: rows " + std::to_string(rows) + ", cols " +
                                                         std::to_string(cols) + ", stride " + std::to_string(ldx));
    GQA_TRY(checkStorage(y_dtype, "row conversion"));
    return dispatchDType(y_dtype, [&](auto yt) -> Status {
        using Y = typename decltype(yt)::type;
        convertRowsKernel<Y>
            <<<gridFor(rows * cols, kThreads), kThreads, 0, stream>>>(x, ldx, static_cast<Y*>(y), rows, cols);
        GQA_CUDA_CHECK(cudaGetLastError());
        return Status::ok();
    });
}

Status launchFillUniform(void* p, DType dtype, int64_t n, uint64_t seed, float lo, float hi, cudaStream_t stream) {
    GQA_TRY(checkStorage(dtype, "random fill"));
    return dispatchDType(dtype, [&](auto tt) -> Status {
        using T = typename decltype(tt)::type;
        fillUniformKernel<T><<<gridFor(n, kThreads), kThreads, 0, stream>>>(static_cast<T*>(p), n, seed, lo, hi);
        GQA_CUDA_CHECK(cudaGetLastError());
        return Status::ok();
    });
}

Status checkKernelImage() {
    cudaFuncAttributes attr{};
    const cudaError_t e = cudaFuncGetAttributes(&attr, fillUniformKernel<float>);
    if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction) {
        (void)cudaGetLastError();
        int dev = 0, major = 0, minor = 0;
        GQA_CUDA_CHECK(cudaGetDevice(&dev));
        GQA_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
        GQA_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
        return makeError(ErrorCode::Unavailable,
                         "libgqa_cuda.so has no kernels for this GPU (sm_" + std::to_string(major * 10 + minor) +
                             "); it was built for " + GQA_CUDA_ARCHS +
                             " (rebuild with -DGQA_CUDA_ARCHITECTURES=" + std::to_string(major * 10 + minor) + ")");
    }
    GQA_CUDA_CHECK(e);
    return Status::ok();
}

}  // namespace gqa::cuda
