// Linear-layer kernels over weights in their stored dtype (fp32, fp16, bf16, Q8_0), included by
// cpu_kernels_impl.h once per instruction set. Weights are (out, in) rows; no fp32 copy of a matrix is kept:
// decode multiplies the stored rows directly (each weight byte read once per step), prefill widens a tile of
// rows at a time into a small fp32 buffer for OpenBLAS.

typedef int8_t vi8 __attribute__((vector_size(VW)));

constexpr int64_t kPrefetchAheadBytes = 16384;

// f16Chunk (VW f16 values -> VW floats) comes from cpu_kernels_impl.h.
inline float f16Scalar(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return f16ToFloatOne(h);
}

// VW int8 values -> VW floats. With AVX2/AVX-512 one sign extension and one conversion: GCC widens a vector of
// int8 lane by lane (measured on a TinyLlama-shaped Q8_0 decode: 419 ms per step before, 70 ms after).
inline vf i8Chunk(const uint8_t* src) {
#if GQA_VW == 16
    const __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src))));
    vf r;
    std::memcpy(&r, &f, sizeof r);
    return r;
#elif GQA_VW == 8
    const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src))));
    vf r;
    std::memcpy(&r, &f, sizeof r);
    return r;
#else
    vi8 q;
    std::memcpy(&q, src, sizeof q);
    return __builtin_convertvector(__builtin_convertvector(q, vi), vf);
#endif
}

inline vf weightChunk(const uint8_t* row, DType t, int64_t e) {
    switch (t) {
        case DType::BF16: return bf16Chunk(reinterpret_cast<const uint16_t*>(row) + e);
        case DType::F16: return f16Chunk(reinterpret_cast<const uint16_t*>(row) + e);
        default: return vload(reinterpret_cast<const float*>(row) + e);
    }
}

inline float weightScalar(const uint8_t* row, DType t, int64_t e) {
    switch (t) {
        case DType::BF16: {
            uint16_t h;
            std::memcpy(&h, row + 2 * e, 2);
            return bf16ToFloat(h);
        }
        case DType::F16: return f16Scalar(row + 2 * e);
        default: {
            float f;
            std::memcpy(&f, row + 4 * e, 4);
            return f;
        }
    }
}

// y[r * ldy + o] = W[o, :] . x[r, :] for o in [o0, o1), r < R: every weight row is read once for all R rows.
template <int R>
void dotRowsT(const LinearArgs& a) {
    const int64_t K = a.in;
    const float* x[R];
    for (int r = 0; r < R; ++r) x[r] = a.x + r * a.ldx;
    // bf16 rows are widened two chunks at a time (kvPairT: one instruction per VW weights where bf16Chunk takes
    // two), against a copy of x in the same (even, odd) order.
    const bool pairs = a.dtype == DType::BF16 && K % (2 * VW) == 0;
    if (pairs) {
        thread_local std::vector<float> xp;
        xp.resize(static_cast<size_t>(R * K));
        for (int r = 0; r < R; ++r) {
            std::memcpy(xp.data() + r * K, x[r], static_cast<size_t>(K) * sizeof(float));
            x[r] = xp.data() + r * K;
        }
        pairOrder(xp.data(), R, K, K, true);
    }
    for (int64_t o = a.o0; o < a.o1; ++o) {
        const uint8_t* w = static_cast<const uint8_t*>(a.w) + o * a.row_bytes;
        vf acc0[R], acc1[R];
        for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = vf{};
        float tail[R] = {};
        if (a.dtype == DType::Q8_0) {
            // Blocks of 32: the int8 products are summed first, then scaled by the block's f16 scale.
            for (int64_t blk = 0; blk < K / kQ8BlockElems; ++blk) {
                const uint8_t* b = w + blk * kQ8BlockBytes;
                __builtin_prefetch(b + kPrefetchAheadBytes);
                const vf scale = vbcast(f16Scalar(b));
                const int64_t e0 = blk * kQ8BlockElems;
                vf part[R];
                for (int r = 0; r < R; ++r) part[r] = vf{};
                for (int64_t c = 0; c < kQ8BlockElems; c += VW) {
                    const vf wq = i8Chunk(b + 2 + c);
                    for (int r = 0; r < R; ++r) part[r] += wq * vload(x[r] + e0 + c);
                }
                for (int r = 0; r < R; ++r) {
                    if (blk & 1)
                        acc1[r] += part[r] * scale;
                    else
                        acc0[r] += part[r] * scale;
                }
            }
        } else if (pairs) {
            const auto* w16 = reinterpret_cast<const uint16_t*>(w);
            for (int64_t e = 0; e < K; e += 2 * VW) {
                _mm_prefetch(reinterpret_cast<const char*>(w16 + e) + kPrefetchAheadBytes, _MM_HINT_T1);
                vf w0, w1;
                kvPairT<DType::BF16>(w16 + e, w0, w1);
                for (int r = 0; r < R; ++r) {
                    acc0[r] += w0 * vload(x[r] + e);
                    acc1[r] += w1 * vload(x[r] + e + VW);
                }
            }
        } else {
            int64_t e = 0;
            // Software prefetch 16 KiB ahead of the loads (into the next rows), into L2 only: measured best of 1,
            // 4, 8, 16 and 32 KiB on a TinyLlama-shaped bf16 decode (120 ms without, 97 ms at 16 KiB per step,
            // AMD EPYC), and on a Xeon with AMX the L2 hint against the L1 one: 88 -> 76-79 ms per step (the L1 hint
            // holds a line-fill buffer per line and starves the demand loads).
            const int64_t ahead = kPrefetchAheadBytes / static_cast<int64_t>(bytesPerElement(a.dtype));
            for (; e + 2 * VW <= K; e += 2 * VW) {
                _mm_prefetch(
                    reinterpret_cast<const char*>(w) + (e + ahead) * static_cast<int64_t>(bytesPerElement(a.dtype)),
                    _MM_HINT_T1);
                const vf w0 = weightChunk(w, a.dtype, e), w1 = weightChunk(w, a.dtype, e + VW);
                for (int r = 0; r < R; ++r) {
                    acc0[r] += w0 * vload(x[r] + e);
                    acc1[r] += w1 * vload(x[r] + e + VW);
                }
            }
            for (; e < K; ++e) {
                const float wv = weightScalar(w, a.dtype, e);
                for (int r = 0; r < R; ++r) tail[r] += wv * x[r][e];
            }
        }
        for (int r = 0; r < R; ++r) a.y[r * a.ldy + o] = hsum(acc0[r] + acc1[r]) + tail[r];
    }
}

#if defined(GQA_HAVE_AMX)
// ---- Q8_0 decode on AMX-INT8 tiles ---------------------------------------------------------------------------
// The int8 weights are tile operands as stored: A = 16 weight rows of one 32-value block (the row stride steps
// over the f16 scales), B = that block of the activations as int8 parts, C = the exact int32 block sums, which
// are then scaled by each row's block scale in fp32. Per block and 16 rows one TDPBSSD replaces 512 int8->fp32
// conversions: the fp32 kernel (dotRowsT) reached 1.37x its bytes' time on one core, compute-bound.
// Activations: row r of x is cut into four int8 parts, x = 2^e (a0 + a1/128 + a2/128^2 + a3/128^3) with
// |a0| <= 64 (2^e from the row's largest |x|) and |a1..3| <= 64. The scale and radix are powers of two, so
// every step of the cut is exact in fp32 and what is left is below 2^-27 of max |x| (the fp32 kernel's own
// rounding is 2^-24 of each product). B tile columns: part p of activation row r is column 4 r + p.
bool packInt8Activations(const float* x, int64_t n, int64_t ldx, int64_t in, void* xq) {
    const int np = int8ActivationRows(n);
    auto* scale = static_cast<float*>(xq);
    auto* out = static_cast<int8_t*>(xq) + kInt8ActivationHeader;
    const int64_t rowb = 16 * np;  // bytes of one B tile row
    for (int r = 0; r < np; ++r) {
        const float* xr = x + r * ldx;
        __m512 mx = _mm512_setzero_ps();
        __mmask16 bad = 0;  // lanes that held an inf or NaN (0x99: quiet NaN, +inf, -inf, signalling NaN)
        if (r < n)
            for (int64_t e = 0; e < in; e += 16) {
                const __m512 v = _mm512_loadu_ps(xr + e);
                bad |= _mm512_fpclass_ps_mask(v, 0x99);
                mx = _mm512_max_ps(mx, _mm512_abs_ps(v));
            }
        if (bad) return false;
        const float m = _mm512_reduce_max_ps(mx);
        // max |x| 2^-e in [32, 64): a0 = rint(x 2^-e) fits |a0| <= 64.
        const int e = m > 0 ? std::max(std::ilogb(m) - 5, -149) : 0;
        scale[r] = std::ldexp(1.0f, e);
        const __m512 down = _mm512_set1_ps(static_cast<float>(-e)), radix = _mm512_set1_ps(128.0f);
        for (int64_t e0 = 0; e0 < in; e0 += 16) {
            __m512 v = r < n ? _mm512_scalef_ps(_mm512_loadu_ps(xr + e0), down) : _mm512_setzero_ps();
            int8_t* blk = out + (e0 / kQ8BlockElems) * 8 * rowb + (e0 % kQ8BlockElems) / 4 * rowb + 16 * r;
            for (int p = 0; p < 4; ++p) {
                const __m512 a = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                v = _mm512_mul_ps(_mm512_sub_ps(v, a), radix);  // both exact
                alignas(16) int32_t q[4];
                _mm_store_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(a)));
                for (int j = 0; j < 4; ++j) std::memcpy(blk + j * rowb + 4 * p, &q[j], 4);  // inputs 4j..4j+3
            }
        }
    }
    return true;
}

// Tiles 0-1: A (m weight rows x 32 int8), 2-3: B (8 x 16 np), 4-7: C (m x 4 np int32).
inline void q8TileConfig(int m, int np) {
    alignas(64) AmxTileConfig c;
    for (int t = 0; t < 8; ++t) {
        c.colsb[t] = static_cast<uint16_t>(t < 2 ? 32 : 16 * np);
        c.rows[t] = static_cast<uint8_t>(t == 2 || t == 3 ? 8 : m);
    }
    _tile_loadconfig(&c);
}

template <int NP>
void dotRowsQ8Tiles(const LinearArgs& a) {
    constexpr int kVec = 4 * NP;  // zmm per C tile: 16 rows x 4 NP int32, row-major
    const int64_t nb = a.in / kQ8BlockElems, rb = a.row_bytes;
    const auto* scale = static_cast<const float*>(a.xq);
    const int8_t* xb = static_cast<const int8_t*>(a.xq) + kInt8ActivationHeader;
    alignas(64) int32_t c[4][16 * kVec];
    alignas(64) int32_t lane[16];
    __m512i spread[kVec];  // lane l of C vector i belongs to weight row (16 i + l) / (4 NP)
    for (int i = 0; i < kVec; ++i) {
        for (int l = 0; l < 16; ++l) lane[l] = (16 * i + l) / (4 * NP);
        spread[i] = _mm512_load_si512(lane);
    }
    for (int l = 0; l < 16; ++l) lane[l] = static_cast<int32_t>(l * rb);
    const __m512i row_offsets = _mm512_load_si512(lane);
    int configured = 0;
    for (int64_t o0 = a.o0; o0 < a.o1; o0 += 16) {
        const int m = static_cast<int>(std::min<int64_t>(16, a.o1 - o0));
        if (m != configured) q8TileConfig(configured = m, NP);
        const __mmask16 live = static_cast<__mmask16>((1u << m) - 1);
        const uint8_t* g = static_cast<const uint8_t*>(a.w) + o0 * rb;
        // The next 16 rows (contiguous) prefetched into L2 at the pace they are read, 16 x 34 bytes per block.
        const char* next = o0 + 32 <= a.o1 ? reinterpret_cast<const char*>(g + 16 * rb) : nullptr;
        __m512 acc[kVec];
        for (auto& v : acc) v = _mm512_setzero_ps();
        auto scaleInto = [&](int64_t blk, const int32_t* cb) {
            const __m512i raw =
                _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, row_offsets, g + blk * kQ8BlockBytes, 1);
            const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(raw));
            for (int i = 0; i < kVec; ++i)
                acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cb + 16 * i)),
                                         _mm512_permutexvar_ps(spread[i], d), acc[i]);
        };
        auto prefetch = [&](int64_t blk) {
            if (!next) return;
            const char* p = next + blk * 16 * kQ8BlockBytes;
            for (int l = 0; l < 16 * kQ8BlockBytes; l += 64) _mm_prefetch(p + l, _MM_HINT_T1);
        };
        const uint8_t* q = g + 2;  // the int8 values of block 0
        int64_t b = 0;
        for (; b + 4 <= nb; b += 4) {
            // Four blocks in flight (two A and two B tiles alternate, one C each): tiles are not renamed, so a
            // C tile reused at once would wait for its store.
            _tile_zero(4);
            _tile_zero(5);
            _tile_zero(6);
            _tile_zero(7);
// Block BLK: weights into tile A, activations into tile B, their product into C (tile numbers are immediates).
#define GQA_Q8_BLOCK(BLK, A, B, C)                \
    prefetch(BLK);                                \
    _tile_loadd(A, q + (BLK)*kQ8BlockBytes, rb);  \
    _tile_loadd(B, xb + (BLK)*128 * NP, 16 * NP); \
    _tile_dpbssd(C, A, B);
            GQA_Q8_BLOCK(b, 0, 2, 4)
            GQA_Q8_BLOCK(b + 1, 1, 3, 5)
            GQA_Q8_BLOCK(b + 2, 0, 2, 6)
            GQA_Q8_BLOCK(b + 3, 1, 3, 7)
            _tile_stored(4, c[0], 16 * NP);
            _tile_stored(5, c[1], 16 * NP);
            _tile_stored(6, c[2], 16 * NP);
            _tile_stored(7, c[3], 16 * NP);
            for (int u = 0; u < 4; ++u) scaleInto(b + u, c[u]);
        }
        for (; b < nb; ++b) {
            _tile_zero(4);
            GQA_Q8_BLOCK(b, 0, 2, 4)
#undef GQA_Q8_BLOCK
            _tile_stored(4, c[0], 16 * NP);
            scaleInto(b, c[0]);
        }
        alignas(64) float sums[16 * kVec];
        for (int i = 0; i < kVec; ++i) _mm512_store_ps(sums + 16 * i, acc[i]);
        for (int o = 0; o < m; ++o)
            for (int r = 0; r < a.n; ++r) {
                const float* t = sums + o * 4 * NP + 4 * r;  // parts 0..3, smallest added first
                const float v = t[3] * (1.0f / 2097152.0f) + t[2] * (1.0f / 16384.0f) + t[1] * (1.0f / 128.0f) + t[0];
                a.y[r * a.ldy + o0 + o] = v * scale[r];
            }
    }
    _tile_release();
}
#endif

void dotRows(const LinearArgs& a) {
#if defined(GQA_HAVE_AMX)
    if (a.xq && a.dtype == DType::Q8_0 && a.n <= 4 && a.row_bytes <= std::numeric_limits<int32_t>::max() / 16) {
        switch (int8ActivationRows(a.n)) {
            case 1: dotRowsQ8Tiles<1>(a); return;
            case 2: dotRowsQ8Tiles<2>(a); return;
            default: dotRowsQ8Tiles<4>(a); return;
        }
    }
#endif
    switch (a.n) {
        case 1: dotRowsT<1>(a); return;
        case 2: dotRowsT<2>(a); return;
        case 3: dotRowsT<3>(a); return;
        case 4: dotRowsT<4>(a); return;
        default: break;
    }
    for (int64_t r0 = 0; r0 < a.n; r0 += 4) {
        LinearArgs b = a;
        b.x = a.x + r0 * a.ldx;
        b.y = a.y + r0 * a.ldy;
        b.n = std::min<int64_t>(4, a.n - r0);
        dotRows(b);
    }
}

// Rows [r0, r1) of W as fp32, (r1 - r0, in) row-major.
void widenRows(const void* w, DType t, int64_t row_bytes, int64_t in, int64_t r0, int64_t r1, float* dst) {
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* row = static_cast<const uint8_t*>(w) + r * row_bytes;
        float* o = dst + (r - r0) * in;
        if (t == DType::Q8_0) {
            for (int64_t blk = 0; blk < in / kQ8BlockElems; ++blk) {
                const uint8_t* b = row + blk * kQ8BlockBytes;
                const vf scale = vbcast(f16Scalar(b));
                for (int64_t c = 0; c < kQ8BlockElems; c += VW)
                    vstore(o + blk * kQ8BlockElems + c, i8Chunk(b + 2 + c) * scale);
            }
        } else {
            toFloat(row, t, in, o);
        }
    }
}
