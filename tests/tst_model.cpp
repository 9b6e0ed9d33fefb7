// The decoder: layers against the double reference, GQA/MHA equivalence, cache, RoPE, norms, roles.
#include <QtTest>
#include <atomic>

#include "cpu_ops.h"
#include "gqa/backend.h"
#include "gqa/engine.h"
#include "gqa/presets.h"
#include "gqa/reference.h"
#include "test_util.h"

using namespace gqa;

namespace {
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
    c.dtype = t;
    return c;
}

std::vector<float> prefillHidden(Backend& be, const ModelWeights& w, const std::vector<int32_t>& tokens, int64_t B, int64_t T) {
    auto m = be.createModel(w, B, T);
    if (!m) return {};
    StepOutput out;
    if (!(*m)->prefill(tokens.data(), T, StepRequest{}, out)) return {};
    return out.hidden;
}
}  // namespace

class TestModel : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { m_cpu = createCpuBackend(); }

    void prefillMatchesReference_data() {
        QTest::addColumn<int>("hkv");
        QTest::addColumn<int>("dtype");
        for (int hkv : {4, 2, 1})
            for (DType t : {DType::F32, DType::BF16})
                QTest::addRow("8/%d %s", hkv, dtypeName(t)) << hkv << int(t);
    }
    void prefillMatchesReference() {
        QFETCH(int, hkv);
        QFETCH(int, dtype);
        const auto t = static_cast<DType>(dtype);
        auto w = makeWeights(small(8, hkv, t), 3, WeightsMode::Random);
        QVERIFY(w.isOk());
        const int64_t B = 2, T = 30;
        const auto tokens = makeTokens(B, T, w->vocab_rows, 5);
        const auto mine = prefillHidden(*m_cpu, *w, tokens, B, T);
        const auto ref = ref::forward(*w, tokens, B, T, t);
        QCOMPARE(mine.size(), ref.size());
        const double tol = t == DType::F32 ? 2e-3 : 3e-2;
        QVERIFY2(test::worstRatio(mine, ref, tol / 10, tol) <= 1.0, "hidden state differs from the reference");
    }

    // A GQA model equals the MHA model whose K/V heads are copies within each group.
    void gqaEqualsMhaWithCopiedKvHeads() {
        const int64_t hq = 8, hkv = 2, g = hq / hkv, D = 32;
        auto gw = makeWeights(small(hq, hkv), 9, WeightsMode::Random);
        QVERIFY(gw.isOk());
        ModelWeights mw = *gw;
        mw.config.n_kv_heads = hq;
        const int64_t d = mw.config.d_model, gcols = (hq + 2 * hkv) * D, mcols = 3 * hq * D;
        for (auto& l : mw.layers) {
            std::vector<float> w(size_t(d * mcols));
            const auto& src = gw->layers[&l - mw.layers.data()].wqkv;
            for (int64_t r = 0; r < d; ++r) {
                for (int64_t e = 0; e < hq * D; ++e) w[size_t(r * mcols + e)] = src[size_t(r * gcols + e)];
                for (int64_t h = 0; h < hq; ++h)
                    for (int64_t e = 0; e < D; ++e) {
                        w[size_t(r * mcols + (hq + h) * D + e)] = src[size_t(r * gcols + (hq + h / g) * D + e)];
                        w[size_t(r * mcols + (2 * hq + h) * D + e)] = src[size_t(r * gcols + (hq + hkv + h / g) * D + e)];
                    }
            }
            l.wqkv = std::move(w);
        }
        const auto tokens = makeTokens(2, 20, gw->vocab_rows, 1);
        const auto a = prefillHidden(*m_cpu, *gw, tokens, 2, 20);
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
        auto w = makeWeights(small(8, 2, static_cast<DType>(dtype)), 4, WeightsMode::Structured);
        QVERIFY(w.isOk());
        const int64_t B = 2, T = 16, N = 6;
        const auto all = makeTokens(B, T + N, w->vocab_rows, 8);
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
        auto score = [&](int64_t m, int64_t n) {
            std::vector<float> a = q, b = k, c(D / 2), s(D / 2);
            cpu::ropeAngles(m, D, 10000.0, c.data(), s.data());
            cpu::ropeRotate(a.data(), D, c.data(), s.data());
            cpu::ropeAngles(n, D, 10000.0, c.data(), s.data());
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
        cpu::ropeAngles(37, D, 500000.0, c.data(), s.data());
        cpu::ropeRotate(a.data(), D, c.data(), s.data());
        ref::rope(r.data(), D, 37, 500000.0);
        QVERIFY(test::maxAbsDiff(a, r) < 1e-5);
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
                                        QByteArray::number(qint64(m.heads[hi])) + " " + headRoleName(role) +
                                        ": prev " + QByteArray::number(prev) + " sink " + QByteArray::number(sink) +
                                        " local " + QByteArray::number(local) + " entropy " + QByteArray::number(entropy_ratio);
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
        auto a = makeWeights(small(8, 2), 77, WeightsMode::Structured);
        auto b = makeWeights(small(8, 2), 77, WeightsMode::Structured);
        auto c = makeWeights(small(8, 2), 78, WeightsMode::Structured);
        QVERIFY(a->layers[1].wqkv == b->layers[1].wqkv);
        QVERIFY(a->layers[1].wqkv != c->layers[1].wqkv);
    }

    void cancelStopsBetweenLayersAndLeavesTheEngineUsable() {
        auto w = makeWeights(small(8, 2), 1, WeightsMode::Random);
        auto m = m_cpu->createModel(*w, 1, 32);
        QVERIFY(m.isOk());
        std::atomic<bool> cancel{true};
        StepRequest req;
        req.cancel = &cancel;
        StepOutput out;
        const auto tokens = makeTokens(1, 8, w->vocab_rows, 1);
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
        small_req.memory_limit_bytes = 64ll << 20;
        auto ok = runModel(*m_cpu, small_req);
        QVERIFY2(ok.isOk(), ok.isOk() ? "" : ok.error().message.c_str());
        QVERIFY(ok->layers_run >= 1 && ok->layers_run < smol->n_layers);
        QVERIFY(!ok->notes.empty());
        QCOMPARE(ok->memory.kv_bytes_per_token, int64_t(2 * 30 * 3 * 64 * 2));
        small_req.fit_layers = false;
        QCOMPARE(runModel(*m_cpu, small_req).error().code, ErrorCode::OutOfMemory);
        const auto full67 = estimateMemory(*cfg, 1, 1);
        QCOMPARE(full67.kv_bytes_per_token, int64_t(389120));
    }

private:
    std::unique_ptr<Backend> m_cpu;
};

QTEST_GUILESS_MAIN(TestModel)
#include "tst_model.moc"
