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

void dotRows(const LinearArgs& a) {
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
