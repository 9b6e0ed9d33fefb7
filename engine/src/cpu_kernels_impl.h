// The CPU attention kernels, compiled once per instruction set (GQA_KERNEL_NS, GQA_VW floats per vector).
// Included only by cpu_kernels_{generic,avx2,avx512}.cpp.
//
// attention(): work item = (batch b, KV head, query tile, key split). Its rows are the g query heads of the
// group times the tile's queries, so each K/V tile is converted to fp32 once and used by all g heads.
// Online softmax (running max m and sum l per row) means no T x T matrix is ever held.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "cpu_kernels.h"

namespace gqa::cpu::GQA_KERNEL_NS {
namespace {

constexpr int VW = GQA_VW;
typedef float vf __attribute__((vector_size(VW * 4)));
typedef int vi __attribute__((vector_size(VW * 4)));

constexpr int64_t kKeyTile = 64;   // keys per tile (a multiple of VW)
constexpr int64_t kRowTarget = 64; // query rows (heads x queries) per prefill work item

inline vf vload(const float* p) {
    vf v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void vstore(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf vbcast(float x) { return vf{} + x; }
inline vf vmax(vf a, vf b) { return a > b ? a : b; }

// exp(x) for x <= 0 (arguments of the softmax), relative error ~1e-7; exp(-inf) = 0.
inline vf vexp(vf x) {
    const vf lo = vbcast(-87.0f);
    x = x < lo ? lo : x;
    const vf t = x * 1.44269504088896341f;  // log2(e)
    vf n = t;
    for (int i = 0; i < VW; ++i) n[i] = __builtin_floorf(t[i] + 0.5f);
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

inline float hmax(vf v) {
    float m = v[0];
    for (int i = 1; i < VW; ++i) m = std::max(m, v[i]);
    return m;
}
inline float hsum(vf v) {
    float s = 0.f;
    for (int i = 0; i < VW; ++i) s += v[i];
    return s;
}

// ---- transpose-reduce: VW accumulators (one per key) -> one vector of VW dot products ------------------
constexpr int log2c(int x) { return x <= 1 ? 0 : 1 + log2c(x / 2); }
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

// acc[bitrev(j)] holds the VW partial sums of key j; returns (sum(acc for key 0), ..., key VW-1).
inline vf transposeReduce(vf* acc) {
    int n = VW;
    for (int s = 0; s < kStages; ++s) {
        vi lo, hi;
        std::memcpy(&lo, kMasks.lo[s], sizeof lo);
        std::memcpy(&hi, kMasks.hi[s], sizeof hi);
        for (int t = 0; t < n / 2; ++t)
            acc[t] = __builtin_shuffle(acc[2 * t], acc[2 * t + 1], lo) + __builtin_shuffle(acc[2 * t], acc[2 * t + 1], hi);
        n /= 2;
    }
    return acc[0];
}

// ---- conversion of K/V rows to fp32 --------------------------------------------------------------------
inline void toFloat(const void* src, DType t, int64_t n, float* dst) {
    switch (t) {
        case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
        case DType::BF16: {
            const auto* s = static_cast<const uint16_t*>(src);
            for (int64_t e = 0; e < n; ++e) {
                const uint32_t u = static_cast<uint32_t>(s[e]) << 16;
                float f;
                std::memcpy(&f, &u, 4);
                dst[e] = f;
            }
            return;
        }
        case DType::F16: {
#if defined(GQA_HAVE_F16C)
            const auto* s = static_cast<const _Float16*>(src);
            for (int64_t e = 0; e < n; ++e) dst[e] = static_cast<float>(s[e]);
#else
            const auto* s = static_cast<const uint16_t*>(src);
            for (int64_t e = 0; e < n; ++e) dst[e] = f16ToFloat(s[e]);
#endif
            return;
        }
    }
}

inline const void* kvRow(const void* base, DType t, int64_t elem_offset) {
    return static_cast<const char*>(base) + elem_offset * static_cast<int64_t>(bytesPerElement(t));
}

struct Scratch {
    std::vector<float> q, s, o, kf, vf_, m, l;
};

// One work item: rows = g heads x nq queries (row r = qi * g + hi), keys [k_begin, k_end).
// Writes unnormalized O and (m, l) to the given row-major buffers (stride dp for o).
void attendItem(const AttnParams& p, int64_t b, int64_t kvh, int64_t i0, int64_t nq, int64_t k_begin, int64_t k_end,
                Scratch& sc, float* o, float* m, float* l) {
    const int64_t g = p.n_q_heads / p.n_kv_heads, D = p.head_dim;
    const int64_t dp = (D + VW - 1) / VW * VW;
    const int64_t R = g * nq, nc = dp / VW;
    const int64_t off = p.kv_len - p.q_len;
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    sc.q.assign(static_cast<size_t>(R * dp), 0.0f);
    sc.s.resize(static_cast<size_t>(R * kKeyTile));
    sc.kf.assign(static_cast<size_t>(kKeyTile * dp), 0.0f);
    sc.vf_.assign(static_cast<size_t>(kKeyTile * dp), 0.0f);
    for (int64_t qi = 0; qi < nq; ++qi)
        for (int64_t hi = 0; hi < g; ++hi) {
            const float* src = p.q + b * p.q_sb + (kvh * g + hi) * p.q_sh + (i0 + qi) * p.q_si;
            float* dst = sc.q.data() + (qi * g + hi) * dp;
            for (int64_t e = 0; e < D; ++e) dst[e] = src[e] * scale;
        }
    std::fill(o, o + R * dp, 0.0f);
    std::fill(m, m + R, -std::numeric_limits<float>::infinity());
    std::fill(l, l + R, 0.0f);
    // Keys visible to the last query of the tile bound the loop.
    int64_t k_last = k_end;
    if (p.causal) k_last = std::min(k_end, i0 + nq - 1 + off + 1);
    const auto kv_base = b * p.kv_sb + kvh * p.kv_sh;

    for (int64_t j0 = k_begin; j0 < k_last; j0 += kKeyTile) {
        const int64_t kt = std::min(kKeyTile, k_last - j0);
        const int64_t ktp = (kt + VW - 1) / VW * VW;
        for (int64_t j = 0; j < kt; ++j) {
            toFloat(kvRow(p.k, p.kv_dtype, kv_base + (j0 + j) * p.kv_si), p.kv_dtype, D, sc.kf.data() + j * dp);
            toFloat(kvRow(p.v, p.kv_dtype, kv_base + (j0 + j) * p.kv_si), p.kv_dtype, D, sc.vf_.data() + j * dp);
        }
        for (int64_t j = kt; j < ktp; ++j) {  // padded keys: zeros, masked below
            std::fill(sc.kf.data() + j * dp, sc.kf.data() + (j + 1) * dp, 0.0f);
            std::fill(sc.vf_.data() + j * dp, sc.vf_.data() + (j + 1) * dp, 0.0f);
        }
        // S = Q K^T for this tile.
        for (int64_t r = 0; r < R; ++r) {
            const float* qr = sc.q.data() + r * dp;
            float* sr = sc.s.data() + r * kKeyTile;
            for (int64_t jb = 0; jb < ktp; jb += VW) {
                vf acc[VW];
                for (int j = 0; j < VW; ++j) acc[j] = vf{};
                for (int64_t c = 0; c < nc; ++c) {
                    const vf qv = vload(qr + c * VW);
#pragma GCC unroll 16
                    for (int j = 0; j < VW; ++j) acc[bitrev(j)] += qv * vload(sc.kf.data() + (jb + j) * dp + c * VW);
                }
                vstore(sr + jb, transposeReduce(acc));
            }
        }
        // Mask, online softmax, P V.
        for (int64_t r = 0; r < R; ++r) {
            float* sr = sc.s.data() + r * kKeyTile;
            const int64_t qi = r / g;
            int64_t valid = kt;
            if (p.causal) valid = std::clamp<int64_t>(i0 + qi + off + 1 - j0, 0, kt);
            for (int64_t j = valid; j < ktp; ++j) sr[j] = -std::numeric_limits<float>::infinity();
            if (valid == 0) continue;
            vf mx = vbcast(-std::numeric_limits<float>::infinity());
            for (int64_t jb = 0; jb < ktp; jb += VW) mx = vmax(mx, vload(sr + jb));
            const float m_new = std::max(m[r], hmax(mx));
            const float corr = std::exp(m[r] - m_new);  // exp(-inf) = 0 on the first tile
            vf sum = vf{};
            for (int64_t jb = 0; jb < ktp; jb += VW) {
                const vf e = vexp(vload(sr + jb) - m_new);
                vstore(sr + jb, e);
                sum += e;
            }
            l[r] = l[r] * corr + hsum(sum);
            m[r] = m_new;
            float* orow = o + r * dp;
            for (int64_t c = 0; c < nc; c += 4) {
                const int64_t cn = std::min<int64_t>(4, nc - c);
                vf a[4];
                for (int64_t u = 0; u < cn; ++u) a[u] = vload(orow + (c + u) * VW) * corr;
                for (int64_t j = 0; j < valid; ++j) {
                    const vf pj = vbcast(sr[j]);
                    const float* vrow = sc.vf_.data() + j * dp + c * VW;
                    for (int64_t u = 0; u < cn; ++u) a[u] += pj * vload(vrow + u * VW);
                }
                for (int64_t u = 0; u < cn; ++u) vstore(orow + (c + u) * VW, a[u]);
            }
        }
    }
}

void attention(const AttnParams& p) {
    const int64_t g = p.n_q_heads / p.n_kv_heads, D = p.head_dim;
    const int64_t dp = (D + VW - 1) / VW * VW;
    const int64_t qt = std::max<int64_t>(1, kRowTarget / g);  // queries per tile
    const int64_t n_qtiles = (p.q_len + qt - 1) / qt;
    const int threads = omp_get_max_threads();
    // Split the keys when there are too few (batch, head, tile) items to fill the cores, as in decode.
    const int64_t base_items = p.batch * p.n_kv_heads * n_qtiles;
    int64_t splits = 1;
    if (base_items < 4 * threads && p.kv_len >= 2 * kKeyTile)
        splits = std::min<int64_t>((4 * threads + base_items - 1) / base_items, p.kv_len / kKeyTile);
    const int64_t chunk = ((p.kv_len + splits - 1) / splits + kKeyTile - 1) / kKeyTile * kKeyTile;
    splits = (p.kv_len + chunk - 1) / chunk;
    const int64_t rows_max = g * std::min(qt, p.q_len);
    const int64_t items = base_items * splits;
    // Partial results per item: O (rows x dp), m, l.
    std::vector<float> part_o, part_m, part_l;
    if (splits > 1) {
        part_o.resize(static_cast<size_t>(items * rows_max * dp));
        part_m.resize(static_cast<size_t>(items * rows_max));
        part_l.resize(static_cast<size_t>(items * rows_max));
    }
#pragma omp parallel
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
            const int64_t k_begin = split * chunk, k_end = std::min(p.kv_len, k_begin + chunk);
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
                    float mx = -std::numeric_limits<float>::infinity();
                    for (int64_t j = 0; j < valid; ++j) {
                        toFloat(kvRow(p.k, p.kv_dtype, b * p.kv_sb + kvh * p.kv_sh + j * p.kv_si), p.kv_dtype, D,
                                kf.data());
                        float acc = 0.f;
                        for (int64_t e = 0; e < D; ++e) acc += q[e] * kf[e];
                        s[j] = acc * scale;
                        mx = std::max(mx, s[j]);
                    }
                    double sum = 0.0;
                    for (int64_t j = 0; j < valid; ++j) sum += std::exp(static_cast<double>(s[j] - mx));
                    float* dst = probs + ((b * n_heads + hi) * p.q_len + i) * p.kv_len;
                    for (int64_t j = 0; j < valid; ++j)
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

}  // namespace

const Kernels& table(const char* isa) {
    static const Kernels k{isa, &attention, &probabilities, &readBandwidthProbe};
    return k;
}

}  // namespace gqa::cpu::GQA_KERNEL_NS
