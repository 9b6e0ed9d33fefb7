// The attention op against a naive double-precision reference, and the GQA identities.
#include <QtTest>
#include <numeric>

#include <omp.h>
#include "attention_inputs.h"

#include "cpu_kernels.h"
#include "gqa/backend.h"
#include "gqa/reference.h"
#include "test_util.h"

using namespace gqa;

class TestAttention : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { m_cpu = createCpuBackend(); }

    void matchesReference_data() {
        QTest::addColumn<int>("batch");
        QTest::addColumn<int>("hq");
        QTest::addColumn<int>("hkv");
        QTest::addColumn<int>("tq");
        QTest::addColumn<int>("tk");
        QTest::addColumn<int>("d");
        QTest::addColumn<bool>("causal");
        QTest::addColumn<int>("dtype");
        struct Case {
            const char* name;
            int b, hq, hkv, tq, tk, d;
            bool causal;
            DType t;
        };
        const Case cases[] = {
            {"MHA prefill causal", 2, 4, 4, 33, 33, 64, true, DType::F32},
            {"MHA non-causal", 1, 4, 4, 17, 45, 64, false, DType::F32},
            {"GQA g=2 causal", 2, 8, 4, 40, 40, 64, true, DType::F32},
            {"GQA g=4 Tq<Tk causal", 1, 8, 2, 7, 70, 128, true, DType::F32},
            {"GQA g=8 decode", 3, 16, 2, 1, 129, 128, true, DType::F32},
            {"MQA decode", 2, 8, 1, 1, 300, 64, true, DType::F32},
            {"MQA prefill", 1, 8, 1, 65, 65, 32, true, DType::F32},
            {"odd head_dim 40", 1, 6, 3, 9, 21, 40, true, DType::F32},
            {"GQA g=4 bf16 cache", 1, 8, 2, 5, 90, 128, true, DType::BF16},
            {"GQA g=2 fp16 cache", 2, 4, 2, 12, 50, 64, false, DType::F16},
            {"MQA bf16 long", 1, 4, 1, 1, 1000, 64, true, DType::BF16},
        };
        for (const auto& c : cases)
            QTest::newRow(c.name) << c.b << c.hq << c.hkv << c.tq << c.tk << c.d << c.causal << int(c.t);
    }
    void matchesReference() {
        QFETCH(int, batch);
        QFETCH(int, hq);
        QFETCH(int, hkv);
        QFETCH(int, tq);
        QFETCH(int, tk);
        QFETCH(int, d);
        QFETCH(bool, causal);
        QFETCH(int, dtype);
        const auto t = static_cast<DType>(dtype);
        const AttentionShape s{batch, hq, hkv, tq, tk, d, causal};
        auto q = test::randomVector(size_t(batch * hq * tq * d), 1);
        auto k = test::randomVector(size_t(batch * hkv * tk * d), 2);
        auto v = test::randomVector(size_t(batch * hkv * tk * d), 3);
        for (auto& x : k) x = roundTo(t, x);
        for (auto& x : v) x = roundTo(t, x);
        std::vector<uint16_t> k16(k.size()), v16(v.size());
        for (size_t i = 0; i < k.size(); ++i) {
            k16[i] = t == DType::BF16 ? floatToBf16(k[i]) : floatToF16(k[i]);
            v16[i] = t == DType::BF16 ? floatToBf16(v[i]) : floatToF16(v[i]);
        }
        std::vector<float> out(q.size(), NAN), probs(size_t(batch * hq * tq * tk), NAN);
        const void* kp = t == DType::F32 ? static_cast<const void*>(k.data()) : k16.data();
        const void* vp = t == DType::F32 ? static_cast<const void*>(v.data()) : v16.data();
        QVERIFY(m_cpu->attention(s, q.data(), kp, vp, t, out.data(), probs.data()).isOk());
        std::vector<double> ro(out.size()), rp(probs.size());
        ref::attention(s, q.data(), k.data(), v.data(), ro.data(), rp.data());
        QVERIFY2(test::worstRatio(out, ro, 2e-5, 2e-4) <= 1.0, "output differs from the double reference");
        QVERIFY2(test::worstRatio(probs, rp, 1e-6, 1e-4) <= 1.0, "probabilities differ from the double reference");
        // Rows sum to 1; masked entries are exactly 0.
        for (int64_t row = 0; row < int64_t(batch) * hq * tq; ++row) {
            const double sum = std::accumulate(probs.begin() + row * tk, probs.begin() + (row + 1) * tk, 0.0);
            QVERIFY(std::fabs(sum - 1.0) < 1e-5);
            if (causal) {
                const int64_t i = row % tq;
                for (int64_t j = i + tk - tq + 1; j < tk; ++j) QCOMPARE(probs[size_t(row * tk + j)], 0.0f);
            }
        }
    }

    // Query head h reads KV head h / g: GQA equals MHA on K/V heads repeated within each group
    // (repeat_interleave), and not on K/V heads tiled (h % n_kv, the common mistake).
    void gqaEqualsMhaWithRepeatedKv() {
        const int B = 2, hq = 8, hkv = 2, g = hq / hkv, T = 24, D = 64;
        auto q = test::randomVector(size_t(B * hq * T * D), 11);
        auto k = test::randomVector(size_t(B * hkv * T * D), 12);
        auto v = test::randomVector(size_t(B * hkv * T * D), 13);
        std::vector<float> kr(size_t(B * hq * T * D)), vr(kr.size()), kt(kr.size()), vt(kr.size());
        for (int b = 0; b < B; ++b)
            for (int h = 0; h < hq; ++h)
                for (int i = 0; i < T * D; ++i) {
                    kr[size_t((b * hq + h) * T * D + i)] = k[size_t((b * hkv + h / g) * T * D + i)];
                    vr[size_t((b * hq + h) * T * D + i)] = v[size_t((b * hkv + h / g) * T * D + i)];
                    kt[size_t((b * hq + h) * T * D + i)] = k[size_t((b * hkv + h % hkv) * T * D + i)];
                    vt[size_t((b * hq + h) * T * D + i)] = v[size_t((b * hkv + h % hkv) * T * D + i)];
                }
        std::vector<float> o_gqa(q.size()), o_mha(q.size()), o_tiled(q.size());
        QVERIFY(m_cpu
                    ->attention({B, hq, hkv, T, T, D, true}, q.data(), k.data(), v.data(), DType::F32, o_gqa.data(),
                                nullptr)
                    .isOk());
        QVERIFY(m_cpu
                    ->attention({B, hq, hq, T, T, D, true}, q.data(), kr.data(), vr.data(), DType::F32, o_mha.data(),
                                nullptr)
                    .isOk());
        QVERIFY(m_cpu
                    ->attention({B, hq, hq, T, T, D, true}, q.data(), kt.data(), vt.data(), DType::F32, o_tiled.data(),
                                nullptr)
                    .isOk());
        QVERIFY(test::maxAbsDiff(o_gqa, o_mha) < 1e-5);
        QVERIFY(test::maxAbsDiff(o_gqa, o_tiled) > 1e-2);
    }

    // With n_kv = n_q the grouped kernel is plain MHA: compare with the reference MHA.
    void gqaWithAllKvHeadsIsMha() {
        const int hq = 6, T = 19, D = 32;
        auto q = test::randomVector(size_t(hq * T * D), 21);
        auto k = test::randomVector(size_t(hq * T * D), 22);
        auto v = test::randomVector(size_t(hq * T * D), 23);
        std::vector<float> out(q.size());
        QVERIFY(
            m_cpu->attention({1, hq, hq, T, T, D, true}, q.data(), k.data(), v.data(), DType::F32, out.data(), nullptr)
                .isOk());
        // Reference MHA written out independently: each head with its own K/V.
        for (int h = 0; h < hq; ++h) {
            const AttentionShape one{1, 1, 1, T, T, D, true};
            std::vector<double> ro(size_t(T * D));
            ref::attention(one, q.data() + h * T * D, k.data() + h * T * D, v.data() + h * T * D, ro.data(), nullptr);
            std::vector<float> mine(out.begin() + h * T * D, out.begin() + (h + 1) * T * D);
            QVERIFY(test::worstRatio(mine, ro, 2e-5, 2e-4) <= 1.0);
        }
    }

    // Every kernel build this CPU can run (generic, AVX2, AVX-512, AVX512-BF16), not only the one picked.
    void everyIsaMatchesReference_data() {
        QTest::addColumn<QString>("isa");
        for (const char* isa : {"generic", "avx2", "avx512", "amx-bf16"})
            if (QString(cpu::kernelsFor(isa).isa) == isa) QTest::newRow(isa) << QString(isa);
    }
    void everyIsaMatchesReference() {
        QFETCH(QString, isa);
        const auto& k = cpu::kernelsFor(isa.toLatin1().constData());
        struct Case {
            int b, hq, hkv, tq, tk, d;
            bool causal;
            DType t;
        };
        for (const Case c :
             {Case{1, 8, 1, 1, 333, 128, true, DType::BF16}, Case{2, 8, 2, 37, 37, 64, true, DType::BF16},
              Case{1, 6, 3, 5, 70, 40, true, DType::F16}, Case{1, 4, 4, 9, 30, 64, false, DType::F32},
              Case{1, 16, 2, 1, 700, 128, true, DType::BF16},
              // Up to 8 rows (heads x queries) per work item: K/V widened in registers (fp16, and every
              // dtype without AMX), or AMX tiles with V read in place from the cache (bf16).
              Case{1, 8, 1, 1, 301, 64, true, DType::F16}, Case{2, 16, 2, 1, 250, 64, true, DType::BF16},
              Case{1, 4, 2, 4, 90, 64, true, DType::BF16}, Case{1, 4, 2, 4, 90, 64, true, DType::F16},
              Case{2, 4, 4, 1, 300, 128, true, DType::F16}, Case{1, 6, 2, 1, 150, 64, false, DType::F16},
              Case{1, 8, 2, 1, 129, 128, true, DType::F16}, Case{1, 2, 2, 3, 77, 64, true, DType::F16},
              Case{1, 4, 2, 2, 95, 64, true, DType::BF16}, Case{1, 4, 4, 1, 200, 128, true, DType::BF16},
              Case{1, 2, 1, 2, 260, 128, true, DType::F16}}) {
            const AttentionShape s{c.b, c.hq, c.hkv, c.tq, c.tk, c.d, c.causal};
            auto in = test::kernelInputs(s, c.t, 5);
            const auto &q = in.q, &kf = in.kf, &vf = in.vf;
            const auto& out = in.out;
            cpu::AttnParams& p = in.p;
            k.attention(p);
            std::vector<double> ro(out.size());
            ref::attention(s, q.data(), kf.data(), vf.data(), ro.data(), nullptr);
            QVERIFY2(test::worstRatio(out, ro, 2e-5, 2e-4) <= 1.0, qPrintable(isa));
        }
    }

    // A rolling cache (kv_ring): key j at row j % ring, so 16-key blocks straddle the wrap. Every kernel build
    // against ref::attention with the window over the full keys.
    void rollingCacheMatchesReference_data() { everyIsaMatchesReference_data(); }
    void rollingCacheMatchesReference() {
        QFETCH(QString, isa);
        const auto& k = cpu::kernelsFor(isa.toLatin1().constData());
        struct Case {
            int b, hq, hkv, tq, tk, d, w, ring;
            DType t;
        };
        for (const Case c :
             {Case{1, 8, 1, 1, 700, 128, 130, 130, DType::BF16}, Case{2, 16, 2, 1, 517, 64, 100, 109, DType::F16},
              Case{1, 8, 2, 4, 300, 64, 61, 70, DType::BF16}, Case{1, 4, 4, 1, 260, 128, 40, 40, DType::F32}}) {
            const AttentionShape s{c.b, c.hq, c.hkv, c.tq, c.tk, c.d, true, c.w};
            auto in = test::kernelInputs(s, c.t, 21);
            // The ring holds the last `ring` keys of each (batch, KV head); the rest are poisoned.
            const size_t rows = size_t(c.b * c.hkv * c.ring);
            std::vector<float> kr(rows * size_t(c.d), NAN), vr(kr.size(), NAN);
            std::vector<uint16_t> k16(kr.size(), 0x7fc0), v16(kr.size(), 0x7fc0);
            for (int64_t bh = 0; bh < c.b * c.hkv; ++bh)
                for (int64_t j = c.tk - c.ring; j < c.tk; ++j)
                    for (int64_t e = 0; e < c.d; ++e) {
                        const size_t src = size_t((bh * c.tk + j) * c.d + e);
                        const size_t dst = size_t((bh * c.ring + j % c.ring) * c.d + e);
                        kr[dst] = in.kf[src], vr[dst] = in.vf[src];
                        k16[dst] = in.k16[src], v16[dst] = in.v16[src];
                    }
            cpu::AttnParams& p = in.p;
            p.k = c.t == DType::F32 ? static_cast<const void*>(kr.data()) : k16.data();
            p.v = c.t == DType::F32 ? static_cast<const void*>(vr.data()) : v16.data();
            p.kv_sh = c.ring * c.d;
            p.kv_sb = c.hkv * p.kv_sh;
            p.kv_ring = c.ring;
            k.attention(p);
            std::vector<double> ro(in.out.size());
            ref::attention(s, in.q.data(), in.kf.data(), in.vf.data(), ro.data(), nullptr);
            const QByteArray what = isa.toLatin1() + " ring " + QByteArray::number(c.ring);
            QVERIFY2(test::worstRatio(in.out, ro, 2e-5, 2e-4) <= 1.0, what);
        }
    }

    // A model plans its key split for a fixed thread count (AttnParams::partition_threads), so its results do
    // not depend on how many threads a step runs on: the step policy drops threads on a loaded machine.
    void resultsIndependentOfThreadsRun() {
        const int saved = omp_get_max_threads();
        const AttentionShape s{1, 8, 1, 1, 8192, 128, true};  // decode, one KV head: the keys are split
        auto in = test::kernelInputs(s, DType::BF16, 11);
        in.p.partition_threads = 4;
        std::vector<std::vector<float>> outs;
        for (int threads : {1, 2, 4}) {
            omp_set_num_threads(threads);
            std::fill(in.out.begin(), in.out.end(), 0.0f);
            cpu::kernels().attention(in.p);
            outs.push_back(in.out);
        }
        omp_set_num_threads(saved);
        QVERIFY(outs[0] == outs[1]);
        QVERIFY(outs[0] == outs[2]);
    }

    // y (n x out, leading dim ldy; columns past out still hold -7) against the double product of the decoded
    // weights wd (out x in) and x (n x in, leading dim ldx): |y - ref| <= rel * sum |w x| + abs everywhere.
    static bool matchesDouble(const std::vector<double>& wd, const std::vector<float>& x, int64_t ldx,
                              const std::vector<float>& y, int64_t ldy, int64_t n, int64_t out, int64_t in, double rel,
                              double abs) {
        for (int64_t r = 0; r < n; ++r) {
            for (int64_t o = 0; o < out; ++o) {
                double ref = 0, mag = 0;
                for (int64_t e = 0; e < in; ++e) {
                    const double p = wd[static_cast<size_t>(o * in + e)] * x[static_cast<size_t>(r * ldx + e)];
                    ref += p;
                    mag += std::fabs(p);
                }
                const double got = y[static_cast<size_t>(r * ldy + o)];
                if (!(std::fabs(got - ref) <= rel * mag + abs)) {
                    qWarning("n %lld out %lld in %lld: y[%lld][%lld] = %.9g, expected %.9g", static_cast<long long>(n),
                             static_cast<long long>(out), static_cast<long long>(in), static_cast<long long>(r),
                             static_cast<long long>(o), got, ref);
                    return false;
                }
            }
            for (int64_t o = out; o < ldy; ++o)  // columns past out are not written
                if (y[static_cast<size_t>(r * ldy + o)] != -7.0f) return false;
        }
        return true;
    }

    // Prefill projections on AMX tiles (the LM head and every layer's linears) against a double-precision product
    // of the same stored weights: bf16 in place, fp16 split exactly into 2 bf16 parts, fp32 and Q8_0 into 3;
    // ragged row counts (not a multiple of 8), weight blocks shorter than 16 rows and tiles split at arbitrary rows.
    void tileLinearMatchesDouble_data() {
        QTest::addColumn<int>("dtype");
        for (DType t : {DType::BF16, DType::F16, DType::Q8_0, DType::F32}) QTest::newRow(dtypeName(t)) << int(t);
    }
    void tileLinearMatchesDouble() {
        QFETCH(int, dtype);
        const auto t = static_cast<DType>(dtype);
        const auto& k = cpu::kernelsFor("amx-bf16");
        if (!k.tileLinear) QSKIP("this CPU (or OS) offers no AMX tiles");
        struct Case {
            int64_t n, out, in, split;
        };
        for (const Case c :
             {Case{13, 37, 96, 20}, Case{64, 130, 2048, 64}, Case{5, 16, 32, 16}, Case{9, 200, 160, 77}}) {
            const int64_t row_bytes = storageBytes(t, c.in);
            std::vector<uint8_t> w(static_cast<size_t>(c.out * row_bytes));
            std::vector<double> wd(static_cast<size_t>(c.out * c.in));  // the stored values, decoded
            std::vector<float> x(static_cast<size_t>(c.n * c.in));
            uint32_t state = 12345u + static_cast<uint32_t>(c.in);
            auto uni = [&] {
                state = state * 1664525u + 1013904223u;
                return static_cast<float>(state >> 8) / 16777216.0f * 2.0f - 1.0f;
            };
            for (int64_t o = 0; o < c.out; ++o) {
                uint8_t* row = w.data() + o * row_bytes;
                for (int64_t e = 0; e < c.in; ++e) {
                    if (t == DType::Q8_0) {
                        uint8_t* blk = row + (e / kQ8BlockElems) * kQ8BlockBytes;
                        if (e % kQ8BlockElems == 0) {
                            const uint16_t sc = floatToF16(0.01f + 0.02f * std::fabs(uni()));
                            std::memcpy(blk, &sc, 2);
                        }
                        uint16_t sc;
                        std::memcpy(&sc, blk, 2);
                        const auto q = static_cast<int8_t>(static_cast<int>(uni() * 127.0f));
                        blk[2 + e % kQ8BlockElems] = static_cast<uint8_t>(q);
                        wd[static_cast<size_t>(o * c.in + e)] = static_cast<double>(f16ToFloat(sc)) * q;
                    } else if (t == DType::F32) {
                        const float f = uni();
                        std::memcpy(row + 4 * e, &f, 4);
                        wd[static_cast<size_t>(o * c.in + e)] = f;
                    } else {
                        const uint16_t h = t == DType::BF16 ? floatToBf16(uni()) : floatToF16(uni());
                        std::memcpy(row + 2 * e, &h, 2);
                        wd[static_cast<size_t>(o * c.in + e)] = t == DType::BF16 ? bf16ToFloat(h) : f16ToFloat(h);
                    }
                }
            }
            for (auto& v : x) v = uni() * 3.0f;
            std::vector<uint32_t> xt(static_cast<size_t>(cpu::packedActivationWords(c.n, c.in)));
            k.packActivations(x.data(), c.n, c.in, c.in, xt.data());
            std::vector<float> scratch(static_cast<size_t>(128 * c.in));
            const int64_t ldy = c.out + 3;
            std::vector<float> y(static_cast<size_t>(c.n * ldy), -7.0f);
            for (const auto& [o0, o1] : {std::pair{int64_t{0}, c.split}, std::pair{c.split, c.out}}) {
                cpu::LinearArgs a;
                a.w = w.data();
                a.dtype = t;
                a.in = c.in;
                a.row_bytes = row_bytes;
                a.n = c.n;
                a.y = y.data();
                a.ldy = ldy;
                a.o0 = o0;
                a.o1 = o1;
                k.tileLinear(a, xt.data(), scratch.data());
            }
            // x = hi + lo to 2^-16 relative (weights exact), fp32 accumulation: inside 1e-4 of sum |w x|.
            QVERIFY(matchesDouble(wd, x, c.in, y, ldy, c.n, c.out, c.in, 1e-4, 1e-6));
        }
    }

    // Q8_0 decode on AMX-INT8 tiles (weights as stored, activations cut into four int8 parts) against a double
    // product of the stored weights: 1-4 activation rows (3 runs padded to 4), ragged row counts, row ranges
    // split at arbitrary rows (the tail tile shorter than 16) and a spread of magnitudes in x. Every row's result
    // must not depend on where a range starts (the decode split changes with the thread count), and x with an
    // inf or NaN is refused (the fp32 path propagates it).
    void int8TileDotMatchesDouble() {
        const auto& k = cpu::kernelsFor("amx-bf16");
        if (!k.packInt8Activations) QSKIP("this CPU (or OS) offers no AMX-INT8 tiles");
        struct Case {
            int64_t n, out, in, split;
        };
        for (const Case c : {Case{1, 37, 96, 20}, Case{2, 130, 2048, 64}, Case{3, 16, 32, 16}, Case{4, 200, 160, 77},
                             Case{1, 300, 5632, 131}}) {
            const int64_t row_bytes = storageBytes(DType::Q8_0, c.in);
            std::vector<uint8_t> w(static_cast<size_t>(c.out * row_bytes));
            std::vector<double> wd(static_cast<size_t>(c.out * c.in));
            uint32_t state = 777u + static_cast<uint32_t>(c.in + c.n);
            auto uni = [&] {
                state = state * 1664525u + 1013904223u;
                return static_cast<float>(state >> 8) / 16777216.0f * 2.0f - 1.0f;
            };
            for (int64_t o = 0; o < c.out; ++o)
                for (int64_t blk = 0; blk < c.in / kQ8BlockElems; ++blk) {
                    uint8_t* b = w.data() + o * row_bytes + blk * kQ8BlockBytes;
                    const uint16_t sc = floatToF16(0.001f + 0.05f * std::fabs(uni()));
                    std::memcpy(b, &sc, 2);
                    for (int64_t j = 0; j < kQ8BlockElems; ++j) {
                        const auto q = static_cast<int8_t>(static_cast<int>(uni() * 127.0f));
                        b[2 + j] = static_cast<uint8_t>(q);
                        wd[static_cast<size_t>(o * c.in + blk * kQ8BlockElems + j)] =
                            static_cast<double>(f16ToFloat(sc)) * q;
                    }
                }
            const int64_t ldx = c.in + 5, ldy = c.out + 3;
            std::vector<float> x(static_cast<size_t>(c.n * ldx));
            for (int64_t r = 0; r < c.n; ++r)
                for (int64_t e = 0; e < c.in; ++e)  // magnitudes from 1e-6 to 1e3 in each row
                    x[static_cast<size_t>(r * ldx + e)] = uni() * std::pow(10.0f, static_cast<float>(e % 10) - 6.0f);
            std::vector<float> xq(static_cast<size_t>(cpu::int8ActivationBytes(c.n, c.in) / 4 + 1));
            QVERIFY(k.packInt8Activations(x.data(), c.n, ldx, c.in, xq.data()));
            auto run = [&](int64_t split) {
                std::vector<float> y(static_cast<size_t>(c.n * ldy), -7.0f);
                for (const auto& [o0, o1] : {std::pair{int64_t{0}, split}, std::pair{split, c.out}}) {
                    cpu::LinearArgs a;
                    a.w = w.data();
                    a.dtype = DType::Q8_0;
                    a.in = c.in;
                    a.row_bytes = row_bytes;
                    a.x = x.data();
                    a.ldx = ldx;
                    a.n = c.n;
                    a.y = y.data();
                    a.ldy = ldy;
                    a.o0 = o0;
                    a.o1 = o1;
                    a.xq = xq.data();
                    k.dotRows(a);
                }
                return y;
            };
            const auto y = run(c.split);
            QVERIFY(y == run(c.split / 2 + 1));
            // Exact int8 block sums, parts to 2^-27 of max |x|, fp32 scaling and accumulation over at most 176
            // blocks: inside 1e-5 of sum |w x| (ten times tighter than the bf16-part prefill tiles).
            QVERIFY(matchesDouble(wd, x, ldx, y, ldy, c.n, c.out, c.in, 1e-5, 1e-9));
            x[static_cast<size_t>(c.in / 2)] = std::numeric_limits<float>::infinity();
            QVERIFY(!k.packInt8Activations(x.data(), c.n, ldx, c.in, xq.data()));
            x[static_cast<size_t>(c.in / 2)] = std::numeric_limits<float>::quiet_NaN();
            QVERIFY(!k.packInt8Activations(x.data(), c.n, ldx, c.in, xq.data()));
        }
    }

    void rejectsImpossibleShapes() {
        std::vector<float> x(64 * 64);
        QCOMPARE(
            m_cpu->attention({1, 6, 4, 1, 1, 8, false}, x.data(), x.data(), x.data(), DType::F32, x.data(), nullptr)
                .code(),
            ErrorCode::InvalidArgument);
        QCOMPARE(m_cpu->attention({1, 4, 4, 9, 8, 8, true}, x.data(), x.data(), x.data(), DType::F32, x.data(), nullptr)
                     .code(),
                 ErrorCode::InvalidArgument);
        QCOMPARE(m_cpu->attention({0, 4, 4, 1, 1, 8, true}, x.data(), x.data(), x.data(), DType::F32, x.data(), nullptr)
                     .code(),
                 ErrorCode::InvalidArgument);
        // Sizes whose element counts overflow int64 are refused before anything is indexed or allocated.
        const int64_t huge = int64_t{1} << 31;
        const AttentionShape overflow{huge, 8, 8, 1, huge, 1024, true};
        QCOMPARE(overflow.validate().code(), ErrorCode::InvalidArgument);
        QCOMPARE(m_cpu->timeAttentionStats(overflow, DType::BF16, RepeatPolicy{}).error().code,
                 ErrorCode::InvalidArgument);
        // A shape that is valid but whose K/V alone would not fit in memory: OutOfMemory with the bytes, predicted
        // before allocating (K and V of 64 x 8 x 2^21 x 1024 bf16: 4 TiB).
        auto big = m_cpu->timeAttentionStats({64, 8, 8, 1, int64_t{1} << 21, 1024, true}, DType::BF16, RepeatPolicy{});
        QVERIFY(!big);
        QCOMPARE(big.error().code, ErrorCode::OutOfMemory);
        QVERIFY2(big.error().message.find("TiB") != std::string::npos, big.error().message.c_str());
    }

private:
    std::unique_ptr<Backend> m_cpu;
};

QTEST_GUILESS_MAIN(TestAttention)
#include "tst_attention.moc"
