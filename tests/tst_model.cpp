// The decoder: layers against the double reference, GQA/MHA equivalence, cache, RoPE, norms, roles.
#include <QtTest>

#include <atomic>
#include <cmath>
#include <cstring>
#include <map>

#include "cpu_ops.h"
#include "gqa/backend.h"
#include "gqa/engine.h"
#include "gqa/large_buffer.h"
#include "gqa/presets.h"
#include "gqa/reference.h"
#include "gqa/sampling.h"
#include "gqa/weights.h"
#include "test_util.h"

using namespace gqa;

namespace {
// Weights, embedding and LM head in t; the KV cache in t too where t can hold it (Q8_0 is a weight format only).
ModelConfig small(int64_t hq, int64_t hkv, DType t = DType::F32) {
    ModelConfig c;
    c.name = "test";
    c.d_model = 128;
    c.n_layers = 3;
    c.n_q_heads = hq;
    c.n_kv_heads = hkv;
    c.head_dim = 32;
    c.ffn_dim = 192;
    c.vocab_size = 300;
    c.max_seq = 128;
    c.weight_dtype = c.embed_dtype = t;
    c.norm_dtype = DType::F32;
    c.kv_dtype = t == DType::Q8_0 ? DType::F32 : t;
    return c;
}

Model synthetic(const ModelConfig& c, uint64_t seed, WeightsMode mode) {
    auto w = makeSyntheticModel(c, seed, mode);
    if (!w) qFatal("makeSyntheticModel failed: %s", w.error().message.c_str());
    return std::move(*w);
}

std::vector<float> prefillHidden(Backend& be, const Model& w, const std::vector<int32_t>& tokens, int64_t B,
                                 int64_t T) {
    auto m = be.createModel(w, B, T);
    if (!m) return {};
    StepOutput out;
    if (!(*m)->prefill(tokens.data(), T, StepRequest{}, out)) return {};
    return out.hidden;
}

bool sameBytes(const Tensor& a, const Tensor& b) {
    return a.bytes == b.bytes && std::memcmp(a.data, b.data, static_cast<size_t>(a.bytes)) == 0;
}

// theta^(-2i/D), i < D/2: the unscaled RoPE inverse frequencies.
std::vector<double> plainInverseFrequencies(double theta, int64_t D) {
    std::vector<double> f(static_cast<size_t>(D / 2));
    for (int64_t i = 0; i < D / 2; ++i) f[size_t(i)] = std::pow(theta, -2.0 * double(i) / double(D));
    return f;
}
}  // namespace

class TestModel : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { m_cpu = createCpuBackend(); }

    // The weights', caches' and probe's buffer: zeroed, writable to the last byte, 2 MiB-aligned when mapped
    // (so every whole 2 MiB can be one huge page), and moved without copying or double freeing.
    void largeBuffersAreZeroedAlignedAndMovable() {
        for (size_t n : {size_t{1}, size_t{4095}, kLargeBufferMin - 1, kLargeBufferMin, kLargeBufferMin + 12345,
                         size_t{7} << 20}) {
            LargeBuffer b(n);
            QCOMPARE(b.size(), n);
            QCOMPARE(b.mapped(), n >= kLargeBufferMin);
            if (b.mapped()) QCOMPARE(reinterpret_cast<uintptr_t>(b.data()) % (uintptr_t{2} << 20), uintptr_t{0});
            size_t nonzero = 0;
            for (size_t i = 0; i < n; ++i) nonzero += b.data()[i] != 0;
            QCOMPARE(nonzero, size_t{0});
            b.data()[0] = 1;
            b.data()[n - 1] = 2;
            uint8_t* p = b.data();
            LargeBuffer moved(std::move(b));
            QCOMPARE(moved.data(), p);
            QCOMPARE(moved.size(), n);
            QVERIFY(b.data() == nullptr && b.size() == 0 && !b.mapped());
            LargeBuffer assigned(16);
            assigned = std::move(moved);
            QCOMPARE(assigned.data(), p);
            QCOMPARE(int(assigned.data()[n - 1]), 2);
            QCOMPARE(int(assigned.data()[0]), n == 1 ? 2 : 1);
        }
        QCOMPARE(LargeBuffer().size(), size_t{0});
    }

    void prefillMatchesReference_data() {
        QTest::addColumn<int>("hkv");
        QTest::addColumn<int>("dtype");
        for (int hkv : {4, 2, 1})
            for (DType t : {DType::F32, DType::BF16}) QTest::addRow("8/%d %s", hkv, dtypeName(t)) << hkv << int(t);
    }
    void prefillMatchesReference() {
        QFETCH(int, hkv);
        QFETCH(int, dtype);
        const auto t = static_cast<DType>(dtype);
        auto w = makeSyntheticModel(small(8, hkv, t), 3, WeightsMode::Random);
        QVERIFY(w.isOk());
        const int64_t B = 2, T = 30;
        const auto tokens = makeTokens(B, T, w->config.vocab_size, 5);
        const auto mine = prefillHidden(*m_cpu, *w, tokens, B, T);
        const auto ref = ref::forward(*w, tokens, B, T, t).hidden;
        QCOMPARE(mine.size(), ref.size());
        const double tol = t == DType::F32 ? 2e-3 : 3e-2;
        QVERIFY2(test::worstRatio(mine, ref, tol / 10, tol) <= 1.0, "hidden state differs from the reference");
    }

    // A GQA model equals the MHA model whose K/V heads are copies within each group.
    void gqaEqualsMhaWithCopiedKvHeads() {
        const int64_t hq = 8, hkv = 2, g = hq / hkv, D = 32;
        const Model gw = synthetic(small(hq, hkv), 9, WeightsMode::Random);
        Model mw = gw;  // shares every tensor; K and V are replaced by new owned ones below
        mw.config.n_kv_heads = hq;
        const int64_t d = mw.config.d_model;
        for (size_t l = 0; l < mw.layers.size(); ++l) {
            const LayerTensors& src = gw.layers[l];
            LayerTensors& dst = mw.layers[l];
            for (auto [s, t] : {std::pair{&src.wk, &dst.wk}, std::pair{&src.wv, &dst.wv}}) {
                // (Hq D, d): MHA head h is GQA KV head h / g, rows [(h / g) D, (h / g + 1) D).
                auto* out = static_cast<uint8_t*>(addOwnedTensor(mw, *t, s->name, s->dtype, {hq * D, d}));
                for (int64_t h = 0; h < hq; ++h)
                    for (int64_t e = 0; e < D; ++e)
                        std::memcpy(out + (h * D + e) * t->rowBytes(), s->row((h / g) * D + e), size_t(s->rowBytes()));
            }
        }
        QVERIFY(validateModel(mw).isOk());
        const auto tokens = makeTokens(2, 20, gw.config.vocab_size, 1);
        const auto a = prefillHidden(*m_cpu, gw, tokens, 2, 20);
        const auto b = prefillHidden(*m_cpu, mw, tokens, 2, 20);
        QVERIFY(!a.empty() && a.size() == b.size());
        QVERIFY(test::maxAbsDiff(a, b) < 1e-5);
    }

    // Decoding with the KV cache equals recomputing the whole sequence.
    void decodeEqualsFullRecompute_data() {
        QTest::addColumn<int>("dtype");
        for (DType t : {DType::F32, DType::F16, DType::BF16}) QTest::newRow(dtypeName(t)) << int(t);
    }
    void decodeEqualsFullRecompute() {
        QFETCH(int, dtype);
        auto w = makeSyntheticModel(small(8, 2, static_cast<DType>(dtype)), 4, WeightsMode::Structured);
        QVERIFY(w.isOk());
        const int64_t B = 2, T = 16, N = 6;
        const auto all = makeTokens(B, T + N, w->config.vocab_size, 8);
        auto inc = m_cpu->createModel(*w, B, T + N);
        QVERIFY(inc.isOk());
        std::vector<int32_t> prompt(size_t(B * T));
        for (int64_t b = 0; b < B; ++b)
            for (int64_t i = 0; i < T; ++i) prompt[size_t(b * T + i)] = all[size_t(b * (T + N) + i)];
        StepOutput out;
        QVERIFY((*inc)->prefill(prompt.data(), T, {}, out).isOk());
        for (int64_t s = 0; s < N; ++s) {
            const int32_t tok[2] = {all[size_t(T + s)], all[size_t((T + N) + T + s)]};
            QVERIFY((*inc)->decode(tok, {}, out).isOk());
        }
        QCOMPARE((*inc)->position(), T + N);
        const auto full = prefillHidden(*m_cpu, *w, all, B, T + N);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t i = 0; i < w->config.d_model; ++i)
                QVERIFY(std::fabs(out.hidden[size_t(b * w->config.d_model + i)] -
                                  full[size_t((b * (T + N) + T + N - 1) * w->config.d_model + i)]) < 1e-4);
    }

    // RoPE: q.k after rotation depends only on the distance between positions.
    void ropeRelativePosition() {
        const int64_t D = 64;
        auto q = test::randomVector(D, 1), k = test::randomVector(D, 2);
        const auto f10k = plainInverseFrequencies(10000.0, D), f500k = plainInverseFrequencies(500000.0, D);
        auto score = [&](int64_t m, int64_t n) {
            std::vector<float> a = q, b = k, c(D / 2), s(D / 2);
            cpu::ropeAngles(m, f10k.data(), D / 2, c.data(), s.data());
            cpu::ropeRotate(a.data(), D, c.data(), s.data());
            cpu::ropeAngles(n, f10k.data(), D / 2, c.data(), s.data());
            cpu::ropeRotate(b.data(), D, c.data(), s.data());
            double acc = 0;
            for (int64_t e = 0; e < D; ++e) acc += double(a[size_t(e)]) * b[size_t(e)];
            return acc;
        };
        QVERIFY(std::fabs(score(5, 2) - score(105, 102)) < 1e-3);
        QVERIFY(std::fabs(score(40, 40) - score(0, 0)) < 1e-3);
        QVERIFY(std::fabs(score(9, 2) - score(1000, 993)) < 2e-3);
        QVERIFY(std::fabs(score(5, 2) - score(5, 3)) > 1e-3);  // it does depend on the distance
        // Against the double reference rotation.
        std::vector<float> a = q, c(D / 2), s(D / 2);
        std::vector<double> r(q.begin(), q.end());
        cpu::ropeAngles(37, f500k.data(), D / 2, c.data(), s.data());
        cpu::ropeRotate(a.data(), D, c.data(), s.data());
        ref::rope(r.data(), D, 37, f500k);
        QVERIFY(test::maxAbsDiff(a, r) < 1e-5);
        // The config's frequencies are the same theta^(-2i/D) when nothing scales them.
        ModelConfig cfg = small(8, 2);
        cfg.rope_theta = 500000.0;
        cfg.head_dim = D;
        QCOMPARE(ropeInverseFrequencies(cfg), f500k);
    }

    void rmsNormMatchesHandComputed() {
        const float x[4] = {1, 2, 3, 4}, gamma[4] = {1, 0.5f, 2, 1};
        float y[4];
        cpu::rmsNorm(x, gamma, 1, 4, 0.0, y);
        const double rms = std::sqrt((1 + 4 + 9 + 16) / 4.0);
        const double expect[4] = {1 / rms, 2 / rms * 0.5, 3 / rms * 2, 4 / rms};
        for (int i = 0; i < 4; ++i) QVERIFY(std::fabs(y[i] - expect[i]) < 1e-6);
        auto big = test::randomVector(1000, 3);
        std::vector<float> g(1000, 1.0f), out(1000);
        cpu::rmsNorm(big.data(), g.data(), 1, 1000, 1e-5, out.data());
        std::vector<double> xd(big.begin(), big.end()), rd(1000);
        ref::rmsNorm(xd.data(), g.data(), 1000, 1e-5, rd.data());
        QVERIFY(test::maxAbsDiff(out, rd) < 1e-5);
    }

    void swigluMatchesReference() {
        float gu[6] = {-2.0f, 0.0f, 3.0f, 1.5f, 2.0f, -1.0f};  // gate | up, F = 3
        cpu::swiglu(gu, 1, 3);
        const double expect[3] = {-2.0 / (1 + std::exp(2.0)) * 1.5, 0.0, 3.0 / (1 + std::exp(-3.0)) * -1.0};
        for (int i = 0; i < 3; ++i) QVERIFY(std::fabs(gu[i] - expect[i]) < 1e-6);
        QVERIFY(std::fabs(ref::silu(-2.0) - (-2.0 / (1 + std::exp(2.0)))) < 1e-12);
    }

    // The structured weights show the attention patterns they were built for.
    void structuredHeadsShowTheirPatterns() {
        auto cfg = findPreset("teaching");
        QVERIFY(cfg.isOk());
        RunRequest req;
        req.config = *cfg;
        req.shape = {1, 64, 0};
        req.prompt_maps.layers = {0, 1, 2, 3};
        auto res = runModel(*m_cpu, req);
        QVERIFY2(res.isOk(), res.isOk() ? "" : res.error().message.c_str());
        int checked[5] = {};
        for (const auto& m : res->prompt_maps)
            for (size_t hi = 0; hi < m.heads.size(); ++hi) {
                const auto role = res->head_roles[size_t(m.layer)][size_t(m.heads[hi])];
                const int64_t T = m.q_len;
                double prev = 0, sink = 0, local = 0, entropy_ratio = 0;
                int n = 0;
                for (int64_t i = 8; i < T; ++i, ++n) {
                    prev += m.at(0, int64_t(hi), i, i - 1);
                    sink += m.at(0, int64_t(hi), i, 0);
                    double loc = 0, ent = 0;
                    for (int64_t j = 0; j <= i; ++j) {
                        const double p = m.at(0, int64_t(hi), i, j);
                        if (j > i - 8) loc += p;
                        if (p > 0) ent -= p * std::log(p);
                    }
                    local += loc;
                    entropy_ratio += ent / std::log(double(i + 1));
                }
                prev /= n, sink /= n, local /= n, entropy_ratio /= n;
                const QByteArray what = QByteArray("layer ") + QByteArray::number(qint64(m.layer)) + " head " +
                                        QByteArray::number(qint64(m.heads[hi])) + " " + headRoleName(role) + ": prev " +
                                        QByteArray::number(prev) + " sink " + QByteArray::number(sink) + " local " +
                                        QByteArray::number(local) + " entropy " + QByteArray::number(entropy_ratio);
                switch (role) {
                    case HeadRole::PreviousToken: QVERIFY2(prev > 0.5, what); break;
                    case HeadRole::Sink: QVERIFY2(sink > 0.5, what); break;
                    case HeadRole::LocalWindow: QVERIFY2(local > 0.6 && prev < 0.5, what); break;
                    case HeadRole::Broad: QVERIFY2(entropy_ratio > 0.8, what); break;
                    case HeadRole::Content: break;
                }
                ++checked[int(role)];
            }
        for (int r = 0; r < 4; ++r) QVERIFY(checked[r] > 0);
    }

    void weightsAreDeterministic() {
        const Model a = synthetic(small(8, 2), 77, WeightsMode::Structured);
        const Model b = synthetic(small(8, 2), 77, WeightsMode::Structured);
        const Model c = synthetic(small(8, 2), 78, WeightsMode::Structured);
        for (const Tensor LayerTensors::*t : {&LayerTensors::wq, &LayerTensors::wk, &LayerTensors::wv}) {
            QVERIFY(sameBytes(a.layers[1].*t, b.layers[1].*t));
            QVERIFY(!sameBytes(a.layers[1].*t, c.layers[1].*t));
        }
        // Every tensor, not only the projections.
        const auto ta = a.allTensors(), tb = b.allTensors();
        QCOMPARE(ta.size(), tb.size());
        for (size_t i = 0; i < ta.size(); ++i) QVERIFY2(sameBytes(*ta[i], *tb[i]), ta[i]->name.c_str());
    }

    void cancelStopsBetweenLayersAndLeavesTheEngineUsable() {
        auto w = makeSyntheticModel(small(8, 2), 1, WeightsMode::Random);
        QVERIFY(w.isOk());
        auto m = m_cpu->createModel(*w, 1, 32);
        QVERIFY(m.isOk());
        std::atomic<bool> cancel{true};
        StepRequest req;
        req.cancel = &cancel;
        StepOutput out;
        const auto tokens = makeTokens(1, 8, w->config.vocab_size, 1);
        QCOMPARE((*m)->prefill(tokens.data(), 8, req, out).code(), ErrorCode::Cancelled);
        (*m)->reset();
        QVERIFY((*m)->prefill(tokens.data(), 8, {}, out).isOk());
    }

    void refusesWhatDoesNotFitBeforeAllocating() {
        auto cfg = findPreset("deepseek-llm-67b");
        RunRequest req;
        req.config = *cfg;
        req.shape = {64, 4000, 16};
        req.fit_layers = false;
        auto res = runModel(*m_cpu, req);
        QVERIFY(!res.isOk());
        QCOMPARE(res.error().code, ErrorCode::OutOfMemory);
        QVERIFY(res.error().message.find("fit") != std::string::npos);
        // With fit_layers the run shrinks its depth to what the (here: limited) memory holds, and says so.
        auto smol = findPreset("smollm2-135m");
        RunRequest small_req;
        small_req.config = *smol;
        small_req.shape = {1, 8, 2};
        // Weights as stored (bf16, the full 49152 x 576 tied table): 128 MiB holds some but not all 30 layers.
        small_req.memory_limit_bytes = 128ll << 20;
        auto ok = runModel(*m_cpu, small_req);
        QVERIFY2(ok.isOk(), ok.isOk() ? "" : ok.error().message.c_str());
        QVERIFY(ok->layers_run >= 1 && ok->layers_run < smol->n_layers);
        {
            // By hand, batch 1 and 8 + 2 tokens, 90% of 128 MiB: the table (bf16) and final norm (fp32), the fp32
            // activations (5760 values per token: 2 d + (Hq + 2 Hkv) D + Hq D + 2 F, the 49152 logits, one
            // 128 x 1536 tile per thread), then per layer 3,538,944 bf16 matrix values, 2 fp32 norms and the
            // bf16 K/V of 10 tokens x 3 heads x 64.
            const int64_t budget = static_cast<int64_t>(double(128ll << 20) * 0.9);
            const int64_t fixed =
                49152ll * 576 * 2 + 576 * 4 + 4 * (10 * 5760 + 49152) + 4 * 128 * 1536 * cpuWorkerThreads();
            const int64_t per_layer = 3538944ll * 2 + 2 * 576 * 4 + 2 * 10 * 3 * 64 * 2;
            QCOMPARE(ok->layers_run, (budget - fixed) / per_layer);
        }
        QVERIFY(!ok->notes.empty());
        QCOMPARE(ok->memory.kv_bytes_per_token, int64_t(2 * 30 * 3 * 64 * 2));
        small_req.fit_layers = false;
        QCOMPARE(runModel(*m_cpu, small_req).error().code, ErrorCode::OutOfMemory);
        const auto full67 = estimateMemory(*cfg, 1, 1);
        QCOMPARE(full67.kv_bytes_per_token, int64_t(389120));
    }

    // The LM head on the CPU backend against the double reference, for weights stored in every dtype. The KV
    // cache is fp32 here, so both sides compute on exactly the same stored values: only fp32 against double
    // arithmetic differs, and the tolerance is the fp32 one of prefillMatchesReference.
    void logitsMatchReference_data() {
        QTest::addColumn<int>("dtype");
        for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0}) QTest::newRow(dtypeName(t)) << int(t);
    }
    void logitsMatchReference() {
        QFETCH(int, dtype);
        const auto t = static_cast<DType>(dtype);
        ModelConfig cfg = small(8, 2, t);  // d_model 128, ffn 192, Hq D 256: multiples of 32 for Q8_0
        cfg.kv_dtype = DType::F32;
        const Model w = synthetic(cfg, 21, WeightsMode::Random);
        QCOMPARE(w.layers[0].wq.dtype, t);
        QCOMPARE(w.embedding.dtype, t);
        QCOMPARE(w.lmHead().dtype, t);
        const int64_t B = 2, T = 12, V = cfg.vocab_size;
        const auto tokens = makeTokens(B, T, V, 6);
        const auto ref = ref::forward(w, tokens, B, T, DType::F32, true);
        QCOMPARE(ref.logits.size(), size_t(B * T * V));
        const double tol = 2e-3;

        auto inst = m_cpu->createModel(w, B, T);
        QVERIFY(inst.isOk());
        StepRequest all;
        all.logits = LogitsMode::All;
        StepOutput out;
        QVERIFY((*inst)->prefill(tokens.data(), T, all, out).isOk());
        QCOMPARE(out.logits.size(), size_t(B * T * V));  // (B, T, vocab)
        QVERIFY2(test::worstRatio(out.logits, ref.logits, tol / 10, tol) <= 1.0,
                 "logits (All) differ from the reference");

        // Last: (B, vocab) of each sequence's last position.
        std::vector<double> last(static_cast<size_t>(B * V));
        for (int64_t b = 0; b < B; ++b) std::copy_n(ref.logits.begin() + (b * T + T - 1) * V, V, last.begin() + b * V);
        (*inst)->reset();
        StepRequest lreq;
        lreq.logits = LogitsMode::Last;
        QVERIFY((*inst)->prefill(tokens.data(), T, lreq, out).isOk());
        QCOMPARE(out.logits.size(), size_t(B * V));
        QVERIFY2(test::worstRatio(out.logits, last, tol / 10, tol) <= 1.0, "logits (Last) differ from the reference");

        // The same position reached by a decode step after a prefill of T - 1 tokens.
        (*inst)->reset();
        std::vector<int32_t> prompt(static_cast<size_t>(B * (T - 1))), tail(static_cast<size_t>(B));
        for (int64_t b = 0; b < B; ++b) {
            std::copy_n(tokens.begin() + b * T, T - 1, prompt.begin() + b * (T - 1));
            tail[size_t(b)] = tokens[size_t(b * T + T - 1)];
        }
        QVERIFY((*inst)->prefill(prompt.data(), T - 1, {}, out).isOk());
        QVERIFY(out.logits.empty());  // LogitsMode::None
        QVERIFY((*inst)->decode(tail.data(), lreq, out).isOk());
        QCOMPARE(out.logits.size(), size_t(B * V));
        QVERIFY2(test::worstRatio(out.logits, last, tol / 10, tol) <= 1.0, "decode logits differ from the reference");
    }

    // rope_scaling: linear divides every frequency; llama3 (factor 8, low 1, high 4, original 8192) divides the
    // pairs whose wavelength 2 pi / f exceeds 8192 / 1, keeps those under 8192 / 4 = 2048 and blends between.
    void ropeScalingFrequencies() {
        ModelConfig c = small(8, 2);
        c.head_dim = 128;
        c.rope_theta = 500000.0;
        const int64_t D = 128;
        const auto plain = plainInverseFrequencies(500000.0, D);
        auto close = [](double a, double b) { return std::fabs(a - b) <= 1e-12 * std::fabs(b); };

        c.rope_scaling.type = RopeScaling::Linear;
        c.rope_scaling.factor = 4.0;
        const auto lin = ropeInverseFrequencies(c);
        QCOMPARE(lin.size(), size_t(D / 2));
        for (int64_t i = 0; i < D / 2; ++i) QVERIFY(close(lin[size_t(i)], plain[size_t(i)] / 4.0));

        c.rope_scaling = {RopeScaling::Llama3, 8.0, 1.0, 4.0, 8192};
        const auto l3 = ropeInverseFrequencies(c);
        QCOMPARE(l3.size(), size_t(D / 2));
        // Pair i has wavelength 2 pi * 500000^(i / 64): pair 20 about 269, pair 28 about 2007 (< 2048: kept),
        // pair 29 about 2393 and pair 34 about 6693 (blended), pair 35 about 8218 and pair 63 (> 8192: / 8).
        auto wavelen = [&](int64_t i) { return 2.0 * M_PI / plain[size_t(i)]; };
        QVERIFY(wavelen(28) < 2048.0 && wavelen(29) > 2048.0 && wavelen(34) < 8192.0 && wavelen(35) > 8192.0);
        for (int64_t i : {0, 1, 20, 28})
            QVERIFY2(close(l3[size_t(i)], plain[size_t(i)]), qPrintable(QString::number(i)));
        for (int64_t i : {35, 40, 63})
            QVERIFY2(close(l3[size_t(i)], plain[size_t(i)] / 8.0), qPrintable(QString::number(i)));
        for (int64_t i : {29, 32, 34}) {
            // smooth = (original / wavelength - low) / (high - low); f' = (1 - smooth) f / factor + smooth f.
            const double smooth = (8192.0 / wavelen(i) - 1.0) / (4.0 - 1.0);
            QVERIFY(smooth > 0.0 && smooth < 1.0);
            const double expect = (1.0 - smooth) * plain[size_t(i)] / 8.0 + smooth * plain[size_t(i)];
            QVERIFY2(close(l3[size_t(i)], expect), qPrintable(QString::number(i)));
        }
        QCOMPARE(QString::fromStdString(ropeScalingText(c.rope_scaling)), QString("llama3 x8"));
        c.rope_scaling = {RopeScaling::Linear, 4.0};
        QCOMPARE(QString::fromStdString(ropeScalingText(c.rope_scaling)), QString("linear x4"));
        QCOMPARE(QString::fromStdString(ropeScalingText(RopeScalingParams{})), QString("none"));
    }

    void samplerGreedyAndTopK() {
        const float logits[5] = {0.1f, 2.5f, -1.0f, 2.5f, 0.3f};
        Sampler greedy(SamplingOptions{});                                 // temperature 0
        for (int i = 0; i < 10; ++i) QCOMPARE(greedy.next(logits, 5), 1);  // lowest id among equal maxima
        const float one_max[4] = {0.5f, -2.0f, 3.0f, 2.9f};
        SamplingOptions k1;
        k1.temperature = 1.5;
        k1.top_k = 1;
        Sampler top1(k1);
        for (int i = 0; i < 200; ++i) QCOMPARE(top1.next(one_max, 4), 2);
        // top_p: with probabilities (5, 2, 1) / 8 the smallest set reaching 0.6 is the first token alone.
        const float three[3] = {0.0f, float(std::log(2.0)), float(std::log(5.0))};
        SamplingOptions nucleus;
        nucleus.temperature = 1.0;
        nucleus.top_p = 0.6;
        Sampler np(nucleus);
        for (int i = 0; i < 200; ++i) QCOMPARE(np.next(three, 3), 2);
    }

    // Seeded sampling repeats itself, and over many draws follows softmax(logits / temperature).
    void samplerSeededFrequencies() {
        const float three[3] = {0.0f, float(std::log(2.0)), float(std::log(5.0))};  // softmax: (1, 2, 5) / 8
        SamplingOptions o;
        o.temperature = 1.0;
        o.seed = 42;
        Sampler a(o), b(o);
        o.seed = 43;
        Sampler c(o);
        const int n = 20000;
        int counts[3] = {};
        bool differs = false;
        for (int i = 0; i < n; ++i) {
            const int32_t x = a.next(three, 3);
            QCOMPARE(b.next(three, 3), x);
            differs = differs || c.next(three, 3) != x;
            QVERIFY(x >= 0 && x < 3);
            ++counts[x];
        }
        QVERIFY(differs);
        // Standard error of each frequency is below 0.0035 at n = 20000; 0.02 is more than 5 of them.
        const double expect[3] = {1.0 / 8, 2.0 / 8, 5.0 / 8};
        for (int i = 0; i < 3; ++i)
            QVERIFY2(std::fabs(counts[i] / double(n) - expect[i]) < 0.02, qPrintable(QString::number(counts[i])));
        // Temperature 2 flattens it: probabilities proportional to (1, sqrt 2, sqrt 5).
        o.temperature = 2.0;
        Sampler hot(o);
        int hot_counts[3] = {};
        for (int i = 0; i < n; ++i) ++hot_counts[hot.next(three, 3)];
        const double z = 1.0 + std::sqrt(2.0) + std::sqrt(5.0);
        const double hot_expect[3] = {1.0 / z, std::sqrt(2.0) / z, std::sqrt(5.0) / z};
        for (int i = 0; i < 3; ++i)
            QVERIFY2(std::fabs(hot_counts[i] / double(n) - hot_expect[i]) < 0.02,
                     qPrintable(QString::number(hot_counts[i])));
    }

    // Hand-made logits: position 0 predicts token 1 with p = 1/2, position 1 predicts token 0 with p = 3/4.
    void perplexityHandComputed() {
        const std::vector<float> logits = {0.0f,
                                           0.0f,  // p = (1/2, 1/2)
                                           float(std::log(3.0)),
                                           0.0f,  // p = (3/4, 1/4)
                                           5.0f,
                                           -5.0f};  // the last position predicts nothing
        const std::vector<int32_t> tokens = {0, 1, 0};
        const auto r = perplexityOf(logits, tokens, 2);
        QCOMPARE(r.tokens, int64_t(2));
        QCOMPARE(r.token_logprob.size(), size_t(2));
        QVERIFY(std::fabs(r.token_logprob[0] - std::log(0.5)) < 1e-12);
        QVERIFY(std::fabs(r.token_logprob[1] - std::log(0.75)) < 1e-7);  // log 3 held as a float
        const double nll = (std::log(2.0) + std::log(4.0 / 3.0)) / 2.0;  // = log(8/3) / 2
        QVERIFY(std::fabs(r.mean_nll - nll) < 1e-7);
        QVERIFY(std::fabs(r.perplexity - std::sqrt(8.0 / 3.0)) < 1e-6);
        QVERIFY(std::fabs(logProbability(logits.data() + 2, 2, 1) - std::log(0.25)) < 1e-7);
        QVERIFY(std::fabs(logSumExp(logits.data(), 2) - std::log(2.0)) < 1e-12);
        // Uniform logits over V tokens: perplexity V.
        const std::vector<float> uniform(40, 1.5f);
        QVERIFY(std::fabs(perplexityOf(uniform, {3, 1, 4, 1}, 10).perplexity - 10.0) < 1e-9);
    }

private:
    std::unique_ptr<Backend> m_cpu;
};

QTEST_GUILESS_MAIN(TestModel)
#include "tst_model.moc"
