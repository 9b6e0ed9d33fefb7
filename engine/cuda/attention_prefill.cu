// Prefill attention on tensor cores: flash-attention-2 style tiling with an online softmax, so no Tq x Tk
// matrix ever exists in device memory. fp16/bf16 K/V, head_dim 64 or 128, sm_80+ (mma.sync m16n8k16,
// cp.async, ldmatrix). fp32 K/V and other head dims run on the split-K kernel (attention_decode.cu).
//
// Block = one (batch b, KV head kvh, tile of 64 packed rows). Packed row r is query position r / g of query
// head kvh * g + r % g, so the g query heads of a group sit in the same block and every K/V tile loaded into
// shared memory is used by all of them: K/V are read once per group and row tile, not once per query head.
// 4 warps x 16 rows; each warp keeps its Q fragments, its 16 x 64 score tile and its 16 x D output in
// registers. K/V tiles of 64 keys are double-buffered with cp.async.
#include <cmath>

#include "attention.h"
#include "attention_common.cuh"
#include "cuda_check.h"

namespace gqa::cuda {

namespace {

constexpr int kTcRows = 64;  // packed rows per block (4 warps x 16)
constexpr int kTcKeys = 64;  // keys per K/V tile
constexpr int kTcThreads = 128;
constexpr int kTcPad = 8;  // 16 bytes per smem row: conflict-free fragment loads and ldmatrix

struct TcParams {
    AttentionParams a;
    float scale_log2;  // log2(e) / sqrt(D): scores go through exp2
};

template <class T, int D>
constexpr std::size_t tcSmemBytes() {
    return std::size_t(kTcRows + 4 * kTcKeys) * (D + kTcPad) * sizeof(T);
}

template <class T, int D, int G_>
__global__ void __launch_bounds__(kTcThreads) prefillTcKernel(const TcParams kp) {
    // q: (B, Hq, Tq, D) fp32 strided; k, v: (B, Hkv, Tk, D) T strided; out: (B, Hq, Tq, D) fp32 strided
    const AttentionParams& p = kp.a;
    constexpr int LD = D + kTcPad;   // smem row length in elements
    constexpr int KS = D / 16;       // k-steps of S = Q K^T
    constexpr int NT = kTcKeys / 8;  // 8-key n-tiles of S
    constexpr int DT = D / 8;        // 8-wide n-tiles of O
    constexpr int CH = D / 8;        // 16-byte chunks per K/V row
    const int G = G_ > 0 ? G_ : int(p.n_q_heads / p.n_kv_heads);
    const int Tq = int(p.q_len), Tk = int(p.kv_len);
    const int rows_total = Tq * G;
    const int tile = int(gridDim.x) - 1 - int(blockIdx.x);  // causal: the tiles with most keys start first
    const int kvh = blockIdx.y, b = blockIdx.z;
    const int p0 = tile * kTcRows;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, grp = lane >> 2, tig = lane & 3;
    const int offset = Tk - Tq;  // causal: query i sees keys j <= i + offset

    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* qs = reinterpret_cast<T*>(smem_raw);  // qs: (kTcRows, LD)
    T* ks = qs + kTcRows * LD;               // ks: (2, kTcKeys, LD)
    T* vs = ks + 2 * kTcKeys * LD;           // vs: (2, kTcKeys, LD)

    // Keys this block needs: up to the last visible key of its last query position.
    const int t_last = min(Tq - 1, (p0 + kTcRows - 1) / G);
    const int kv_end = p.causal ? min(Tk, t_last + offset + 1) : Tk;
    const int n_tiles = kv_end > 0 ? (kv_end + kTcKeys - 1) / kTcKeys : 0;
    // Sliding window: tiles wholly before the first row's window are skipped.
    const int kt_first = min(n_tiles, firstVisibleKey(p0 / G, offset, p.window) / kTcKeys);

    const T* kbase = static_cast<const T*>(p.k) + b * p.kv_sb + int64_t(kvh) * p.kv_sh;
    const T* vbase = static_cast<const T*>(p.v) + b * p.kv_sb + int64_t(kvh) * p.kv_sh;
    // Keys at or past kv_end are zero-filled: masked scores are -inf, and V must not hold NaN garbage
    // that 0 * NaN would spread.
    auto load_tile = [&](int kt, int buf) {
        const int key0 = kt * kTcKeys;
        T* kdst = ks + buf * kTcKeys * LD;
        T* vdst = vs + buf * kTcKeys * LD;
        for (int c = tid; c < kTcKeys * CH; c += kTcThreads) {
            const int r = c / CH, col = (c % CH) * 8;
            const bool ok = key0 + r < kv_end;
            const int64_t off = ok ? int64_t(key0 + r) * p.kv_si + col : 0;
            cpAsync<16>(kdst + r * LD + col, kbase + off, ok);
            cpAsync<16>(vdst + r * LD + col, vbase + off, ok);
        }
    };
    if (kt_first < n_tiles) load_tile(kt_first, 0);
    cpAsyncCommit();

    // Q tile: fp32 from global, rounded to T in shared memory; padding rows are zero.
    const float* qbase = p.q + b * p.q_sb;
    for (int c = tid; c < kTcRows * (D / 4); c += kTcThreads) {
        const int r = c / (D / 4), col = (c % (D / 4)) * 4;
        const int prow = p0 + r;
        float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
        if (prow < rows_total) {
            const int t = prow / G, h = kvh * G + prow % G;
            x = *reinterpret_cast<const float4*>(qbase + int64_t(h) * p.q_sh + int64_t(t) * p.q_si + col);
        }
        *reinterpret_cast<uint2*>(qs + r * LD + col) = make_uint2(packPair<T>(x.x, x.y), packPair<T>(x.z, x.w));
    }
    __syncthreads();

    // This warp's rows: r0 = warp*16 + grp and r0 + 8 (the two rows of every mma fragment this lane holds).
    const int r0 = warp * 16 + grp;
    uint32_t qf[KS][4];  // A fragments of Q, one per k-step
#pragma unroll
    for (int s = 0; s < KS; ++s) {
        const T* q0 = qs + r0 * LD + s * 16 + 2 * tig;
        const T* q1 = q0 + 8 * LD;
        qf[s][0] = *reinterpret_cast<const uint32_t*>(q0);
        qf[s][1] = *reinterpret_cast<const uint32_t*>(q1);
        qf[s][2] = *reinterpret_cast<const uint32_t*>(q0 + 8);
        qf[s][3] = *reinterpret_cast<const uint32_t*>(q1 + 8);
    }
    const int prow0 = p0 + r0, prow1 = prow0 + 8;
    // Last key each row may see (padding rows are never written; clamp them to the loaded range).
    const int lim0 = min(p.causal ? prow0 / G + offset : Tk - 1, kv_end - 1);
    const int lim1 = min(p.causal ? prow1 / G + offset : Tk - 1, kv_end - 1);
    // First key each row may see (the sliding window's lower edge; 0 without one).
    const int lo0 = firstVisibleKey(prow0 / G, offset, p.window), lo1 = firstVisibleKey(prow1 / G, offset, p.window);
    const float sl2 = kp.scale_log2;

    float o[DT][4];
#pragma unroll
    for (int i = 0; i < DT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY;  // running max of the scaled scores (log2 domain)
    float l0 = 0.f, l1 = 0.f;              // running sum of exp2(score - max), this lane's columns only

    for (int kt = kt_first; kt < n_tiles; ++kt) {
        const int buf = (kt - kt_first) & 1;
        cpAsyncWaitAll();  // tile kt has landed (this thread's copies) ...
        __syncthreads();   // ... for every thread, and everyone is done with tile kt-1's buffer
        if (kt + 1 < n_tiles) load_tile(kt + 1, buf ^ 1);
        cpAsyncCommit();
        const T* kt_s = ks + buf * kTcKeys * LD;
        const T* vt_s = vs + buf * kTcKeys * LD;

        // S = Q K^T: s[nt] holds rows (r0, r0+8) x keys (nt*8 + 2tig, +1).
        float s[NT][4];
#pragma unroll
        for (int n = 0; n < NT; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
        for (int st = 0; st < KS; ++st) {
#pragma unroll
            for (int n = 0; n < NT; ++n) {
                // B = K^T (k = head dim, n = key): B[2tig..+1][grp] = K[key n*8+grp][st*16 + 2tig..+1].
                const T* kp_ = kt_s + (n * 8 + grp) * LD + st * 16 + 2 * tig;
                const uint32_t bf[2] = {*reinterpret_cast<const uint32_t*>(kp_),
                                        *reinterpret_cast<const uint32_t*>(kp_ + 8)};
                mma16816<T>(s[n], qf[st], bf);
            }
        }

        const int key0 = kt * kTcKeys;
        if (key0 + kTcKeys - 1 > min(lim0, lim1) || key0 < max(lo0, lo1)) {
#pragma unroll
            for (int n = 0; n < NT; ++n) {
#pragma unroll
                for (int c = 0; c < 4; ++c) {
                    const int key = key0 + n * 8 + 2 * tig + (c & 1);
                    if (key > (c < 2 ? lim0 : lim1) || key < (c < 2 ? lo0 : lo1)) s[n][c] = -INFINITY;
                }
            }
        }

        // Online softmax; the 4 lanes of a quad share a row.
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int n = 0; n < NT; ++n) {
            mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
            mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float mn0 = fmaxf(m0, mx0 * sl2), mn1 = fmaxf(m1, mx1 * sl2);
        // A row with no visible key so far keeps max -inf; subtract 0 instead so exp2 gives 0, not NaN.
        const float mu0 = mn0 == -INFINITY ? 0.f : mn0, mu1 = mn1 == -INFINITY ? 0.f : mn1;
        const float al0 = exp2f(m0 - mu0), al1 = exp2f(m1 - mu1);
        m0 = mn0;
        m1 = mn1;
        float rs0 = 0.f, rs1 = 0.f;
#pragma unroll
        for (int n = 0; n < NT; ++n) {
            s[n][0] = exp2f(fmaf(s[n][0], sl2, -mu0));
            s[n][1] = exp2f(fmaf(s[n][1], sl2, -mu0));
            s[n][2] = exp2f(fmaf(s[n][2], sl2, -mu1));
            s[n][3] = exp2f(fmaf(s[n][3], sl2, -mu1));
            rs0 += s[n][0] + s[n][1];
            rs1 += s[n][2] + s[n][3];
        }
        l0 = l0 * al0 + rs0;
        l1 = l1 * al1 + rs1;
#pragma unroll
        for (int i = 0; i < DT; ++i) {
            o[i][0] *= al0;
            o[i][1] *= al0;
            o[i][2] *= al1;
            o[i][3] *= al1;
        }

        // O += P V. The S accumulators of key n-tiles (2kk, 2kk+1) are exactly the A fragment of P for the
        // 16-key k-step kk. B = V (k = key, n = head dim) comes from ldmatrix.trans on row-major V.
#pragma unroll
        for (int kk = 0; kk < kTcKeys / 16; ++kk) {
            const uint32_t a[4] = {packPair<T>(s[2 * kk][0], s[2 * kk][1]), packPair<T>(s[2 * kk][2], s[2 * kk][3]),
                                   packPair<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                   packPair<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
            // Matrix mi = lane/8: keys kk*16 + (mi&1)*8 + (lane%8), head dims dp*16 + (mi>>1)*8 .. +7.
            const int mi = lane >> 3;
            const T* vrow = vt_s + (kk * 16 + (mi & 1) * 8 + (lane & 7)) * LD + (mi >> 1) * 8;
#pragma unroll
            for (int dp = 0; dp < D / 16; ++dp) {
                uint32_t vf[4];
                ldmatrixX4Trans(vf, vrow + dp * 16);
                mma16816<T>(o[2 * dp], a, vf);          // head dims dp*16 .. +7
                mma16816<T>(o[2 * dp + 1], a, vf + 2);  // head dims dp*16+8 .. +15
            }
        }
    }

    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    // A row that sees no key (causal with Tk < Tq) gets zeros, as the split-K path and the maps do.
    const float inv0 = l0 > 0.f ? 1.f / l0 : 0.f, inv1 = l1 > 0.f ? 1.f / l1 : 0.f;
    if (prow0 < rows_total) {
        const int t = prow0 / G, h = kvh * G + prow0 % G;
        float* dst = p.out + b * p.o_sb + int64_t(h) * p.o_sh + int64_t(t) * p.o_si + 2 * tig;
#pragma unroll
        for (int i = 0; i < DT; ++i)
            *reinterpret_cast<float2*>(dst + i * 8) = make_float2(o[i][0] * inv0, o[i][1] * inv0);
    }
    if (prow1 < rows_total) {
        const int t = prow1 / G, h = kvh * G + prow1 % G;
        float* dst = p.out + b * p.o_sb + int64_t(h) * p.o_sh + int64_t(t) * p.o_si + 2 * tig;
#pragma unroll
        for (int i = 0; i < DT; ++i)
            *reinterpret_cast<float2*>(dst + i * 8) = make_float2(o[i][2] * inv1, o[i][3] * inv1);
    }
}

template <class T, int D, int G>
Status launchTc(const TcParams& kp, cudaStream_t stream) {
    constexpr std::size_t smem = tcSmemBytes<T, D>();
    // Above 48 KiB a kernel must opt in; once per instantiation (thread-safe static initialisation).
    static const Status attr = []() -> Status {
        GQA_CUDA_CHECK(cudaFuncSetAttribute(prefillTcKernel<T, D, G>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            static_cast<int>(smem)));
        return Status::ok();
    }();
    GQA_TRY(attr);
    const AttentionParams& p = kp.a;
    const int64_t rows_total = p.q_len * (p.n_q_heads / p.n_kv_heads);
    const dim3 grid(static_cast<unsigned>((rows_total + kTcRows - 1) / kTcRows), static_cast<unsigned>(p.n_kv_heads),
                    static_cast<unsigned>(p.batch));
    prefillTcKernel<T, D, G><<<grid, kTcThreads, smem, stream>>>(kp);
    GQA_CUDA_CHECK(cudaGetLastError());
    return Status::ok();
}

}  // namespace

Status launchPrefillTensorCore(const AttentionParams& p, cudaStream_t stream) {
    const TcParams kp{p, static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(p.head_dim)))};
    return dispatchDType(p.kv_dtype, [&](auto tt) -> Status {
        using T = typename decltype(tt)::type;
        if constexpr (std::is_same_v<T, float>) {
            return makeError(ErrorCode::Internal, "tensor-core attention called with fp32 K/V");
        } else {
            return dispatchHeadDim(p.head_dim, [&](auto dc) -> Status {
                constexpr int D = decltype(dc)::value;
                if constexpr (D == 0) {
                    return makeError(ErrorCode::Internal, "tensor-core attention called with head_dim " +
                                                              std::to_string(p.head_dim) + " (64 or 128 only)");
                } else {
                    return dispatchGroupSize(p.n_q_heads / p.n_kv_heads, [&](auto gc) -> Status {
                        return launchTc<T, D, decltype(gc)::value>(kp, stream);
                    });
                }
            });
        }
    });
}

}  // namespace gqa::cuda
