// Split-K attention on CUDA cores ("flash-decoding"): decode (Tq = 1), small Tq, fp32 K/V, and head dims
// without a tensor-core kernel. The keys are cut into chunks; block (chunk, row block, KV head, batch)
// computes, for up to 16 packed (query position, head-in-group) rows of one KV head, the partial softmax
// statistics (max, sum) and the unnormalised output over its chunk. A second kernel combines the chunks:
//   M = max_c m_c,  w_c = 2^(m_c - M),  out = sum_c w_c o_c / sum_c w_c l_c.
// Batch 1 at long context thus fills the GPU with (chunks x KV heads) blocks instead of KV heads alone.
// When one chunk covers all keys, the first kernel normalises and writes the output itself.
//
// Group-aware like the prefill kernel: the g query heads of a KV head share each K/V tile in shared memory.
#include <algorithm>
#include <cmath>

#include "attention.h"
#include "attention_common.cuh"
#include "cuda_check.h"

namespace gqa::cuda {

namespace {

constexpr int kSplitThreads = 128;
constexpr int kSplitWarps = kSplitThreads / 32;
constexpr int kSplitRows = 16;        // packed rows per block
constexpr int kMaxChunks = 1024;      // bounds the combine kernel's shared memory
constexpr int kSplitBlocksPerSm = 2;  // planning target: resident blocks per SM (82 KiB of smem each)
constexpr int kMinChunkTiles = 2;     // a chunk spans at least this many tiles, so the pipeline has work
constexpr int kCombineWarps = 4;

// Keys per shared-memory tile, so that double-buffered K/V stay under ~68 KiB and a block fits the 99 KiB
// of sm_86/89: 64 (16-bit) / 32 (fp32) for the specialised head dims, 32 / 16 for head_dim <= 256 at run time.
__host__ __device__ constexpr int splitTileKeys(int d_template, int elem_bytes) {
    return (d_template == 64 || d_template == 128) ? (elem_bytes == 2 ? 64 : 32) : (elem_bytes == 2 ? 32 : 16);
}

struct SplitKernelParams {
    AttentionParams a;
    float scale_log2;  // log2(e) / sqrt(D)
    int chunk_len;     // keys per chunk
    int num_chunks;
    float* part_o;   // part_o: (B, Hkv, Tq*g, num_chunks, D) unnormalised partial outputs
    float* part_ml;  // part_ml: (B, Hkv, Tq*g, num_chunks, 2) max (log2 domain) and sum of exp2(s - max)
};

template <class T>
__host__ __device__ constexpr int kvRowPad() {
    return static_cast<int>(16 / sizeof(T));  // 16 bytes: conflict-free 16-byte reads by consecutive keys
}

std::size_t splitSmemBytes(int d, int tile_keys, std::size_t elem_bytes) {
    const std::size_t floats = std::size_t(kSplitRows) * d + std::size_t(kSplitRows) * tile_keys + 3 * kSplitRows;
    return floats * 4 + 4 * std::size_t(tile_keys) * (d + 16 / elem_bytes) * elem_bytes;  // K, V x 2 stages
}

template <int N>
__device__ __forceinline__ void loadQ(const float* p, float* out) {
    if constexpr (N % 4 == 0) {
#pragma unroll
        for (int i = 0; i < N; i += 4) {
            const float4 v = *reinterpret_cast<const float4*>(p + i);
            out[i] = v.x, out[i + 1] = v.y, out[i + 2] = v.z, out[i + 3] = v.w;
        }
    } else {
        static_assert(N == 2, "2, 4 or 8 query values at a time");
        const float2 v = *reinterpret_cast<const float2*>(p);
        out[0] = v.x, out[1] = v.y;
    }
}

// D_: 64, 128, or 0 = head_dim at run time (then 4-byte copies and 32-key tiles). G_: group size or 0.
template <class T, int D_, int G_>
__global__ void __launch_bounds__(kSplitThreads) splitAttentionKernel(const SplitKernelParams sp) {
    // q: (B, Hq, Tq, D) fp32 strided; k, v: (B, Hkv, Tk, D) T strided; out: (B, Hq, Tq, D) fp32 strided
    const AttentionParams& p = sp.a;
    constexpr int KT = splitTileKeys(D_, static_cast<int>(sizeof(T)));
    constexpr int VEC = D_ > 0 ? static_cast<int>(16 / sizeof(T)) : 2;  // K elements per shared-memory read
    constexpr int CPY = D_ > 0 ? 16 : 4;                                // bytes per cp.async
    constexpr int RS = kSplitThreads / KT;                              // row slots in the score phase
    constexpr int MAXRS = kSplitRows / RS;
    // Output phase: thread owns head-dim pair d2 of rows rg, rg + RG, ...
    constexpr int MAXR = D_ > 0 ? (kSplitRows + kSplitThreads / (D_ / 2) - 1) / (kSplitThreads / (D_ / 2)) : kSplitRows;
    const int D = D_ > 0 ? D_ : int(p.head_dim);
    const int G = G_ > 0 ? G_ : int(p.n_q_heads / p.n_kv_heads);
    const int Tq = int(p.q_len), Tk = int(p.kv_len), Hkv = int(p.n_kv_heads);
    const int rows_total = Tq * G;
    const int chunk = int(blockIdx.x) % sp.num_chunks;
    const int rb = int(blockIdx.x) / sp.num_chunks;
    const int kvh = blockIdx.y, b = blockIdx.z;
    const int p0 = rb * kSplitRows;
    const int nrows = min(kSplitRows, rows_total - p0);
    const int offset = Tk - Tq;  // causal: query i sees keys j <= i + offset
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int ldk = D + kvRowPad<T>();

    extern __shared__ __align__(16) unsigned char smem_raw[];
    float* qs = reinterpret_cast<float*>(smem_raw);        // qs: (kSplitRows, D)
    float* ss = qs + kSplitRows * D;                       // ss: (kSplitRows, KT) scores, then probabilities
    float* row_m = ss + kSplitRows * KT;                   // row_m: (kSplitRows) running max, log2 domain
    float* row_l = row_m + kSplitRows;                     // row_l: (kSplitRows) running sum
    float* row_alpha = row_l + kSplitRows;                 // row_alpha: (kSplitRows) rescale of this tile
    T* ks = reinterpret_cast<T*>(row_alpha + kSplitRows);  // ks: (2, KT, ldk) double-buffered
    T* vs = ks + 2 * KT * ldk;                             // vs: (2, KT, ldk)

    // This block's keys: its chunk, cut at the last key its last row may see.
    // With a sliding window, keys before the first row's window are skipped (never loaded).
    const int j_begin = max(chunk * sp.chunk_len, firstVisibleKey(p0 / G, offset, p.window));
    int j_end = min(Tk, chunk * sp.chunk_len + sp.chunk_len);
    if (p.causal) j_end = min(j_end, (p0 + nrows - 1) / G + offset + 1);

    const float* qbase = p.q + b * p.q_sb;
    for (int i = tid; i < nrows * D; i += kSplitThreads) {
        const int r = i / D, e = i % D;
        const int prow = p0 + r;
        const int t = prow / G, h = kvh * G + prow % G;
        qs[r * D + e] = qbase[int64_t(h) * p.q_sh + int64_t(t) * p.q_si + e];
    }
    if (tid < kSplitRows) {
        row_m[tid] = -INFINITY;
        row_l[tid] = 0.f;
    }
    __syncthreads();

    const T* kbase = static_cast<const T*>(p.k) + b * p.kv_sb + int64_t(kvh) * p.kv_sh;
    const T* vbase = static_cast<const T*>(p.v) + b * p.kv_sb + int64_t(kvh) * p.kv_sh;
    const float sl2 = sp.scale_log2;

    const int sj = tid % KT, srs = tid / KT;  // score phase: key sj of the tile, rows srs, srs + RS, ...
    const int np = D / 2;
    const int rg_count = kSplitThreads / np;  // output phase: row groups
    const int d2 = tid % np, rg = tid / np;
    const bool pv_active = rg < rg_count;
    float2 o[MAXR];
#pragma unroll
    for (int i = 0; i < MAXR; ++i) o[i] = make_float2(0.f, 0.f);

    // K and V rows j0 .. j0+n-1 into stage `buf`; rows n .. KT-1 zero-filled (so V never holds garbage
    // that 0 * NaN would spread).
    auto load_tile = [&](int j0, int buf) {
        constexpr int EPC = CPY / static_cast<int>(sizeof(T));
        const int n = min(KT, j_end - j0);
        const int cpr = D / EPC;
        T* kd = ks + buf * KT * ldk;
        T* vd = vs + buf * KT * ldk;
        for (int c = tid; c < KT * cpr; c += kSplitThreads) {
            const int r = c / cpr, col = (c % cpr) * EPC;
            const bool ok = r < n;
            const int64_t off = ok ? int64_t(j0 + r) * p.kv_si + col : 0;
            cpAsync<CPY>(kd + r * ldk + col, kbase + off, ok);
            cpAsync<CPY>(vd + r * ldk + col, vbase + off, ok);
        }
    };
    if (j_begin < j_end) load_tile(j_begin, 0);
    cpAsyncCommit();

    for (int it = 0, j0 = j_begin; j0 < j_end; ++it, j0 += KT) {
        const int buf = it & 1;
        const int n = min(KT, j_end - j0);
        cpAsyncWaitAll();  // this tile has landed (this thread's copies) ...
        __syncthreads();   // ... for all threads; and all are done with the previous tile, its stage, ss, alpha
        if (j0 + KT < j_end) load_tile(j0 + KT, buf ^ 1);  // overlaps with the compute below
        cpAsyncCommit();
        const T* kt_s = ks + buf * KT * ldk;
        const T* vt_s = vs + buf * KT * ldk;

        // Scores, scaled to the log2 domain; masked (causal or past the chunk) = -inf.
        {
            float acc[MAXRS];
#pragma unroll
            for (int i = 0; i < MAXRS; ++i) acc[i] = 0.f;
            const T* krow = kt_s + sj * ldk;
            // Unroll depths chosen with ptxas -v: no spills for any instantiation on sm_80 / sm_90.
            constexpr int kUnroll = D_ > 0 ? 4 : 2;
#pragma unroll kUnroll
            for (int e = 0; e < D; e += VEC) {
                float kf[VEC];
                loadAsFloat<T, VEC>(krow + e, kf);
#pragma unroll
                for (int i = 0; i < MAXRS; ++i) {
                    const int r = srs + i * RS;
                    if (r < nrows) {
                        float qv[VEC];
                        loadQ<VEC>(qs + r * D + e, qv);
#pragma unroll
                        for (int u = 0; u < VEC; ++u) acc[i] = fmaf(qv[u], kf[u], acc[i]);
                    }
                }
            }
            const int key = j0 + sj;
#pragma unroll
            for (int i = 0; i < MAXRS; ++i) {
                const int r = srs + i * RS;
                if (r < nrows) {
                    const int t = (p0 + r) / G;
                    const bool valid =
                        sj < n && (!p.causal || key <= t + offset) && key >= firstVisibleKey(t, offset, p.window);
                    ss[r * KT + sj] = valid ? acc[i] * sl2 : -INFINITY;
                }
            }
        }
        __syncthreads();

        // Online softmax, one warp per row.
        for (int r = warp; r < nrows; r += kSplitWarps) {
            float mx = -INFINITY;
            for (int jj = lane; jj < KT; jj += 32) mx = fmaxf(mx, ss[r * KT + jj]);
            mx = warpMax(mx);
            const float m_old = row_m[r];
            const float m_new = fmaxf(m_old, mx);
            const float m_use = m_new == -INFINITY ? 0.f : m_new;  // no visible key yet: exp2(-inf) = 0, not NaN
            float sum = 0.f;
            for (int jj = lane; jj < KT; jj += 32) {
                const float e = exp2f(ss[r * KT + jj] - m_use);
                ss[r * KT + jj] = e;
                sum += e;
            }
            sum = warpSum(sum);
            if (lane == 0) {
                const float alpha = exp2f(m_old - m_use);
                row_alpha[r] = alpha;
                row_l[r] = row_l[r] * alpha + sum;
                row_m[r] = m_new;
            }
        }
        __syncthreads();

        // o = o * alpha + P V.
        if (pv_active) {
#pragma unroll
            for (int i = 0; i < MAXR; ++i) {
                const int r = rg + i * rg_count;
                if (r < nrows) {
                    const float al = row_alpha[r];
                    o[i].x *= al;
                    o[i].y *= al;
                }
            }
            for (int jj = 0; jj < n; ++jj) {
                float vv[2];
                loadAsFloat<T, 2>(vt_s + jj * ldk + 2 * d2, vv);
#pragma unroll
                for (int i = 0; i < MAXR; ++i) {
                    const int r = rg + i * rg_count;
                    if (r < nrows) {
                        const float pj = ss[r * KT + jj];
                        o[i].x = fmaf(pj, vv[0], o[i].x);
                        o[i].y = fmaf(pj, vv[1], o[i].y);
                    }
                }
            }
        }
        // No barrier here: the next iteration's barrier orders these reads before ss / this stage change.
    }

    if (!pv_active) return;
#pragma unroll
    for (int i = 0; i < MAXR; ++i) {
        const int r = rg + i * rg_count;
        if (r >= nrows) continue;
        const int prow = p0 + r;
        if (sp.num_chunks == 1) {
            const float l = row_l[r];
            const float inv = l > 0.f ? 1.f / l : 0.f;  // no visible key: zeros
            const int t = prow / G, h = kvh * G + prow % G;
            float* dst = p.out + b * p.o_sb + int64_t(h) * p.o_sh + int64_t(t) * p.o_si + 2 * d2;
            *reinterpret_cast<float2*>(dst) = make_float2(o[i].x * inv, o[i].y * inv);
        } else {
            const std::size_t idx =
                ((std::size_t(b) * Hkv + kvh) * std::size_t(rows_total) + prow) * sp.num_chunks + chunk;
            *reinterpret_cast<float2*>(sp.part_o + idx * D + 2 * d2) = o[i];
            if (d2 == 0) {
                sp.part_ml[2 * idx] = row_m[r];
                sp.part_ml[2 * idx + 1] = row_l[r];
            }
        }
    }
}

// One warp per packed row (b, kvh, row): combine the chunks' partial results into out.
__global__ void __launch_bounds__(kCombineWarps * 32) splitCombineKernel(const SplitKernelParams sp) {
    // part_o: (B, Hkv, Tq*g, C, D); part_ml: (B, Hkv, Tq*g, C, 2); out: (B, Hq, Tq, D) fp32 strided
    const AttentionParams& p = sp.a;
    const int D = int(p.head_dim), Hkv = int(p.n_kv_heads);
    const int G = int(p.n_q_heads / p.n_kv_heads);
    const int rows_total = int(p.q_len) * G;
    const int C = sp.num_chunks;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t gr = int64_t(blockIdx.x) * kCombineWarps + warp;
    if (gr >= int64_t(p.batch) * Hkv * rows_total) return;  // whole warp leaves together

    extern __shared__ float combine_smem[];  // (kCombineWarps, C) chunk weights
    float* w = combine_smem + warp * C;
    const float* ml = sp.part_ml + gr * C * 2;
    float M = -INFINITY;
    for (int c = lane; c < C; c += 32) M = fmaxf(M, ml[2 * c]);
    M = warpMax(M);
    float L = 0.f;
    for (int c = lane; c < C; c += 32) {
        const float wc = M == -INFINITY ? 0.f : exp2f(ml[2 * c] - M);  // empty chunks: m = -inf, weight 0
        w[c] = wc;
        L = fmaf(wc, ml[2 * c + 1], L);
    }
    L = warpSum(L);
    __syncwarp();
    const float inv = L > 0.f ? 1.f / L : 0.f;

    const int prow = int(gr % rows_total);
    const int64_t rest = gr / rows_total;
    const int kvh = int(rest % Hkv), b = int(rest / Hkv);
    const int t = prow / G, h = kvh * G + prow % G;
    float* dst = p.out + b * p.o_sb + int64_t(h) * p.o_sh + int64_t(t) * p.o_si;
    const float* po = sp.part_o + gr * C * D;
    for (int e = lane; e < D; e += 32) {
        float acc = 0.f;
        for (int c = 0; c < C; ++c) acc = fmaf(w[c], po[int64_t(c) * D + e], acc);
        dst[e] = acc * inv;
    }
}

// 64 or 128 when the specialised kernel (16-byte copies) applies, else 0 (head_dim read at run time).
int splitTemplateHeadDim(const AttentionParams& p) {
    if ((p.head_dim == 64 || p.head_dim == 128) && kvRowsAligned16(p)) return static_cast<int>(p.head_dim);
    return 0;
}

template <class T, int D, int G>
Status launchSplitKernel(const SplitKernelParams& sp, const SplitPlan& plan, cudaStream_t stream) {
    const AttentionParams& p = sp.a;
    const std::size_t smem = splitSmemBytes(static_cast<int>(p.head_dim), plan.tile_keys, sizeof(T));
    int device = 0, optin = 0;
    GQA_CUDA_CHECK(cudaGetDevice(&device));
    GQA_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    if (smem > static_cast<std::size_t>(optin))
        return makeError(ErrorCode::InvalidArgument,
                         "attention with head_dim " + std::to_string(p.head_dim) + " needs " + std::to_string(smem) +
                             " bytes of shared memory per block; this GPU allows " + std::to_string(optin));
    // The runtime-D instantiation serves several head dims: set the attribute to the largest it can need.
    static const Status attr = []() -> Status {
        int dev = 0, max_optin = 0;
        GQA_CUDA_CHECK(cudaGetDevice(&dev));
        GQA_CUDA_CHECK(cudaDeviceGetAttribute(&max_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
        const std::size_t need =
            splitSmemBytes(D > 0 ? D : 256, splitTileKeys(D, static_cast<int>(sizeof(T))), sizeof(T));
        GQA_CUDA_CHECK(cudaFuncSetAttribute(splitAttentionKernel<T, D, G>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            static_cast<int>(std::min<std::size_t>(need, max_optin))));
        return Status::ok();
    }();
    GQA_TRY(attr);
    const dim3 grid(static_cast<unsigned>(int64_t(plan.num_chunks) * plan.row_blocks),
                    static_cast<unsigned>(p.n_kv_heads), static_cast<unsigned>(p.batch));
    splitAttentionKernel<T, D, G><<<grid, kSplitThreads, smem, stream>>>(sp);
    GQA_CUDA_CHECK(cudaGetLastError());
    if (plan.num_chunks > 1) {
        const int64_t rows = p.batch * p.n_kv_heads * p.q_len * (p.n_q_heads / p.n_kv_heads);
        const unsigned blocks = static_cast<unsigned>((rows + kCombineWarps - 1) / kCombineWarps);
        splitCombineKernel<<<blocks, kCombineWarps * 32, kCombineWarps * plan.num_chunks * sizeof(float), stream>>>(sp);
        GQA_CUDA_CHECK(cudaGetLastError());
    }
    return Status::ok();
}

}  // namespace

SplitPlan planSplit(const AttentionParams& p, int num_sms) {
    SplitPlan plan;
    plan.tile_keys = splitTileKeys(splitTemplateHeadDim(p), static_cast<int>(bytesPerElement(p.kv_dtype)));
    const int64_t g = p.n_q_heads / p.n_kv_heads;
    const int64_t rows_total = p.q_len * g;
    plan.row_blocks = static_cast<int>((rows_total + kSplitRows - 1) / kSplitRows);
    const int64_t base_blocks = p.batch * p.n_kv_heads * plan.row_blocks;
    const int64_t target = int64_t(std::max(num_sms, 1)) * kSplitBlocksPerSm;
    const int64_t want = std::max<int64_t>(1, (target + base_blocks - 1) / base_blocks);
    const int64_t kt = plan.tile_keys;
    int64_t chunk = std::max<int64_t>(((p.kv_len + want - 1) / want + kt - 1) / kt * kt, kMinChunkTiles * kt);
    int64_t chunks = (p.kv_len + chunk - 1) / chunk;
    if (chunks > kMaxChunks) {
        chunk = ((p.kv_len + kMaxChunks - 1) / kMaxChunks + kt - 1) / kt * kt;
        chunks = (p.kv_len + chunk - 1) / chunk;
    }
    plan.chunk_len = static_cast<int>(chunk);
    plan.num_chunks = static_cast<int>(chunks);
    plan.workspace_floats =
        chunks > 1 ? static_cast<std::size_t>(p.batch * p.n_kv_heads * rows_total * chunks * (p.head_dim + 2)) : 0;
    return plan;
}

std::size_t attentionWorkspaceBoundFloats(int64_t batch, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim,
                                          int64_t max_q_len, int64_t max_kv_len, int num_sms) {
    // planSplit gives num_chunks <= min(want, ceil(kv_len / chunk_len)) with chunk_len >= kMinChunkTiles * 16,
    // and `want` falls as q_len grows; past the q_len where want == 1 no scratch is needed.
    const int64_t g = n_q_heads / n_kv_heads;
    const int64_t target = int64_t(std::max(num_sms, 1)) * kSplitBlocksPerSm;
    const int64_t min_chunk = kMinChunkTiles * splitTileKeys(0, 4);  // the smallest chunk_len planSplit makes
    const int64_t max_chunks = std::min<int64_t>(kMaxChunks, (max_kv_len + min_chunk - 1) / min_chunk);
    std::size_t bound = 0;
    for (int64_t tq = 1; tq <= max_q_len; ++tq) {
        const int64_t rows_total = tq * g;
        const int64_t base = batch * n_kv_heads * ((rows_total + kSplitRows - 1) / kSplitRows);
        const int64_t want = std::max<int64_t>(1, (target + base - 1) / base);
        const int64_t chunks = std::min(want, max_chunks);
        if (chunks <= 1) break;
        bound = std::max(bound, static_cast<std::size_t>(batch * n_kv_heads * rows_total * chunks * (head_dim + 2)));
    }
    return bound;
}

Status launchSplit(const AttentionParams& p, const SplitPlan& plan, float* workspace, cudaStream_t stream) {
    SplitKernelParams sp;
    sp.a = p;
    sp.scale_log2 = static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(p.head_dim)));
    sp.chunk_len = plan.chunk_len;
    sp.num_chunks = plan.num_chunks;
    const std::size_t po_floats = plan.num_chunks > 1
                                      ? static_cast<std::size_t>(p.batch * p.n_kv_heads * p.q_len *
                                                                 (p.n_q_heads / p.n_kv_heads) * plan.num_chunks) *
                                            static_cast<std::size_t>(p.head_dim)
                                      : 0;
    sp.part_o = workspace;
    sp.part_ml = workspace ? workspace + po_floats : nullptr;
    if (plan.num_chunks > 1 && workspace == nullptr)
        return makeError(ErrorCode::Internal, "split-K attention needs scratch memory but none was given");
    const int d_template = splitTemplateHeadDim(p);
    return dispatchDType(p.kv_dtype, [&](auto tt) -> Status {
        using T = typename decltype(tt)::type;
        return dispatchHeadDim(d_template, [&](auto dc) -> Status {
            return dispatchGroupSize(p.n_q_heads / p.n_kv_heads, [&](auto gc) -> Status {
                return launchSplitKernel<T, decltype(dc)::value, decltype(gc)::value>(sp, plan, stream);
            });
        });
    });
}

}  // namespace gqa::cuda
