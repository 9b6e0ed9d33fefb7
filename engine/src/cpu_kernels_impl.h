// The CPU attention kernels, compiled once per instruction set (GQA_KERNEL_NS, GQA_VW floats per vector).
// Included only by cpu_kernels_{generic,avx2,avx512}.cpp.
//
// attention(): work item = (batch b, KV head, query tile, key split). Its rows are the g query heads of the
// group times the tile's queries, so each K/V tile is converted to fp32 once and used by all g heads.
// Online softmax (running max m and sum l per row) means no T x T matrix is ever held.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "cpu_kernels.h"

namespace gqa::cpu::GQA_KERNEL_NS {
namespace {

// Small kernels every path shares are always inlined: left to GCC's growth limits, splitting the AMX path out of
// attendItem changed which were inlined (transposeReduce's stages became calls) and the fp16 decode rows ran
// 5-47% slower.
#define GQA_HOT inline __attribute__((always_inline))

constexpr int VW = GQA_VW;
typedef float vf __attribute__((vector_size(VW * 4)));
typedef int vi __attribute__((vector_size(VW * 4)));

constexpr int64_t kKeyTile = 64;       // keys per tile of the fp32-tile and AMX paths at most (a multiple of VW)
constexpr int64_t kPrefetchTiles = 2;  // how many tiles ahead the software prefetch runs (direct path: 1)
// Keys per tile of the direct path, which keeps no tiles in L1: K and V are read in runs of 64 KiB at D 128
// (16 KiB at 64 keys). Alternating the two streams every 8-16 KiB kept an AMD EPYC (Zen 4) guest's hardware
// prefetchers from running ahead: MHA and g = 8 decode, 256 keys and the prefetch one tile ahead against 32-64
// keys and two tiles, +6-9% (21.9 -> 23.7, 21.3 -> 23.2, 15.7 -> 16.7 GB/s, three shapes alternated in one process).
constexpr int64_t kDirectTile = 256;
constexpr int kAmxPrefetchParts = 3;  // AMX path: a tile's prefetches go out in three parts
// Keys per tile so that the fp32 K and V tiles (2 x keys x dp x 4 bytes) stay within 32 KiB of L1.
inline int64_t keyTile(int64_t dp) {
    return std::clamp<int64_t>((4096 / dp) / VW * VW, VW, kKeyTile);
}
constexpr int64_t kRowTarget = 64;  // query rows (heads x queries) per prefill work item
// Register block of the score computation: kRB rows x kKB keys = VW dot products per transpose-reduce.
constexpr int kKB = VW >= 8 ? 4 : 2;
constexpr int kRB = VW / kKB;

GQA_HOT vf vload(const float* p) {
    vf v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
GQA_HOT void vstore(float* p, vf v) {
    std::memcpy(p, &v, sizeof v);
}
// A broadcast only: `vf{} + x` costs an add before it (0 + -0 is +0, so GCC keeps it), a lane loop 16 masked
// broadcasts.
GQA_HOT vf vbcast(float x) {
#if GQA_VW == 16
    const __m512 b = _mm512_set1_ps(x);
#elif GQA_VW == 8
    const __m256 b = _mm256_set1_ps(x);
#else
    const __m128 b = _mm_set1_ps(x);
#endif
    static_assert(sizeof b == sizeof(vf));
    vf v;
    std::memcpy(&v, &b, sizeof v);
    return v;
}
GQA_HOT vf vmax(vf a, vf b) {
    return a > b ? a : b;
}

// exp(x) for x <= 0 (arguments of the softmax), relative error ~1e-7; exp(-inf) = 0.
GQA_HOT vf vexp(vf x) {
    const vf lo = vbcast(-87.0f);
    x = x < lo ? lo : x;
    const vf t = x * 1.44269504088896341f;  // log2(e)
    // Round to nearest with the 1.5 * 2^23 trick: pure vector arithmetic, no libm call per lane.
    const vf n = (t + 12582912.0f) - 12582912.0f;
    const vf f = (t - n) * 0.693147180559945309f;  // f in [-ln2/2, ln2/2]
    vf p = vbcast(1.0f / 5040.0f);
    p = p * f + 1.0f / 720.0f;
    p = p * f + 1.0f / 120.0f;
    p = p * f + 1.0f / 24.0f;
    p = p * f + 1.0f / 6.0f;
    p = p * f + 0.5f;
    p = p * f + 1.0f;
    p = p * f + 1.0f;
    vi ni = __builtin_convertvector(n, vi);
    vi bits = (ni + 127) << 23;
    vf scale;
    std::memcpy(&scale, &bits, sizeof scale);
    vf r = p * scale;
    return x <= lo ? vf{} : r;
}

GQA_HOT float hmax(vf v) {
#if GQA_VW == 16
    __m512 x;
    std::memcpy(&x, &v, sizeof x);
    return _mm512_reduce_max_ps(x);
#else
    float m = v[0];
    for (int i = 1; i < VW; ++i) m = std::max(m, v[i]);
    return m;
#endif
}
GQA_HOT float hsum(vf v) {
#if GQA_VW == 16
    __m512 x;
    std::memcpy(&x, &v, sizeof x);
    return _mm512_reduce_add_ps(x);
#else
    float s = 0.f;
    for (int i = 0; i < VW; ++i) s += v[i];
    return s;
#endif
}

// ---- transpose-reduce: VW accumulators (one per key) -> one vector of VW dot products ------------------
constexpr int log2c(int x) {
    return x <= 1 ? 0 : 1 + log2c(x / 2);
}
constexpr int kStages = log2c(VW);
constexpr int bitrev(int x) {
    int r = 0;
    for (int b = 0; b < kStages; ++b) r |= ((x >> b) & 1) << (kStages - 1 - b);
    return r;
}
struct Masks {
    int lo[kStages > 0 ? kStages : 1][VW];
    int hi[kStages > 0 ? kStages : 1][VW];
};
constexpr Masks makeMasks() {
    Masks m{};
    for (int s = 0; s < kStages; ++s) {
        const int w = VW >> s;  // lanes per key block in the inputs of this stage
        for (int i = 0; i < VW; ++i) {
            const int ob = i / (w / 2), o = i % (w / 2);
            const int k = ob / 2, from_b = ob % 2;
            const int lane = k * w + o + (from_b ? VW : 0);
            m.lo[s][i] = lane;
            m.hi[s][i] = lane + w / 2;
        }
    }
    return m;
}
constexpr Masks kMasks = makeMasks();

// One stage: acc[t] = lo-half lanes + hi-half lanes of the pair (acc[2t], acc[2t+1]). __builtin_shufflevector
// (GCC 12 and clang) takes its lane indices as constants, hence one instantiation per stage.
template <int S, size_t... I>
GQA_HOT vf shuffleLo(vf a, vf b, std::index_sequence<I...>) {
    return __builtin_shufflevector(a, b, kMasks.lo[S][I]...);
}
template <int S, size_t... I>
GQA_HOT vf shuffleHi(vf a, vf b, std::index_sequence<I...>) {
    return __builtin_shufflevector(a, b, kMasks.hi[S][I]...);
}
template <int S>
GQA_HOT void reduceStage(vf* acc) {
    constexpr auto lanes = std::make_index_sequence<VW>{};
    for (int t = 0; t < (VW >> S) / 2; ++t)
        acc[t] = shuffleLo<S>(acc[2 * t], acc[2 * t + 1], lanes) + shuffleHi<S>(acc[2 * t], acc[2 * t + 1], lanes);
    if constexpr (S + 1 < kStages) reduceStage<S + 1>(acc);
}

// acc[bitrev(j)] holds the VW partial sums of key j; returns (sum(acc for key 0), ..., key VW-1).
GQA_HOT vf transposeReduce(vf* acc) {
    if constexpr (kStages > 0) reduceStage<0>(acc);
    return acc[0];
}

// ---- conversion of K/V rows to fp32 --------------------------------------------------------------------
typedef uint16_t vu16 __attribute__((vector_size(VW * 2)));

// VW bf16 values -> VW floats: zero-extend to 32 bits and shift into the high half.
GQA_HOT vf bf16Chunk(const uint16_t* src) {
#if GQA_VW == 16
    const __m512i w =
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src))), 16);
    vf r;
    std::memcpy(&r, &w, sizeof r);
    return r;
#elif GQA_VW == 8
    const __m256i w =
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src))), 16);
    vf r;
    std::memcpy(&r, &w, sizeof r);
    return r;
#else
    vu16 h;
    std::memcpy(&h, src, sizeof h);
    const vi w = __builtin_convertvector(h, vi) << 16;
    vf r;
    std::memcpy(&r, &w, sizeof r);
    return r;
#endif
}

// VW fp16 values -> VW floats, exactly: F16C's vcvtph2ps on a whole vector (GCC widens a vector of _Float16
// one lane at a time, which made the fp16 cache ~8x slower than bf16).
GQA_HOT vf f16Chunk(const uint16_t* src) {
#if defined(GQA_HAVE_F16C) && GQA_VW == 16
    const __m512 w = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)));
    vf r;
    std::memcpy(&r, &w, sizeof r);
    return r;
#elif defined(GQA_HAVE_F16C) && GQA_VW == 8
    const __m256 w = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
    vf r;
    std::memcpy(&r, &w, sizeof r);
    return r;
#else
    vf r;
    for (int i = 0; i < VW; ++i) r[i] = f16ToFloat(src[i]);
    return r;
#endif
}

GQA_HOT float f16ToFloatOne(uint16_t h) {
#if defined(GQA_HAVE_F16C)
    return _cvtsh_ss(h);
#else
    return f16ToFloat(h);
#endif
}

// VW consecutive K/V values of a 16-bit cache row -> VW floats.
GQA_HOT vf kvChunk(const uint16_t* src, DType t) {
    return t == DType::BF16 ? bf16Chunk(src) : f16Chunk(src);
}
// 2 VW consecutive values of a 16-bit cache row -> two vectors. bf16: the even-indexed values (shifted into the
// high half) in `a`, the odd ones (masked) in `b`, one instruction per VW floats where a widening takes two; the
// direct path keeps q and O in that (even, odd) order within every 2 VW block (pairOrder). fp16: the two chunks
// in order (vcvtph2ps widens in one).
template <DType T>
GQA_HOT void kvPairT(const uint16_t* src, vf& a, vf& b) {
    if constexpr (T == DType::BF16) {
        vi w;
        std::memcpy(&w, src, sizeof w);
        const vi e = w << 16, o = w & static_cast<int>(0xffff0000u);
        std::memcpy(&a, &e, sizeof a);
        std::memcpy(&b, &o, sizeof b);
    } else {
        a = f16Chunk(src);
        b = f16Chunk(src + VW);
    }
}

// Rows of n floats (n a multiple of 2 VW, rows `stride` apart) from natural order to kvPairT's bf16 order
// (to_pairs) or back.
inline void pairOrder(float* x, int64_t rows, int64_t stride, int64_t n, bool to_pairs) {
    float tmp[2 * VW];
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t e = 0; e < n; e += 2 * VW) {
            float* b = x + r * stride + e;
            for (int i = 0; i < VW; ++i) {
                if (to_pairs) {
                    tmp[i] = b[2 * i];
                    tmp[VW + i] = b[2 * i + 1];
                } else {
                    tmp[2 * i] = b[i];
                    tmp[2 * i + 1] = b[VW + i];
                }
            }
            std::memcpy(b, tmp, sizeof tmp);
        }
}

GQA_HOT void toFloat(const void* src, DType t, int64_t n, float* dst) {
    switch (t) {
        case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
        case DType::BF16: {
            const auto* s = static_cast<const uint16_t*>(src);
            int64_t e = 0;
            for (; e + VW <= n; e += VW) vstore(dst + e, bf16Chunk(s + e));  // bf16 -> fp32 is a 16-bit shift
            for (; e < n; ++e) {
                const uint32_t u = static_cast<uint32_t>(s[e]) << 16;
                float f;
                std::memcpy(&f, &u, 4);
                dst[e] = f;
            }
            return;
        }
        case DType::F16: {
            const auto* s = static_cast<const uint16_t*>(src);
            int64_t e = 0;
            for (; e + VW <= n; e += VW) vstore(dst + e, f16Chunk(s + e));
            for (; e < n; ++e) dst[e] = f16ToFloatOne(s[e]);
            return;
        }
        case DType::Q8_0: return;  // never a K/V type; weights use widenRows
    }
}

GQA_HOT const void* kvRow(const void* base, DType t, int64_t elem_offset) {
    return static_cast<const char*>(base) + elem_offset * static_cast<int64_t>(bytesPerElement(t));
}

// Row of key j in the cache: j itself, or j % kv_ring in a rolling buffer.
GQA_HOT int64_t kvSlot(const AttnParams& p, int64_t j) {
    return p.kv_ring > 0 ? j % p.kv_ring : j;
}

// First key query i (0-based, of q_len) sees: 0, or the start of its sliding window.
GQA_HOT int64_t firstVisibleKey(const AttnParams& p, int64_t i) {
    return p.window > 0 ? std::max<int64_t>(0, i + p.kv_len - p.q_len - p.window + 1) : 0;
}

// o[0 .. U*VW) = o * corr + sum_j p[j] * v[j * dp + (0 .. U*VW)], with the U accumulators in registers.
template <int U>
GQA_HOT void accumulatePV(float* o, float corr, const float* p, int64_t n, const float* v, int64_t dp) {
    vf a[U];
    for (int u = 0; u < U; ++u) a[u] = vload(o + u * VW) * corr;
    for (int64_t j = 0; j < n; ++j) {
        const vf pj = vbcast(p[j]);
        const float* vr = v + j * dp;
        for (int u = 0; u < U; ++u) a[u] += pj * vload(vr + u * VW);
    }
    for (int u = 0; u < U; ++u) vstore(o + u * VW, a[u]);
}

// The same for two rows that share the V loads.
template <int U>
GQA_HOT void accumulatePV2(float* o0, float* o1, float c0, float c1, const float* p0, const float* p1, int64_t n,
                           const float* v, int64_t dp) {
    vf a[U], b[U];
    for (int u = 0; u < U; ++u) {
        a[u] = vload(o0 + u * VW) * c0;
        b[u] = vload(o1 + u * VW) * c1;
    }
    for (int64_t j = 0; j < n; ++j) {
        const vf pa = vbcast(p0[j]), pb = vbcast(p1[j]);
        const float* vr = v + j * dp;
        for (int u = 0; u < U; ++u) {
            const vf x = vload(vr + u * VW);
            a[u] += pa * x;
            b[u] += pb * x;
        }
    }
    for (int u = 0; u < U; ++u) {
        vstore(o0 + u * VW, a[u]);
        vstore(o1 + u * VW, b[u]);
    }
}

// The same for four rows (o rows `ostride` apart, probabilities rows `pstride` apart).
template <int U>
GQA_HOT void accumulatePV4(float* o, int64_t ostride, const float* corr, const float* p, int64_t pstride, int64_t n,
                           const float* v, int64_t dp) {
    vf a[4][U];
    for (int r = 0; r < 4; ++r)
        for (int u = 0; u < U; ++u) a[r][u] = vload(o + r * ostride + u * VW) * corr[r];
    for (int64_t j = 0; j < n; ++j) {
        const float* vr = v + j * dp;
        vf pr[4];
        for (int r = 0; r < 4; ++r) pr[r] = vbcast(p[r * pstride + j]);
        for (int u = 0; u < U; ++u) {
            const vf x = vload(vr + u * VW);
            for (int r = 0; r < 4; ++r) a[r][u] += pr[r] * x;
        }
    }
    for (int r = 0; r < 4; ++r)
        for (int u = 0; u < U; ++u) vstore(o + r * ostride + u * VW, a[r][u]);
}

// Spreads software prefetches (into L2) of the next conversion block over the compute of the current one,
// a few cache lines at a time, so DRAM streams while the cores do arithmetic. A burst of hundreds of
// prefetches would instead fill the miss buffers and stall.
struct Prefetcher {
    const char* k = nullptr;
    const char* v = nullptr;
    int64_t offset = 0, bytes = 0;
    void start(const char* k_begin, const char* v_begin, int64_t n_bytes) {
        k = k_begin;
        v = v_begin;
        offset = 0;
        bytes = n_bytes;
    }
    void pump(int lines) {
        for (int i = 0; i < lines && offset < bytes; ++i, offset += 64) {
            _mm_prefetch(k + offset, _MM_HINT_T1);
            _mm_prefetch(v + offset, _MM_HINT_T1);
        }
    }
};

struct Scratch {
    std::vector<float> q, s, kf, vf_, corr;
    std::vector<int64_t> valid;
    std::vector<uint16_t> zero_row;  // direct and AMX paths: the padding key
    std::vector<uint32_t> ph, pl;    // AMX path: probabilities as bf16 hi/lo pairs
    std::vector<uint32_t> qth, qtl;  // AMX path: Q^T in pair layout, hi/lo
    std::vector<uint16_t> kblk, vnni;
    std::vector<float> st, oa;
};

// ---- direct path: few rows (decode with g <= kRB, or g = 2 kRB without AMX), 16-bit K/V widened in registers ----
// With so few rows every K/V element is used by at most 2 kRB rows, so the fp32 tiles in L1 would cost a store
// and a load per element for little reuse; here each chunk is widened once and used by all rows (fp16 g = 8
// decode: 44% -> 48% of read bandwidth against the fp32 tiles; a bf16 cache goes to the AMX tiles instead,
// 55% against 50% here).

// s[r * ss + j] = q_r . K_j for R <= kRB rows (q rows dp apart) and ktp keys; krows padded with a zero row.
// RB rows x (VW / RB) keys per transpose-reduce: every widened K chunk feeds RB rows, every q chunk VW / RB keys.
template <DType T, int RB>
GQA_HOT void scoresDirectBlock(const float* q, int64_t dp, int64_t nc, const uint16_t* const* krows, int64_t ktp,
                               float* s, int64_t ss, Prefetcher& pf, int pf_lines) {
    constexpr int KB = VW / RB;
    alignas(64) float tmp[VW];
    const int step = std::max(1, static_cast<int>(pf_lines / std::max<int64_t>(1, ktp / KB)));
    for (int64_t jb = 0; jb < ktp; jb += KB) {
        pf.pump(step);
        vf acc[VW];
        for (int i = 0; i < VW; ++i) acc[i] = vf{};
        for (int64_t c = 0; c < nc; c += 2) {
            vf k0[KB], k1[KB];
            for (int jj = 0; jj < KB; ++jj) kvPairT<T>(krows[jb + jj] + c * VW, k0[jj], k1[jj]);
#pragma GCC unroll 16
            for (int i = 0; i < VW; ++i) acc[bitrev(i)] += vload(q + (i / KB) * dp + c * VW) * k0[i % KB];
#pragma GCC unroll 16
            for (int i = 0; i < VW; ++i) acc[bitrev(i)] += vload(q + (i / KB) * dp + (c + 1) * VW) * k1[i % KB];
        }
        vstore(tmp, transposeReduce(acc));
        for (int rr = 0; rr < RB; ++rr) std::memcpy(s + rr * ss + jb, tmp + rr * KB, sizeof(float) * KB);
    }
}

// s[r * ss + j] = q_r . K_j for R <= kRB or R = 2 kRB rows (q rows dp apart) and ktp keys; krows padded
// with a zero row.
template <DType T>
inline void scoresDirect(int64_t R, const float* q, int64_t dp, int64_t nc, const uint16_t* const* krows, int64_t ktp,
                         float* s, int64_t ss, Prefetcher& pf, int pf_lines) {
    if (R == kRB) return scoresDirectBlock<T, kRB>(q, dp, nc, krows, ktp, s, ss, pf, pf_lines);
    if (R == 2 * kRB) return scoresDirectBlock<T, 2 * kRB>(q, dp, nc, krows, ktp, s, ss, pf, pf_lines);
    const int step = std::max(1, static_cast<int>(pf_lines / std::max<int64_t>(1, R * (ktp / VW))));
    for (int64_t r = 0; r < R; ++r)
        for (int64_t jb = 0; jb < ktp; jb += VW) {
            pf.pump(step);
            vf acc[VW];
            for (int j = 0; j < VW; ++j) acc[j] = vf{};
            for (int64_t c = 0; c < nc; c += 2) {
                const vf q0 = vload(q + r * dp + c * VW), q1 = vload(q + r * dp + (c + 1) * VW);
#pragma GCC unroll 16
                for (int j = 0; j < VW; ++j) {
                    vf x0, x1;
                    kvPairT<T>(krows[jb + j] + c * VW, x0, x1);
                    acc[bitrev(j)] += q0 * x0;
                    acc[bitrev(j)] += q1 * x1;
                }
            }
            vstore(s + r * ss + jb, transposeReduce(acc));
        }
}

// o[r][e0 .. e0 + U*VW) = o * corr[r] + sum_{j < n} p[r][j] * V_j for NR rows; each V chunk widened once.
template <DType T, int NR, int U>
GQA_HOT void pvDirect(float* o, int64_t ostride, const float* corr, const float* p, int64_t pstride, int64_t n,
                      const uint16_t* const* vrows, int64_t e0) {
    vf a[NR][U];
    for (int r = 0; r < NR; ++r)
        for (int u = 0; u < U; ++u) a[r][u] = vload(o + r * ostride + e0 + u * VW) * corr[r];
    for (int64_t j = 0; j < n; ++j) {
        const uint16_t* vr = vrows[j] + e0;
        vf pr[NR];
        for (int r = 0; r < NR; ++r) pr[r] = vbcast(p[r * pstride + j]);
        for (int u = 0; u < U; u += 2) {
            vf x0, x1;
            kvPairT<T>(vr + u * VW, x0, x1);
            for (int r = 0; r < NR; ++r) {
                a[r][u] += pr[r] * x0;
                a[r][u + 1] += pr[r] * x1;
            }
        }
    }
    for (int r = 0; r < NR; ++r)
        for (int u = 0; u < U; ++u) vstore(o + r * ostride + e0 + u * VW, a[r][u]);
}

// All nc chunks of NR rows (o rows dp apart, probabilities rows ss apart), at most 16 accumulators live.
template <DType T, int NR>
GQA_HOT void pvDirectRows(float* o, int64_t dp, const float* corr, const float* p, int64_t ss, int64_t n,
                          const uint16_t* const* vrows, int64_t nc) {
    constexpr int U = NR <= 2 ? 8 : NR <= 4 ? 4 : 2;
    int64_t c = 0;
    for (; c + U <= nc; c += U) pvDirect<T, NR, U>(o, dp, corr, p, ss, n, vrows, c * VW);
    if constexpr (U > 4)
        for (; c + 4 <= nc; c += 4) pvDirect<T, NR, 4>(o, dp, corr, p, ss, n, vrows, c * VW);
    if constexpr (U > 2)
        for (; c + 2 <= nc; c += 2) pvDirect<T, NR, 2>(o, dp, corr, p, ss, n, vrows, c * VW);
}

template <DType T>
inline void pvDirectAll(int64_t R, float* o, int64_t dp, const float* corr, const float* p, int64_t ss, int64_t n,
                        const uint16_t* const* vrows, int64_t nc) {
    switch (R) {
        case 1: pvDirectRows<T, 1>(o, dp, corr, p, ss, n, vrows, nc); return;
        case 2: pvDirectRows<T, 2>(o, dp, corr, p, ss, n, vrows, nc); return;
        case 3: pvDirectRows<T, 3>(o, dp, corr, p, ss, n, vrows, nc); return;
        case 4: pvDirectRows<T, 4>(o, dp, corr, p, ss, n, vrows, nc); return;
        default: pvDirectRows<T, 2 * kRB>(o, dp, corr, p, ss, n, vrows, nc); return;
    }
}

// One work item: rows = g heads x nq queries (row r = qi * g + hi), keys [k_begin, k_end).
// Writes unnormalized O and (m, l) to the given row-major buffers (stride dp for o).
#if defined(GQA_HAVE_AMX)
// ---- AMX tiles: bf16 K/V multiplied in place by TDPBF16PS (Sapphire Rapids and later) -------------------------
// Every tile register is 16 rows x 64 bytes (16 fp32 or 32 bf16). The fp32 side of each product (q, or a
// probability p) is split into bf16 hi + lo parts, x = hi + lo to 2^-16 relative, so results keep fp32 accuracy
// while K and V stay 16-bit and are read once per group. Scores come out transposed, S^T = K Q^T: a K tile is 16
// cache rows as they lie in memory, and Q^T (packed once per work item) is the pair-interleaved operand.
// O += P V takes P as rows of bf16 pairs and V interleaved two keys at a time.
constexpr int kAmxRows = 16;

struct AmxTileConfig {
    uint8_t palette = 1, start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

inline void amxBegin() {
    alignas(64) AmxTileConfig c;
    for (int t = 0; t < 8; ++t) {
        c.colsb[t] = 64;
        c.rows[t] = kAmxRows;
    }
    _tile_loadconfig(&c);
}

GQA_HOT void splitBf16(float x, uint16_t& hi, uint16_t& lo) {
    hi = floatToBf16(x);
    lo = floatToBf16(x - bf16ToFloat(hi));
}

// bf16 bit patterns <-> fp32: widen 16 bf16 (exactly) and view a bf16 vector as integers.
GQA_HOT __m512 widenBf16(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
GQA_HOT __m512 widenBf16Half(__m512i h, int half) {  // bf16 16 * half .. 16 * half + 15 of h
    return widenBf16(half ? _mm512_extracti64x4_epi64(h, 1) : _mm512_castsi512_si256(h));
}
GQA_HOT __m512i bf16Bits(__m512bh h) {
    __m512i x;
    std::memcpy(&x, &h, sizeof x);
    return x;
}

// The 16 x 16 fp32 transpose network: afterwards each a[x] holds one column of the 16 input rows (which column
// is fixed by the shuffles; transpose16 finds it once).
inline void transposeNetwork(__m512* a) {
    __m512 b[16];
    for (int i = 0; i < 16; i += 2) {
        b[i] = _mm512_unpacklo_ps(a[i], a[i + 1]);
        b[i + 1] = _mm512_unpackhi_ps(a[i], a[i + 1]);
    }
    for (int i = 0; i < 16; i += 4)
        for (int k = 0; k < 2; ++k) {
            a[i + k] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(b[i + k]), _mm512_castps_pd(b[i + k + 2])));
            a[i + k + 2] =
                _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(b[i + k]), _mm512_castps_pd(b[i + k + 2])));
        }
    for (int i = 0; i < 16; i += 8)
        for (int k = 0; k < 4; ++k) {
            b[i + k] = _mm512_shuffle_f32x4(a[i + k], a[i + k + 4], 0x88);
            b[i + k + 4] = _mm512_shuffle_f32x4(a[i + k], a[i + k + 4], 0xdd);
        }
    for (int k = 0; k < 8; ++k) {
        a[k] = _mm512_shuffle_f32x4(b[k], b[k + 8], 0x88);
        a[k + 8] = _mm512_shuffle_f32x4(b[k], b[k + 8], 0xdd);
    }
}

// t[r] = column r of the 16 x 16 fp32 block at m (row stride 16): lane j of t[r] = m[j * 16 + r].
inline void transpose16(const float* m, __m512* t) {
    static const std::array<int, 16> col = [] {  // col[r]: the a[x] that holds column r
        std::array<int, 16> c{};
        alignas(64) float mm[256], out[16];
        for (int i = 0; i < 256; ++i) mm[i] = static_cast<float>(i);
        __m512 x[16];
        for (int i = 0; i < 16; ++i) x[i] = _mm512_loadu_ps(mm + i * 16);
        transposeNetwork(x);
        for (int i = 0; i < 16; ++i) {
            _mm512_storeu_ps(out, x[i]);
            c[static_cast<size_t>(static_cast<int>(out[0]))] = i;  // out[0] = mm[0 * 16 + column]
        }
        return c;
    }();
    __m512 a[16];
    for (int i = 0; i < 16; ++i) a[i] = _mm512_loadu_ps(m + i * 16);
    transposeNetwork(a);
    for (int r = 0; r < 16; ++r) t[r] = a[col[static_cast<size_t>(r)]];
}

// 16 probabilities as bf16 hi and lo bits, p = hi + lo to 2^-16.
GQA_HOT void splitBf16(__m512 v, __m256i& hi, __m256i& lo) {
    const __m256bh h = _mm512_cvtneps_pbh(v);
    std::memcpy(&hi, &h, sizeof hi);
    const __m256bh l = _mm512_cvtneps_pbh(_mm512_sub_ps(v, widenBf16(hi)));
    std::memcpy(&lo, &l, sizeof lo);
}

// Accumulator tiles 0-3 from / to four 16-column blocks of rows with stride `ld` floats.
inline void amxLoadAcc4(const float* c, int64_t ld) {
    _tile_loadd(0, c, ld * 4);
    _tile_loadd(1, c + 16, ld * 4);
    _tile_loadd(2, c + 32, ld * 4);
    _tile_loadd(3, c + 48, ld * 4);
}
inline void amxStoreAcc4(float* c, int64_t ld) {
    _tile_stored(0, c, ld * 4);
    _tile_stored(1, c + 16, ld * 4);
    _tile_stored(2, c + 32, ld * 4);
    _tile_stored(3, c + 48, ld * 4);
}
#endif

// Row of key j of this (batch, KV head) in the cache `base` (K or V).
GQA_HOT const void* cacheRow(const AttnParams& p, int64_t kv_base, const void* base, int64_t j) {
    return kvRow(base, p.kv_dtype, kv_base + kvSlot(p, j) * p.kv_si);
}

#if defined(GQA_HAVE_AMX)
// One work item's AMX state for a tile of keys j0 .. j0 + kt: R query rows against a bf16 cache, in rb_n blocks of
// 16 rows, or `packed` (R <= 8: hi parts in tile rows 0-7, lo parts in 8-15).
struct AmxItem {
    const AttnParams& p;
    Scratch& sc;
    int64_t D, dp, R, rb_n, ncd, kv_base;
    bool packed;

    // 16 cache rows from key j0 + jb as they lie (stride kv_si), or copied into `copy` with zero rows past the
    // tile's kt keys (0 x whatever follows could be NaN) or when the block wraps a rolling cache.
    const uint16_t* block16(const void* base, int64_t j0, int64_t jb, int64_t kt, uint16_t* copy,
                            int64_t& stride_bytes) const {
        if (jb + 16 <= kt && (p.kv_ring == 0 || kvSlot(p, j0 + jb) + 16 <= p.kv_ring)) {
            stride_bytes = p.kv_si * 2;
            return static_cast<const uint16_t*>(cacheRow(p, kv_base, base, j0 + jb));
        }
        for (int64_t j = 0; j < 16; ++j)
            std::memcpy(copy + j * D, jb + j < kt ? cacheRow(p, kv_base, base, j0 + jb + j) : sc.zero_row.data(),
                        static_cast<size_t>(D) * 2);
        stride_bytes = D * 2;
        return copy;
    }

    // S^T = K Q^T for up to 4 blocks of 16 keys at once (4 independent accumulators keep the tile unit busy),
    // into sc.s.
    void scores(int64_t j0, int64_t kt, int64_t ktp, Prefetcher& pf, int pf_per_tile) const;
    // O += P V for the tile (sc.s holds the probabilities, sc.corr the rescale factors; n_vis keys have a
    // non-zero probability in some row).
    void pv(int64_t j0, int64_t kt, int64_t ktp, int64_t n_vis, Prefetcher& pf, int pf_per_tile) const;
};

__attribute__((noinline)) void AmxItem::scores(int64_t j0, int64_t kt, int64_t ktp, Prefetcher& pf,
                                               int pf_per_tile) const {
    const int64_t kbn = ktp / 16;
    const uint16_t* kb[4];
    int64_t ks[4];
    for (int64_t x = 0; x < kbn; ++x) kb[x] = block16(p.k, j0, x * 16, kt, sc.kblk.data() + x * 16 * D, ks[x]);
    // A third of the next tiles' prefetches here, a third after the softmax, the rest spread over P V: bursts of
    // prefetches fill the line-fill buffers and stall the loads of this tile (spread: 49% -> 53% of read
    // bandwidth, g = 8 decode, measured against one burst per tile).
    const int pf_step =
        static_cast<int>(std::max<int64_t>(1, pf_per_tile / std::max<int64_t>(1, kAmxPrefetchParts * rb_n * ncd)));
    for (int64_t rb = 0; rb < rb_n; ++rb) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t c = 0; c < ncd; ++c) {
            pf.pump(pf_step);
            _tile_loadd(5, sc.qth.data() + (rb * ncd + c) * 256, 64);
            if (!packed) _tile_loadd(6, sc.qtl.data() + (rb * ncd + c) * 256, 64);
#define GQA_AMX_SCORE(X)                       \
    if (X < kbn) {                             \
        _tile_loadd(4, kb[X] + c * 32, ks[X]); \
        _tile_dpbf16ps(X, 4, 5);               \
        if (!packed) _tile_dpbf16ps(X, 4, 6);  \
    }
            GQA_AMX_SCORE(0)
            GQA_AMX_SCORE(1)
            GQA_AMX_SCORE(2)
            GQA_AMX_SCORE(3)
#undef GQA_AMX_SCORE
        }
        _tile_stored(0, sc.st.data(), 64);
        if (kbn > 1) _tile_stored(1, sc.st.data() + 256, 64);
        if (kbn > 2) _tile_stored(2, sc.st.data() + 512, 64);
        if (kbn > 3) _tile_stored(3, sc.st.data() + 768, 64);
        const int64_t rows = packed ? R : std::min<int64_t>(kAmxRows, R - rb * kAmxRows);
        for (int64_t x = 0; x < kbn; ++x) {
            __m512 t[16];
            transpose16(sc.st.data() + x * 256, t);
            for (int64_t n = 0; n < rows; ++n) {
                const __m512 v = packed ? _mm512_add_ps(t[n], t[n + kAmxRows / 2]) : t[n];
                _mm512_storeu_ps(sc.s.data() + (rb * kAmxRows + n) * kKeyTile + x * 16, v);
            }
        }
    }
}

__attribute__((noinline)) void AmxItem::pv(int64_t j0, int64_t kt, int64_t ktp, int64_t n_vis, Prefetcher& pf,
                                           int pf_per_tile) const {
    // O's rows r0 .. r1 rescaled by exp(m_old - m_new) (packed: the hi row r and the lo row 8 + r).
    auto rescale = [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const vf cv = vbcast(sc.corr[static_cast<size_t>(r)]);
            for (int64_t half = 0; half < (packed ? 2 : 1); ++half) {
                float* orow = sc.oa.data() + (r + half * (kAmxRows / 2)) * dp;
                for (int64_t e = 0; e < dp; e += VW) vstore(orow + e, vload(orow + e) * cv);
            }
        }
    };
    if (packed) {
        rescale(0, R);
        // V tiles straight from the cache rows, no interleaved copy. A tile row is one key's 32 values of a d
        // chunk, i.e. the pairs (V[k][32w + 2n], V[k][32w + 2n + 1]); an A operand whose pairs are (p, 0)
        // ("even") yields the even columns 32w + 2n, one with (0, p) ("odd") the odd ones, 16 keys per product.
        // A rows: bf16 hi of row r in tile row r, lo in 8 + r. Twice the products of the interleaved form, but
        // they are cheap next to the copy (g = 8 decode, D 128: 51% -> 58% of read bandwidth); with more rows
        // (more products per key) the copy wins.
        const int64_t nk16 = (n_vis + 15) / 16;  // 16-key blocks with a visible key (masked keys hold 0)
        for (int64_t r = 0; r < R; ++r) {
            const float* sr = sc.s.data() + r * kKeyTile;
            for (int64_t kc = 0; kc < nk16; ++kc) {
                __m256i hbits, lbits;
                splitBf16(_mm512_loadu_ps(sr + kc * 16), hbits, lbits);
                const __m512i he = _mm512_cvtepu16_epi32(hbits), le = _mm512_cvtepu16_epi32(lbits);
                uint32_t* ev = sc.ph.data() + kc * 256;
                uint32_t* od = sc.pl.data() + kc * 256;
                _mm512_storeu_si512(ev + r * 16, he);
                _mm512_storeu_si512(od + r * 16, _mm512_slli_epi32(he, 16));
                _mm512_storeu_si512(ev + (r + kAmxRows / 2) * 16, le);
                _mm512_storeu_si512(od + (r + kAmxRows / 2) * 16, _mm512_slli_epi32(le, 16));
            }
        }
        const uint16_t* vb[kKeyTile / 16];
        int64_t vs[kKeyTile / 16];
        for (int64_t x = 0; x < nk16; ++x)
            vb[x] = block16(p.v, j0, x * 16, kt, sc.kblk.data() + (kKeyTile / 16 + x) * 16 * D, vs[x]);
        // Two d chunks per pass: accumulators 0-3 (chunk w even/odd, w + 1 even/odd), A even/odd, 2 V tiles.
        const int pv_step =
            static_cast<int>(std::max<int64_t>(1, pf_per_tile / std::max<int64_t>(1, (ncd / 2) * nk16)));
        for (int64_t w = 0; nk16 > 0 && w < ncd; w += 2) {
            float* oc = sc.oa.data() + w * 32;
            amxLoadAcc4(oc, dp);
            for (int64_t kc = 0; kc < nk16; ++kc) {
                pf.pump(pv_step);
                _tile_loadd(4, sc.ph.data() + kc * 256, 64);
                _tile_loadd(5, sc.pl.data() + kc * 256, 64);
                _tile_loadd(6, vb[kc] + w * 32, vs[kc]);
                _tile_loadd(7, vb[kc] + w * 32 + 32, vs[kc]);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 5, 6);
                _tile_dpbf16ps(2, 4, 7);
                _tile_dpbf16ps(3, 5, 7);
            }
            amxStoreAcc4(oc, dp);
        }
        pf.pump(pf_per_tile);
        return;
    }
    // Interleaved (more than 8 rows): probabilities as bf16 hi and lo rows; read as uint32 they are the packed
    // (p_j, p_{j+1}) pairs the tiles want. Masked and padded keys already hold exactly 0; keys up to the next 32
    // are zeroed.
    const int64_t kt32 = (ktp + 31) / 32 * 32;
    for (int64_t r = 0; r < R; ++r) {
        const float* sr = sc.s.data() + r * kKeyTile;
        auto* hrow = reinterpret_cast<uint16_t*>(sc.ph.data() + r * (kKeyTile / 2));
        auto* lrow = reinterpret_cast<uint16_t*>(sc.pl.data() + r * (kKeyTile / 2));
        for (int64_t jb = 0; jb < ktp; jb += 16) {
            __m256i hbits, lbits;
            splitBf16(_mm512_loadu_ps(sr + jb), hbits, lbits);
            std::memcpy(hrow + jb, &hbits, sizeof hbits);
            std::memcpy(lrow + jb, &lbits, sizeof lbits);
        }
        std::fill(hrow + ktp, hrow + kt32, uint16_t{0});
        std::fill(lrow + ktp, lrow + kt32, uint16_t{0});
    }
    const int64_t nkc = (n_vis + 31) / 32;  // 32-key chunks with a visible key
    // V two keys at a time, interleaved within 128-bit lanes (one unpack per 16 columns): block u of 16 output
    // columns holds the columns amxColumn(u, i) of vnni[(u * kKeyTile / 2 + jp) * 32 + 2i + {0, 1}] = V[2jp][.],
    // V[2jp + 1][.]; sc.oa keeps that column order until the end of the item.
    const int vstep = std::max(1, pf_per_tile / 32);
    for (int64_t jp = 0; jp < nkc * 16; ++jp) {
        pf.pump(vstep);
        const auto* v0 =
            static_cast<const uint16_t*>(2 * jp < kt ? cacheRow(p, kv_base, p.v, j0 + 2 * jp) : sc.zero_row.data());
        const auto* v1 = static_cast<const uint16_t*>(2 * jp + 1 < kt ? cacheRow(p, kv_base, p.v, j0 + 2 * jp + 1)
                                                                      : sc.zero_row.data());
        for (int64_t w = 0; w < D / 32; ++w) {
            const __m512i a = _mm512_loadu_si512(v0 + w * 32), b = _mm512_loadu_si512(v1 + w * 32);
            _mm512_storeu_si512(sc.vnni.data() + (2 * w * (kKeyTile / 2) + jp) * 32, _mm512_unpacklo_epi16(a, b));
            _mm512_storeu_si512(sc.vnni.data() + ((2 * w + 1) * (kKeyTile / 2) + jp) * 32, _mm512_unpackhi_epi16(a, b));
        }
    }
    for (int64_t rb = 0; rb < rb_n; ++rb) {
        // Each block of rows just before its products (rescaling all first measured slower: MQA decode 4-14%).
        rescale(rb * kAmxRows, std::min(R, (rb + 1) * kAmxRows));
        if (nkc == 0) continue;
        const uint32_t* ah = sc.ph.data() + rb * kAmxRows * (kKeyTile / 2);
        const uint32_t* al = sc.pl.data() + rb * kAmxRows * (kKeyTile / 2);
        for (int64_t ug = 0; ug < D / 16; ug += 4) {
            float* oc = sc.oa.data() + rb * kAmxRows * dp + ug * 16;
            amxLoadAcc4(oc, dp);
            for (int64_t kc = 0; kc < nkc; ++kc) {
                _tile_loadd(6, ah + kc * 16, kKeyTile * 2);
                _tile_loadd(7, al + kc * 16, kKeyTile * 2);
#define GQA_AMX_PV(X)                                                                \
    _tile_loadd(4, sc.vnni.data() + ((ug + X) * (kKeyTile / 2) + kc * 16) * 32, 64); \
    _tile_dpbf16ps(X, 6, 4);                                                         \
    _tile_dpbf16ps(X, 7, 4);
                GQA_AMX_PV(0)
                GQA_AMX_PV(1)
                GQA_AMX_PV(2)
                GQA_AMX_PV(3)
#undef GQA_AMX_PV
            }
            amxStoreAcc4(oc, dp);
        }
    }
    pf.pump(pf_per_tile);
}
#endif

void attendItem(const AttnParams& p, int64_t b, int64_t kvh, int64_t i0, int64_t nq, int64_t k_begin, int64_t k_end,
                Scratch& sc, float* o, float* m, float* l) {
    const int64_t g = p.n_q_heads / p.n_kv_heads, D = p.head_dim;
    const int64_t dp = (D + VW - 1) / VW * VW;
    const int64_t R = g * nq, nc = dp / VW;
    const int64_t off = p.kv_len - p.q_len;
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    sc.q.assign(static_cast<size_t>(R * dp), 0.0f);
    sc.corr.resize(static_cast<size_t>(2 * R + VW));
    sc.valid.resize(static_cast<size_t>(R));
    sc.kf.resize(static_cast<size_t>(kKeyTile * dp));
    sc.vf_.resize(static_cast<size_t>((kKeyTile + 1) * dp));
    for (int64_t qi = 0; qi < nq; ++qi)
        for (int64_t hi = 0; hi < g; ++hi) {
            const float* src = p.q + b * p.q_sb + (kvh * g + hi) * p.q_sh + (i0 + qi) * p.q_si;
            float* dst = sc.q.data() + (qi * g + hi) * dp;
            for (int64_t e = 0; e < D; ++e) dst[e] = src[e] * scale;
        }
    std::fill(o, o + R * dp, 0.0f);
    std::fill(m, m + R, -std::numeric_limits<float>::infinity());
    std::fill(l, l + R, 0.0f);
#if defined(GQA_HAVE_AMX)
    // More than kRB rows (decode with g > kRB, and prefill) with a bf16 cache: AMX tiles. On
    // this path O accumulates in sc.oa (16-row tile blocks) and is copied to o at the end. Up to 8 rows share one
    // tile block "packed": tile rows/columns 0-7 carry the hi parts, 8-15 the lo parts, and the halves are added.
    const bool amx = p.kv_dtype == DType::BF16 && D % 64 == 0 && D == dp && R > kRB;
    const bool packed = R <= kAmxRows / 2;
    const int64_t rb_n = packed ? 1 : (R + kAmxRows - 1) / kAmxRows;
    const int64_t ncd = D / 32;  // 32-wide d chunks
    if (amx) {
        // Q^T per 16-row block and d chunk: [rb][c][pair kp][column n] = (q[n][2kp], q[n][2kp + 1]) as bf16 hi
        // (qth) and lo (qtl); packed, column n < 8 is row n's hi and 8 + n its lo, all in qth.
        sc.qth.assign(static_cast<size_t>(rb_n * ncd * 256), 0);
        sc.qtl.assign(static_cast<size_t>(rb_n * ncd * 256), 0);
        for (int64_t r = 0; r < R; ++r)
            for (int64_t e = 0; e < D; e += 2) {
                uint16_t h0, l0, h1, l1;
                splitBf16(sc.q[static_cast<size_t>(r * dp + e)], h0, l0);
                splitBf16(sc.q[static_cast<size_t>(r * dp + e + 1)], h1, l1);
                const uint32_t hv = static_cast<uint32_t>(h0) | static_cast<uint32_t>(h1) << 16;
                const uint32_t lv = static_cast<uint32_t>(l0) | static_cast<uint32_t>(l1) << 16;
                const int64_t rb = packed ? 0 : r / kAmxRows, n = packed ? r : r % kAmxRows;
                const auto i = static_cast<size_t>(((rb * ncd + e / 32) * 16 + (e % 32) / 2) * 16 + n);
                sc.qth[i] = hv;
                if (packed)
                    sc.qth[i + kAmxRows / 2] = lv;
                else
                    sc.qtl[i] = lv;
            }
        // Probabilities: interleaved form rb_n x 16 rows x kKeyTile / 2 pairs; packed, even/odd 16-key tiles.
        const auto pn = static_cast<size_t>(packed ? (kKeyTile / 16) * 256 : rb_n * kAmxRows * kKeyTile / 2);
        sc.ph.assign(pn, 0);
        sc.pl.assign(pn, 0);
        sc.oa.assign(static_cast<size_t>(rb_n * kAmxRows * dp), 0.0f);
        sc.st.resize(4 * 256);
        sc.kblk.resize(static_cast<size_t>(2 * (kKeyTile / 16) * 16 * D));  // K blocks, then V blocks
        if (!packed) sc.vnni.resize(static_cast<size_t>((D / 16) * (kKeyTile / 2) * 32));
        sc.zero_row.assign(static_cast<size_t>(D), 0);
        amxBegin();
    }
#else
    constexpr bool amx = false;
#endif
    // The direct path reads K/V two chunks at a time (kvPairT): D a multiple of 2 VW.
    const bool direct = !amx && (R <= kRB || R == 2 * kRB) && D == dp && nc % 2 == 0 &&
                        (p.kv_dtype == DType::BF16 || p.kv_dtype == DType::F16);
    const bool pair_order = direct && p.kv_dtype == DType::BF16;
    if (direct) sc.zero_row.assign(static_cast<size_t>(D), 0);
    if (pair_order) pairOrder(sc.q.data(), R, dp, D, true);
    // Keys visible to the last query of the tile bound the loop; with a sliding window, keys before the first
    // query's window are skipped without being read.
    int64_t k_last = k_end;
    if (p.causal) k_last = std::min(k_end, i0 + nq - 1 + off + 1);
    const int64_t k_first = std::max(k_begin, firstVisibleKey(p, i0));
    const auto kv_base = b * p.kv_sb + kvh * p.kv_sh;
    auto rowAt = [&](const void* base, int64_t j) { return cacheRow(p, kv_base, base, j); };
#if defined(GQA_HAVE_AMX)
    const AmxItem amx_item{p, sc, D, dp, R, rb_n, ncd, kv_base, packed};
#endif

    const int64_t tile = amx ? kKeyTile : direct ? kDirectTile : keyTile(dp);  // AMX keeps no fp32 tiles in L1
    const int64_t ss = direct ? kDirectTile : kKeyTile;                        // row stride of the scores sc.s
    sc.s.resize(static_cast<size_t>(R * ss));
    const int64_t pf_tiles = direct ? 1 : kPrefetchTiles;
    Prefetcher pf;
    int pf_per_tile = 0;
    for (int64_t j0 = k_first; j0 < k_last; j0 += tile) {
        const int64_t kt = std::min(tile, k_last - j0);
        const int64_t ktp = (kt + VW - 1) / VW * VW;
        // K and V of this tile are converted to fp32 (small enough to stay in L1; converting bursts of several
        // tiles into L2 measured slower), while the Prefetcher brings the tile kPrefetchTiles ahead into L2.
        // K in chunk-major layout, kf[(c * tile + j) * VW + lane], so the VW keys of one block sit at constant
        // offsets; V row-major, vf_[j * dp + e].
        {
            // The tile pf_tiles ahead streams in while this one is computed (rows of a head are contiguous).
            const int64_t next0 = j0 + pf_tiles * tile;
            int64_t next_rows = std::min(tile, k_last - next0);
            if (p.kv_ring > 0 && next_rows > 0)
                next_rows = std::min(next_rows, p.kv_ring - kvSlot(p, next0));  // up to the wrap
            if (next_rows > 0 && p.kv_si == D) {
                const int64_t eb = static_cast<int64_t>(bytesPerElement(p.kv_dtype));
                pf.start(static_cast<const char*>(rowAt(p.k, next0)), static_cast<const char*>(rowAt(p.v, next0)),
                         next_rows * D * eb);
                pf_per_tile = static_cast<int>(next_rows * D * eb / 64);
            } else {
                pf.start(nullptr, nullptr, 0);
            }
        }
        float* const kfs = sc.kf.data();
        float* const vfs = sc.vf_.data();
        const uint16_t* drows_k[kDirectTile];
        const uint16_t* drows_v[kDirectTile];
        if (direct)
            for (int64_t j = 0; j < ktp; ++j) {
                drows_k[j] = j < kt ? static_cast<const uint16_t*>(rowAt(p.k, j0 + j)) : sc.zero_row.data();
                drows_v[j] = j < kt ? static_cast<const uint16_t*>(rowAt(p.v, j0 + j)) : sc.zero_row.data();
            }
        if (!amx && !direct) {
            float* row = vfs + tile * dp;  // one spare row for the K conversion
            for (int64_t j = 0; j < kt; ++j) {
                float* dst = kfs + j * VW;
                const void* krow = rowAt(p.k, j0 + j);
                if (D == dp &&
                    (p.kv_dtype == DType::BF16 || p.kv_dtype == DType::F16)) {  // convert straight into place
                    const auto* s16 = static_cast<const uint16_t*>(krow);
                    for (int64_t c = 0; c < nc; ++c) vstore(dst + c * tile * VW, kvChunk(s16 + c * VW, p.kv_dtype));
                } else {
                    toFloat(krow, p.kv_dtype, D, row);
                    for (int64_t c = 0; c < nc; ++c) vstore(dst + c * tile * VW, vload(row + c * VW));
                }
            }
            // V after K: one sequential stream at a time.
            for (int64_t j = 0; j < kt; ++j) toFloat(rowAt(p.v, j0 + j), p.kv_dtype, D, vfs + j * dp);
        }
        for (int64_t j = kt; j < (amx || direct ? 0 : ktp); ++j) {  // padded keys: zeros, masked below
            for (int64_t c = 0; c < nc; ++c) vstore(kfs + (c * tile + j) * VW, vf{});
            std::fill(vfs + j * dp, vfs + (j + 1) * dp, 0.0f);
        }
        // S = Q K^T for this tile. Blocks of kRB rows x kKB keys share one transpose-reduce, so each
        // loaded K chunk feeds kRB rows and each Q chunk kKB keys.
        int64_t r_blocked = 0;
#if defined(GQA_HAVE_AMX)
        if (amx) {
            r_blocked = R;
            amx_item.scores(j0, kt, ktp, pf, pf_per_tile);
        }
#endif
        if (direct) {
            r_blocked = R;
            if (p.kv_dtype == DType::BF16)
                scoresDirect<DType::BF16>(R, sc.q.data(), dp, nc, drows_k, ktp, sc.s.data(), ss, pf, pf_per_tile);
            else
                scoresDirect<DType::F16>(R, sc.q.data(), dp, nc, drows_k, ktp, sc.s.data(), ss, pf, pf_per_tile);
        }
        if (!amx && !direct && R % kRB == 0) {
            r_blocked = R;
            alignas(64) float tmp[VW];
            const int pf_step =
                static_cast<int>(std::max<int64_t>(1, pf_per_tile / std::max<int64_t>(1, (ktp / kKB) * (R / kRB))));
            for (int64_t jb = 0; jb < ktp; jb += kKB)
                for (int64_t r0 = 0; r0 < R; r0 += kRB) {
                    pf.pump(pf_step);
                    vf acc[VW];
                    for (int i = 0; i < VW; ++i) acc[i] = vf{};
                    const float* kb = kfs + jb * VW;
                    const float* qb = sc.q.data() + r0 * dp;
                    for (int64_t c = 0; c < nc; ++c, kb += tile * VW) {
                        vf qv[kRB], kv[kKB];
                        for (int rr = 0; rr < kRB; ++rr) qv[rr] = vload(qb + rr * dp + c * VW);
                        for (int jj = 0; jj < kKB; ++jj) kv[jj] = vload(kb + jj * VW);
#pragma GCC unroll 16
                        for (int i = 0; i < VW; ++i) acc[bitrev(i)] += qv[i / kKB] * kv[i % kKB];
                    }
                    vstore(tmp, transposeReduce(acc));
                    for (int rr = 0; rr < kRB; ++rr)
                        std::memcpy(sc.s.data() + (r0 + rr) * ss + jb, tmp + rr * kKB, sizeof(float) * kKB);
                }
        }
        if (r_blocked == 0 && !amx && !direct) pf.pump(pf_per_tile / 2);
        for (int64_t r = r_blocked; r < R; ++r) {
            const float* qr = sc.q.data() + r * dp;
            float* sr = sc.s.data() + r * ss;
            for (int64_t jb = 0; jb < ktp; jb += VW) {
                vf acc[VW];
                for (int j = 0; j < VW; ++j) acc[j] = vf{};
                const float* kb = kfs + jb * VW;
                for (int64_t c = 0; c < nc; ++c, kb += tile * VW) {
                    const vf qv = vload(qr + c * VW);
#pragma GCC unroll 16
                    for (int j = 0; j < VW; ++j) acc[bitrev(j)] += qv * vload(kb + j * VW);
                }
                vstore(sr + jb, transposeReduce(acc));
            }
        }
        // Mask and row maxima; then the rescale factors exp(m_old - m_new) of all rows in one vector pass;
        // then probabilities and row sums.
        float* mnew = sc.corr.data() + R;  // scratch: new maxima
        for (int64_t r = 0; r < R; ++r) {
            float* sr = sc.s.data() + r * ss;
            const int64_t qi = r / g;
            int64_t valid = kt;
            if (p.causal) valid = std::clamp<int64_t>(i0 + qi + off + 1 - j0, 0, kt);
            // Window: keys before this query's first visible one are masked; the row keeps the prefix length
            // `valid` (their probabilities are exactly 0), or 0 when the tile holds none of its keys.
            const int64_t start = std::clamp<int64_t>(firstVisibleKey(p, i0 + qi) - j0, 0, kt);
            if (start >= valid) valid = 0;
            for (int64_t j = 0; j < std::min(start, valid); ++j) sr[j] = -std::numeric_limits<float>::infinity();
            for (int64_t j = valid; j < ktp; ++j) sr[j] = -std::numeric_limits<float>::infinity();
            sc.valid[static_cast<size_t>(r)] = valid;
            vf mx = vbcast(-std::numeric_limits<float>::infinity());
            for (int64_t jb = 0; jb < ktp; jb += VW) mx = vmax(mx, vload(sr + jb));
            mnew[r] = valid == 0 ? m[r] : std::max(m[r], hmax(mx));
            // exp(-inf - finite) on the first tile is exp(-inf) = 0; a row with no keys yet keeps 1.
            sc.corr[static_cast<size_t>(r)] =
                std::isinf(m[r]) ? (std::isinf(mnew[r]) ? 0.0f : -INFINITY) : m[r] - mnew[r];
        }
        for (int64_t r = 0; r < R; r += VW) {
            vf x = vbcast(-INFINITY);
            const int64_t n = std::min<int64_t>(VW, R - r);
            std::memcpy(&x, sc.corr.data() + r, static_cast<size_t>(n) * 4);
            const vf e = vexp(x);
            std::memcpy(sc.corr.data() + r, &e, static_cast<size_t>(n) * 4);
        }
        for (int64_t r = 0; r < R; ++r) {
            if (sc.valid[static_cast<size_t>(r)] == 0) {
                sc.corr[static_cast<size_t>(r)] = 1.0f;
                std::fill(sc.s.data() + r * ss, sc.s.data() + r * ss + ktp, 0.0f);
                continue;
            }
            float* sr = sc.s.data() + r * ss;
            const float m_new = mnew[r];
            vf sum = vf{};
            for (int64_t jb = 0; jb < ktp; jb += VW) {
                const vf e = vexp(vload(sr + jb) - m_new);
                vstore(sr + jb, e);
                sum += e;
            }
            l[r] = l[r] * sc.corr[static_cast<size_t>(r)] + hsum(sum);
            m[r] = m_new;
        }
        pf.pump(amx ? pf_per_tile / kAmxPrefetchParts : pf_per_tile);  // whatever is left of this tile's share
        // Probabilities of masked and padded keys are exactly 0, so all rows run to the longest valid prefix.
        int64_t n_vis = 0;
        for (int64_t r = 0; r < R; ++r) n_vis = std::max(n_vis, sc.valid[static_cast<size_t>(r)]);
#if defined(GQA_HAVE_AMX)
        if (amx) {
            amx_item.pv(j0, kt, ktp, n_vis, pf, pf_per_tile);
            continue;
        }
#endif
        if (direct) {
            if (p.kv_dtype == DType::BF16)
                pvDirectAll<DType::BF16>(R, o, dp, sc.corr.data(), sc.s.data(), ss, n_vis, drows_v, nc);
            else
                pvDirectAll<DType::F16>(R, o, dp, sc.corr.data(), sc.s.data(), ss, n_vis, drows_v, nc);
            continue;
        }
        for (int64_t r = 0; r < R;) {
            const int64_t valid = sc.valid[static_cast<size_t>(r)];
            const float* vb = vfs;
            if (r + 3 < R && sc.valid[static_cast<size_t>(r + 3)] == valid &&
                sc.valid[static_cast<size_t>(r + 1)] == valid && sc.valid[static_cast<size_t>(r + 2)] == valid &&
                nc % 4 == 0) {
                // Four rows share every V chunk load.
                for (int64_t c = 0; c < nc; c += 4)
                    accumulatePV4<4>(o + r * dp + c * VW, dp, &sc.corr[static_cast<size_t>(r)], sc.s.data() + r * ss,
                                     ss, valid, vb + c * VW, dp);
                r += 4;
                continue;
            }
            if (r + 1 < R && sc.valid[static_cast<size_t>(r + 1)] == valid && nc % 4 == 0) {
                // Two rows share every V chunk load.
                for (int64_t c = 0; c < nc; c += 4)
                    accumulatePV2<4>(o + r * dp + c * VW, o + (r + 1) * dp + c * VW, sc.corr[static_cast<size_t>(r)],
                                     sc.corr[static_cast<size_t>(r + 1)], sc.s.data() + r * ss,
                                     sc.s.data() + (r + 1) * ss, valid, vb + c * VW, dp);
                r += 2;
                continue;
            }
            float* orow = o + r * dp;
            const float* sr = sc.s.data() + r * ss;
            const float corr = sc.corr[static_cast<size_t>(r)];
            int64_t c = 0;
            for (; c + 8 <= nc; c += 8) accumulatePV<8>(orow + c * VW, corr, sr, valid, vb + c * VW, dp);
            for (; c + 4 <= nc; c += 4) accumulatePV<4>(orow + c * VW, corr, sr, valid, vb + c * VW, dp);
            for (; c < nc; ++c) accumulatePV<1>(orow + c * VW, corr, sr, valid, vb + c * VW, dp);
            ++r;
        }
    }
    if (pair_order) pairOrder(o, R, dp, D, false);
#if defined(GQA_HAVE_AMX)
    if (amx) {
        _tile_release();
        // Interleaved form: column blocks 2w and 2w + 1 of sc.oa hold d columns 32w + {0-3, 8-11, 16-19, 24-27}
        // and 32w + {4-7, 12-15, 20-23, 28-31} (the unpack order of V): column c of 32 sits in lane
        // (c / 8) * 4 + c % 4 of block 2w when (c / 4) is even, else of block 2w + 1. Packed: columns
        // 32w + 2n in lane n of block 2w, 32w + 2n + 1 in block 2w + 1, and rows r and 8 + r are added.
        auto lane = [&](int c) {
            return packed ? (c % 2 ? 16 : 0) + c / 2 : ((c / 4) % 2 ? 16 : 0) + (c / 8) * 4 + c % 4;
        };
        alignas(64) int32_t lo_idx[16], hi_idx[16];
        for (int i = 0; i < 16; ++i) {  // o columns 32w + i and 32w + 16 + i, from the pair of blocks
            lo_idx[i] = lane(i);
            hi_idx[i] = lane(16 + i);
        }
        const __m512i il = _mm512_load_si512(lo_idx), ih = _mm512_load_si512(hi_idx);
        for (int64_t r = 0; r < R; ++r)
            for (int64_t w = 0; w < D / 32; ++w) {
                const float* src = sc.oa.data() + r * dp + w * 32;
                __m512 a = _mm512_loadu_ps(src), b = _mm512_loadu_ps(src + 16);
                if (packed) {
                    a = _mm512_add_ps(a, _mm512_loadu_ps(src + (kAmxRows / 2) * dp));
                    b = _mm512_add_ps(b, _mm512_loadu_ps(src + (kAmxRows / 2) * dp + 16));
                }
                _mm512_storeu_ps(o + r * dp + w * 32, _mm512_permutex2var_ps(a, il, b));
                _mm512_storeu_ps(o + r * dp + w * 32 + 16, _mm512_permutex2var_ps(a, ih, b));
            }
    }
#endif
}

void attention(const AttnParams& p) {
    const int64_t g = p.n_q_heads / p.n_kv_heads, D = p.head_dim;
    const int64_t dp = (D + VW - 1) / VW * VW;
    const int64_t qt = std::max<int64_t>(1, kRowTarget / g);  // queries per tile
    const int64_t n_qtiles = (p.q_len + qt - 1) / qt;
    const int threads = p.partition_threads > 0 ? p.partition_threads : omp_get_max_threads();
    // Split the keys when there are too few (batch, head, tile) items to fill the cores, as in decode.
    const int64_t base_items = p.batch * p.n_kv_heads * n_qtiles;
    // Small problems stay on one thread: a parallel region costs more than it saves there, and far more on
    // a loaded machine where a descheduled thread holds up the barrier.
    // Keys any query can see: [span_begin, kv_len) (a sliding window drops the older ones).
    const int64_t span_begin = std::min(p.kv_len, firstVisibleKey(p, 0));
    const int64_t span = p.kv_len - span_begin;
    const int64_t seen = p.window > 0 ? std::min(span, p.window + p.q_len) : span;  // keys per query, at most
    const double work = static_cast<double>(p.batch * p.n_q_heads) * static_cast<double>(p.q_len) *
                        static_cast<double>(seen) * static_cast<double>(D);
    const bool parallel = threads > 1 && work > static_cast<double>(1 << 20);
    int64_t splits = 1;
    if (parallel && base_items < 4 * threads && span >= 2 * kKeyTile)
        splits = std::min<int64_t>((4 * threads + base_items - 1) / base_items, span / kKeyTile);
    const int64_t chunk =
        std::max<int64_t>(kKeyTile, ((span + splits - 1) / splits + kKeyTile - 1) / kKeyTile * kKeyTile);
    splits = std::max<int64_t>(1, (span + chunk - 1) / chunk);
    const int64_t rows_max = g * std::min(qt, p.q_len);
    const int64_t items = base_items * splits;
    // Partial results per item: O (rows x dp), m, l.
    std::vector<float> part_o, part_m, part_l;
    if (splits > 1) {
        part_o.resize(static_cast<size_t>(items * rows_max * dp));
        part_m.resize(static_cast<size_t>(items * rows_max));
        part_l.resize(static_cast<size_t>(items * rows_max));
    }
#pragma omp parallel if (parallel)
    {
        Scratch sc;
        std::vector<float> o_local, m_local, l_local;
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; ++it) {
            const int64_t split = it % splits;
            const int64_t rest = it / splits;
            const int64_t tile = rest % n_qtiles;
            const int64_t kvh = (rest / n_qtiles) % p.n_kv_heads;
            const int64_t b = rest / (n_qtiles * p.n_kv_heads);
            const int64_t i0 = tile * qt, nq = std::min(qt, p.q_len - i0);
            const int64_t R = g * nq;
            const int64_t k_begin = span_begin + split * chunk, k_end = std::min(p.kv_len, k_begin + chunk);
            float *o, *m, *l;
            if (splits > 1) {
                o = part_o.data() + it * rows_max * dp;
                m = part_m.data() + it * rows_max;
                l = part_l.data() + it * rows_max;
            } else {
                o_local.resize(static_cast<size_t>(R * dp));
                m_local.resize(static_cast<size_t>(R));
                l_local.resize(static_cast<size_t>(R));
                o = o_local.data();
                m = m_local.data();
                l = l_local.data();
            }
            attendItem(p, b, kvh, i0, nq, k_begin, k_end, sc, o, m, l);
            if (splits == 1) {
                for (int64_t r = 0; r < R; ++r) {
                    const int64_t qi = r / g, hi = r % g;
                    float* dst = p.out + b * p.o_sb + (kvh * g + hi) * p.o_sh + (i0 + qi) * p.o_si;
                    const float inv = l[r] > 0.f ? 1.0f / l[r] : 0.0f;
                    for (int64_t e = 0; e < D; ++e) dst[e] = o[r * dp + e] * inv;
                }
            }
        }
        if (splits > 1) {
            // Merge the splits of each (b, kvh, tile): rescale every partial to the common max.
#pragma omp for schedule(static)
            for (int64_t rest = 0; rest < base_items; ++rest) {
                const int64_t tile = rest % n_qtiles;
                const int64_t kvh = (rest / n_qtiles) % p.n_kv_heads;
                const int64_t b = rest / (n_qtiles * p.n_kv_heads);
                const int64_t i0 = tile * qt, nq = std::min(qt, p.q_len - i0);
                for (int64_t r = 0; r < g * nq; ++r) {
                    float mx = -std::numeric_limits<float>::infinity();
                    for (int64_t s = 0; s < splits; ++s) mx = std::max(mx, part_m[(rest * splits + s) * rows_max + r]);
                    float lsum = 0.f;
                    std::vector<float>& acc = o_local;
                    acc.assign(static_cast<size_t>(dp), 0.0f);
                    for (int64_t s = 0; s < splits; ++s) {
                        const int64_t idx = (rest * splits + s) * rows_max + r;
                        if (part_l[idx] == 0.f) continue;
                        const float w = std::exp(part_m[idx] - mx);
                        lsum += part_l[idx] * w;
                        const float* src = part_o.data() + idx * dp;
                        for (int64_t e = 0; e < D; ++e) acc[e] += src[e] * w;
                    }
                    const int64_t qi = r / g, hi = r % g;
                    float* dst = p.out + b * p.o_sb + (kvh * g + hi) * p.o_sh + (i0 + qi) * p.o_si;
                    const float inv = lsum > 0.f ? 1.0f / lsum : 0.0f;
                    for (int64_t e = 0; e < D; ++e) dst[e] = acc[e] * inv;
                }
            }
        }
    }
}

void probabilities(const AttnParams& p, const int64_t* heads, int64_t n_heads, float* probs) {
    const int64_t g = p.n_q_heads / p.n_kv_heads, D = p.head_dim;
    const int64_t off = p.kv_len - p.q_len;
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
#pragma omp parallel
    {
        std::vector<float> kf(static_cast<size_t>(D)), s(static_cast<size_t>(p.kv_len));
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t b = 0; b < p.batch; ++b)
            for (int64_t hi = 0; hi < n_heads; ++hi) {
                const int64_t h = heads[hi], kvh = h / g;
                for (int64_t i = 0; i < p.q_len; ++i) {
                    const float* q = p.q + b * p.q_sb + h * p.q_sh + i * p.q_si;
                    const int64_t valid = p.causal ? std::clamp<int64_t>(i + off + 1, 0, p.kv_len) : p.kv_len;
                    const int64_t first = std::min(valid, firstVisibleKey(p, i));  // keys outside the window: 0
                    float mx = -std::numeric_limits<float>::infinity();
                    for (int64_t j = first; j < valid; ++j) {
                        toFloat(kvRow(p.k, p.kv_dtype, b * p.kv_sb + kvh * p.kv_sh + kvSlot(p, j) * p.kv_si),
                                p.kv_dtype, D, kf.data());
                        float acc = 0.f;
                        for (int64_t e = 0; e < D; ++e) acc += q[e] * kf[e];
                        s[j] = acc * scale;
                        mx = std::max(mx, s[j]);
                    }
                    double sum = 0.0;
                    for (int64_t j = first; j < valid; ++j) sum += std::exp(static_cast<double>(s[j] - mx));
                    float* dst = probs + ((b * n_heads + hi) * p.q_len + i) * p.kv_len;
                    for (int64_t j = 0; j < first; ++j) dst[j] = 0.0f;
                    for (int64_t j = first; j < valid; ++j)
                        dst[j] = static_cast<float>(std::exp(static_cast<double>(s[j] - mx)) / sum);
                    for (int64_t j = valid; j < p.kv_len; ++j) dst[j] = 0.0f;
                }
            }
    }
}

double readBandwidthProbe(const float* data, int64_t n) {
    double total = 0.0;
#pragma omp parallel reduction(+ : total)
    {
        vf a0 = {}, a1 = {}, a2 = {}, a3 = {};
        const int64_t step = 4 * VW;
        const int64_t blocks = n / step;
#pragma omp for schedule(static)
        for (int64_t bk = 0; bk < blocks; ++bk) {
            const float* p = data + bk * step;
            a0 += vload(p);
            a1 += vload(p + VW);
            a2 += vload(p + 2 * VW);
            a3 += vload(p + 3 * VW);
        }
        total += hsum(a0 + a1 + a2 + a3);
    }
    return total;
}

#include "cpu_linear_impl.h"

#if defined(GQA_HAVE_AMX)
// ---- prefill linear layers with bf16 weights on AMX tiles ------------------------------------------------------
// Y^T = W X^T per 16 weight rows x 8 activation rows: A = 16 weight rows as stored (bf16, in place), B = X^T as
// pairs with columns 0-7 the hi and 8-15 the lo bf16 parts of 8 activation rows (x = hi + lo to 2^-16), so the
// weights are used exactly and the products keep fp32 accuracy; the halves are added on the way out.
void packActivations(const float* x, int64_t n, int64_t ldx, int64_t in, uint32_t* xt) {
    const int64_t nic = in / 32, groups = (n + 7) / 8;
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(16));  // word kp * 16 for dword kp
#pragma omp parallel for schedule(static) if (n * in > (1 << 16))
    for (int64_t tg = 0; tg < groups; ++tg) {
        uint32_t* dst = xt + tg * nic * 256;
        std::fill(dst, dst + nic * 256, 0u);
        for (int64_t t = 0; t < 8 && tg * 8 + t < n; ++t) {
            const float* row = x + (tg * 8 + t) * ldx;
            for (int64_t c = 0; c < in; c += 32) {
                // 32 values as bf16 hi and lo: dword kp of each vector is the pair (2kp, 2kp + 1), which goes to
                // word kp * 16 + t (hi) and kp * 16 + 8 + t (lo) of the chunk's tile.
                const __m512 v0 = _mm512_loadu_ps(row + c), v1 = _mm512_loadu_ps(row + c + 16);
                const __m512i h = bf16Bits(_mm512_cvtne2ps_pbh(v1, v0));  // lanes 0-15: v0, 16-31: v1
                const __m512i l = bf16Bits(_mm512_cvtne2ps_pbh(_mm512_sub_ps(v1, widenBf16Half(h, 1)),
                                                               _mm512_sub_ps(v0, widenBf16Half(h, 0))));
                uint32_t* w = dst + (c / 32) * 256;
                _mm512_i32scatter_epi32(w + t, idx, h, 4);
                _mm512_i32scatter_epi32(w + 8 + t, idx, l, 4);
            }
        }
    }
}

// 32 stored values of a weight row from column c (a multiple of 32) as fp32, exactly.
inline void weight32(const uint8_t* row, DType t, int64_t c, __m512& v0, __m512& v1) {
    vf x0, x1;
    if (t == DType::Q8_0) {
        const uint8_t* b = row + (c / kQ8BlockElems) * kQ8BlockBytes;
        const vf scale = vbcast(f16Scalar(b));
        x0 = i8Chunk(b + 2) * scale;
        x1 = i8Chunk(b + 2 + 16) * scale;
    } else {
        x0 = weightChunk(row, t, c);
        x1 = weightChunk(row, t, c + 16);
    }
    std::memcpy(&v0, &x0, sizeof v0);
    std::memcpy(&v1, &x1, sizeof v1);
}

void tileLinear(const LinearArgs& a, const uint32_t* xt, float* scratch) {
    const int64_t in = a.in, nic = in / 32, groups = (a.n + 7) / 8;
    // bf16 rows are copied as they are; the others are split exactly into bf16 parts by truncation (each part the
    // top 8 significant bits of what is left): two hold fp16's 11 bits, three Q8_0's 18 and fp32's 24. Two parts
    // for Q8_0 (to 2^-16, as the activations) reorder near-tied logits of the real-model reference, so no fewer.
    const int64_t nparts = a.dtype == DType::BF16 ? 1 : a.dtype == DType::F16 ? 2 : 3;
    const bool split = nparts > 1;
    // 64 weight rows at a time repacked chunk-major: part k of W[ob + r][32 ic + j] at
    // parts[(ic * nparts + k) * kPart + r * 32 + j]. Every A tile is then 1 KiB contiguous (tile loads of 16 rows a
    // page apart measured 140 cycles per tdpbf16ps, TLB-bound), zero rows pad a short last block, and the parts lie
    // 64 bytes more than 4 KiB apart: at exactly 4 KiB the three stores of a chunk and the next loads of the row
    // aliased (TinyLlama-shaped Q8_0 prefill 590 -> 510 ms). Repacking in chunks of 1024 columns, to keep the
    // parts of a 5632-wide row block in L2, measured no faster (516 ms either way).
    constexpr int64_t kPart = 64 * 32 + 32;
    const __m512i top = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
    alignas(64) uint16_t odd_words[32];
    for (int j = 0; j < 32; ++j) odd_words[j] = static_cast<uint16_t>(2 * j + 1);
    const __m512i odd = _mm512_load_si512(odd_words);  // word j <- word 2j + 1 of the pair (v0, v1)
    auto* parts = reinterpret_cast<uint16_t*>(scratch);
    alignas(64) float st[4 * 256];
    amxBegin();
    for (int64_t ob = a.o0; ob < a.o1; ob += 64) {
        const int64_t rows = std::min<int64_t>(64, a.o1 - ob), blocks = (rows + 15) / 16;
        for (int64_t r = 0; r < blocks * 16; ++r) {
            const uint8_t* row = r < rows ? static_cast<const uint8_t*>(a.w) + (ob + r) * a.row_bytes : nullptr;
            for (int64_t ic = 0; ic < nic; ++ic) {
                uint16_t* dst = parts + ic * nparts * kPart + r * 32;
                if (r >= rows) {
                    for (int64_t k = 0; k < nparts; ++k) _mm512_storeu_si512(dst + k * kPart, _mm512_setzero_si512());
                } else if (!split) {
                    _mm512_storeu_si512(dst, _mm512_loadu_si512(row + ic * 64));
                } else {
                    __m512 v0, v1;
                    weight32(row, a.dtype, ic * 32, v0, v1);
                    for (int64_t k = 0; k < nparts; ++k) {
                        // Part k is the high words of what is left (lanes 0-15: v0, 16-31: v1).
                        const __m512i v0i = _mm512_castps_si512(v0), v1i = _mm512_castps_si512(v1);
                        _mm512_storeu_si512(dst + k * kPart, _mm512_permutex2var_epi16(v0i, odd, v1i));
                        if (k + 1 == nparts) break;
                        v0 = _mm512_sub_ps(v0, _mm512_castsi512_ps(_mm512_and_si512(v0i, top)));
                        v1 = _mm512_sub_ps(v1, _mm512_castsi512_ps(_mm512_and_si512(v1i, top)));
                    }
                }
            }
        }
        // 2 x 2 blocking: accumulator tile 2b + g holds weight block xb + b against activation group tg + g, so
        // each weight tile loaded feeds two products and each activation tile 2 nparts (tile loads come from L2
        // at about 8 ns each against 4.3 ns per product; 4 weight blocks against one group, one load per product,
        // measured 795 -> 610 ms for the Q8_0 prefill above).
        for (int64_t tg = 0; tg < groups; tg += 2) {
            const bool g2 = tg + 1 < groups;
            const uint32_t* xg = xt + tg * nic * 256;
            for (int64_t xb = 0; xb < blocks; xb += 2) {
                const bool b2 = xb + 1 < blocks;
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
                for (int64_t ic = 0; ic < nic; ++ic) {
                    _tile_loadd(4, xg + ic * 256, 64);
                    if (g2) _tile_loadd(5, xg + (nic + ic) * 256, 64);
                    const uint16_t* pa = parts + ic * nparts * kPart + 16 * xb * 32;
                    for (int64_t k = 0; k < nparts; ++k, pa += kPart) {
                        _tile_loadd(6, pa, 64);
                        _tile_dpbf16ps(0, 6, 4);
                        if (g2) _tile_dpbf16ps(1, 6, 5);
                        if (b2) {
                            _tile_loadd(7, pa + 16 * 32, 64);
                            _tile_dpbf16ps(2, 7, 4);
                            if (g2) _tile_dpbf16ps(3, 7, 5);
                        }
                    }
                }
                _tile_stored(0, st, 64);
                if (g2) _tile_stored(1, st + 256, 64);
                if (b2) _tile_stored(2, st + 512, 64);
                if (b2 && g2) _tile_stored(3, st + 768, 64);
                // st[2b + g][m][c]: weight row ob + 16(xb + b) + m, activation row 8(tg + g) + c (hi, c < 8) or
                // 8(tg + g) + c - 8 (lo).
                for (int64_t b = 0; b < (b2 ? 2 : 1); ++b) {
                    const int64_t m0 = 16 * (xb + b), mn = std::min<int64_t>(16, rows - m0);
                    for (int64_t g = 0; g < (g2 ? 2 : 1); ++g) {
                        const float* sb = st + (2 * b + g) * 256;
                        for (int64_t t = 0; t < 8 && (tg + g) * 8 + t < a.n; ++t) {
                            float* yr = a.y + ((tg + g) * 8 + t) * a.ldy + ob + m0;
                            for (int64_t m = 0; m < mn; ++m) yr[m] = sb[m * 16 + t] + sb[m * 16 + 8 + t];
                        }
                    }
                }
            }
        }
    }
    _tile_release();
}
#endif

}  // namespace

const Kernels& table(const char* isa) {
#if defined(GQA_HAVE_AMX)
    static const Kernels k{isa,
                           &attention,
                           &probabilities,
                           &readBandwidthProbe,
                           &dotRows,
                           &widenRows,
                           &packActivations,
                           &tileLinear,
                           amxInt8Usable() ? &packInt8Activations : nullptr};
#else
    static const Kernels k{isa,     &attention, &probabilities, &readBandwidthProbe, &dotRows, &widenRows,
                           nullptr, nullptr,    nullptr};
#endif
    return k;
}

}  // namespace gqa::cpu::GQA_KERNEL_NS
