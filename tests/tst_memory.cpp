// The memory model against hand-computed numbers, published configs and measured allocations.
#include <QtTest>

#include "gqa/backend.h"
#include "gqa/memory_model.h"
#include "gqa/presets.h"
#include "gqa/weights.h"

using namespace gqa;

class TestMemory : public QObject {
    Q_OBJECT
private slots:
    // Published shapes (config.json of each model).
    void presetsMatchPublishedConfigs_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<qint64>("layers");
        QTest::addColumn<qint64>("d");
        QTest::addColumn<qint64>("hq");
        QTest::addColumn<qint64>("hkv");
        QTest::addColumn<qint64>("hd");
        QTest::addColumn<qint64>("ffn");
        QTest::addColumn<qint64>("vocab");
        QTest::newRow("deepseek-llm-67b") << "deepseek-llm-67b" << 95ll << 8192ll << 64ll << 8ll << 128ll << 22016ll << 102400ll;
        QTest::newRow("deepseek-llm-7b") << "deepseek-llm-7b" << 30ll << 4096ll << 32ll << 32ll << 128ll << 11008ll << 102400ll;
        QTest::newRow("llama-2-7b") << "llama-2-7b" << 32ll << 4096ll << 32ll << 32ll << 128ll << 11008ll << 32000ll;
        QTest::newRow("llama-2-70b") << "llama-2-70b" << 80ll << 8192ll << 64ll << 8ll << 128ll << 28672ll << 32000ll;
        QTest::newRow("llama-3-8b") << "llama-3-8b" << 32ll << 4096ll << 32ll << 8ll << 128ll << 14336ll << 128256ll;
        QTest::newRow("llama-3-70b") << "llama-3-70b" << 80ll << 8192ll << 64ll << 8ll << 128ll << 28672ll << 128256ll;
        QTest::newRow("mistral-7b") << "mistral-7b" << 32ll << 4096ll << 32ll << 8ll << 128ll << 14336ll << 32000ll;
        QTest::newRow("qwen2.5-7b") << "qwen2.5-7b" << 28ll << 3584ll << 28ll << 4ll << 128ll << 18944ll << 152064ll;
        QTest::newRow("smollm2-135m") << "smollm2-135m" << 30ll << 576ll << 9ll << 3ll << 64ll << 1536ll << 49152ll;
        QTest::newRow("tinyllama-1.1b") << "tinyllama-1.1b" << 22ll << 2048ll << 32ll << 4ll << 64ll << 5632ll << 32000ll;
    }
    void presetsMatchPublishedConfigs() {
        QFETCH(QString, name);
        QFETCH(qint64, layers);
        QFETCH(qint64, d);
        QFETCH(qint64, hq);
        QFETCH(qint64, hkv);
        QFETCH(qint64, hd);
        QFETCH(qint64, ffn);
        QFETCH(qint64, vocab);
        auto c = findPreset(name.toStdString());
        QVERIFY(c.isOk());
        QCOMPARE(c->n_layers, layers);
        QCOMPARE(c->d_model, d);
        QCOMPARE(c->n_q_heads, hq);
        QCOMPARE(c->n_kv_heads, hkv);
        QCOMPARE(c->head_dim, hd);
        QCOMPARE(c->ffn_dim, ffn);
        QCOMPARE(c->vocab_size, vocab);
        QVERIFY(c->validate().isOk());
        QVERIFY(!c->source.empty());
    }

    void everyPresetValidatesAndTeachingIsDefault() {
        QCOMPARE(std::string(kDefaultPreset), std::string("teaching"));
        for (const auto& n : presetNames()) QVERIFY2(findPreset(n)->validate().isOk(), n.c_str());
        auto t = findPreset("teaching");
        QVERIFY(t->n_q_heads >= 8 && t->n_kv_heads >= 2 && t->n_kv_heads < t->n_q_heads);
        QVERIFY(!findPreset("gpt-5").isOk());
    }

    // Hand-computed: DeepSeek LLM 67B in bf16 keeps 2*95*8*128*2 = 389,120 KV bytes per token.
    void kvCacheHandComputed() {
        auto c = findPreset("deepseek-llm-67b");
        const auto m = estimateMemory(*c, 1, 4096);
        QCOMPARE(m.kv_bytes_per_token, int64_t(389120));
        QCOMPARE(m.kv_cache_bytes, int64_t(389120) * 4096);
        // 128k tokens, batch 4: 2*95*4*131072*8*128*2 bytes.
        QCOMPARE(estimateMemory(*c, 4, 131072).kv_cache_bytes, int64_t(2) * 95 * 4 * 131072 * 8 * 128 * 2);
        // The same model as MHA needs g = 8 times more; as MQA 8 times less.
        ModelConfig mha = *c, mqa = *c;
        mha.n_kv_heads = 64;
        mqa.n_kv_heads = 1;
        QCOMPARE(estimateMemory(mha, 1, 4096).kv_cache_bytes, 8 * m.kv_cache_bytes);
        QCOMPARE(estimateMemory(mqa, 1, 4096).kv_cache_bytes * 8, m.kv_cache_bytes);
        // Llama-2-7B (MHA) fp16: 2*32*32*128*2 = 524,288 bytes per token (0.5 MiB).
        auto l2 = findPreset("llama-2-7b");
        l2->dtype = DType::F16;
        QCOMPARE(estimateMemory(*l2, 1, 1).kv_bytes_per_token, int64_t(524288));
    }

    // Parameter counts land on the published model sizes.
    void parameterCounts() {
        auto p = [](const char* n) { return double(estimateMemory(*findPreset(n), 1, 1).param_count) * 1e-9; };
        QVERIFY(std::fabs(p("deepseek-llm-67b") - 67.4) < 0.2);
        QVERIFY(std::fabs(p("deepseek-llm-7b") - 6.91) < 0.05);
        QVERIFY(std::fabs(p("llama-2-7b") - 6.74) < 0.02);
        QVERIFY(std::fabs(p("llama-2-70b") - 68.98) < 0.05);
        QVERIFY(std::fabs(p("llama-3-8b") - 8.03) < 0.02);
        QVERIFY(std::fabs(p("mistral-7b") - 7.24) < 0.02);
        QVERIFY(std::fabs(p("qwen2.5-7b") - 7.6) < 0.05);  // Qwen's QKV biases (~0.5M) are not modelled
        QVERIFY(std::fabs(p("smollm2-135m") - 0.1348) < 0.001);
        QVERIFY(std::fabs(p("tinyllama-1.1b") - 1.10) < 0.01);
    }

    // What a run allocates equals the model: KV cache exactly, activations and weights too.
    void allocationsMatchTheModel_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("hkv");
        for (DType t : {DType::F32, DType::F16, DType::BF16})
            for (int hkv : {8, 2, 1}) QTest::addRow("%s kv%d", dtypeName(t), hkv) << int(t) << hkv;
    }
    void allocationsMatchTheModel() {
        QFETCH(int, dtype);
        QFETCH(int, hkv);
        ModelConfig c = *findPreset("teaching");
        c.n_kv_heads = hkv;
        c.dtype = static_cast<DType>(dtype);
        auto w = makeWeights(c, 1, WeightsMode::Random);
        auto cpu = createCpuBackend();
        const int64_t B = 3, seq = 200;
        auto m = cpu->createModel(*w, B, seq);
        QVERIFY(m.isOk());
        const auto a = (*m)->allocation();
        const auto e = estimateMemory(c, B, seq);
        QCOMPARE(a.kv_cache_bytes, int64_t(2) * c.n_layers * B * seq * hkv * c.head_dim * int64_t(bytesPerElement(c.dtype)));
        QCOMPARE(a.kv_cache_bytes, e.kv_cache_bytes);
        QCOMPARE(a.activation_bytes, e.activation_bytes);
        QCOMPARE(a.weight_bytes, backendWeightBytes(c, true));
    }

    void fitPrediction() {
        auto c = *findPreset("deepseek-llm-67b");
        const int64_t ram = 24ll << 30;
        auto f = predictFit(c, 1, 4096, ram, false);
        QVERIFY(!f.fits);
        QVERIFY(f.max_layers_that_fit > 0 && f.max_layers_that_fit < 95);
        QVERIFY(f.message.find("GiB") != std::string::npos);
        auto t = *findPreset("teaching");
        QVERIFY(predictFit(t, 1, 1024, ram, true).fits);
        const int64_t ctx = maxContextThatFits(t, 1, 64ll << 20, true);
        QVERIFY(ctx > 0);
        QVERIFY(predictFit(t, 1, ctx, 64ll << 20, true).fits);
        QVERIFY(!predictFit(t, 1, ctx + 1, 64ll << 20, true).fits);
        const int64_t batch = maxBatchThatFits(t, 256, 64ll << 20, true);
        QVERIFY(predictFit(t, batch, 256, 64ll << 20, true).fits);
        QVERIFY(!predictFit(t, batch + 1, 256, 64ll << 20, true).fits);
    }
};

QTEST_GUILESS_MAIN(TestMemory)
#include "tst_memory.moc"
