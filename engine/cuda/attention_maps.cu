// Attention maps: exact softmax probabilities for the requested query heads, written to (B, n_heads, Tq, Tk).
// A deliberately simple kernel, separate from the timed attention path (which never materialises P):
// one block per (query position, selected head, batch) row; scores go to the output row, then three passes
// (max, exp and sum, divide) turn them into probabilities that sum to 1.
#include <cmath>

#include "attention.h"
#include "attention_common.cuh"
#include "cuda_check.h"

namespace gqa::cuda {

namespace {

constexpr int kMapThreads = 256;
constexpr int kMapWarps = kMapThreads / 32;

__device__ float blockReduce(float x, float* scratch, bool is_max) {
    // scratch: (kMapWarps + 1) floats
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    x = is_max ? warpMax(x) : warpSum(x);
    if (lane == 0) scratch[warp] = x;
    __syncthreads();
    if (warp == 0) {
        float y = lane < kMapWarps ? scratch[lane] : (is_max ? -INFINITY : 0.f);
        y = is_max ? warpMax(y) : warpSum(y);
        if (lane == 0) scratch[kMapWarps] = y;
    }
    __syncthreads();
    const float r = scratch[kMapWarps];
    __syncthreads();  // scratch is reused by the next reduction
    return r;
}

template <class T>
__global__ void __launch_bounds__(kMapThreads)
    attentionProbsKernel(const AttentionParams p, const int32_t* heads, int n_heads, float scale, float* probs) {
    // q: (B, Hq, Tq, D) fp32 strided; k: (B, Hkv, Tk, D) T strided; heads: (n_heads) query head ids;
    // probs: (B, n_heads, Tq, Tk) fp32
    const int t = blockIdx.x, hs = blockIdx.y, b = blockIdx.z;
    const int D = int(p.head_dim), Tq = int(p.q_len), Tk = int(p.kv_len);
    const int g = int(p.n_q_heads / p.n_kv_heads);
    const int h = heads[hs];
    const int kvh = h / g;  // query head h reads KV head h / g
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    // Last visible key; -1 when the row sees none (causal with Tk < Tq): the row stays all zeros.
    const int last = p.causal ? min(Tk - 1, t + Tk - Tq) : Tk - 1;
    // First visible key (the sliding window's lower edge); keys before it are 0.
    const int first = firstVisibleKey(t, Tk - Tq, p.window);

    extern __shared__ float map_smem[];
    float* qrow = map_smem;         // (D)
    float* scratch = map_smem + D;  // (kMapWarps + 1)
    const float* q = p.q + b * p.q_sb + int64_t(h) * p.q_sh + int64_t(t) * p.q_si;
    for (int e = threadIdx.x; e < D; e += kMapThreads) qrow[e] = q[e];
    __syncthreads();

    float* row = probs + ((int64_t(b) * n_heads + hs) * Tq + t) * int64_t(Tk);
    const T* kbase = static_cast<const T*>(p.k) + b * p.kv_sb + int64_t(kvh) * p.kv_sh;
    // Pass 1: scores, one warp per key (coalesced over the head dim).
    float mx = -INFINITY;
    for (int j = warp; j < Tk; j += kMapWarps) {
        if (j > last || j < first) {
            if (lane == 0) row[j] = 0.f;
            continue;
        }
        const T* krow = kbase + int64_t(j) * p.kv_si;
        float acc = 0.f;
        for (int e = lane; e < D; e += 32) acc = fmaf(qrow[e], toFloat(krow[e]), acc);
        acc = warpSum(acc) * scale;
        if (lane == 0) row[j] = acc;
        mx = fmaxf(mx, acc);
    }
    mx = blockReduce(mx, scratch, true);  // its __syncthreads also publishes the row writes to the block
    // Pass 2: exponentials and their sum.
    float sum = 0.f;
    for (int j = first + int(threadIdx.x); j <= last; j += kMapThreads) {
        const float e = expf(row[j] - mx);
        row[j] = e;
        sum += e;
    }
    sum = blockReduce(sum, scratch, false);
    // Pass 3: normalise (each thread rescales the entries it wrote in pass 2).
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    for (int j = first + int(threadIdx.x); j <= last; j += kMapThreads) row[j] *= inv;
}

}  // namespace

Status runAttentionProbs(const AttentionParams& p, const int32_t* heads, int64_t n_heads, float* probs,
                         cudaStream_t stream) {
    GQA_TRY(checkAttentionParams(p));
    if (n_heads <= 0) return Status::ok();
    if (n_heads > 65535 || p.q_len > 2147483647LL)
        return makeError(ErrorCode::InvalidArgument, "attention maps: too many heads or query positions");
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.head_dim)));
    const dim3 grid(static_cast<unsigned>(p.q_len), static_cast<unsigned>(n_heads), static_cast<unsigned>(p.batch));
    const std::size_t smem = (static_cast<std::size_t>(p.head_dim) + kMapWarps + 1) * sizeof(float);
    return dispatchDType(p.kv_dtype, [&](auto tt) -> Status {
        using T = typename decltype(tt)::type;
        attentionProbsKernel<T><<<grid, kMapThreads, smem, stream>>>(p, heads, static_cast<int>(n_heads), scale, probs);
        GQA_CUDA_CHECK(cudaGetLastError());
        return Status::ok();
    });
}

}  // namespace gqa::cuda
