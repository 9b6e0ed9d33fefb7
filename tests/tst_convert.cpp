// MHA → GQA conversion (convert.h) and the trade-off sweep (tradeoff.h), checked against hand-computed
// values, analytic formulas and the double-precision reference forward.
#include <QtTest/QtTest>

#include <cmath>
#include <memory>
#include <vector>

#include "gqa/backend.h"
#include "gqa/convert.h"
#include "gqa/memory_model.h"
#include "gqa/reference.h"
#include "gqa/tradeoff.h"
#include "gqa/weights.h"
#include "test_util.h"

using namespace gqa;

Q_DECLARE_METATYPE(gqa::ConvertMethod)
Q_DECLARE_METATYPE(std::vector<int64_t>)

namespace {

ModelConfig tinyConfig(int64_t n_q, int64_t n_kv, int64_t n_layers = 2) {
    ModelConfig c;
    c.name = "tiny";
    c.d_model = 32;
    c.n_layers = n_layers;
    c.n_q_heads = n_q;
    c.n_kv_heads = n_kv;
    c.head_dim = 8;
    c.ffn_dim = 48;
    c.vocab_size = 64;
    c.max_seq = 64;
    c.dtype = DType::F32;
    return c;
}

ModelWeights tinyWeights(int64_t n_q, int64_t n_kv, uint64_t seed = 7) {
    auto w = makeWeights(tinyConfig(n_q, n_kv), seed, WeightsMode::Random);
    if (!w) qFatal("makeWeights failed: %s", w.error().message.c_str());
    return std::move(*w);
}

// Value of wqkv row i, column c of KV head `head` in block 0 (K) or 1 (V).
float kvAt(const ModelWeights& w, size_t layer, int64_t block, int64_t head, int64_t i, int64_t c) {
    const ModelConfig& g = w.config;
    const int64_t cols = (g.n_q_heads + 2 * g.n_kv_heads) * g.head_dim;
    return w.layers[layer].wqkv[static_cast<size_t>(i * cols + (g.n_q_heads + block * g.n_kv_heads + head) * g.head_dim + c)];
}

// Makes the K and V columns of every KV head equal to those of the first head of its group of r.
void makeGroupsIdentical(ModelWeights& w, int64_t r) {
    const ModelConfig& g = w.config;
    const int64_t D = g.head_dim, cols = (g.n_q_heads + 2 * g.n_kv_heads) * D;
    for (auto& L : w.layers)
        for (int64_t i = 0; i < g.d_model; ++i)
            for (int64_t block = 0; block < 2; ++block)
                for (int64_t h = 0; h < g.n_kv_heads; ++h)
                    for (int64_t c = 0; c < D; ++c) {
                        const int64_t base = i * cols + (g.n_q_heads + block * g.n_kv_heads) * D;
                        L.wqkv[static_cast<size_t>(base + h * D + c)] = L.wqkv[static_cast<size_t>(base + (h / r) * r * D + c)];
                    }
}

std::vector<float> prefillHidden(Backend& be, const ModelWeights& w, const std::vector<int32_t>& tokens, int64_t B,
                                 int64_t T) {
    auto inst = be.createModel(w, B, T);
    if (!inst) qFatal("createModel failed: %s", inst.error().message.c_str());
    StepOutput out;
    const Status s = (*inst)->prefill(tokens.data(), T, StepRequest{}, out);
    if (!s) qFatal("prefill failed: %s", s.message().c_str());
    return out.hidden;
}

}  // namespace

class TestConvert : public QObject {
    Q_OBJECT

private slots:
    void methodNames() {
        QCOMPARE(QString(convertMethodName(ConvertMethod::MeanPool)), QString("meanpool"));
        QCOMPARE(QString(convertMethodName(ConvertMethod::First)), QString("first"));
        QVERIFY(parseConvertMethod("meanpool") == ConvertMethod::MeanPool);
        QVERIFY(parseConvertMethod("first") == ConvertMethod::First);
        QVERIFY(!parseConvertMethod("median").has_value());
    }

    void sameCountIsIdentity_data() {
        QTest::addColumn<ConvertMethod>("method");
        QTest::newRow("meanpool") << ConvertMethod::MeanPool;
        QTest::newRow("first") << ConvertMethod::First;
    }
    void sameCountIsIdentity() {
        QFETCH(ConvertMethod, method);
        const ModelWeights w = tinyWeights(4, 4);
        auto c = convertKvHeads(w, 4, method);
        QVERIFY2(c.isOk(), c.isOk() ? "" : c.error().message.c_str());
        QCOMPARE(c->config.n_kv_heads, int64_t{4});
        QCOMPARE(c->layers.size(), w.layers.size());
        for (size_t l = 0; l < w.layers.size(); ++l) QVERIFY(c->layers[l].wqkv == w.layers[l].wqkv);
        QVERIFY(c->embedding == w.embedding);
    }

    // Only the K/V blocks change; the config changes only in n_kv_heads.
    void everythingElseUnchanged() {
        const ModelWeights w = tinyWeights(4, 4);
        auto c = convertKvHeads(w, 2, ConvertMethod::MeanPool);
        QVERIFY(c.isOk());
        ModelConfig expect = w.config;
        expect.n_kv_heads = 2;
        QCOMPARE(c->config.name, expect.name);
        QCOMPARE(c->config.n_kv_heads, int64_t{2});
        QCOMPARE(c->config.n_q_heads, expect.n_q_heads);
        QCOMPARE(c->config.d_model, expect.d_model);
        QCOMPARE(c->config.n_layers, expect.n_layers);
        QCOMPARE(c->config.ffn_dim, expect.ffn_dim);
        QCOMPARE(c->config.dtype, expect.dtype);
        QVERIFY(c->embedding == w.embedding);
        QVERIFY(c->final_norm == w.final_norm);
        QVERIFY(c->head_roles == w.head_roles);
        const int64_t d = w.config.d_model, qcols = w.config.n_q_heads * w.config.head_dim;
        for (size_t l = 0; l < w.layers.size(); ++l) {
            const auto &a = w.layers[l], &b = c->layers[l];
            QVERIFY(a.wo == b.wo && a.w_gate_up == b.w_gate_up && a.w_down == b.w_down);
            QVERIFY(a.attn_norm == b.attn_norm && a.ffn_norm == b.ffn_norm);
            QCOMPARE(b.wqkv.size(), static_cast<size_t>(d * (4 + 2 * 2) * 8));
            for (int64_t i = 0; i < d; ++i)
                for (int64_t c2 = 0; c2 < qcols; ++c2)
                    QCOMPARE(b.wqkv[static_cast<size_t>(i * (4 + 4) * 8 + c2)],
                             a.wqkv[static_cast<size_t>(i * (4 + 8) * 8 + c2)]);
        }
    }

    // d_model 2, 2 query heads, 2 KV heads of head_dim 2 → 1 KV head. Numbers chosen by hand.
    void meanPoolHandComputed() {
        ModelConfig cfg = tinyConfig(2, 2, 1);
        cfg.d_model = 2;
        cfg.head_dim = 2;
        ModelWeights w;
        w.config = cfg;
        w.vocab_rows = 4;
        w.embedding.assign(4 * 2, 0.5f);
        w.final_norm = {1.0f, 1.0f};
        LayerWeights L;
        L.attn_norm = L.ffn_norm = {1.0f, 1.0f};
        // wqkv (2, 12): [Q0 Q0 Q1 Q1 | K0 K0 K1 K1 | V0 V0 V1 V1]
        L.wqkv = {1, 2, 3, 4,   1, 2, 3, 6,     -1, 0, 5, 8,   //
                  5, 6, 7, 8,   0.5f, -4, 1.5f, 4, 2, 2, 4, 10};
        L.wo.assign(4 * 2, 0.25f);
        L.w_gate_up.assign(2 * 2 * cfg.ffn_dim, 0.1f);
        L.w_down.assign(cfg.ffn_dim * 2, 0.1f);
        w.layers.push_back(L);
        w.head_roles = {{HeadRole::Content, HeadRole::Content}};

        auto c = convertKvHeads(w, 1, ConvertMethod::MeanPool);
        QVERIFY2(c.isOk(), c.isOk() ? "" : c.error().message.c_str());
        // (2, 8): Q unchanged; K' = (K0 + K1) / 2; V' = (V0 + V1) / 2.
        const std::vector<float> expect = {1, 2, 3, 4, 2, 4,  2, 4,  //
                                           5, 6, 7, 8, 1, 0, 3, 6};
        QVERIFY(c->layers[0].wqkv == expect);

        auto f = convertKvHeads(w, 1, ConvertMethod::First);
        QVERIFY(f.isOk());
        const std::vector<float> expect_first = {1, 2, 3, 4, 1, 2, -1, 0,  //
                                                 5, 6, 7, 8, 0.5f, -4, 2, 2};
        QVERIFY(f->layers[0].wqkv == expect_first);

        // A mean that bf16 cannot hold is rounded to the storage dtype, like every weight:
        // (1 + (1 + 2^-7)) / 2 = 1 + 2^-8 lies halfway between bf16 neighbours 1 and 1 + 2^-7; ties go to even (1).
        w.config.dtype = DType::BF16;
        w.layers[0].wqkv[4] = 1.0f;
        w.layers[0].wqkv[6] = 1.0078125f;
        auto b = convertKvHeads(w, 1, ConvertMethod::MeanPool);
        QVERIFY(b.isOk());
        QCOMPARE(b->layers[0].wqkv[4], 1.0f);
    }

    void firstPicksHeadJr_data() {
        QTest::addColumn<int>("target");
        QTest::newRow("8 -> 4") << 4;
        QTest::newRow("8 -> 2") << 2;
        QTest::newRow("8 -> 1") << 1;
    }
    void firstPicksHeadJr() {
        QFETCH(int, target);
        const ModelWeights w = tinyWeights(8, 8);
        auto c = convertKvHeads(w, target, ConvertMethod::First);
        QVERIFY(c.isOk());
        const int64_t r = 8 / target;
        for (size_t l = 0; l < w.layers.size(); ++l)
            for (int64_t block = 0; block < 2; ++block)
                for (int64_t j = 0; j < target; ++j)
                    for (int64_t i = 0; i < w.config.d_model; ++i)
                        for (int64_t col = 0; col < w.config.head_dim; ++col)
                            QVERIFY(kvAt(*c, l, block, j, i, col) == kvAt(w, l, block, j * r, i, col));
    }

    // Mean-pooling in general (not only for the hand case): new head j = mean of old heads j*r .. j*r+r-1.
    void meanPoolMatchesDefinition() {
        const ModelWeights w = tinyWeights(8, 8);
        auto c = convertKvHeads(w, 2, ConvertMethod::MeanPool);
        QVERIFY(c.isOk());
        for (int64_t block = 0; block < 2; ++block)
            for (int64_t j = 0; j < 2; ++j)
                for (int64_t i = 0; i < w.config.d_model; ++i)
                    for (int64_t col = 0; col < w.config.head_dim; ++col) {
                        double mean = 0.0;
                        for (int64_t t = 0; t < 4; ++t) mean += kvAt(w, 1, block, j * 4 + t, i, col);
                        QVERIFY(kvAt(*c, 1, block, j, i, col) == static_cast<float>(mean / 4.0));
                    }
    }

    void invalidTargetsRefused_data() {
        QTest::addColumn<int>("target");
        QTest::addColumn<QString>("mentions");
        QTest::newRow("zero") << 0 << "positive";
        QTest::newRow("negative") << -2 << "positive";
        QTest::newRow("more than current") << 8 << "can only merge";
        QTest::newRow("not a divisor") << 3 << "does not divide";
    }
    void invalidTargetsRefused() {
        QFETCH(int, target);
        QFETCH(QString, mentions);
        const ModelWeights w = tinyWeights(8, 4);
        auto c = convertKvHeads(w, target, ConvertMethod::MeanPool);
        QVERIFY(!c.isOk());
        QCOMPARE(c.error().code, ErrorCode::InvalidArgument);
        QVERIFY2(QString::fromStdString(c.error().message).contains(mentions), c.error().message.c_str());
        QVERIFY(!validateKvTarget(w.config, target).isOk());
    }

    // When the K/V heads of each group are already equal, conversion loses nothing: the converted model
    // reproduces the original exactly (reference forward) and to rounding on the CPU backend.
    void identicalGroupsReproduceOriginal_data() {
        QTest::addColumn<int>("target");
        QTest::addColumn<ConvertMethod>("method");
        QTest::newRow("4 -> 2 meanpool") << 2 << ConvertMethod::MeanPool;
        QTest::newRow("4 -> 1 meanpool") << 1 << ConvertMethod::MeanPool;
        QTest::newRow("4 -> 2 first") << 2 << ConvertMethod::First;
    }
    void identicalGroupsReproduceOriginal() {
        QFETCH(int, target);
        QFETCH(ConvertMethod, method);
        ModelWeights w = tinyWeights(4, 4);
        makeGroupsIdentical(w, 4 / target);
        auto c = convertKvHeads(w, target, method);
        QVERIFY(c.isOk());
        const int64_t B = 2, T = 6;
        const std::vector<int32_t> tokens = makeTokens(B, T, w.vocab_rows, 3);

        const std::vector<double> ref_o = ref::forward(w, tokens, B, T, DType::F32);
        const std::vector<double> ref_c = ref::forward(*c, tokens, B, T, DType::F32);
        QCOMPARE(ref_c.size(), ref_o.size());
        QVERIFY(ref_c == ref_o);

        // fp32 on the CPU backend: the group-aware kernel and the narrower QKV GEMM sum in another order,
        // so the two agree to rounding (about 1e-6 here), not bit for bit.
        auto be = createCpuBackend();
        const std::vector<float> h_o = prefillHidden(*be, w, tokens, B, T);
        const std::vector<float> h_c = prefillHidden(*be, *c, tokens, B, T);
        QCOMPARE(h_c.size(), h_o.size());
        QVERIFY(test::worstRatio(h_c, h_o, 1e-5, 1e-5) <= 1.0);
        // And the backend agrees with the independent reference.
        QVERIFY(test::worstRatio(h_c, ref_o, 1e-4, 1e-4) <= 1.0);

        auto q = measureConversionQuality(*be, w, *c, tokens, B, T);
        QVERIFY(q.isOk());
        QVERIFY(q->final_hidden_rel_error < 1e-5);
        QVERIFY(q->mean_js_bits < 1e-6);
    }

    void metricFormulas() {
        QCOMPARE(relativeError({3, 5}, {3, 4}), 0.2);  // ||(0,1)|| / ||(3,4)|| = 1/5
        QCOMPARE(relativeError({0, 0}, {0, 0}), 0.0);
        QVERIFY(std::isinf(relativeError({1, 0}, {0, 0})));
        const float a[] = {1, 0}, b[] = {0, 1}, u[] = {0.5f, 0.5f};
        QCOMPARE(jsDivergenceBits(a, a, 2), 0.0);
        QCOMPARE(jsDivergenceBits(a, b, 2), 1.0);  // disjoint support: 1 bit
        // p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4):
        // 1/2 [log2(4/3)] + 1/2 [1/2 log2(2/3) + 1/2 log2(2)]
        const double expect = 0.5 * std::log2(4.0 / 3.0) + 0.25 * std::log2(2.0 / 3.0) + 0.25;
        QVERIFY(std::abs(jsDivergenceBits(a, u, 2) - expect) < 1e-12);
        QVERIFY(std::abs(jsDivergenceBits(u, a, 2) - expect) < 1e-12);
    }

    void metricsZeroForIdenticalPositiveOtherwise() {
        const ModelWeights w = tinyWeights(4, 4);
        const int64_t B = 2, T = 6;
        const std::vector<int32_t> tokens = makeTokens(B, T, w.vocab_rows, 5);
        auto be = createCpuBackend();

        auto same = measureConversionQuality(*be, w, w, tokens, B, T);
        QVERIFY2(same.isOk(), same.isOk() ? "" : same.error().message.c_str());
        QCOMPARE(same->attn_out_rel_error.size(), w.layers.size());
        QCOMPARE(same->head_js_bits.size(), w.layers.size());
        for (size_t l = 0; l < w.layers.size(); ++l) {
            QCOMPARE(same->attn_out_rel_error[l], 0.0);
            QCOMPARE(same->hidden_rel_error[l], 0.0);
            QCOMPARE(same->head_js_bits[l].size(), size_t{4});
            for (double js : same->head_js_bits[l]) QCOMPARE(js, 0.0);
        }
        QCOMPARE(same->final_hidden_rel_error, 0.0);
        QCOMPARE(same->mean_js_bits, 0.0);

        auto c = convertKvHeads(w, 1, ConvertMethod::MeanPool);
        QVERIFY(c.isOk());
        auto diff = measureConversionQuality(*be, w, *c, tokens, B, T);
        QVERIFY(diff.isOk());
        for (size_t l = 0; l < w.layers.size(); ++l) {
            QVERIFY(diff->attn_out_rel_error[l] > 0.0);
            QVERIFY(diff->hidden_rel_error[l] > 0.0);
            for (double js : diff->head_js_bits[l]) QVERIFY(js > 0.0 && js <= 1.0);
        }
        QVERIFY(diff->final_hidden_rel_error > 0.0);
        QVERIFY(diff->mean_js_bits > 0.0);
    }

    void gainUndefinedWithoutLoss() {
        QVERIFY(std::isnan(efficiencyGain(10.0, 10.0, 0.0)));
        QVERIFY(std::isnan(efficiencyGain(10.0, 5.0, 0.0)));
        QVERIFY(std::isnan(efficiencyGain(10.0, 5.0, std::nan(""))));
        QCOMPARE(efficiencyGain(10.0, 4.0, 0.5), 12.0);
    }

    void sweepCoversExactlyTheDivisors_data() {
        QTest::addColumn<int>("n_q");
        QTest::addColumn<int>("n_kv");
        QTest::addColumn<std::vector<int64_t>>("expected");
        QTest::newRow("MHA 12") << 12 << 12 << std::vector<int64_t>{1, 2, 3, 4, 6, 12};
        QTest::newRow("GQA 8/4") << 8 << 4 << std::vector<int64_t>{1, 2, 4};
        QTest::newRow("MQA 4/1") << 4 << 1 << std::vector<int64_t>{1};
    }
    void sweepCoversExactlyTheDivisors() {
        QFETCH(int, n_q);
        QFETCH(int, n_kv);
        QFETCH(std::vector<int64_t>, expected);
        TradeoffRequest req;
        req.config = tinyConfig(n_q, n_kv, 4);
        req.layers = 1;
        req.shape = RunShape{2, 8, 2};
        req.weights = WeightsMode::Random;
        req.attention_iterations = 2;
        std::atomic<int64_t> done{0};
        req.points_done = &done;
        auto be = createCpuBackend();
        auto res = runTradeoff(*be, req);
        QVERIFY2(res.isOk(), res.isOk() ? "" : res.error().message.c_str());
        QCOMPARE(res->layers_run, int64_t{1});
        QCOMPARE(static_cast<int64_t>(done.load()), static_cast<int64_t>(expected.size()));
        std::vector<int64_t> got;
        for (const auto& p : res->points) got.push_back(p.kv_heads);
        QCOMPARE(got, expected);

        const TradeoffPoint& base = res->points.back();
        QCOMPARE(base.kv_heads, int64_t{n_kv});
        QCOMPARE(base.output_rel_error, 0.0);
        QVERIFY(std::isnan(base.memory_gain) && std::isnan(base.latency_gain));
        for (const auto& p : res->points) {
            QCOMPARE(p.group_size, int64_t{n_q} / p.kv_heads);
            // 2 (K, V) * all 4 layers * batch 2 * (8 + 2) tokens * G * head_dim 8 * 4 bytes (fp32).
            QCOMPARE(p.kv_cache_bytes, 2 * 4 * 2 * 10 * p.kv_heads * 8 * 4);
            QVERIFY(p.decode_attention_ms > 0.0);
            QVERIFY(p.decode_tokens_per_s > 0.0);
            QCOMPARE(p.quality.hidden_rel_error.size(), size_t{1});
            if (p.kv_heads == n_kv) continue;
            QVERIFY(p.output_rel_error > 0.0);
            QVERIFY(p.quality.mean_js_bits > 0.0);
            QCOMPARE(p.memory_gain, double(base.kv_cache_bytes - p.kv_cache_bytes) / p.output_rel_error);
            QVERIFY(std::isfinite(p.latency_gain));
        }
    }

    void sweepRefusesBadRequests() {
        TradeoffRequest req;
        req.config = tinyConfig(4, 4);
        req.shape = RunShape{1, 80, 0};  // past max_seq 64
        auto be = createCpuBackend();
        auto res = runTradeoff(*be, req);
        QVERIFY(!res.isOk());
        QCOMPARE(res.error().code, ErrorCode::InvalidArgument);
        req.shape = RunShape{1, 8, 0};
        req.layers = 3;
        QVERIFY(!runTradeoff(*be, req).isOk());
    }
};

QTEST_APPLESS_MAIN(TestConvert)
#include "tst_convert.moc"
